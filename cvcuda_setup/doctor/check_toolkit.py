"""Checks of the CUDA toolkit, the arch selection against its nvcc, and its libraries."""

from __future__ import annotations

from cvcuda_setup.arch import parse_arch, validate_arch
from cvcuda_setup.doctor import compat
from cvcuda_setup.doctor.facts import Facts
from cvcuda_setup.doctor.findings import Finding
from cvcuda_setup.errors import ArchError
from cvcuda_setup.model import ArchSelection


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
    """Parse and validate ``--arch`` the way ``build`` will (or validate ``f.arch``, a plan's selection);
    the selection (or None) and the findings."""
    if not f.needs.cuda:
        return None, []
    if f.arch is not None:
        selection = f.arch  # a build plan's selection: checked as the build will use it, not re-parsed
    else:
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
