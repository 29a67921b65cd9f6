"""Checks of the GPUs and the driver."""

from __future__ import annotations

from cvcuda_setup.doctor.facts import Facts, gib
from cvcuda_setup.doctor.findings import Finding


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
                f"GPU {dev.index}: {dev.name}, compute {dev.capability}, {kind}, {gib(dev.total_memory)}, "
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
