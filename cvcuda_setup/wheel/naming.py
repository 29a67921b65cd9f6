"""The wheel's name, version and tags, from the prefix's build facts and the target interpreter.

Name: ``opencv-cuda``, never one of PyPI's ``opencv-python*`` names. Version: OpenCV's, with a local label
saying what is inside: ``5.1.0+cu130.sm86.sm90.ptx90`` (CUDA 13.0, SASS for 8.6 and 9.0, PTX for 9.0) or
``5.1.0+cpu``. PyPI refuses local versions, so such a wheel can never be mistaken for one from PyPI.

Build facts come from ``share/cvcuda-setup/manifest.json`` when the prefix has a readable one (the typed
model of ``manifest.load_manifest``), else from what OpenCV installs: ``opencv2/core/version.hpp``,
``OpenCVConfig.cmake`` (``OpenCV_CUDA_VERSION``, ``OpenCV_COMPUTE_CAPABILITIES``) and
``opencv2/cvconfig.h`` (``HAVE_CUDA``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvcuda_setup.arch import read_arch_token
from cvcuda_setup.errors import UsageError
from cvcuda_setup.manifest import Manifest, load_manifest
from cvcuda_setup.probe import python as python_probe

DIST_NAME = "opencv-cuda"

_PEP440_PRE = {"dev": ".dev", "pre": ".dev", "alpha": "a", "beta": "b", "rc": "rc"}


@dataclass(frozen=True)
class BuildFacts:
    """What the wheel's version label says about the build."""

    opencv_version: str
    cuda: bool
    #: ``"13.0"``; None for a CPU-only build.
    cuda_version: str | None
    #: SASS targets as compact arch numbers (``"90"``, ``"90a"``), ascending.
    arch_bin: tuple[str, ...] = ()
    #: PTX targets, same form.
    arch_ptx: tuple[str, ...] = ()
    #: Where each fact was read: ``{"opencv_version": "manifest", "cuda": "OpenCVConfig.cmake", ...}``.
    origin: Mapping[str, str] = field(default_factory=dict)
    #: The prefix's manifest as written (what the wheel carries), None when it has no readable one.
    manifest: Mapping[str, Any] | None = None
    #: The same manifest, read (``manifest.load_manifest``).
    model: Manifest | None = None


def arch_number(token: object) -> str | None:
    """``9.0`` / ``90`` / ``sm_90`` / ``90-real`` -> ``90``; ``9.0a`` -> ``90a`` (``arch.read_arch_token``);
    else None."""
    read = read_arch_token(token)
    return read.compact if read is not None else None


def _arch_sort(values: list[str]) -> tuple[str, ...]:
    unique = dict.fromkeys(values)
    return tuple(sorted(unique, key=lambda a: (int(re.match(r"\d+", a).group()), a)))  # type: ignore[union-attr]


def cuda_major_minor(value: object) -> str | None:
    match = re.search(r"(\d+)\.(\d+)", str(value))
    return f"{int(match.group(1))}.{int(match.group(2))}" if match else None


def _manifest_cuda_intended(m: Manifest) -> bool | None:
    """The recipe's ``cuda``, else the recorded ``WITH_CUDA`` option; None when the manifest says neither."""
    if m.recipe.cuda is not None:
        return m.recipe.cuda
    value = m.option("WITH_CUDA")
    return value.strip().upper() in ("ON", "TRUE", "1", "YES", "Y") if value else None


def _manifest_cuda_version(m: Manifest) -> str | None:
    """The CUDA version the manifest records: CMake's (``toolchain``), else OpenCV's summary's."""
    for value in (m.toolchain.cuda_version, m.summary.cuda_version):
        version = cuda_major_minor(value) if value else None
        if version:
            return version
    return None


def _manifest_arch(m: Manifest) -> tuple[list[str], list[str]] | None:
    if m.arch is None:
        return None
    bins = [a for a in (arch_number(v) for v in m.arch.bin) if a]
    ptxs = [a for a in (arch_number(v) for v in m.arch.ptx) if a]
    return bins, ptxs


def _cmake_set(text: str, name: str) -> str | None:
    match = re.search(
        rf'^\s*set\(\s*{re.escape(name)}\s+"?([^")]*)"?\s*\)', text, re.MULTILINE | re.IGNORECASE
    )
    return match.group(1).strip() if match else None


def parse_compute_capabilities(value: str) -> tuple[list[str], list[str]]:
    """``OpenCV_COMPUTE_CAPABILITIES``: CMAKE_CUDA_ARCHITECTURES (``86-real;90``) or ``-gencode`` flags."""
    bins: list[str] = []
    ptxs: list[str] = []
    for code in re.findall(r"code=\[?([\w,]+)\]?", value):
        for item in code.split(","):
            number = arch_number(item)
            if number:
                (ptxs if item.startswith("compute_") else bins).append(number)
    if bins or ptxs:
        return bins, ptxs
    for item in re.split(r"[;\s]+", value):
        number = arch_number(item)
        if not number:
            continue
        if not item.endswith("-virtual"):
            bins.append(number)
        if not item.endswith("-real"):
            ptxs.append(number)
    return bins, ptxs


def _version_from_header(prefix: Path) -> str | None:
    for header in sorted(prefix.glob("include/opencv*/opencv2/core/version.hpp")) + sorted(
        prefix.glob("include/opencv2/core/version.hpp")
    ):
        text = header.read_text(encoding="utf-8", errors="replace")
        parts = [
            re.search(rf"#define\s+CV_VERSION_{k}\s+(\d+)", text) for k in ("MAJOR", "MINOR", "REVISION")
        ]
        if all(parts):
            status = re.search(r'#define\s+CV_VERSION_STATUS\s+"([^"]*)"', text)
            numbers = ".".join(m.group(1) for m in parts if m)
            return numbers + (status.group(1) if status else "")
    return None


def _opencv_config(prefix: Path) -> str:
    for path in sorted(prefix.glob("lib*/cmake/opencv*/OpenCVConfig.cmake")):
        return path.read_text(encoding="utf-8", errors="replace")
    return ""


def _cvconfig(prefix: Path) -> str | None:
    for path in sorted(prefix.glob("include/opencv*/opencv2/cvconfig.h")):
        return path.read_text(encoding="utf-8", errors="replace")
    return None


def _cvconfig_has_cuda(text: str | None) -> bool | None:
    if text is None:
        return None
    return re.search(r"^#define\s+HAVE_CUDA\b", text, re.MULTILINE) is not None


def _cvconfig_arch(text: str | None) -> tuple[list[str], list[str]]:
    """``#define CUDA_ARCH_BIN " 86 90"`` and ``CUDA_ARCH_PTX`` of ``opencv2/cvconfig.h``."""
    out: list[list[str]] = []
    for name in ("CUDA_ARCH_BIN", "CUDA_ARCH_PTX"):
        match = re.search(rf'^#define\s+{name}\s+"([^"]*)"', text or "", re.MULTILINE)
        tokens = re.split(r"[\s,;]+", match.group(1)) if match else []
        out.append([a for a in (arch_number(t) for t in tokens if t) if a])
    return out[0], out[1]


def read_build_facts(prefix: Path) -> BuildFacts:
    """Facts for the version label: the manifest's where present, else the files OpenCV installs."""
    found = load_manifest(prefix)
    model = found.manifest
    origin: dict[str, str] = {}
    config = _opencv_config(prefix)

    version = model.opencv_version if model else None
    origin["opencv_version"] = "manifest"
    if not version:
        version = _version_from_header(prefix)
        origin["opencv_version"] = "opencv2/core/version.hpp"
    if not version:
        version = _cmake_set(config, "OpenCV_VERSION")
        origin["opencv_version"] = "OpenCVConfig.cmake"
    if not version:
        raise UsageError(
            f"cannot tell the OpenCV version of {prefix}: no manifest, no opencv2/core/version.hpp",
            hint="is this an OpenCV install prefix?",
        )

    config_cuda = _cmake_set(config, "OpenCV_CUDA_VERSION") or None
    cvconfig = _cvconfig(prefix)
    cuda = _manifest_cuda_intended(model) if model else None
    origin["cuda"] = "manifest"
    if cuda is None:
        cuda = _cvconfig_has_cuda(cvconfig)
        origin["cuda"] = "opencv2/cvconfig.h"
    if cuda is None:
        cuda = config_cuda is not None
        origin["cuda"] = "OpenCVConfig.cmake"

    cuda_version = None
    bins: list[str] = []
    ptxs: list[str] = []
    if cuda:
        cuda_version = _manifest_cuda_version(model) if model else None
        origin["cuda_version"] = "manifest"
        if cuda_version is None and config_cuda:
            cuda_version = cuda_major_minor(config_cuda)
            origin["cuda_version"] = "OpenCVConfig.cmake"
        if cuda_version is None:
            raise UsageError(
                f"{prefix} is a CUDA build but neither its manifest nor OpenCVConfig.cmake names its CUDA",
                hint="rebuild with cvcuda-setup build so the manifest records it",
            )
        arch = _manifest_arch(model) if model else None
        origin["arch"] = "manifest"
        if not arch or not (arch[0] or arch[1]):
            arch = _cvconfig_arch(cvconfig)
            origin["arch"] = "opencv2/cvconfig.h"
        if not (arch[0] or arch[1]):
            arch = parse_compute_capabilities(_cmake_set(config, "OpenCV_COMPUTE_CAPABILITIES") or "")
            origin["arch"] = "OpenCVConfig.cmake"
        bins, ptxs = arch
    return BuildFacts(
        opencv_version=version,
        cuda=bool(cuda),
        cuda_version=cuda_version,
        arch_bin=_arch_sort(bins),
        arch_ptx=_arch_sort(ptxs),
        origin=origin,
        manifest=found.document if model else None,
        model=model,
    )


def public_version(opencv_version: str) -> str:
    """OpenCV's version in PEP 440: ``5.1.0`` stays, ``4.13.0-dev`` -> ``4.13.0.dev0``, alpha -> ``a0``."""
    match = re.fullmatch(r"(\d+(?:\.\d+){1,3})(?:[-.]?(dev|pre|alpha|beta|rc)(\d*))?", opencv_version.strip())
    if not match:
        raise UsageError(
            f"OpenCV version {opencv_version!r} cannot be written as a Python package version",
            hint="expected e.g. 5.1.0 or 4.13.0-dev",
        )
    base, pre, number = match.groups()
    return base + (f"{_PEP440_PRE[pre]}{number or 0}" if pre else "")


def local_label(facts: BuildFacts) -> str:
    """``cu130.sm86.sm90.ptx90`` for a CUDA build, ``cpu`` for a CPU-only one."""
    if not facts.cuda:
        return "cpu"
    assert facts.cuda_version is not None
    major, minor = facts.cuda_version.split(".")[:2]
    parts = [f"cu{major}{minor}"] + [f"sm{a}" for a in facts.arch_bin] + [f"ptx{a}" for a in facts.arch_ptx]
    return ".".join(parts)


def dist_version(facts: BuildFacts) -> str:
    return f"{public_version(facts.opencv_version)}+{local_label(facts)}"


def summary(facts: BuildFacts) -> str:
    """METADATA ``Summary``: one line saying what is inside and what is not."""
    if not facts.cuda:
        return f"OpenCV {facts.opencv_version} (cv2) CPU-only build made by cvcuda-setup"
    archs = ", ".join([f"sm_{a}" for a in facts.arch_bin] + [f"compute_{a} PTX" for a in facts.arch_ptx])
    return (
        f"OpenCV {facts.opencv_version} (cv2) built with CUDA {facts.cuda_version} "
        f"for {archs or 'unknown archs'} by cvcuda-setup; needs the system CUDA libraries"
    )


# --- tags ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InterpreterFacts:
    executable: str
    implementation: str
    #: (major, minor)
    version: tuple[int, int]
    ext_suffix: str
    platform: str
    gil_disabled: bool = False
    #: numpy's version in that interpreter (None when numpy is not installed there).
    numpy_version: str | None = None

    @property
    def short_version(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"


def probe_interpreter(python: str | None) -> InterpreterFacts:
    """Ask ``python`` (default: this interpreter) for what its wheel tags are made of (the one interpreter
    probe, ``probe.python.probe_interpreter``)."""
    found = python_probe.probe_interpreter(python)
    return InterpreterFacts(
        executable=str(found.executable),
        implementation=found.implementation,
        version=found.version_info,
        ext_suffix=found.ext_suffix,
        platform=found.platform,
        gil_disabled=found.gil_disabled,
        numpy_version=found.numpy_version,
    )


@dataclass(frozen=True)
class WheelTag:
    python: str
    abi: str
    platform: str

    def __str__(self) -> str:
        return f"{self.python}-{self.abi}-{self.platform}"


def wheel_tag(interp: InterpreterFacts, extension: Path) -> WheelTag:
    """``cp311-cp311-linux_x86_64`` (``cp311-abi3-...`` for limited API), checked against the extension.

    The extension's file name says which interpreter it was compiled for; a mismatch is a usage error.
    """
    if interp.implementation != "cpython":
        raise UsageError(
            f"--python {interp.executable!r} is {interp.implementation}, not CPython",
            hint="OpenCV's bindings are built for CPython",
        )
    py = f"cp{interp.version[0]}{interp.version[1]}"
    if extension.name.endswith(".abi3.so"):
        abi = "abi3"
    elif interp.ext_suffix and extension.name == f"cv2{interp.ext_suffix}":
        abi = py + ("t" if interp.gil_disabled else "")
    else:
        raise UsageError(
            f"{extension.name} was not built for {interp.executable} (Python {interp.short_version} "
            f"loads cv2{interp.ext_suffix})",
            hint="pass --python with the interpreter the bindings were built for",
        )
    platform = re.sub(r"[^a-zA-Z0-9]+", "_", interp.platform)
    return WheelTag(py, abi, platform)


def escape_name(name: str) -> str:
    """Distribution name as written in file names: runs of ``-_.`` become ``_`` (``opencv_cuda``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def wheel_filename(name: str, version: str, tag: WheelTag) -> str:
    return f"{escape_name(name)}-{version}-{tag}.whl"


def dist_info_dir(name: str, version: str) -> str:
    return f"{escape_name(name)}-{version}.dist-info"
