"""The facts the doctor checks (``Facts``, gathered once by ``runner.gather``) and what a recipe needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvcuda_setup.doctor.sourcever import TreeVersion
from cvcuda_setup.model import ArchSelection, PythonInfo, Recipe
from cvcuda_setup.probe.compiler import CompilerInfo, CompilerLimits
from cvcuda_setup.probe.gpu import GpuProbe
from cvcuda_setup.probe.hostinfo import GIB, ToolInfo
from cvcuda_setup.probe.pydists import ShadowingDist
from cvcuda_setup.probe.toolkit import NvccSearch

if TYPE_CHECKING:
    from cvcuda_setup.native import TargetPython


#: OpenCV 5.1.0's MIN_VER_CMAKE (cmake/OpenCVMinDepVersions.cmake); a given source tree's own value wins.
MIN_CMAKE = "3.13"


def truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    return str(value).strip().upper() in ("ON", "1", "TRUE", "YES", "Y")


@dataclass(frozen=True)
class Needs:
    """What a recipe asks of the host."""

    cuda: bool = True
    contrib: bool = True
    python: bool = False
    #: "required" (the recipe turns it on), "default" (OpenCV's default: used when found), or "off".
    cublas: str = "default"
    cufft: str = "default"
    cudnn: bool = False
    #: Disk needed (GiB) in the build dir, for sources, in the prefix.
    build_gib: float = 3.0
    source_gib: float = 1.0
    prefix_gib: float = 0.5

    @classmethod
    def of(cls, recipe: Recipe | None) -> Needs:
        if recipe is None:
            return cls()
        options = dict(recipe.cmake)
        cuda = recipe.cuda and truthy(options.get("WITH_CUDA", True))

        def lib(name: str) -> str:
            if not cuda:
                return "off"
            if name not in options:
                return "default"
            return "required" if truthy(options[name]) else "off"

        everything = not recipe.modules or len(recipe.modules) >= 15
        build = (15.0 if everything else 3.0) if cuda else 1.0
        return cls(
            cuda=cuda,
            contrib=recipe.contrib,
            python=recipe.python,
            cublas=lib("WITH_CUBLAS"),
            cufft=lib("WITH_CUFFT"),
            cudnn=cuda
            and (truthy(options.get("WITH_CUDNN", False)) or truthy(options.get("OPENCV_DNN_CUDA", False))),
            build_gib=build,
            source_gib=1.0,
            prefix_gib=2.0 if (cuda and everything) else 0.5,
        )


@dataclass(frozen=True)
class DiskUse:
    label: str
    path: Path
    need_gib: float
    free: int
    filesystem: int


@dataclass(frozen=True)
class Facts:
    """Everything the probes found, gathered once by the runner."""

    recipe_name: str
    needs: Needs
    arch_text: str
    #: The OpenCV version the checks use: the source tree's when one is given, else the requested one.
    opencv_version: str
    gpu: GpuProbe
    nvcc: NvccSearch
    compiler: CompilerInfo | None = None
    compiler_limits: CompilerLimits | None = None
    replacement_compiler: CompilerInfo | None = None
    #: Library name -> path (None: not found), for nppc/cublas/cufft/cudnn.
    libraries: Mapping[str, Path | None] = field(default_factory=dict)
    npp_missing: tuple[str, ...] = ()
    cudnn_header: Path | None = None
    cudnn_version: str | None = None
    opencv_tree: Path | None = None
    opencv_tree_version: TreeVersion | None = None
    contrib_tree: Path | None = None
    contrib_tree_version: TreeVersion | None = None
    source_given: Path | None = None
    min_cmake: str = MIN_CMAKE
    cmake: ToolInfo | None = None
    ninja: ToolInfo | None = None
    caches: tuple[ToolInfo, ...] = ()
    disks: tuple[DiskUse, ...] = ()
    cores: int = 1
    memory: int = 0
    jobs: int = 1
    python: PythonInfo | None = None
    python_error: str | None = None
    python_requested: str | None = None
    shadowing: tuple[ShadowingDist, ...] | None = ()
    #: ``--opencv-version`` as given.
    opencv_requested: str = ""
    #: The arch selection once checked (set by the runner from ``check_arch``'s work), for coverage checks.
    arch: ArchSelection | None = None
    #: The zero-copy plugin ``build`` compiles at its end: checked only when it will be built.
    plugin: bool = False
    #: The interpreter its Python module is built for (None: the module is skipped or the probe failed).
    plugin_python: TargetPython | None = None
    plugin_python_error: str | None = None
    #: The recipe builds cudacodec; where the Video Codec SDK headers are (doctor/codec.py).
    cudacodec: bool = False
    codec_headers: Mapping[str, Path | None] = field(default_factory=dict)
    #: Why the plugin's C++ side finds no CUDA runtime headers (None: found, or not checked).
    plugin_cuda_error: str | None = None


def gib(n: int | float) -> str:
    return f"{n / GIB:.1f} GiB"
