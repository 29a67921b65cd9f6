"""The frozen data objects that flow between stages.

Recipe -> (plan.make_plan) -> BuildPlan -> (cmake.execute) -> prefix with Manifest -> native -> verify
-> Report.
Each stage takes the frozen object of the stage before; nothing here does I/O.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

CMakeValue = str | bool | int


def cmake_value(value: CMakeValue) -> str:
    """Render a recipe value the way CMake expects it on the command line (bools as ON/OFF)."""
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    return str(value)


@dataclass(frozen=True)
class Recipe:
    """A named, documented set of CMake options, a module list and defaults (``recipes/*.toml``)."""

    name: str
    description: str
    path: Path
    #: OpenCV modules to build (``BUILD_LIST``); empty means every module.
    modules: tuple[str, ...]
    #: Needs the opencv_contrib tree (``OPENCV_EXTRA_MODULES_PATH``).
    contrib: bool
    #: Builds CUDA modules: ``CUDA_ARCH_BIN`` / ``CUDA_ARCH_PTX`` are set from the arch selection.
    cuda: bool
    #: Builds the Python bindings for the chosen interpreter.
    python: bool
    build_type: str
    #: Extra CMake options, in file order (after ``extends`` has been merged).
    cmake: tuple[tuple[str, CMakeValue], ...]
    #: Paths (relative to the opencv or opencv_contrib tree root) a pruned source bundle must also keep.
    bundle_keep: tuple[str, ...] = ()
    #: Default OpenCV version when neither the command line nor the source names one.
    opencv_version: str = "5.1.0"
    #: Chain of recipe names this one extends, nearest first.
    extends: tuple[str, ...] = ()
    #: Builds OpenCV's accuracy tests of the recipe's CUDA modules (``build --with-tests`` asks per build).
    tests: bool = False


@dataclass(frozen=True)
class GpuDevice:
    """One CUDA device as cuda-python reports it."""

    index: int
    name: str
    major: int
    minor: int
    integrated: bool = False
    can_map_host_memory: bool = True
    total_memory: int = 0
    pci_bus_id: str = ""

    @property
    def capability(self) -> str:
        return f"{self.major}.{self.minor}"


@dataclass(frozen=True)
class ArchSelection:
    """What CUDA code the build carries: SASS for ``bin`` and PTX for ``ptx`` (both as ``"9.0"`` strings)."""

    bin: tuple[str, ...]
    ptx: tuple[str, ...]
    #: ``"auto"`` (from the GPUs), ``"explicit"`` (``--arch``) or ``"none"`` (a CPU-only recipe).
    origin: Literal["auto", "explicit", "none"]
    #: The ``--arch`` text as given.
    requested: str = ""
    devices: tuple[GpuDevice, ...] = ()
    #: Whether the values were checked against nvcc (False when no nvcc was found for a dry run).
    validated: bool = False

    @property
    def cuda_arch_bin(self) -> str:
        return ";".join(self.bin)

    @property
    def cuda_arch_ptx(self) -> str:
        return ";".join(self.ptx)

    def covers(self, major: int, minor: int) -> bool:
        """True when a device of this compute capability can run the build (SASS or JIT from PTX)."""
        cap = (major, minor)
        for value in self.bin:
            b_major, b_minor = (int(p) for p in value.split("."))
            if b_major == major and b_minor <= minor:
                return True
        return any(tuple(int(p) for p in v.split(".")) <= cap for v in self.ptx)


SourceKind = Literal["git", "sdist", "tarball", "local", "bundle"]


@dataclass(frozen=True)
class SourceSpec:
    """Where OpenCV + opencv_contrib come from, before anything is fetched."""

    kind: SourceKind
    #: URL, file path or directory; empty for ``sdist``/``git`` (computed from the version).
    location: str
    opencv_version: str
    sha256: str | None = None
    #: Base URL for git mirrors or the package index for sdists.
    base_url: str | None = None
    #: git only: the opencv_contrib ref when it is not ``opencv_version`` (an opencv commit has no twin in
    #: opencv_contrib). None: the same ref for both repositories, like the documented procedure.
    contrib_ref: str | None = None


@dataclass(frozen=True)
class SourceTree:
    """Fetched and extracted sources, ready for CMake."""

    spec: SourceSpec
    opencv_dir: Path
    contrib_dir: Path | None
    opencv_version: str
    #: sha256 of the archive the tree came from (None for git and local directories).
    sha256: str | None = None
    #: True when the tree is a pruned bundle (only some modules present).
    pruned: bool = False
    #: ``git rev-parse HEAD`` of each checkout (``opencv``, ``opencv_contrib``) for git sources.
    commits: Mapping[str, str] | None = None


TreeName = Literal["opencv", "opencv_contrib"]


@dataclass(frozen=True)
class AppliedPatch:
    """A patch applied to one tree of the sources before configure."""

    name: str
    #: Where the patch was read from (the user's file); the tree keeps a copy.
    path: Path
    sha256: str
    tree: TreeName

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256, "tree": self.tree}


@dataclass(frozen=True)
class PythonInfo:
    """The interpreter the bindings are built for, with what OpenCV's CMake must be told explicitly."""

    executable: Path
    version: str
    include_dir: Path
    library: Path | None
    numpy_include: Path | None
    numpy_version: str | None
    site_packages: Path


@dataclass(frozen=True)
class BuildPlan:
    """Everything a build does, computed up front; the executor runs it unchanged."""

    recipe: str
    recipe_path: Path
    opencv_version: str
    source: SourceSpec
    #: Where the opencv tree will be (or is) once fetched.
    source_dir: Path
    contrib_dir: Path | None
    build_dir: Path
    prefix: Path
    arch: ArchSelection
    build_type: str
    #: BUILD_LIST after dependency closure; empty tuple means all modules.
    modules: tuple[str, ...]
    #: Final CMake cache options, ordered, values already rendered.
    cmake_options: tuple[tuple[str, str], ...]
    jobs: int
    cmake: str = "cmake"
    ninja: str = "ninja"
    python: PythonInfo | None = None
    launcher: str | None = None
    patches: tuple[Path, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def option(self, name: str) -> str | None:
        return dict(self.cmake_options).get(name)

    def configure_command(self) -> list[str]:
        cmd = [self.cmake, "-S", str(self.source_dir), "-B", str(self.build_dir), "-G", "Ninja"]
        # Named, not left to the cache: a build dir configured by another ninja (another venv or checkout
        # that is gone now) would otherwise keep pointing at it and fail to reconfigure.
        cmd.append(f"-DCMAKE_MAKE_PROGRAM={self.ninja}")
        cmd += [f"-D{name}={value}" for name, value in self.cmake_options]
        return cmd

    def build_command(self) -> list[str]:
        return [self.ninja, "-C", str(self.build_dir), "-j", str(self.jobs)]

    def install_command(self) -> list[str]:
        """Installs into ``$DESTDIR/<prefix>``; the executor sets DESTDIR to a staging dir and swaps it in."""
        return [self.cmake, "--install", str(self.build_dir)]

    def shell_lines(self, staging: str = "<staging>") -> list[str]:
        """The commands, shell-quoted, one per line (what ``build --dry-run`` prints)."""
        return [
            shlex.join(self.configure_command()),
            shlex.join(self.build_command()),
            f"DESTDIR={shlex.quote(staging)} " + shlex.join(self.install_command()),
        ]

    def to_json(self) -> dict[str, Any]:
        data = jsonable(asdict(self))
        assert isinstance(data, dict)
        data["cmake_options"] = dict(self.cmake_options)
        data["arch"]["cuda_arch_bin"] = self.arch.cuda_arch_bin
        data["arch"]["cuda_arch_ptx"] = self.arch.cuda_arch_ptx
        data["commands"] = {
            "configure": self.configure_command(),
            "build": self.build_command(),
            "install": self.install_command(),
        }
        return data


def jsonable(obj: Any) -> Any:
    """``obj`` with paths as strings and tuples as lists, ready for ``json.dumps``."""
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj
