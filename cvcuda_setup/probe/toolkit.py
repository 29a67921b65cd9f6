"""The CUDA toolkit: which nvcc (and why that one), its version, the arches it targets, and its libraries.

Search order (the first usable nvcc wins; the others are reported as alternatives):

1. ``CUDACXX`` (the nvcc CMake's CUDA language would use)
2. ``CUDA_HOME``, then ``CUDA_PATH`` (``<dir>/bin/nvcc``)
3. ``nvcc`` on ``PATH``
4. ``/usr/local/cuda/bin/nvcc``
5. pip's NVIDIA wheels in this interpreter's site-packages: ``nvidia/cu13/bin/nvcc`` (CUDA 13 wheels),
   ``nvidia/cuda_nvcc/bin/nvcc`` (CUDA 12 wheels)

An explicit variable that names no nvcc is reported (``rejected``) and skipped, not silently ignored.
The toolkit root is what nvcc itself says (``TOP`` in ``nvcc --dryrun``), so wrapper scripts and symlinks
(``/usr/local/bin/nvcc`` -> ``/usr/local/cuda-13.0``) resolve to the real toolkit.
"""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sysconfig
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cvcuda_setup.tools import capture

_TIMEOUT = 60
#: The conventional install location (the runfile and NVIDIA's packages link it to /usr/local/cuda-X.Y).
DEFAULT_TOOLKIT = Path("/usr/local/cuda")
#: Where a system-wide cuDNN lives (Debian/Ubuntu packages: /usr/lib/x86_64-linux-gnu, /usr/include).
CUDNN_SYSTEM_DIRS = (Path("/usr"), Path("/usr/local/cudnn"), Path("/usr/local"))
_RELEASE = re.compile(r"release (\d+)\.(\d+)(?:, V(\d+\.\d+\.\d+))?")
_TOP = re.compile(r"^#\$ TOP=(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class NvccInfo:
    """One nvcc and what it can do."""

    path: Path
    #: Why this nvcc was chosen: ``"CUDACXX"``, ``"CUDA_HOME"``, ``"CUDA_PATH"``, ``"PATH"``,
    #: ``"/usr/local/cuda"`` or ``"pip nvidia wheel"``.
    origin: str
    #: ``"13.0"`` (major.minor, what CUDA versions are compared by).
    version: str
    #: The toolkit root (``include/``, ``lib64/``, ``bin/``).
    root: Path
    #: ``nvcc --list-gpu-code``: ``("sm_75", ...)``; empty when this nvcc cannot list them.
    gpu_codes: tuple[str, ...]
    #: ``nvcc --list-gpu-arch``: ``("compute_75", ...)``.
    gpu_archs: tuple[str, ...]
    #: ``"13.0.88"`` when nvcc prints it.
    full_version: str = ""

    @property
    def version_tuple(self) -> tuple[int, int]:
        major, minor = self.version.split(".")[:2]
        return int(major), int(minor)


@dataclass(frozen=True)
class NvccSearch:
    """The whole search: the chosen nvcc, the other usable ones, the rejected candidates (and why)."""

    chosen: NvccInfo | None
    others: tuple[NvccInfo, ...] = ()
    #: ``(origin, path, reason)`` for an explicit setting that names no usable nvcc.
    rejected: tuple[tuple[str, str, str], ...] = ()
    #: Where it looked, in order, for the "not found" message.
    searched: tuple[str, ...] = ()


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return capture(cmd, timeout=_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _site_dirs() -> list[Path]:
    dirs: list[str] = []
    paths = sysconfig.get_paths()
    dirs += [paths.get("purelib", ""), paths.get("platlib", "")]
    try:
        dirs += site.getsitepackages()
    except AttributeError:  # virtualenv's old site.py
        pass
    user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else ""
    dirs.append(user)
    seen: list[Path] = []
    for d in dirs:
        if d and Path(d) not in seen:
            seen.append(Path(d))
    return seen


def _pip_nvcc_paths(site_dirs: Iterable[Path]) -> list[Path]:
    found = []
    for base in site_dirs:
        nvidia = base / "nvidia"
        if not nvidia.is_dir():
            continue
        found += sorted(nvidia.glob("cu[0-9]*/bin/nvcc"), reverse=True)  # cu13 before cu12
        found.append(nvidia / "cuda_nvcc" / "bin" / "nvcc")
    return found


def _candidates(env: Mapping[str, str], site_dirs: Iterable[Path]) -> list[tuple[str, Path | None, str]]:
    """(origin, path or None, what was looked at), in search order."""
    out: list[tuple[str, Path | None, str]] = []
    cudacxx = env.get("CUDACXX")
    if cudacxx:
        resolved = shutil.which(cudacxx, path=env.get("PATH", "")) if os.sep not in cudacxx else cudacxx
        out.append(("CUDACXX", Path(resolved) if resolved else Path(cudacxx), f"CUDACXX={cudacxx}"))
    for var in ("CUDA_HOME", "CUDA_PATH"):
        value = env.get(var)
        if value:
            out.append((var, Path(value) / "bin" / "nvcc", f"{var}={value}"))
    on_path = shutil.which("nvcc", path=env.get("PATH", ""))
    out.append(("PATH", Path(on_path) if on_path else None, "nvcc on PATH"))
    default = DEFAULT_TOOLKIT / "bin" / "nvcc"
    out.append(("/usr/local/cuda", default, str(default)))
    for path in _pip_nvcc_paths(site_dirs):
        out.append(("pip nvidia wheel", path, str(path)))
    return out


def _toolkit_root(nvcc: Path) -> Path:
    """Ask nvcc where its toolkit is (``#$ TOP=...``); fall back to ``<nvcc>/../..`` after resolving links."""
    proc = _run([str(nvcc), "--dryrun", "-c", "cvcuda_setup_probe.cu", "-o", os.devnull])
    if proc is not None:
        match = _TOP.search(proc.stderr + proc.stdout)
        if match:
            top = Path(match.group(1).strip()).resolve()
            if top.is_dir():
                return top
    return nvcc.resolve().parent.parent


def _list(nvcc: Path, flag: str, prefix: str) -> tuple[str, ...]:
    proc = _run([str(nvcc), flag])
    if proc is None or proc.returncode != 0:
        return ()
    return tuple(line.strip() for line in proc.stdout.splitlines() if line.strip().startswith(prefix))


def describe_nvcc(path: Path, origin: str) -> NvccInfo | str:
    """An ``NvccInfo`` for ``path``, or why it is unusable (not there, does not run, no version)."""
    if not path.exists():
        return "does not exist"
    if not os.access(path, os.X_OK) or path.is_dir():
        return "is not an executable file"
    proc = _run([str(path), "--version"])
    if proc is None:
        return "does not run"
    match = _RELEASE.search(proc.stdout)
    if proc.returncode != 0 or not match:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"`nvcc --version` printed no CUDA release ({tail[0]})"
    return NvccInfo(
        path=path,
        origin=origin,
        version=f"{match.group(1)}.{match.group(2)}",
        root=_toolkit_root(path),
        gpu_codes=_list(path, "--list-gpu-code", "sm_"),
        gpu_archs=_list(path, "--list-gpu-arch", "compute_"),
        full_version=match.group(3) or "",
    )


def search_nvcc(
    env: Mapping[str, str] | None = None, *, site_dirs: Iterable[Path] | None = None
) -> NvccSearch:
    """Every nvcc candidate in search order: the first usable one is chosen."""
    env = os.environ if env is None else env
    chosen: NvccInfo | None = None
    others: list[NvccInfo] = []
    rejected: list[tuple[str, str, str]] = []
    searched: list[str] = []
    seen: set[Path] = set()
    for origin, path, label in _candidates(env, _site_dirs() if site_dirs is None else site_dirs):
        searched.append(label)
        if path is None:
            continue
        key = path.resolve() if path.exists() else path
        if key in seen:
            continue
        seen.add(key)
        described = describe_nvcc(path, origin)
        if isinstance(described, str):
            if origin in ("CUDACXX", "CUDA_HOME", "CUDA_PATH") or path.exists():
                rejected.append((origin, str(path), described))
            continue
        if chosen is None:
            chosen = described
        elif described.root != chosen.root:
            others.append(described)
    return NvccSearch(chosen=chosen, others=tuple(others), rejected=tuple(rejected), searched=tuple(searched))


def find_nvcc(env: Mapping[str, str] | None = None) -> NvccInfo | None:
    """The nvcc a build would use (see the module docstring for the order), or None."""
    return search_nvcc(env).chosen


def _lib_dirs(root: Path) -> list[Path]:
    dirs = [root / "lib64", root / "lib"]
    dirs += sorted(root.glob("lib/*-linux-gnu"))  # Debian's nvidia-cuda-toolkit: root=/usr
    dirs += sorted(root.glob("targets/*/lib"))
    if root.parent.name == "nvidia":  # CUDA 12 pip wheels: nvidia/cuda_nvcc next to nvidia/npp, nvidia/cublas
        dirs += sorted(p for p in root.parent.glob("*/lib") if p.parent != root)
    return dirs


def _cudnn_dirs(env: Mapping[str, str]) -> list[Path]:
    """Where cuDNN lives outside the toolkit: its own variables, then the system's library directories."""
    dirs = [Path(env[var]) for var in ("CUDNN_ROOT", "CUDNN_HOME", "CUDNN_PATH") if env.get(var)]
    return dirs + list(CUDNN_SYSTEM_DIRS)


def find_cuda_library(
    root: Path, name: str, *, extra_dirs: Sequence[Path] = (), env: Mapping[str, str] | None = None
) -> Path | None:
    """``lib<name>.so`` (or ``.so.N``) under the toolkit root, for ``"nppc"``, ``"cublas"``, ``"cudnn"``...

    cuDNN is a separate install: for ``"cudnn"`` the ``CUDNN_ROOT``/``CUDNN_HOME``/``CUDNN_PATH`` directories
    and the system library directories are searched too.
    """
    env = os.environ if env is None else env
    dirs = [*_lib_dirs(root), *extra_dirs]
    if name == "cudnn":
        for base in _cudnn_dirs(env):
            dirs += _lib_dirs(base)
    pattern = re.compile(rf"^lib{re.escape(name)}\.so(\.\d+)*$")
    for directory in dirs:
        if not directory.is_dir():
            continue
        matches = sorted(p for p in directory.iterdir() if pattern.match(p.name))
        if matches:
            return matches[0]
    return None


_CUDNN_DEFINE = re.compile(r"^\s*#\s*define\s+CUDNN_(MAJOR|MINOR|PATCHLEVEL)\s+(\d+)", re.MULTILINE)


def cudnn_header(root: Path, env: Mapping[str, str] | None = None) -> Path | None:
    """The ``cudnn_version.h`` (cuDNN >= 8) or ``cudnn.h`` (cuDNN 7) that carries the version."""
    env = os.environ if env is None else env
    bases = [root, *_cudnn_dirs(env)]
    if root.parent.name == "nvidia":
        bases.append(root.parent / "cudnn")
    include_dirs: list[Path] = []
    for base in bases:
        include_dirs += [
            base / "include",
            *sorted(base.glob("targets/*/include")),
            *sorted(base.glob("include/*-linux-gnu")),
        ]
    for directory in include_dirs:
        for name in ("cudnn_version.h", "cudnn.h"):
            candidate = directory / name
            if candidate.is_file() and "CUDNN_MAJOR" in candidate.read_text(errors="replace"):
                return candidate
        versioned = sorted(directory.glob("cudnn_version_v*.h")) if directory.is_dir() else []
        if versioned:
            return versioned[-1]
    return None


def cudnn_version(root: Path, env: Mapping[str, str] | None = None) -> str | None:
    """``"9.1.0"`` from ``cudnn_version.h``, or None when no cuDNN header is found."""
    header = cudnn_header(root, env)
    if header is None:
        return None
    values = dict(_CUDNN_DEFINE.findall(header.read_text(errors="replace")))
    if "MAJOR" not in values:
        return None
    return f"{values['MAJOR']}.{values.get('MINOR', '0')}.{values.get('PATCHLEVEL', '0')}"


#: The NPP libraries OpenCV's CUDA build links (``OpenCVDetectCUDA.cmake``; nppicom went away in CUDA 11).
NPP_LIBRARIES = (
    "nppc",
    "nppial",
    "nppicc",
    "nppidei",
    "nppif",
    "nppig",
    "nppim",
    "nppist",
    "nppisu",
    "nppitc",
    "npps",
)


def missing_npp(root: Path) -> list[str]:
    """The NPP libraries OpenCV links that are not under ``root``."""
    return [name for name in NPP_LIBRARIES if find_cuda_library(root, name) is None]
