"""CUDA devices through cuda-python's driver API (``cuda.bindings.driver``; older cuda-python: ``cuda.cuda``).

``probe_gpus()`` never raises: no cuda-python, no driver or no device gives ``devices=()`` and the reason in
``error``. ``CUDA_VISIBLE_DEVICES`` is honoured by the driver itself (indices are the visible ordinals).
Every cuda-python call lives in ``_query_driver``, so tests replace just that function (or hand it a fake
driver module).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from cvcuda_setup.model import GpuDevice


@dataclass(frozen=True)
class GpuProbe:
    """What the driver reports: visible devices, the CUDA version it supports, or why nothing is visible."""

    devices: tuple[GpuDevice, ...]
    #: ``cuDriverGetVersion``: 1000 * major + 10 * minor (13000 is CUDA 13.0); None when unknown.
    driver_version: int | None
    error: str | None

    @property
    def driver_cuda_version(self) -> str | None:
        """The newest CUDA version the driver supports, as ``"13.0"``."""
        if self.driver_version is None:
            return None
        return f"{self.driver_version // 1000}.{(self.driver_version % 1000) // 10}"


class DriverCallError(Exception):
    """A driver API call returned an error code (``CUresult`` other than success)."""


def _load_driver() -> ModuleType:
    try:
        from cuda.bindings import driver
    except ImportError:
        from cuda import cuda as driver  # cuda-python < 12.6 spells the module this way
    module: ModuleType = driver
    return module


def _error_text(drv: Any, result: Any) -> str:
    name = getattr(result, "name", str(result))
    try:
        err, text = drv.cuGetErrorString(result)
        if err == drv.CUresult.CUDA_SUCCESS and text:
            return f"{name} ({_decode(text)})"
    except Exception:  # the error string is a courtesy; the name is enough
        pass
    return str(name)


def _decode(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).split(b"\0", 1)[0].decode(errors="replace").strip()
    return str(value).strip()


def _check(drv: Any, call: str, returned: Any) -> Any:
    """cuda-python returns ``(CUresult, value...)``; raise on failure, else the value (or values)."""
    result, *values = returned if isinstance(returned, tuple) else (returned,)
    if result != drv.CUresult.CUDA_SUCCESS:
        raise DriverCallError(f"{call} failed: {_error_text(drv, result)}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


@functools.cache
def _init_once(drv: Any) -> str | None:
    """``cuInit(0)`` once per process (per driver module); the error text, or None on success."""
    try:
        _check(drv, "cuInit", drv.cuInit(0))
    except DriverCallError as exc:
        return str(exc)
    return None


def _query_driver(drv: Any | None = None) -> GpuProbe:
    """The only function that calls cuda-python. May raise (ImportError, the driver library missing, ...)."""
    drv = drv if drv is not None else _load_driver()
    driver_version: int | None = None
    try:
        driver_version = int(_check(drv, "cuDriverGetVersion", drv.cuDriverGetVersion()))
    except DriverCallError:
        driver_version = None
    init_error = _init_once(drv)
    if init_error is not None:
        return GpuProbe(devices=(), driver_version=driver_version, error=init_error)
    count = int(_check(drv, "cuDeviceGetCount", drv.cuDeviceGetCount()))
    attr = drv.CUdevice_attribute
    devices = []
    for ordinal in range(count):
        dev = _check(drv, "cuDeviceGet", drv.cuDeviceGet(ordinal))

        def attribute(name: str, dev: Any = dev) -> int:
            return int(
                _check(
                    drv, f"cuDeviceGetAttribute({name})", drv.cuDeviceGetAttribute(getattr(attr, name), dev)
                )
            )

        devices.append(
            GpuDevice(
                index=ordinal,
                name=_decode(_check(drv, "cuDeviceGetName", drv.cuDeviceGetName(256, dev))),
                major=attribute("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR"),
                minor=attribute("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR"),
                integrated=bool(attribute("CU_DEVICE_ATTRIBUTE_INTEGRATED")),
                can_map_host_memory=bool(attribute("CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY")),
                total_memory=int(_check(drv, "cuDeviceTotalMem", drv.cuDeviceTotalMem(dev))),
                pci_bus_id=_decode(_check(drv, "cuDeviceGetPCIBusId", drv.cuDeviceGetPCIBusId(32, dev))),
            )
        )
    error = None if devices else "the driver reports 0 CUDA devices"
    return GpuProbe(devices=tuple(devices), driver_version=driver_version, error=error)


def probe_gpus() -> GpuProbe:
    """The visible CUDA devices. Never raises: failures become ``devices=()`` with the reason in ``error``."""
    try:
        result = _query_driver()
    except ImportError as exc:
        result = GpuProbe(devices=(), driver_version=None, error=f"cuda-python is not importable ({exc})")
    except Exception as exc:  # a missing libcuda.so surfaces as cuda-python's own exception types
        text = str(exc).strip() or type(exc).__name__
        result = GpuProbe(devices=(), driver_version=None, error=f"cannot use the NVIDIA driver: {text}")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if not result.devices and visible is not None and result.error:
        result = GpuProbe(
            devices=(),
            driver_version=result.driver_version,
            error=f"{result.error}; CUDA_VISIBLE_DEVICES={visible!r} limits which GPUs are visible",
        )
    return result
