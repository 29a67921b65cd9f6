"""Check ``device_info``: the device as the C++ tool and as the prefix's ``cv2.cuda`` see it.

C++: the tool's ``device-info`` (name, compute capability, driver/runtime versions, whether its OpenCV has
CUDA). Python: ``cv2.cuda.getCudaEnabledDeviceCount()``, ``printShortCudaDeviceInfo`` and ``DeviceInfo``.
The two must agree with each other on the name and the compute capability.
"""

from __future__ import annotations

import re
from typing import Any

from cvcuda_setup.verify.context import Context
from cvcuda_setup.verify.result import CheckResult, DeviceFacts, Part, failed, passed

ID = "device_info"
TITLE = "Device info (C++ and Python)"


def cuda_version_text(value: Any) -> str:
    """``13000`` -> ``13.0`` (CUDA's encoding); anything else as given."""
    if isinstance(value, int) and value >= 1000:
        return f"{value // 1000}.{(value % 1000) // 10}"
    return str(value) if value is not None else "?"


def tool_entry(data: dict[str, Any], index: int) -> dict[str, Any] | None:
    devices = [d for d in data.get("devices") or [] if isinstance(d, dict)]
    for i, d in enumerate(devices):
        if d.get("index", i) == index:
            return d
    return None


def cpp_part(data: dict[str, Any] | None, returncode: int | None, index: int) -> Part:
    """Interpret the tool's ``device-info`` JSON for one device."""
    if data is None:
        return failed("cpp", "device-info printed no JSON")
    versions = {
        "driver_version": cuda_version_text(data.get("driver_version")),
        "runtime_version": cuda_version_text(data.get("runtime_version")),
        "opencv_version": data.get("opencv_version"),
        "opencv_cuda": data.get("opencv_cuda"),
        "cuda_device_count": data.get("cuda_device_count"),
    }
    if data.get("error") or returncode not in (0, None):
        return failed("cpp", f"device-info: {data.get('error') or f'exit code {returncode}'}", **versions)
    entry = tool_entry(data, index)
    if entry is None:
        return failed("cpp", f"device-info lists no device {index}", **versions)
    figures = {**versions, "device": entry}
    if data.get("opencv_cuda") is False:
        return failed("cpp", "the tool's OpenCV reports no CUDA support", **figures)
    return passed(
        "cpp",
        f"{entry.get('name', '?')}, compute {entry.get('major', '?')}.{entry.get('minor', '?')}, "
        f"driver {versions['driver_version']}, runtime {versions['runtime_version']}",
        **figures,
    )


_SHORT_INFO = re.compile(r'Device (\d+):\s+"([^"]*)"')


def short_info_name(text: str, index: int) -> str | None:
    """The name in printShortCudaDeviceInfo's line ``Device 0:  "NVIDIA H100 80GB HBM3"  81559Mb, ...``."""
    for match in _SHORT_INFO.finditer(text):
        if int(match.group(1)) == index:
            return match.group(2)
    return None


def python_part(data: dict[str, Any] | None, stdout: str, index: int) -> Part:
    """Interpret the worker's ``device`` result for one device."""
    if data is None:
        return failed("python", "the device worker gave no result")
    if "count_error" in data:
        return failed("python", f"cv2.cuda.getCudaEnabledDeviceCount() raised {data['count_error']}")
    count = data.get("count")
    if not isinstance(count, int) or count <= 0:
        return failed(
            "python", f"cv2.cuda.getCudaEnabledDeviceCount() is {count}: this cv2 cannot use the GPU"
        )
    if index >= count:
        return failed("python", f"cv2.cuda sees {count} device(s), not device {index}")
    if "device_info_error" in data:
        return failed("python", f"cv2.cuda.DeviceInfo({index}) raised {data['device_info_error']}")
    if "short_info_called_error" in data:
        return failed(
            "python", f"cv2.cuda.printShortCudaDeviceInfo({index}) raised {data['short_info_called_error']}"
        )
    info = dict(data.get("device_info") or {})
    if not info.get("name"):
        info.pop("name_error", None)
        name = short_info_name(stdout, index)
        if name is not None:
            info["name"], info["name_from"] = name, "printShortCudaDeviceInfo"
    errors = {k: v for k, v in info.items() if k.endswith("_error") and k[:-6] in ("major", "minor")}
    if errors:
        return failed(
            "python", "cv2.cuda.DeviceInfo: " + "; ".join(f"{k[:-6]}: {v}" for k, v in errors.items())
        )
    return passed(
        "python",
        f"{info.get('name')}, compute {info.get('major')}.{info.get('minor')} "
        f"({count} device(s) in cv2.cuda)",
        count=count,
        device=info,
        short_info=stdout.strip(),
    )


def agreement_part(cpp: Part, python: Part, device: DeviceFacts) -> Part | None:
    """Both views name the same device (different ordering, e.g. CUDA_VISIBLE_DEVICES tricks, shows here)."""
    if cpp.status != "pass" or python.status != "pass":
        return None
    c = cpp.figures.get("device") or {}
    p = python.figures.get("device") or {}
    views = {
        "cpp": (str(c.get("name")), f"{c.get('major')}.{c.get('minor')}"),
        "python": (str(p.get("name")), f"{p.get('major')}.{p.get('minor')}"),
    }
    if device.major >= 0:
        views[device.source or "probe"] = (device.name, device.capability)
    if not p.get("name"):  # no name from cv2 (not wrapped, no short info): compare the capability only
        views = {k: ("", cc) for k, (_, cc) in views.items()}
    if len(set(views.values())) > 1:
        listed = ", ".join(f"{k}: {n} ({cc})" for k, (n, cc) in views.items())
        return failed("agree", f"the views of device {device.index} disagree: {listed}")
    return passed("agree", "C++ and Python see the same device")


def run(ctx: Context, device: DeviceFacts) -> CheckResult:
    parts: list[Part] = []
    if not ctx.tool_exists:
        cpp = failed("cpp", ctx.tool_missing_reason())
    else:
        res = ctx.tool_device_info()
        assert res is not None
        cpp = (
            cpp_part(res.data, res.returncode, device.index)
            if res.data is not None
            else failed("cpp", res.describe_failure())
        )
    parts.append(cpp)
    wres = ctx.device_worker(device.index)
    python = (
        python_part(wres.data, wres.stdout, device.index)
        if wres.error is None
        else failed("python", wres.describe_failure())
    )
    parts.append(python)
    agree = agreement_part(cpp, python, device)
    if agree is not None:
        parts.append(agree)
    return CheckResult.from_parts(ID, TITLE, parts, device=device.index)
