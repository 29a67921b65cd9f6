"""Check ``mapped``: the plugin hands out pinned host memory that the GPU can address, and takes it back.

* can-map: the device reports canMapHostMemory.
* cpp: the check tool's ``mapped`` subcommand (allocation through the plugin, cudaPointerGetAttributes, free).
* python: ``cvcuda_zerocopy`` in the target interpreter: ``mapped_empty`` allocates, ``pointer_attributes``
  says host memory with a device alias, a GpuMat over the alias sees a host write, and after ``del`` the
  pool's in-use counter is back where it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cvcuda_setup.verify.context import Context
from cvcuda_setup.verify.result import CheckResult, DeviceFacts, Part, failed, passed, skipped

ID = "mapped"
TITLE = "Mapped (zero-copy) memory"

#: Counter names accepted for "bytes (or blocks) in use" in ``pool_stats()``, most specific first.
IN_USE_KEYS = (
    "bytes_in_use",
    "in_use_bytes",
    "live_bytes",
    "outstanding_bytes",
    "used_bytes",
    "in_use",
    "live",
    "outstanding",
    "allocated_bytes",
    "bytes_allocated",
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_host_type(value: Any) -> bool:
    """cudaPointerGetAttributes' type as the plugin reports it: ``"host"``, ``"cudaMemoryTypeHost"`` or 1."""
    if isinstance(value, str):
        return value.strip().lower().removeprefix("cudamemorytype") == "host"
    return _is_int(value) and value == 1


def is_mapped_host(
    attrs: dict[str, Any] | None, expected_device_pointer: int | None = None
) -> tuple[bool, str]:
    """Whether pointer attributes describe pinned host memory with a device alias (and the expected one)."""
    if not isinstance(attrs, dict):
        return False, "no pointer attributes"
    if attrs.get("ok") is False:
        return False, f"pointer_attributes failed: {attrs.get('error')}"
    kind = attrs.get("type", attrs.get("memory_type"))
    if not is_host_type(kind):
        return False, f"memory type is {kind!r}, not host: this buffer did not come from the plugin"
    dptr = attrs.get("device_pointer", attrs.get("devicePointer"))
    if not _is_int(dptr) or dptr == 0:
        return False, f"no device alias (device_pointer={dptr!r}): the host memory is not mapped"
    if expected_device_pointer is not None and dptr != expected_device_pointer:
        return False, f"device alias {dptr:#x} is not the GpuMat's data pointer {expected_device_pointer:#x}"
    return True, f"host memory, device alias {dptr:#x}"


def in_use(stats: Any) -> tuple[str, int] | None:
    """The in-use counter of ``pool_stats()`` (key, value), or None when it has none this code knows."""
    if not isinstance(stats, dict):
        return None
    for key in IN_USE_KEYS:
        if _is_int(stats.get(key)):
            return key, int(stats[key])
    for key, value in stats.items():
        if ("in_use" in key or "live" in key) and _is_int(value):
            return key, int(value)
    return None


def release_part(data: dict[str, Any]) -> Part:
    before, allocated, freed = (data.get(k) for k in ("stats_before", "stats_allocated", "stats_freed"))
    figures = {"before": before, "allocated": allocated, "freed": freed, "trimmed": data.get("stats_trimmed")}
    counters = [in_use(s) for s in (before, allocated, freed)]
    if any(c is None for c in counters):
        keys = sorted(before) if isinstance(before, dict) else before
        return failed(
            "release",
            f"pool_stats() has no in-use counter this check knows ({keys}); release unproven",
            **figures,
        )
    (key, b), (_, a), (_, f) = counters  # type: ignore[misc]
    if a <= b:
        return failed("release", f"pool_stats()[{key!r}] did not grow on allocation ({b} -> {a})", **figures)
    if f != b:
        return failed(
            "release", f"pool_stats()[{key!r}] is {f} after the array was freed, was {b} before", **figures
        )
    return passed("release", f"pool_stats()[{key!r}] {b} -> {a} -> {f} after free", **figures)


def python_parts(data: dict[str, Any]) -> list[Part]:
    """Interpret the worker's ``mapped`` result."""
    if "module_error" in data:
        return [failed("python", f"cvcuda_zerocopy does not import: {data['module_error']}")]
    for key, what in (("setup_device_error", "setup_device"), ("alloc_error", "mapped_empty")):
        if key in data:
            return [failed("python", f"{what} raised {data[key]}")]
    parts: list[Part] = []
    ok, why = is_mapped_host(data.get("attributes"), data.get("device_pointer"))
    alloc = data.get("alloc") or {}
    attrs = data.get("attributes") or {}
    host_ptr = attrs.get("host_pointer") if isinstance(attrs, dict) else None
    if ok and _is_int(host_ptr) and host_ptr not in (0, alloc.get("host_pointer")):
        ok, why = (
            False,
            f"host pointer {host_ptr:#x} is not the array's data {alloc.get('host_pointer', 0):#x}",
        )
    if "attributes_error" in data:
        ok, why = False, f"pointer_attributes raised {data['attributes_error']}"
    parts.append(
        (passed if ok else failed)(
            "python",
            f"mapped_empty {alloc.get('nbytes')} B: {why}",
            attributes=attrs,
            alloc=alloc,
            module=data.get("module_file"),
        )
    )
    if "gpumat_error" in data:
        parts.append(failed("alias", f"a GpuMat over the mapped array failed: {data['gpumat_error']}"))
    elif data.get("device_sees_host_write") is True:
        parts.append(passed("alias", "a GpuMat over the device alias reads what the host wrote"))
    else:
        parts.append(failed("alias", "the GpuMat over the device alias does not see the host's write"))
    parts.append(release_part(data))
    return parts


def _records(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if "type" in value and ("device_pointer" in value or "devicePointer" in value):
            yield value
        for v in value.values():
            yield from _records(v)
    elif isinstance(value, list):
        for v in value:
            yield from _records(v)


def cpp_part(data: dict[str, Any] | None, error: str | None) -> Part:
    """Interpret the tool's ``mapped`` JSON; its own pointer records must agree with its ``ok``."""
    if data is None:
        return failed("cpp", error or "the tool's mapped subcommand printed no JSON")
    if data.get("ok") is None:
        return failed("cpp", f"unexpected mapped output (no 'ok' field): {sorted(data)}", **data)
    if data.get("ok") is False:
        return failed("cpp", str(data.get("error") or "the tool reports a failure"), **data)
    bad = [why for ok, why in (is_mapped_host(r) for r in _records(data)) if not ok]
    if bad:
        return failed("cpp", f"the tool says ok, but its pointer attributes say: {bad[0]}", **data)
    return passed("cpp", "plugin allocation is mapped host memory and is released (check tool)", **data)


def can_map_part(
    device: DeviceFacts, tool_data: dict[str, Any] | None, worker_data: dict[str, Any] | None
) -> Part:
    values = {"probe": device.can_map_host_memory}
    for d in (tool_data or {}).get("devices") or []:
        if isinstance(d, dict) and d.get("index") == device.index:
            values["check tool"] = d.get("can_map_host_memory")
    values["cv2.cuda"] = ((worker_data or {}).get("device_info") or {}).get("can_map_host_memory")
    known = {k: bool(v) for k, v in values.items() if v is not None}
    if not known:
        return skipped("can-map", "no source reports canMapHostMemory")
    if all(known.values()):
        return passed("can-map", f"canMapHostMemory ({', '.join(known)})")
    return failed("can-map", f"the device cannot map host memory ({known}): zero-copy is impossible on it")


def run(ctx: Context, device: DeviceFacts) -> CheckResult:
    info = ctx.tool_device_info()
    parts = [can_map_part(device, info.data if info else None, ctx.device_worker(device.index).data)]
    if ctx.tool_exists:
        res = ctx.run_tool("mapped", "--device", str(device.index), timeout=120.0)
        parts.append(cpp_part(res.data, res.describe_failure() if res.data is None else None))
    else:
        parts.append(failed("cpp", ctx.tool_missing_reason()))
    wres = ctx.run_worker("mapped", {"device": device.index}, timeout=180.0)
    if wres.error is not None or wres.data is None:
        parts.append(failed("python", wres.describe_failure()))
    else:
        parts += python_parts(wres.data)
    return CheckResult.from_parts(ID, TITLE, parts, device=device.index)
