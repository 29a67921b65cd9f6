"""The checks: pure functions from the gathered facts (``Facts``) to findings, one function per area.

Every finding has a stable ``code``; docs/doctor.md lists them all with their levels and fixes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvcuda_setup.arch import parse_arch, validate_arch
from cvcuda_setup.doctor import compat
from cvcuda_setup.doctor.findings import Finding, Level
from cvcuda_setup.doctor.sourcever import TreeVersion
from cvcuda_setup.errors import ArchError
from cvcuda_setup.model import ArchSelection, PythonInfo, Recipe
from cvcuda_setup.probe.compiler import CompilerInfo, CompilerLimits, accepts
from cvcuda_setup.probe.gpu import GpuProbe
from cvcuda_setup.probe.hostinfo import GIB, GIB_PER_JOB_CUDA, ToolInfo
from cvcuda_setup.probe.pydists import ShadowingDist
from cvcuda_setup.probe.toolkit import NvccSearch

if TYPE_CHECKING:
    from cvcuda_setup.native import TargetPython

#: OpenCV 5.1.0's MIN_VER_CMAKE (cmake/OpenCVMinDepVersions.cmake); a given source tree's own value wins.
MIN_CMAKE = "3.13"


def _truthy(value: Any) -> bool:
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
        cuda = recipe.cuda and _truthy(options.get("WITH_CUDA", True))

        def lib(name: str) -> str:
            if not cuda:
                return "off"
            if name not in options:
                return "default"
            return "required" if _truthy(options[name]) else "off"

        everything = not recipe.modules or len(recipe.modules) >= 15
        build = (15.0 if everything else 3.0) if cuda else 1.0
        return cls(
            cuda=cuda,
            contrib=recipe.contrib,
            python=recipe.python,
            cublas=lib("WITH_CUBLAS"),
            cufft=lib("WITH_CUFFT"),
            cudnn=cuda
            and (_truthy(options.get("WITH_CUDNN", False)) or _truthy(options.get("OPENCV_DNN_CUDA", False))),
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


def _gib(n: int | float) -> str:
    return f"{n / GIB:.1f} GiB"


# --- GPU and driver -----------------------------------------------------------------------------------------


def check_gpu(f: Facts) -> list[Finding]:
    if not f.needs.cuda:
        return [
            Finding(
                "ok",
                "gpu",
                f"recipe {f.recipe_name!r} builds no CUDA code: no GPU needed",
                code="gpu.not-needed",
            )
        ]
    out: list[Finding] = []
    auto = f.arch_text.strip().lower() == "auto"
    if not f.gpu.devices:
        why = f.gpu.error or "no CUDA device visible"
        if auto:
            out.append(
                Finding(
                    "error",
                    "gpu",
                    f"no CUDA device visible ({why}): --arch auto cannot detect the architectures to build "
                    "for",
                    "pass the target GPUs explicitly, e.g. --arch 8.9 or --arch 8.6,9.0+PTX "
                    "(compute capabilities: https://developer.nvidia.com/cuda-gpus); or fix the driver",
                    {"error": why, "driver_version": f.gpu.driver_version},
                    code="gpu.none",
                )
            )
        else:
            out.append(
                Finding(
                    "warn",
                    "gpu",
                    f"no CUDA device visible ({why}): the build can use --arch {f.arch_text}, but verify "
                    "needs a GPU",
                    "run `cvcuda-setup verify` on a host with the target GPU",
                    {"error": why, "driver_version": f.gpu.driver_version},
                    code="gpu.none",
                )
            )
        return out
    for dev in f.gpu.devices:
        kind = "integrated (shares host memory)" if dev.integrated else "discrete"
        mapping = "yes" if dev.can_map_host_memory else "NO"
        out.append(
            Finding(
                "ok",
                "gpu",
                f"GPU {dev.index}: {dev.name}, compute {dev.capability}, {kind}, {_gib(dev.total_memory)}, "
                f"canMapHostMemory {mapping}",
                data={
                    "index": dev.index,
                    "name": dev.name,
                    "capability": dev.capability,
                    "integrated": dev.integrated,
                    "can_map_host_memory": dev.can_map_host_memory,
                    "total_memory": dev.total_memory,
                    "pci_bus_id": dev.pci_bus_id,
                },
                code="gpu.device",
            )
        )
    unmappable = [d for d in f.gpu.devices if not d.can_map_host_memory]
    if unmappable:
        none_can = len(unmappable) == len(f.gpu.devices)
        names = ", ".join(f"GPU {d.index} ({d.name})" for d in unmappable)
        out.append(
            Finding(
                "error" if none_can else "warn",
                "gpu",
                f"{names} cannot map host memory (canMapHostMemory = 0): the zero-copy allocator cannot "
                "work there",
                "use a GPU that can map pinned host memory for the zero-copy pipeline"
                + ("" if none_can else "; select one with CUDA_VISIBLE_DEVICES"),
                {"devices": [d.index for d in unmappable]},
                code="gpu.no-map-host-memory",
            )
        )
    if f.arch is not None and f.arch.origin == "explicit":
        for dev in f.gpu.devices:
            if not f.arch.covers(dev.major, dev.minor):
                out.append(
                    Finding(
                        "warn",
                        "gpu",
                        f"GPU {dev.index} ({dev.name}, compute {dev.capability}) is not covered by --arch "
                        f"{f.arch_text}: the build will not run on it",
                        f"add {dev.capability} to --arch, or use --arch auto",
                        {"index": dev.index, "capability": dev.capability},
                        code="gpu.not-covered",
                    )
                )
    return out


def check_driver(f: Facts) -> list[Finding]:
    if not f.needs.cuda or f.gpu.driver_version is None:
        return []
    driver = f.gpu.driver_cuda_version or "?"
    out = [
        Finding(
            "ok",
            "driver",
            f"the NVIDIA driver supports CUDA up to {driver} (cuDriverGetVersion {f.gpu.driver_version})",
            data={"driver_version": f.gpu.driver_version, "cuda": driver},
            code="driver.version",
        )
    ]
    nvcc = f.nvcc.chosen
    if nvcc is None:
        return out
    d_major, d_minor = f.gpu.driver_version // 1000, (f.gpu.driver_version % 1000) // 10
    t_major, t_minor = nvcc.version_tuple
    data = {"driver_cuda": driver, "toolkit": nvcc.version}
    if t_major > d_major:
        out.append(
            Finding(
                "error",
                "driver",
                f"CUDA toolkit {nvcc.version} is newer than the driver supports (CUDA {driver}): what it "
                "builds "
                "fails at run time with cudaErrorInsufficientDriver",
                f"install an NVIDIA driver that supports CUDA {nvcc.version} (nvidia-smi shows the CUDA "
                "version a "
                f"driver supports), or build with a CUDA {d_major}.x toolkit",
                data,
                code="driver.older-than-toolkit",
            )
        )
    elif (t_major, t_minor) > (d_major, d_minor):
        out.append(
            Finding(
                "warn",
                "driver",
                f"CUDA toolkit {nvcc.version} is newer than the driver's CUDA {driver}: code runs only "
                "through "
                "minor-version compatibility (SASS for the GPU; PTX from this toolkit cannot be "
                "JIT-compiled)",
                f"update the driver to one that supports CUDA {nvcc.version}, or keep the exact GPU arch in "
                "--arch "
                "(no +PTX-only targets)",
                data,
                code="driver.minor-older-than-toolkit",
            )
        )
    return out


# --- toolkit, arch, libraries -------------------------------------------------------------------------------


def check_toolkit(f: Facts) -> list[Finding]:
    out: list[Finding] = []
    for origin, path, reason in f.nvcc.rejected:
        out.append(
            Finding(
                "warn",
                "toolkit",
                f"{origin} points at {path}, which {reason}; it was skipped",
                f"fix or unset {origin}"
                if origin in ("CUDACXX", "CUDA_HOME", "CUDA_PATH")
                else f"repair {path}",
                {"origin": origin, "path": path, "reason": reason},
                code="toolkit.rejected",
            )
        )
    nvcc = f.nvcc.chosen
    if nvcc is None:
        if not f.needs.cuda:
            return [
                *out,
                Finding(
                    "ok",
                    "toolkit",
                    "no nvcc found; this recipe builds no CUDA code",
                    code="toolkit.not-needed",
                ),
            ]
        out.append(
            Finding(
                "error",
                "toolkit",
                f"no nvcc found (looked at: {', '.join(f.nvcc.searched)})",
                "install the CUDA toolkit (https://developer.nvidia.com/cuda-downloads) or set CUDA_HOME "
                "to it",
                {"searched": list(f.nvcc.searched)},
                code="toolkit.missing",
            )
        )
        return out
    why = {
        "CUDACXX": "CUDACXX names it",
        "CUDA_HOME": "CUDA_HOME is set",
        "CUDA_PATH": "CUDA_PATH is set",
        "PATH": "first nvcc on PATH",
        "/usr/local/cuda": "the default /usr/local/cuda (no CUDA_HOME, none on PATH)",
        "pip nvidia wheel": "pip's NVIDIA wheel (no system toolkit found)",
    }.get(nvcc.origin, nvcc.origin)
    version = nvcc.full_version or nvcc.version
    others = [f"{o.path} ({o.version})" for o in f.nvcc.others]
    message = f"nvcc {version} at {nvcc.path} (chosen: {why}); toolkit root {nvcc.root}"
    if others:
        message += f"; also found: {', '.join(others)}"
    out.append(
        Finding(
            "ok",
            "toolkit",
            message,
            data={
                "path": nvcc.path,
                "origin": nvcc.origin,
                "version": nvcc.version,
                "full_version": nvcc.full_version,
                "root": nvcc.root,
                "gpu_codes": list(nvcc.gpu_codes),
                "gpu_archs": list(nvcc.gpu_archs),
                "others": [{"path": o.path, "version": o.version, "origin": o.origin} for o in f.nvcc.others],
            },
            code="toolkit.nvcc",
        )
    )
    return out


def select_arch(f: Facts) -> tuple[ArchSelection | None, list[Finding]]:
    """Parse and validate ``--arch`` the way ``build`` will; the selection (or None) and the findings."""
    if not f.needs.cuda:
        return None, []
    auto = f.arch_text.strip().lower() == "auto"
    if auto and not f.gpu.devices:
        return None, []  # check_gpu reports it: there is nothing to select from
    try:
        selection = parse_arch(f.arch_text, f.gpu.devices, probe_error=f.gpu.error)
    except ArchError as exc:
        return None, [
            Finding("error", "arch", exc.message, exc.hint, {"arch": f.arch_text}, code="arch.invalid")
        ]
    nvcc = f.nvcc.chosen
    if nvcc is None:
        return selection, []
    if not nvcc.gpu_codes:
        floor = compat.arch_floor(nvcc.version)
        low = [
            v
            for v in (*selection.bin, *selection.ptx)
            if floor and compat.parse_version(v) < compat.parse_version(floor.min)
        ]
        if floor and low:
            return selection, [
                Finding(
                    "error",
                    "arch",
                    f"{', '.join(low)} cannot be targeted by CUDA {nvcc.version}: {floor.reason}",
                    f"target {floor.min} or newer, or use an older CUDA toolkit for that GPU",
                    {"below": low, "floor": floor.min},
                    code="arch.below-floor",
                )
            ]
        return selection, [
            Finding(
                "warn",
                "arch",
                f"{nvcc.path} cannot list its targets (--list-gpu-code): --arch {f.arch_text} is not checked",
                "use a CUDA 11+ nvcc, or make sure the arch values are right by hand",
                code="arch.unchecked",
            )
        ]
    try:
        checked = validate_arch(selection, nvcc.gpu_codes, nvcc.gpu_archs, nvcc=str(nvcc.path))
    except ArchError as exc:
        return selection, [
            Finding(
                "error",
                "arch",
                exc.message,
                exc.hint,
                {"arch": f.arch_text, "gpu_codes": list(nvcc.gpu_codes)},
                code="arch.unsupported",
            )
        ]
    ptx = f" CUDA_ARCH_PTX={checked.cuda_arch_ptx}" if checked.ptx else ""
    source = "detected GPUs" if checked.origin == "auto" else f"--arch {f.arch_text}"
    return checked, [
        Finding(
            "ok",
            "arch",
            f"{source}: CUDA_ARCH_BIN={checked.cuda_arch_bin}{ptx}, all targetable by nvcc {nvcc.version}",
            data={"bin": list(checked.bin), "ptx": list(checked.ptx), "origin": checked.origin},
            code="arch.ok",
        )
    ]


_LIB_PACKAGES = {
    "npp": "libnpp-dev",
    "cublas": "libcublas-dev",
    "cufft": "libcufft-dev",
}


def _apt_name(kind: str, version: str) -> str:
    return f"{_LIB_PACKAGES[kind]}-{version.replace('.', '-')}"


def check_libraries(f: Facts) -> list[Finding]:
    nvcc = f.nvcc.chosen
    if not f.needs.cuda or nvcc is None:
        return []
    out: list[Finding] = []
    root = nvcc.root
    if f.npp_missing:
        out.append(
            Finding(
                "error",
                "cuda-libs",
                f"NPP is missing under {root} ({', '.join('lib' + n for n in f.npp_missing)}): OpenCV's "
                "CUDA build "
                "links NPP",
                f"install NPP for CUDA {nvcc.version} (NVIDIA's package {_apt_name('npp', nvcc.version)}, "
                "or the "
                "full toolkit)",
                {"root": root, "missing": list(f.npp_missing)},
                code="cuda-libs.npp",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "cuda-libs",
                f"NPP found ({f.libraries.get('nppc')})",
                data={"path": f.libraries.get("nppc")},
                code="cuda-libs.npp",
            )
        )
    for name, option, need in (
        ("cublas", "WITH_CUBLAS", f.needs.cublas),
        ("cufft", "WITH_CUFFT", f.needs.cufft),
    ):
        path = f.libraries.get(name)
        label = {"cublas": "cuBLAS", "cufft": "cuFFT"}[name]
        if need == "off":
            continue
        if path is not None:
            out.append(
                Finding(
                    "ok",
                    "cuda-libs",
                    f"{label} found ({path})",
                    data={"path": path},
                    code=f"cuda-libs.{name}",
                )
            )
            continue
        required = need == "required"
        out.append(
            Finding(
                "error" if required else "warn",
                "cuda-libs",
                f"{label} (lib{name}) is missing under {root}"
                + (
                    f": the recipe sets {option}=ON"
                    if required
                    else f": OpenCV will build without it ({option})"
                ),
                f"install {label} for CUDA {nvcc.version} (NVIDIA's package {_apt_name(name, nvcc.version)})"
                + (f", or set -D {option}=OFF" if required else ""),
                {"root": root, "required": required},
                code=f"cuda-libs.{name}",
            )
        )
    lib, header, version = f.libraries.get("cudnn"), f.cudnn_header, f.cudnn_version
    if f.needs.cudnn:
        if lib is None or header is None:
            missing = " and ".join(
                x for x, v in (("the library", lib), ("cudnn_version.h", header)) if v is None
            )
            out.append(
                Finding(
                    "error",
                    "cuda-libs",
                    f"cuDNN is missing ({missing} not found): the recipe sets WITH_CUDNN / OPENCV_DNN_CUDA",
                    f"install cuDNN for CUDA {nvcc.version.split('.')[0]} (e.g. NVIDIA's cudnn9-cuda-"
                    f"{nvcc.version.split('.')[0]} package) or set CUDNN_ROOT; or -D WITH_CUDNN=OFF -D "
                    "OPENCV_DNN_CUDA=OFF",
                    {"library": lib, "header": header},
                    code="cuda-libs.cudnn",
                )
            )
        else:
            out.append(
                Finding(
                    "ok",
                    "cuda-libs",
                    f"cuDNN {version} found ({lib}, {header})",
                    data={"version": version, "library": lib, "header": header},
                    code="cuda-libs.cudnn",
                )
            )
    return out


# --- host compiler and the compatibility table --------------------------------------------------------------


def check_compiler(f: Facts) -> list[Finding]:
    cc = f.compiler
    if cc is None:
        return [
            Finding(
                "error",
                "compiler",
                "no C/C++ compiler found (CUDAHOSTCXX, CC, CXX, cc, c++, gcc, g++)",
                "install g++ (e.g. apt install g++)",
                code="compiler.missing",
            )
        ]
    data: dict[str, Any] = {"path": cc.path, "kind": cc.kind, "version": cc.version, "origin": cc.origin}
    nvcc = f.nvcc.chosen
    if not f.needs.cuda or nvcc is None:
        return [
            Finding(
                "ok",
                "compiler",
                f"{cc.kind} {cc.version} at {cc.path} (from {cc.origin})",
                data=data,
                code="compiler.host",
            )
        ]
    limits = f.compiler_limits
    if limits is None:
        return [
            Finding(
                "warn",
                "compiler",
                f"{cc.kind} {cc.version} at {cc.path}: the host compilers nvcc {nvcc.version} accepts are "
                "unknown "
                "(no crt/host_config.h, and older than the table)",
                "check NVIDIA's installation guide for this CUDA release",
                data,
                code="compiler.range-unknown",
            )
        ]
    data.update(gcc_max=limits.gcc_max, clang_max=limits.clang_max, limits_source=limits.source)
    ok = accepts(limits, cc)
    if ok is None:
        return [
            Finding(
                "warn",
                "compiler",
                f"{cc.path} is neither gcc nor clang: cannot tell whether nvcc {nvcc.version} accepts it",
                f"use g++ <= {limits.gcc_max} as CUDA host compiler (-D CUDA_HOST_COMPILER=...)",
                data,
                code="compiler.unknown-kind",
            )
        ]
    newest = limits.gcc_max if cc.kind == "gcc" else limits.clang_max
    if ok:
        return [
            Finding(
                "ok",
                "compiler",
                f"host compiler {cc.kind} {cc.version} at {cc.path} (from {cc.origin}); nvcc {nvcc.version} "
                "accepts "
                f"{cc.kind} <= {newest} ({limits.source})",
                data=data,
                code="compiler.host",
            )
        ]
    if f.replacement_compiler is not None:
        alt = f.replacement_compiler.path
        fix = (
            f"build with -D CUDA_HOST_COMPILER={alt} (OpenCV's FindCUDA; CMAKE_CUDA_HOST_COMPILER={alt} or "
            f"CUDAHOSTCXX={alt} for CMake's CUDA language), or CC/CXX pointing at gcc/g++ "
            f"{f.replacement_compiler.major}"
        )
        data["replacement"] = alt
    else:
        newest_gxx = f"g++-{limits.gcc_max}"
        fix = f"install {newest_gxx} (or older) and build with -D CUDA_HOST_COMPILER=/usr/bin/{newest_gxx}"
    return [
        Finding(
            "error",
            "compiler",
            f"host compiler {cc.kind} {cc.version} at {cc.path} (from {cc.origin}) is newer than nvcc "
            f"{nvcc.version} "
            f"accepts ({cc.kind} <= {newest}, {limits.source}): nvcc stops with 'unsupported GNU version'",
            fix,
            data,
            code="compiler.too-new",
        )
    ]


def check_compat(f: Facts) -> list[Finding]:
    nvcc = f.nvcc.chosen
    if not f.needs.cuda or nvcc is None:
        return []
    gcc = f.compiler.version if f.compiler is not None and f.compiler.kind == "gcc" else None
    version = f.opencv_version
    verdict = compat.check(nvcc.version, version, gcc=gcc, contrib=f.needs.contrib)
    combo = f"OpenCV {version} + CUDA {nvcc.version}" + (f" + gcc {gcc}" if gcc else "")
    out: list[Finding] = []
    for rule in verdict.bad:
        level: Level = "error" if rule.checked else "warn"
        prefix = "" if rule.checked else "reported, not confirmed upstream: "
        out.append(
            Finding(
                level,
                "compat",
                f"{prefix}{combo} is known to fail: {compat.describe_rule(rule)}",
                compat.rule_fix(rule, verdict.recommended, verdict.recommended_by_major, version) or None,
                {**rule.to_json(), "recommended": verdict.recommended},
                code="compat.known-bad",
            )
        )
    if verdict.untested_cuda:
        newest = ".".join(str(p) for p in compat.load_table().newest_cuda())
        out.append(
            Finding(
                "warn",
                "compat",
                f"CUDA {nvcc.version} is newer than anything in the compatibility table (newest: {newest}): "
                f"{combo} is untested",
                "expect new CUDA releases to break OpenCV's CUDA modules; a failure here is worth an "
                "upstream issue",
                {"newest_in_table": newest},
                code="compat.untested-cuda",
            )
        )
    if not verdict.bad:
        if verdict.good:
            evidence = "; ".join(r.evidence for r in verdict.good)
            out.append(
                Finding(
                    "ok",
                    "compat",
                    f"{combo} is known to build ({evidence})",
                    data={"good": [r.to_json() for r in verdict.good]},
                    code="compat.known-good",
                )
            )
        else:
            rec = (
                f"; newest release with no known problem: {verdict.recommended}"
                if verdict.recommended
                else ""
            )
            out.append(
                Finding(
                    "ok",
                    "compat",
                    f"no known problem with {combo}{rec}",
                    data={"recommended": verdict.recommended},
                    code="compat.no-known-problem",
                )
            )
    return out


# --- sources -----------------------------------------------------------------------------------------------


def check_sources(f: Facts) -> list[Finding]:
    if f.source_given is None:
        return []
    out: list[Finding] = []
    if f.opencv_tree is None or f.opencv_tree_version is None or f.opencv_tree_version.version is None:
        why = (
            f.opencv_tree_version.how
            if f.opencv_tree_version
            else "no modules/core/include/opencv2/core/version.hpp"
        )
        return [
            Finding(
                "error",
                "sources",
                f"{f.source_given} is not an opencv source tree ({why})",
                "give the opencv tree, or a directory holding opencv/ and opencv_contrib/",
                {"source": f.source_given},
                code="sources.not-opencv",
            )
        ]
    tree_version = f.opencv_tree_version.version
    out.append(
        Finding(
            "ok",
            "sources",
            f"opencv tree {f.opencv_tree}: OpenCV {tree_version} (version.hpp)",
            data={"path": f.opencv_tree, "version": tree_version},
            code="sources.opencv",
        )
    )
    requested = f.opencv_requested or f.opencv_version
    if compat.parse_version(tree_version) != compat.parse_version(requested):
        out.append(
            Finding(
                "warn",
                "sources",
                f"--opencv-version {requested} differs from the tree's {tree_version}; the checks use "
                f"{tree_version}",
                f"pass --opencv-version {tree_version}",
                {"requested": requested, "tree": tree_version},
                code="sources.version-differs",
            )
        )
    if f.contrib_tree is None:
        if f.needs.contrib:
            out.append(
                Finding(
                    "error",
                    "sources",
                    f"the recipe needs opencv_contrib, and none was found next to {f.opencv_tree}",
                    "give --contrib DIR, or put opencv_contrib/ next to opencv/",
                    code="sources.contrib-missing",
                )
            )
        return out
    cv = f.contrib_tree_version
    if cv is None or cv.version is None:
        out.append(
            Finding(
                "warn",
                "sources",
                f"the release of {f.contrib_tree} cannot be known: {cv.how if cv else 'not read'}",
                f"make sure it is opencv_contrib {tree_version} (git checkout {tree_version}); mixing "
                "releases "
                "fails in the CUDA modules",
                {"path": f.contrib_tree},
                code="sources.contrib-unknown",
            )
        )
    elif compat.parse_version(cv.version) != compat.parse_version(tree_version):
        out.append(
            Finding(
                "error",
                "sources",
                f"opencv is {tree_version} but opencv_contrib is {cv.version} ({cv.how}): mixed releases do "
                "not build",
                f"use opencv_contrib {tree_version} (e.g. git -C {f.contrib_tree} checkout {tree_version})",
                {"opencv": tree_version, "contrib": cv.version, "how": cv.how},
                code="sources.contrib-mismatch",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "sources",
                f"opencv_contrib {cv.version} matches ({cv.how})",
                data={"contrib": cv.version, "how": cv.how},
                code="sources.contrib-match",
            )
        )
    return out


# --- build host ---------------------------------------------------------------------------------------------


def check_host(f: Facts) -> list[Finding]:
    out: list[Finding] = []
    if f.cmake is None:
        out.append(
            Finding(
                "error",
                "host",
                "cmake not found (PyPI package or PATH)",
                "python -m pip install cmake",
                code="host.cmake",
            )
        )
    elif not f.cmake.version or compat.parse_version(f.cmake.version) < compat.parse_version(f.min_cmake):
        out.append(
            Finding(
                "error",
                "host",
                f"cmake {f.cmake.version or '(unknown version)'} at {f.cmake.path} is older than OpenCV "
                "needs "
                f"({f.min_cmake})",
                "python -m pip install -U cmake",
                {"path": f.cmake.path, "version": f.cmake.version, "minimum": f.min_cmake},
                code="host.cmake",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "host",
                f"cmake {f.cmake.version} at {f.cmake.path} ({f.cmake.origin})",
                data={"path": f.cmake.path, "version": f.cmake.version, "origin": f.cmake.origin},
                code="host.cmake",
            )
        )
    if f.ninja is None:
        out.append(
            Finding(
                "error",
                "host",
                "ninja not found (PyPI package or PATH); builds use -G Ninja",
                "python -m pip install ninja",
                code="host.ninja",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "host",
                f"ninja {f.ninja.version} at {f.ninja.path} ({f.ninja.origin})",
                data={"path": f.ninja.path, "version": f.ninja.version, "origin": f.ninja.origin},
                code="host.ninja",
            )
        )
    by_fs: dict[int, list[DiskUse]] = {}
    for use in f.disks:
        by_fs.setdefault(use.filesystem, []).append(use)
    for uses in by_fs.values():
        need = sum(u.need_gib for u in uses)
        free = uses[0].free
        what = " + ".join(f"{u.label} {u.path} {u.need_gib:g} GiB" for u in uses)
        data = {"free": free, "need_gib": need, "paths": {u.label: u.path for u in uses}}
        if free < need * GIB:
            out.append(
                Finding(
                    "error",
                    "host",
                    f"{_gib(free)} free where {what} need {need:g} GiB",
                    "free space there, or point --build-dir/--prefix/the source cache (CVCUDA_SETUP_CACHE) "
                    "elsewhere",
                    data,
                    code="host.disk",
                )
            )
        else:
            out.append(Finding("ok", "host", f"{_gib(free)} free for {what}", data=data, code="host.disk"))
    per_job = "2.5 GiB per job for nvcc" if f.needs.cuda else "1 GiB per job"
    resources = {"cores": f.cores, "memory": f.memory, "jobs": f.jobs}
    if f.needs.cuda and f.memory and f.memory < GIB_PER_JOB_CUDA * GIB:
        out.append(
            Finding(
                "warn",
                "host",
                f"{_gib(f.memory)} of memory: a single nvcc job on OpenCV's CUDA sources may need more",
                "add swap or memory, or build the minimal recipe",
                resources,
                code="host.resources",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "host",
                f"{f.cores} cores, {_gib(f.memory)} memory: build will use -j {f.jobs} ({per_job})",
                data=resources,
                code="host.resources",
            )
        )
    if f.caches:
        names = ", ".join(f"{c.name} {c.version}".strip() for c in f.caches)
        out.append(
            Finding(
                "ok",
                "host",
                f"compiler cache found: {names} (use --launcher {f.caches[0].name})",
                data={"caches": [{"name": c.name, "path": c.path, "version": c.version} for c in f.caches]},
                code="host.compiler-cache",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "host",
                "no compiler cache (ccache/sccache) found; rebuilds start from scratch",
                data={"caches": []},
                code="host.compiler-cache",
            )
        )
    return out


# --- Python side --------------------------------------------------------------------------------------------


def check_python(f: Facts) -> list[Finding]:
    if not f.needs.python:
        return []
    out: list[Finding] = []
    exe = f.python_requested or "python"
    if f.python is None:
        return [
            Finding(
                "error",
                "python",
                f"cannot use the interpreter for the bindings: {f.python_error}",
                "pass --python with the path of a working Python 3 interpreter",
                {"python": f.python_requested},
                code="python.interpreter",
            )
        ]
    info = f.python
    exe = str(info.executable)
    lib = f", libpython {info.library}" if info.library else ", no shared libpython (static interpreter)"
    out.append(
        Finding(
            "ok",
            "python",
            f"Python {info.version} at {info.executable}{lib}",
            data={
                "executable": info.executable,
                "version": info.version,
                "include_dir": info.include_dir,
                "library": info.library,
                "site_packages": info.site_packages,
            },
            code="python.interpreter",
        )
    )
    if not (info.include_dir / "Python.h").is_file():
        out.append(
            Finding(
                "error",
                "python",
                f"Python.h is missing in {info.include_dir}: the bindings cannot compile",
                f"install the development headers for Python {info.version} (e.g. apt install "
                f"python{'.'.join(info.version.split('.')[:2])}-dev)",
                {"include_dir": info.include_dir},
                code="python.headers",
            )
        )
    if info.numpy_include is None:
        out.append(
            Finding(
                "error",
                "python",
                f"numpy is not installed for {exe}: the bindings need its headers",
                f"{exe} -m pip install numpy",
                code="python.numpy",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "python",
                f"numpy {info.numpy_version} ({info.numpy_include})",
                data={"version": info.numpy_version, "include": info.numpy_include},
                code="python.numpy",
            )
        )
    if f.shadowing is None:
        out.append(
            Finding(
                "warn",
                "python",
                f"cannot list the distributions installed for {exe}",
                f"check `{exe} -m pip list` for opencv-* packages by hand",
                code="python.cv2-shadow",
            )
        )
    for dist in f.shadowing or ():
        why = "" if dist.reason == "name" else " (it installs a cv2 package)"
        out.append(
            Finding(
                "warn",
                "python",
                f"{dist.name} {dist.version} is installed{why} in {dist.location}: its cv2 can shadow the "
                "CUDA build",
                f"{exe} -m pip uninstall -y {dist.name}",
                {"name": dist.name, "version": dist.version, "location": dist.location},
                code="python.cv2-shadow",
            )
        )
    return out


def check_plugin(f: Facts) -> list[Finding]:
    """What the zero-copy plugin's Python module needs (pip, scikit-build-core, numpy) in its interpreter.

    Its C++ side needs what OpenCV's build does (cmake, ninja, a C++17 compiler), checked above.
    """
    if not f.plugin:
        return []
    skip = "or pass --no-plugin-python (build) / --no-python (plugin) to skip the module"
    head: list[Finding] = []
    if f.plugin_cuda_error is not None:
        head.append(
            Finding(
                "error",
                "plugin",
                f"the zero-copy plugin cannot compile: {f.plugin_cuda_error}",
                "install the CUDA toolkit or set CUDA_HOME, or pass --no-plugin",
                code="plugin.cuda-runtime",
            )
        )
    return head + _check_plugin_python(f, skip)


def _check_plugin_python(f: Facts, skip: str) -> list[Finding]:
    if f.plugin_python is None:
        if f.plugin_python_error is None:
            return []
        return [
            Finding(
                "error",
                "plugin",
                f"cannot use the interpreter for the plugin's Python module: {f.plugin_python_error}",
                f"pass --python with a working Python 3 interpreter, {skip}",
                code="plugin.python",
            )
        ]
    py = f.plugin_python
    exe = str(py.executable)
    out: list[Finding] = []
    for present, what, why in (
        (py.has_pip, "pip", "installs the module"),
        (py.has_skbuild, "scikit-build-core", "builds the module"),
        (py.has_numpy, "numpy", "the module returns numpy arrays"),
    ):
        if present:
            out.append(Finding("ok", "plugin", f"{what} for {exe} ({why})", code=f"plugin.{what}"))
        else:
            package = "pip" if what == "pip" else what
            fix = f"{exe} -m ensurepip" if what == "pip" else f"{exe} -m pip install {package}"
            out.append(
                Finding(
                    "error",
                    "plugin",
                    f"{what} is not installed for {exe}: the plugin's Python module needs it ({why})",
                    f"{fix}, {skip}",
                    {"python": exe},
                    code=f"plugin.{what}",
                )
            )
    return out
