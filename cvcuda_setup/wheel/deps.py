"""Which shared libraries the wheel carries and which it leaves to the system.

Starting from the ``cv2`` extension, DT_NEEDED entries are followed through the prefix. Each one is:

* ``bundled``: found in the prefix (``lib/libopencv_*.so.*`` and anything else the build installed there);
  copied into the wheel under its SONAME.
* ``cuda``: a system CUDA library (driver, runtime, NPP, cuBLAS, cuFFT, cuDNN, ...): never bundled, since it
  must match the host's driver and toolkit; checked when ``cv2`` is imported (``syslibs.py``).
* ``system``: glibc, libstdc++, libgcc_s, zlib: present wherever CPython runs.
* ``other``: anything else outside the prefix: not bundled by this step; ``auditwheel repair`` grafts it.
"""

from __future__ import annotations

import fnmatch
import os
import platform
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cvcuda_setup.tools import capture
from cvcuda_setup.wheel.elf import DynamicInfo, ElfError, read_dynamic

#: System CUDA libraries (glob on the SONAME) and what provides them; also the ``auditwheel --exclude`` list.
CUDA_SYSTEM_LIBS: tuple[tuple[str, str], ...] = (
    ("libcuda.so*", "the NVIDIA driver"),
    ("libcudart.so*", "the CUDA runtime (CUDA toolkit)"),
    ("libnpp*", "NPP (CUDA toolkit)"),
    ("libcublas*", "cuBLAS (CUDA toolkit)"),
    ("libcufft*", "cuFFT (CUDA toolkit)"),
    ("libcudnn*", "cuDNN"),
    ("libcurand*", "cuRAND (CUDA toolkit)"),
    ("libcusolver*", "cuSOLVER (CUDA toolkit)"),
    ("libcusparse*", "cuSPARSE (CUDA toolkit)"),
    ("libnvrtc*", "NVRTC (CUDA toolkit)"),
    ("libnvJitLink*", "nvJitLink (CUDA toolkit)"),
    ("libnvToolsExt*", "NVTX (CUDA toolkit)"),
    ("libnvcuvid*", "the NVIDIA driver (video decoder)"),
    ("libnvidia-encode*", "the NVIDIA driver (video encoder)"),
    ("libnvidia-ml*", "the NVIDIA driver (NVML)"),
)

#: Libraries every Linux with CPython has: never bundled, never checked.
SYSTEM_LIBS: tuple[str, ...] = (
    "libc.so.*",
    "libm.so.*",
    "libdl.so.*",
    "librt.so.*",
    "libpthread.so.*",
    "libutil.so.*",
    "libresolv.so.*",
    "libnsl.so.*",
    "libcrypt.so.*",
    "ld-linux*.so.*",
    "libstdc++.so.*",
    "libgcc_s.so.*",
    "libz.so.*",
    "libpython3*.so*",
)

Kind = Literal["bundled", "cuda", "system", "other"]


def cuda_provider(soname: str) -> str | None:
    """What provides a system CUDA library (``libnppc.so.13`` -> ``NPP (CUDA toolkit)``); None if not one."""
    for pattern, what in CUDA_SYSTEM_LIBS:
        if fnmatch.fnmatchcase(soname, pattern):
            return what
    return None


def is_system_lib(soname: str) -> bool:
    return any(fnmatch.fnmatchcase(soname, p) for p in SYSTEM_LIBS)


def auditwheel_excludes() -> list[str]:
    """``--exclude`` values for ``auditwheel repair`` (it matches them with fnmatch on the SONAME)."""
    return [pattern for pattern, _ in CUDA_SYSTEM_LIBS]


@dataclass(frozen=True)
class Dependency:
    soname: str
    kind: Kind
    #: Where it is on this host (None: not found here).
    path: Path | None
    #: Names of the ELF files (extension, bundled libraries) that need it.
    needed_by: tuple[str, ...]
    #: For ``cuda``: what provides it.
    provides: str = ""


@dataclass(frozen=True)
class Closure:
    """Every library the extension needs, transitively through the prefix, in discovery order."""

    deps: tuple[Dependency, ...]

    def of_kind(self, kind: Kind) -> tuple[Dependency, ...]:
        return tuple(d for d in self.deps if d.kind == kind)

    @property
    def bundled(self) -> tuple[Dependency, ...]:
        return self.of_kind("bundled")


def _expand(entry: str, origin: Path) -> Path:
    text = entry.replace("${ORIGIN}", str(origin)).replace("$ORIGIN", str(origin))
    return Path(os.path.normpath(text))


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def ldconfig_cache() -> dict[str, Path]:
    """SONAME -> path from ``ldconfig -p`` (empty when ldconfig is not there)."""
    exe = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.access(p, os.X_OK)), None
    )
    if exe is None:
        return {}
    try:
        proc = capture([exe, "-p"], timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    want = {"x86_64": "x86-64", "aarch64": "AArch64"}.get(platform.machine())
    out: dict[str, Path] = {}
    for line in proc.stdout.splitlines():
        left, sep, path = line.strip().partition(" => ")
        soname, _, flags = left.partition(" ")
        if sep and (want is None or want in flags):
            out.setdefault(soname, Path(path.strip()))
    return out


def _system_dirs() -> list[Path]:
    env = [Path(p) for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
    return env + [
        Path(p) for p in ("/lib64", "/usr/lib64", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu")
    ]


def find_on_host(soname: str, search: Iterable[Path], cache: dict[str, Path]) -> Path | None:
    """Where the loader finds ``soname``: the object's run path, LD_LIBRARY_PATH, ld.so.cache, defaults."""
    for directory in search:
        if (directory / soname).exists():
            return directory / soname
    for directory in _system_dirs():
        if (directory / soname).exists():
            return directory / soname
    return cache.get(soname)


def closure(extension: Path, prefix: Path, prefix_lib_dirs: Iterable[Path]) -> Closure:
    """Follow DT_NEEDED from ``extension``: prefix libraries are bundled and followed, the rest classified."""
    lib_dirs = list(prefix_lib_dirs)
    cache: dict[str, Path] | None = None
    found: dict[str, tuple[Kind, Path | None, str]] = {}
    needed_by: dict[str, list[str]] = {}
    queue: list[DynamicInfo] = [read_dynamic(extension)]
    while queue:
        obj = queue.pop(0)
        origin = obj.path.resolve().parent
        search = [_expand(e, origin) for e in obj.search_path] + lib_dirs
        for soname in obj.needed:
            needed_by.setdefault(soname, [])
            user = obj.path.name if obj.soname is None else obj.soname
            if user not in needed_by[soname]:
                needed_by[soname].append(user)
            if soname in found:
                continue
            provider = cuda_provider(soname)
            in_prefix = next(
                (d / soname for d in search if (d / soname).exists() and _inside(d / soname, prefix)), None
            )
            if provider is not None or is_system_lib(soname) or in_prefix is None:
                if cache is None:
                    cache = ldconfig_cache()
                where = find_on_host(soname, [d for d in search if not _inside(d, prefix)], cache)
                kind: Kind = "cuda" if provider else ("system" if is_system_lib(soname) else "other")
                found[soname] = (kind, where, provider or "")
                continue
            found[soname] = ("bundled", in_prefix, "")
            try:
                queue.append(read_dynamic(in_prefix))
            except ElfError:
                continue
    return Closure(
        tuple(
            Dependency(name, kind, path, tuple(needed_by[name]), what)
            for name, (kind, path, what) in found.items()
        )
    )
