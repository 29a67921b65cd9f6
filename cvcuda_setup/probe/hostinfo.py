"""The build host: cmake and ninja (with versions), free disk, memory, cores, the job count, compiler caches,
the C library and the machine architecture.

cmake and ninja come from the PyPI ``cmake``/``ninja`` packages when installed (``cmake.CMAKE_BIN_DIR``,
``ninja.BIN_DIR``: versions we control), else from PATH. Memory and cores honour cgroup limits (a container
with 8 GiB on a 512 GiB host must not start 200 nvcc jobs) and the CPU affinity mask.
"""

from __future__ import annotations

import math
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cvcuda_setup.tools import capture

_TIMEOUT = 30
GIB = 1024**3
#: Peak memory per parallel job (GiB): nvcc on OpenCV's CUDA sources needs far more than a C++ compile.
GIB_PER_JOB_CUDA = 2.5
GIB_PER_JOB_CPU = 1.0


@dataclass(frozen=True)
class ToolInfo:
    name: str
    path: Path
    #: ``"4.4.5"``; empty when ``--version`` printed none.
    version: str
    #: ``"PyPI cmake package"``, ``"PyPI ninja package"`` or ``"PATH"``.
    origin: str


_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?)")


def _version_of(path: Path) -> str:
    try:
        proc = capture([str(path), "--version"], timeout=_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    match = _VERSION.search(proc.stdout or proc.stderr)
    return match.group(1) if proc.returncode == 0 and match else ""


def _pypi_bin_dir(name: str) -> Path | None:
    try:
        if name == "cmake":
            import cmake

            return Path(cmake.CMAKE_BIN_DIR)
        if name == "ninja":
            import ninja

            return Path(ninja.BIN_DIR)
    except (ImportError, AttributeError):
        return None
    return None


def find_tool(
    name: str, env: Mapping[str, str] | None = None, *, prefer_pypi: bool = True
) -> ToolInfo | None:
    """``cmake``/``ninja``: the PyPI package's binary first, else PATH. Others (ccache, sccache): PATH."""
    env = os.environ if env is None else env
    if prefer_pypi:
        bin_dir = _pypi_bin_dir(name)
        if bin_dir is not None and (bin_dir / name).is_file():
            return ToolInfo(name, bin_dir / name, _version_of(bin_dir / name), f"PyPI {name} package")
    found = shutil.which(name, path=env.get("PATH", ""))
    if not found:
        return None
    return ToolInfo(name, Path(found), _version_of(Path(found)), "PATH")


def compiler_caches(env: Mapping[str, str] | None = None) -> list[ToolInfo]:
    """ccache and sccache on PATH."""
    tools = [find_tool(name, env, prefer_pypi=False) for name in ("ccache", "sccache")]
    return [t for t in tools if t is not None]


def existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest existing parent (a build dir that is not created yet lives on that disk)."""
    current = path.expanduser().absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def free_bytes(path: Path) -> int:
    """Free bytes (for an unprivileged user) on the filesystem that holds ``path`` or would hold it."""
    return shutil.disk_usage(existing_ancestor(path)).free


def filesystem_id(path: Path) -> int:
    """``st_dev`` of the filesystem holding ``path``: two paths with the same id share free space."""
    return existing_ancestor(path).stat().st_dev


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cgroup_memory_limit(root: Path) -> int | None:
    for name in ("memory.max", "memory/memory.limit_in_bytes"):
        text = _read(root / name)
        if text and text.isdigit():
            value = int(text)
            if value < 1 << 60:  # cgroup v1 writes a huge number for "no limit"
                return value
    return None


def _cgroup_cpu_limit(root: Path) -> int | None:
    text = _read(root / "cpu.max")  # v2: "<quota> <period>" or "max <period>"
    if text:
        quota, _, period = text.partition(" ")
        if quota.isdigit() and period.isdigit() and int(period) > 0:
            return max(1, math.ceil(int(quota) / int(period)))
    quota_text = _read(root / "cpu" / "cpu.cfs_quota_us")
    period_text = _read(root / "cpu" / "cpu.cfs_period_us")
    if quota_text and period_text and quota_text.lstrip("-").isdigit() and period_text.isdigit():
        quota_us, period_us = int(quota_text), int(period_text)
        if quota_us > 0 and period_us > 0:
            return max(1, math.ceil(quota_us / period_us))
    return None


def memory_bytes(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """Physical memory, capped by the cgroup limit when one is set."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 0
    limit = _cgroup_memory_limit(cgroup_root)
    if limit is not None and (total == 0 or limit < total):
        return limit
    return total


def cpu_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """Usable cores: the affinity mask, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    limit = _cgroup_cpu_limit(cgroup_root)
    return max(1, min(cores, limit) if limit else cores)


def default_jobs(cuda: bool, *, cores: int | None = None, memory: int | None = None) -> int:
    """Parallel jobs: ``min(cores, RAM_GiB // 2.5)`` for CUDA recipes, ``min(cores, RAM_GiB // 1)`` else.

    At least 1.
    """
    cores = cpu_cores() if cores is None else cores
    memory = memory_bytes() if memory is None else memory
    per_job = GIB_PER_JOB_CUDA if cuda else GIB_PER_JOB_CPU
    by_memory = int((memory / GIB) // per_job)
    return max(1, min(cores, by_memory))


def libc_version() -> str | None:
    """``"glibc 2.36"``: the C library this host's binaries are linked against, a floor for every host that
    runs them; None when it is not glibc (musl reports nothing) or cannot be told."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        text = None
    if text and " " in text.strip():
        name, _, version = text.strip().partition(" ")
        return f"{name.lower()} {version.strip()}"
    name, version = platform.libc_ver()
    return f"{name} {version}" if name and version else None


def machine() -> str:
    """``"x86_64"``, ``"aarch64"``: the CPU architecture the host's binaries are for (empty when unknown)."""
    return platform.machine()
