"""What a configured OpenCV build dir says about itself: OpenCV's configure summary, CMake's cache and the
compiler files CMake writes. Parsing only, no CMake run; ``cmake.py`` records the results in the manifest.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cvcuda_setup.model import jsonable

# --- OpenCV's configure summary -------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildSummary:
    """The "General configuration for OpenCV" block of the configure output, the parts that matter here."""

    opencv_version: str | None = None
    modules_built: tuple[str, ...] = ()
    modules_disabled: tuple[str, ...] = ()
    modules_disabled_by_dependency: tuple[str, ...] = ()
    modules_unavailable: tuple[str, ...] = ()
    #: None when the summary has no "NVIDIA CUDA:" line (a build with WITH_CUDA=OFF prints none).
    cuda: bool | None = None
    cuda_line: str = ""
    cuda_version: str | None = None
    gpu_arch: tuple[str, ...] = ()
    ptx_arch: tuple[str, ...] = ()
    cudnn: str | None = None
    python_interpreter: str | None = None
    python_install_path: str | None = None
    install_prefix: str | None = None

    @property
    def found(self) -> bool:
        """True when the log held the summary block at all (a failed configure prints none)."""
        return self.opencv_version is not None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(asdict(self))
        return data


def _field(block: str, label: str) -> str | None:
    match = re.search(rf"^--\s+{re.escape(label)}:[ \t]*(.*)$", block, re.MULTILINE)
    return match.group(1).strip() if match else None


def _words(value: str | None) -> tuple[str, ...]:
    return tuple(value.split()) if value else ()


def parse_configure_summary(text: str) -> BuildSummary:
    """Parse the last summary block of a configure log (a re-configure appends another one)."""
    starts = [m.start() for m in re.finditer(r"^--\s+General configuration for OpenCV", text, re.MULTILINE)]
    if not starts:
        return BuildSummary()
    block = text[starts[-1] :]
    end = re.search(r"^--\s+-{20,}", block, re.MULTILINE)
    if end:
        block = block[: end.end()]
    header = re.match(r"--\s+General configuration for OpenCV\s+(\S+)", block)
    cuda_line = _field(block, "NVIDIA CUDA") or ""
    version = re.search(r"ver\s+([\d.]+)", cuda_line)
    python_block = re.search(r"^--\s+Python 3:\s*$(?P<body>(?:\n--\s{5,}.*)*)", block, re.MULTILINE)
    interpreter = install_path = None
    if python_block:
        body = python_block.group("body")
        interpreter = _field(body, "Interpreter")
        install_path = _field(body, "install path")
    return BuildSummary(
        opencv_version=header.group(1) if header else None,
        modules_built=_words(_field(block, "To be built")),
        modules_disabled=_words(_field(block, "Disabled")),
        modules_disabled_by_dependency=_words(_field(block, "Disabled by dependency")),
        modules_unavailable=_words(_field(block, "Unavailable")),
        cuda=cuda_line.upper().startswith("YES") if cuda_line else None,
        cuda_line=cuda_line,
        cuda_version=version.group(1) if version else None,
        gpu_arch=_words(_field(block, "NVIDIA GPU arch")),
        ptx_arch=_words(_field(block, "NVIDIA PTX archs")),
        cudnn=_field(block, "cuDNN"),
        python_interpreter=interpreter,
        python_install_path=install_path,
        install_prefix=_field(block, "Install to"),
    )


# --- CMake's cache and compiler files ---------------------------------------------------------------------

_CACHE_LINE = re.compile(r"^([^#/][^:=]*):([A-Z]+)=(.*)$")


def read_cmake_cache(build_dir: Path) -> dict[str, str]:
    """``NAME -> VALUE`` from ``CMakeCache.txt`` (empty when there is none)."""
    try:
        text = (build_dir / "CMakeCache.txt").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        match = _CACHE_LINE.match(line)
        if match:
            out[match.group(1)] = match.group(3)
    return out


def _compiler_file(build_dir: Path, cache: dict[str, str]) -> Path | None:
    version = ".".join(cache.get(f"CMAKE_CACHE_{part}_VERSION", "") for part in ("MAJOR", "MINOR", "PATCH"))
    exact = build_dir / "CMakeFiles" / version / "CMakeCXXCompiler.cmake"
    if exact.is_file():
        return exact
    candidates = sorted(
        (build_dir / "CMakeFiles").glob("*/CMakeCXXCompiler.cmake"), key=lambda p: p.stat().st_mtime
    )
    return candidates[-1] if candidates else None


def compiler_facts(build_dir: Path) -> dict[str, str | None]:
    """The C++ compiler (path, id, version), CUDA and cuDNN versions, nvcc, as CMake recorded them."""
    cache = read_cmake_cache(build_dir)
    facts: dict[str, str | None] = {
        "cxx_compiler": cache.get("CMAKE_CXX_COMPILER") or None,
        "cxx_compiler_id": None,
        "cxx_compiler_version": None,
        "cmake_version": ".".join(
            v for v in (cache.get(f"CMAKE_CACHE_{p}_VERSION") for p in ("MAJOR", "MINOR", "PATCH")) if v
        )
        or None,
        "cuda_version": cache.get("CUDA_VERSION") or cache.get("CUDAToolkit_VERSION") or None,
        "nvcc": cache.get("CUDA_NVCC_EXECUTABLE") or cache.get("CMAKE_CUDA_COMPILER") or None,
        "cuda_host_compiler": cache.get("CUDA_HOST_COMPILER")
        or cache.get("CMAKE_CUDA_HOST_COMPILER")
        or None,
        "cudnn_version": cache.get("CUDNN_VERSION") or None,
    }
    path = _compiler_file(build_dir, cache)
    if path is not None:
        text = path.read_text(encoding="utf-8", errors="replace")
        for key, var in (
            ("cxx_compiler_id", "CMAKE_CXX_COMPILER_ID"),
            ("cxx_compiler_version", "CMAKE_CXX_COMPILER_VERSION"),
        ):
            match = re.search(rf'^set\({var} "([^"]*)"\)', text, re.MULTILINE)
            if match and match.group(1):
                facts[key] = match.group(1)
    for key in ("nvcc", "cuda_host_compiler"):
        if facts[key] and facts[key].endswith("-NOTFOUND"):  # type: ignore[union-attr]
            facts[key] = None
    return facts
