"""Check ``arch``: the build carries code this device can run, proven by running real kernels.

* coverage: the manifest's arch list (else cv2's build information) covers the device by SASS or PTX
  (``ArchSelection.covers``); otherwise the fix is named: ``rebuild with --arch 9.0``.
* compatible: ``cv2.cuda.DeviceInfo(i).isCompatible()``.
* kernel (C++ and Python): a kernel really runs, so "no kernel image is available for execution on the
  device" is caught here and not in the middle of the pipeline.
"""

from __future__ import annotations

from typing import Any

from cvcuda_setup.arch import arch_flag_for
from cvcuda_setup.model import ArchSelection
from cvcuda_setup.verify.context import Context
from cvcuda_setup.verify.result import CheckResult, DeviceFacts, Part, failed, passed, skipped

ID = "arch"
TITLE = "Build fits the device"

NO_KERNEL_IMAGE = "no kernel image is available"


def rebuild_hint(major: int, minor: int) -> str:
    return f"rebuild with --arch {arch_flag_for(major, minor)}"


def _codes(values: tuple[str, ...]) -> str:
    return ", ".join(values) if values else "none"


def coverage_part(selection: ArchSelection | None, source: str, major: int, minor: int) -> Part:
    if major < 0:
        return skipped("coverage", "the device's compute capability is unknown")
    cap = f"{major}.{minor}"
    if selection is None or not (selection.bin or selection.ptx):
        return failed("coverage", f"no CUDA arch list found ({source}): cannot tell whether {cap} is covered")
    figures = {"source": source, "bin": list(selection.bin), "ptx": list(selection.ptx), "device": cap}
    what = f"SASS {_codes(selection.bin)}, PTX {_codes(selection.ptx)} ({source})"
    if selection.covers(major, minor):
        by_sass = any(b.split(".")[0] == str(major) and int(b.split(".")[1]) <= minor for b in selection.bin)
        how = "SASS" if by_sass else "PTX (JIT-compiled at first use)"
        return passed("coverage", f"{what} covers {cap} by {how}", **figures)
    return failed(
        "coverage", f"{what} has no code for compute {cap}: {rebuild_hint(major, minor)}", **figures
    )


def compatible_part(data: dict[str, Any] | None, major: int, minor: int) -> Part:
    info = (data or {}).get("device_info") or {}
    if "is_compatible" not in info:
        why = info.get("is_compatible_error") or (data or {}).get("device_info_error") or "no DeviceInfo"
        return failed("compatible", f"cv2.cuda.DeviceInfo.isCompatible() unavailable: {why}")
    figures = {"target_archs": (data or {}).get("target_archs")}
    if info["is_compatible"]:
        return passed("compatible", "cv2.cuda.DeviceInfo.isCompatible() is True", **figures)
    return failed(
        "compatible", f"cv2.cuda.DeviceInfo.isCompatible() is False: {rebuild_hint(major, minor)}", **figures
    )


def _kernel_failure(name: str, error: str, major: int, minor: int, figures: dict[str, Any]) -> Part:
    if NO_KERNEL_IMAGE in error.lower():
        reason = f"no kernel image for compute {major}.{minor}: {rebuild_hint(major, minor)}"
        return failed(name, reason, **{**figures, "kernel_error": error})
    return failed(name, error, **figures)


def cpp_kernel_part(data: dict[str, Any] | None, error: str | None, major: int, minor: int) -> Part:
    if data is None:
        return failed("kernel-cpp", error or "the tool's kernel subcommand printed no JSON")
    if data.get("ok") is True:
        return passed("kernel-cpp", "a CUDA kernel ran (check tool)", **data)
    if data.get("ok") is None:
        return failed("kernel-cpp", f"unexpected kernel output (no 'ok' field): {data}")
    return _kernel_failure("kernel-cpp", str(data.get("error") or "the kernel failed"), major, minor, data)


def python_kernel_part(data: dict[str, Any] | None, error: str | None, major: int, minor: int) -> Part:
    if data is None:
        return failed("kernel-python", error or "the kernel worker gave no result")
    if "set_device_error" in data:
        return _kernel_failure(
            "kernel-python", f"cv2.cuda.setDevice: {data['set_device_error']}", major, minor, {}
        )
    ops = data.get("ops") or []
    bad = [op for op in ops if not op.get("ok")]
    if not ops:
        return failed("kernel-python", "no cv2.cuda operation ran")
    if bad:
        text = "; ".join(f"{op.get('op')}: {op.get('error') or 'wrong result'}" for op in bad)
        return _kernel_failure("kernel-python", text, major, minor, {"ops": ops})
    return passed("kernel-python", ", ".join(str(op.get("op")) for op in ops) + " ran", ops=ops)


def arch_selection(ctx: Context) -> tuple[ArchSelection | None, str]:
    """The arch list from the manifest, else from cv2's build information."""
    selection = ctx.manifest.arch()
    if selection is not None and (selection.bin or selection.ptx):
        return selection, "manifest"
    build = ctx.build_info()
    if build is not None and build.cuda:
        return (
            ArchSelection(
                bin=build.arch_bin, ptx=build.arch_ptx, origin="explicit", requested="build information"
            ),
            "cv2 build information",
        )
    return None, "no manifest arch list and cv2 shows no CUDA arch"


def run(ctx: Context, device: DeviceFacts) -> CheckResult:
    wres = ctx.device_worker(device.index)
    major, minor = device.major, device.minor
    info = (wres.data or {}).get("device_info") or {}
    if major < 0 and isinstance(info.get("major"), int):
        major, minor = int(info["major"]), int(info.get("minor", 0))
    parts: list[Part] = []
    warnings: list[str] = []
    selection, source = arch_selection(ctx)
    parts.append(coverage_part(selection, source, major, minor))
    build = ctx.build_info()
    if source == "manifest" and build is not None and build.cuda and selection is not None:
        if set(build.arch_bin) != set(selection.bin) or set(build.arch_ptx) != set(selection.ptx):
            warnings.append(
                f"the manifest's arch list (SASS {_codes(selection.bin)}, PTX {_codes(selection.ptx)}) "
                f"differs from cv2's build information "
                f"(SASS {_codes(build.arch_bin)}, PTX {_codes(build.arch_ptx)})"
            )
    parts.append(
        compatible_part(wres.data, major, minor)
        if wres.error is None
        else failed("compatible", wres.describe_failure())
    )
    if ctx.tool_exists:
        tres = ctx.run_tool("kernel", "--device", str(device.index), timeout=120.0)
        parts.append(
            cpp_kernel_part(tres.data, tres.describe_failure() if tres.data is None else None, major, minor)
        )
    else:
        parts.append(failed("kernel-cpp", ctx.tool_missing_reason()))
    kres = ctx.run_worker("kernel", {"device": device.index}, timeout=180.0)
    kdata = kres.data if kres.error is None else None
    parts.append(python_kernel_part(kdata, kres.describe_failure() if kres.error else None, major, minor))
    return CheckResult.from_parts(ID, TITLE, parts, device=device.index, warnings=warnings)
