"""Shared test set-up: GPU tests skip, with the probe's reason, on a machine without a usable CUDA device."""

from __future__ import annotations

import functools

import pytest


@functools.cache
def gpu_skip_reason() -> str | None:
    """None when a CUDA device is usable, else why not (from the cuda-python probe)."""
    try:
        from cvcuda_setup.probe.gpu import probe_gpus
    except ImportError as exc:  # probe module missing: never pretend a GPU is there
        return f"no CUDA device: GPU probe unavailable ({exc})"
    result = probe_gpus()
    if result.devices:
        return None
    return f"no CUDA device: {result.error or 'cuda-python reports 0 devices'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    for item in items:
        if item.get_closest_marker("gpu") is None:
            continue
        if reason is None:
            reason = gpu_skip_reason() or ""
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
