"""Facts read from ``cv2.getBuildInformation()``: CUDA yes/no, its version, the arch lists, the modules.

The CUDA lines are printed by OpenCV's top-level CMakeLists.txt::

      NVIDIA CUDA:                   YES (ver 13.0, CUFFT CUBLAS)
        NVIDIA GPU arch:             90
        NVIDIA PTX archs:            90

A CPU-only build prints ``NVIDIA CUDA: NO`` or no CUDA section at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cvcuda_setup.arch import read_arch_token


@dataclass(frozen=True)
class BuildInfo:
    cuda: bool
    cuda_line: str
    cuda_version: str | None
    arch_bin: tuple[str, ...]
    arch_ptx: tuple[str, ...]
    modules: tuple[str, ...]
    opencv_version: str | None

    @property
    def cuda_text(self) -> str:
        """How the build information states CUDA, for messages."""
        return f"shows 'NVIDIA CUDA: {self.cuda_line}'" if self.cuda_line else "has no NVIDIA CUDA section"

    def to_json(self) -> dict[str, Any]:
        return {
            "cuda": self.cuda,
            "cuda_line": self.cuda_line,
            "cuda_version": self.cuda_version,
            "arch_bin": list(self.arch_bin),
            "arch_ptx": list(self.arch_ptx),
            "modules": list(self.modules),
            "opencv_version": self.opencv_version,
        }


def _value(text: str, label: str) -> str | None:
    match = re.search(rf"^\s*{re.escape(label)}:[ \t]*(.*)$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


def normalize_arch(token: str) -> str | None:
    """``90`` / ``9.0`` / ``sm_90`` / ``120`` -> ``9.0`` / ``12.0`` (``arch.read_arch_token``); None for an
    arch-specific (``90a``) target or anything else."""
    read = read_arch_token(token)
    return read.capability if read is not None and not read.variant else None


def _arch_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    out = [normalize_arch(t) for t in re.split(r"[\s,;]+", value) if t]
    return tuple(dict.fromkeys(a for a in out if a))


def parse_build_info(text: str) -> BuildInfo:
    cuda_line = _value(text, "NVIDIA CUDA") or ""
    cuda = cuda_line.upper().startswith("YES")
    version_match = re.search(r"ver\s+([\d.]+)", cuda_line)
    modules = _value(text, "To be built") or ""
    header = re.search(r"General configuration for OpenCV ([\w.\-]+)", text)
    return BuildInfo(
        cuda=cuda,
        cuda_line=cuda_line,
        cuda_version=version_match.group(1) if version_match else None,
        arch_bin=_arch_list(_value(text, "NVIDIA GPU arch")) if cuda else (),
        arch_ptx=_arch_list(_value(text, "NVIDIA PTX archs")) if cuda else (),
        modules=tuple(modules.split()),
        opencv_version=header.group(1) if header else None,
    )
