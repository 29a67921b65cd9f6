"""Check ``gpu``: at least one CUDA device is visible (skipped without one, failed with ``--require-gpu``)."""

from __future__ import annotations

from cvcuda_setup.verify.result import CheckResult, GpuInventory, failed, passed, skipped

ID = "gpu"
TITLE = "CUDA devices visible"


def run(inventory: GpuInventory, *, require_gpu: bool) -> CheckResult:
    figures = {"sources": inventory.sources, "devices": [d.to_json() for d in inventory.devices]}
    if inventory.available:
        names = ", ".join(f"{d.index}: {d.name} ({d.capability})" for d in inventory.devices)
        part = passed("devices", f"{len(inventory.devices)} device(s): {names}", **figures)
    elif require_gpu:
        part = failed("devices", f"{inventory.reason}, and --require-gpu was given", **figures)
    else:
        part = skipped("devices", inventory.reason, **figures)
    return CheckResult.from_parts(ID, TITLE, [part])
