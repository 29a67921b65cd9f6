"""nvcc's host compiler, the range each nvcc accepts, and older g++ that could stand in.

Which compiler nvcc uses in an OpenCV build: ``CUDA_HOST_COMPILER``, which OpenCV's FindCUDA defaults to the
C compiler (``CMAKE_C_COMPILER``); OpenCV 5.1 also takes ``CMAKE_CUDA_HOST_COMPILER`` (from ``CUDAHOSTCXX``).
So ``host_compiler`` looks at ``CUDAHOSTCXX``, ``CC``, ``CXX``, then ``cc``/``c++``/``gcc``/``g++`` on PATH.

The accepted range comes first from the toolkit itself (``include/crt/host_config.h``, the check nvcc runs),
else from ``NVCC_HOST_COMPILERS`` below (NVIDIA's installation guide, per release).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cvcuda_setup.tools import capture

_TIMEOUT = 30
_LAUNCHERS = ("ccache", "sccache", "distcc", "icecc")

CompilerKind = Literal["gcc", "clang", "unknown"]


@dataclass(frozen=True)
class CompilerInfo:
    path: Path
    kind: CompilerKind
    #: ``"12.2.0"``.
    version: str
    #: Where it came from: ``"CUDAHOSTCXX"``, ``"CC"``, ``"CXX"`` or ``"PATH (g++)"``.
    origin: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


@dataclass(frozen=True)
class CompilerLimits:
    """The newest host compiler major version an nvcc accepts."""

    gcc_max: int
    clang_max: int
    #: Where the numbers come from (a file, or a documentation page).
    source: str
    #: False when the row is an assumption (an nvcc newer than the table), not a documented fact.
    checked: bool = True


#: (first CUDA version of the row, newest gcc major, newest clang major, source); a row holds until the next.
#: Source: NVIDIA's CUDA installation guide for Linux, "Host Compiler Support Policy" of each release
#: (https://docs.nvidia.com/cuda/archive/<version>/cuda-installation-guide-linux/index.html), as collected
#: in nixpkgs' pkgs/development/cuda-modules/_cuda/db/bootstrap/nvcc.nix; 13.0 read from the toolkit's own
#: include/crt/host_config.h (13.0.88: ``__GNUC__ > 15`` and ``__clang_major__ >= 21`` are refused).
NVCC_HOST_COMPILERS: tuple[tuple[str, int, int, str], ...] = (
    ("11.8", 11, 14, "install guide 11.8.0"),
    ("12.0", 12, 14, "install guide 12.0.1"),
    ("12.1", 12, 15, "release notes 12.1.1"),
    ("12.2", 12, 16, "install guide 12.2.2"),
    ("12.3", 12, 16, "install guide 12.3.2"),
    ("12.4", 13, 17, "install guide 12.4.1"),
    ("12.5", 13, 17, "install guide 12.5.1"),
    ("12.6", 13, 18, "install guide 12.6.0"),
    ("12.8", 14, 19, "install guide 12.8.1"),
    ("12.9", 14, 19, "install guide 12.9"),
    ("13.0", 15, 20, "crt/host_config.h of nvcc 13.0.88"),
)


def _vtuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def nvcc_host_compiler_range(nvcc_version: str) -> CompilerLimits | None:
    """The documented newest gcc/clang major for nvcc ``"12.4"``; None for an nvcc older than the table.

    An nvcc newer than the last row gets that row with ``checked=False``: new releases only ever widen the
    range, so it is a floor, but not a documented fact.
    """
    wanted = _vtuple(nvcc_version)[:2]
    row = None
    for entry in NVCC_HOST_COMPILERS:
        if _vtuple(entry[0]) <= wanted:
            row = entry
    if row is None:
        return None
    first, gcc_max, clang_max, source = row
    exact = _vtuple(first) == wanted or row is not NVCC_HOST_COMPILERS[-1]
    note = source if exact else f"{source}, assumed for {nvcc_version} (newer than the table)"
    return CompilerLimits(gcc_max=gcc_max, clang_max=clang_max, source=f"table: {note}", checked=exact)


_GNUC_MAX = re.compile(r"#\s*if\s+__GNUC__\s*>\s*(\d+)")
_CLANG_BLOCK = re.compile(
    r"#\s*if\s+defined\(__clang__\)\s*&&\s*!defined\(__ibmxl_vrm__\).*?__clang_major__\s*(>=|>)\s*(\d+)",
    re.DOTALL,
)


def host_config_limits(root: Path) -> CompilerLimits | None:
    """The limits nvcc enforces, read from ``<root>/include/crt/host_config.h`` (or ``targets/*/include``)."""
    for header in [
        root / "include" / "crt" / "host_config.h",
        *sorted(root.glob("targets/*/include/crt/host_config.h")),
    ]:
        if not header.is_file():
            continue
        text = header.read_text(errors="replace")
        gnuc = _GNUC_MAX.search(text)
        clang = _CLANG_BLOCK.search(text)
        if not gnuc or not clang:
            continue
        clang_max = int(clang.group(2)) - (1 if clang.group(1) == ">=" else 0)
        return CompilerLimits(gcc_max=int(gnuc.group(1)), clang_max=clang_max, source=str(header))
    return None


def _run(cmd: list[str]) -> str | None:
    try:
        proc = capture(cmd, timeout=_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


_CLANG_VERSION = re.compile(r"clang version (\d+\.\d+(?:\.\d+)?)")
_TRAILING_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?)(?:\s|$)")
_GCC_NAME = re.compile(r"(?:^|[\s/])(?:[\w.-]+-)?(?:g\+\+|gcc|c\+\+|cc)(?:-\d+)?(?:\s|$)")


def identify(path: Path, origin: str) -> CompilerInfo | None:
    """Run ``<path> --version`` and tell gcc from clang; None when it does not run."""
    out = _run([str(path), "--version"])
    if out is None:
        return None
    first = out.strip().splitlines()[0] if out.strip() else ""
    clang = _CLANG_VERSION.search(out)
    if clang:
        return CompilerInfo(path=path, kind="clang", version=clang.group(1), origin=origin)
    if "Free Software Foundation" in out or _GCC_NAME.search(first):
        version = (_run([str(path), "-dumpfullversion"]) or "").strip()
        if not re.fullmatch(r"\d+(\.\d+)*", version):
            found = _TRAILING_VERSION.findall(first)
            version = found[-1] if found else ""
        if version:
            return CompilerInfo(path=path, kind="gcc", version=version, origin=origin)
    found = _TRAILING_VERSION.findall(first)
    return CompilerInfo(path=path, kind="unknown", version=found[-1] if found else "0", origin=origin)


def _executable(value: str, path_var: str) -> Path | None:
    """``CXX="ccache g++-13"`` -> the g++-13 on PATH (a launcher is skipped)."""
    try:
        words = shlex.split(value)
    except ValueError:
        return None
    words = [w for w in words if Path(w).name not in _LAUNCHERS]
    if not words:
        return None
    found = shutil.which(words[0], path=path_var)
    return Path(found) if found else None


def host_compiler(env: Mapping[str, str] | None = None) -> CompilerInfo | None:
    """The compiler nvcc will use as host compiler for OpenCV (see the module docstring for the order)."""
    env = os.environ if env is None else env
    path_var = env.get("PATH", "")
    for var in ("CUDAHOSTCXX", "CC", "CXX"):
        value = env.get(var)
        if value:
            exe = _executable(value, path_var)
            if exe is not None:
                info = identify(exe, var)
                if info is not None:
                    return info
    for name in ("cc", "c++", "gcc", "g++"):
        found = shutil.which(name, path=path_var)
        if found:
            info = identify(Path(found), f"PATH ({name})")
            if info is not None:
                return info
    return None


_VERSIONED_GXX = re.compile(r"^g\+\+-(\d+)$")


def older_gcc_candidates(env: Mapping[str, str] | None = None) -> list[Path]:
    """Every ``g++-NN`` on PATH, newest first (one path per major version)."""
    env = os.environ if env is None else env
    by_major: dict[int, Path] = {}
    for directory in env.get("PATH", "").split(os.pathsep):
        if not directory or not Path(directory).is_dir():
            continue
        for entry in Path(directory).iterdir():
            match = _VERSIONED_GXX.match(entry.name)
            if match and os.access(entry, os.X_OK) and int(match.group(1)) not in by_major:
                by_major[int(match.group(1))] = entry
    return [by_major[major] for major in sorted(by_major, reverse=True)]


def pick_host_compiler(limits: CompilerLimits, env: Mapping[str, str] | None = None) -> CompilerInfo | None:
    """The newest installed ``g++-NN`` this nvcc accepts (its real version is checked, not its name)."""
    for path in older_gcc_candidates(env):
        info = identify(path, "PATH")
        if info is not None and info.kind == "gcc" and info.major <= limits.gcc_max:
            return info
    return None


def accepts(limits: CompilerLimits, compiler: CompilerInfo) -> bool | None:
    """Whether nvcc accepts this compiler; None for a compiler of unknown kind."""
    if compiler.kind == "gcc":
        return compiler.major <= limits.gcc_max
    if compiler.kind == "clang":
        return compiler.major <= limits.clang_max
    return None
