"""Which CUDA devices there are, asked of every source that can answer.

Sources, in order of preference for the device facts: the cuda-python probe (``probe.gpu``), the C++
check tool's ``device-info``, and the prefix's ``cv2.cuda``. GPU checks are skipped only when no source sees
a device, so one broken source (say cuda-python too old for the driver) cannot turn a GPU host's checks
into skips.
"""

from __future__ import annotations

from typing import Any

from cvcuda_setup.errors import UsageError
from cvcuda_setup.probe.gpu import probe_gpus
from cvcuda_setup.verify.context import Context, DeviceRequest
from cvcuda_setup.verify.result import DeviceFacts, GpuInventory


def _int(value: Any, default: int = -1) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _from_probe(sources: dict[str, str]) -> list[DeviceFacts]:
    key = "cuda-python probe"
    try:
        result = probe_gpus()
    except Exception as exc:  # the probe promises not to raise; report it if it does
        sources[key] = f"failed ({type(exc).__name__}: {exc})"
        return []
    devices = [
        DeviceFacts(
            index=d.index,
            name=d.name,
            major=d.major,
            minor=d.minor,
            can_map_host_memory=getattr(d, "can_map_host_memory", None),
            total_memory=getattr(d, "total_memory", None),
            source="cuda-python",
        )
        for d in result.devices
    ]
    sources[key] = f"{len(devices)} device(s)" if devices else (result.error or "0 devices")
    return devices


def tool_devices(data: dict[str, Any]) -> list[DeviceFacts]:
    """Devices from the tool's ``device-info`` JSON (field names read defensively)."""
    out = []
    for i, d in enumerate(data.get("devices") or []):
        if not isinstance(d, dict):
            continue
        can_map = d.get("can_map_host_memory")
        out.append(
            DeviceFacts(
                index=_int(d.get("index"), i),
                name=str(d.get("name") or "?"),
                major=_int(d.get("major")),
                minor=_int(d.get("minor")),
                can_map_host_memory=bool(can_map) if can_map is not None else None,
                total_memory=_int(d.get("total_memory")) if d.get("total_memory") is not None else None,
                source="check tool",
            )
        )
    return out


def _from_tool(ctx: Context, sources: dict[str, str]) -> list[DeviceFacts]:
    key = "check tool"
    res = ctx.tool_device_info()
    if res is None:
        sources[key] = f"not installed ({ctx.tool})"
        return []
    if res.data is None:
        sources[key] = res.describe_failure()
        return []
    devices = tool_devices(res.data)
    if devices:
        sources[key] = f"{len(devices)} device(s)"
    else:
        sources[key] = str(res.data.get("error") or f"0 devices (exit code {res.returncode})")
    return devices


def _from_cv2(ctx: Context, sources: dict[str, str]) -> list[DeviceFacts]:
    key = "cv2.cuda"
    res = ctx.cv2info()
    data = res.data or {}
    if res.error or "import_error" in data:
        sources[key] = f"cv2 not importable ({data.get('import_error') or res.describe_failure()})"
        return []
    if "cuda_device_count" not in data:
        why = data.get("cuda_device_count_error") or "cv2 has no cuda module"
        sources[key] = str(why)
        return []
    count = _int(data["cuda_device_count"], 0)
    if count <= 0:
        build = ctx.build_info()
        note = " (cv2 built without CUDA)" if build is not None and not build.cuda else ""
        sources[key] = f"{count} devices{note}" if count == 0 else f"{count} (driver too old for this build?)"
        return []
    sources[key] = f"{count} device(s)"
    devices = []
    for i in range(count):
        info = ctx.device_worker(i).data or {}
        facts = info.get("device_info") or {}
        devices.append(
            DeviceFacts(
                index=i,
                name=str(facts.get("name") or "?"),
                major=_int(facts.get("major")),
                minor=_int(facts.get("minor")),
                can_map_host_memory=facts.get("can_map_host_memory"),
                total_memory=facts.get("total_memory"),
                source="cv2.cuda",
            )
        )
    return devices


def discover(ctx: Context) -> GpuInventory:
    sources: dict[str, str] = {}
    devices = _from_probe(sources)
    from_tool = _from_tool(ctx, sources)
    devices = devices or from_tool
    if not devices:
        devices = _from_cv2(ctx, sources)
    return GpuInventory(tuple(devices), sources)


def select_devices(inventory: GpuInventory, request: DeviceRequest) -> list[DeviceFacts]:
    """The devices the per-device checks run on; a bad index is a usage error naming the ones there are."""
    if request == "all":
        return list(inventory.devices)
    for device in inventory.devices:
        if device.index == request:
            return [device]
    there = ", ".join(f"{d.index} ({d.name})" for d in inventory.devices)
    raise UsageError(
        f"--device {request}: no such CUDA device; there are {there}", hint="use --device all or an index"
    )
