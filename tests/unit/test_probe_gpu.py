"""probe.gpu: the cuda-python adapter driven by a fake driver module, and probe_gpus' never-raise contract."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from cvcuda_setup.model import GpuDevice
from cvcuda_setup.probe import gpu


class _CUresult(enum.IntEnum):
    CUDA_SUCCESS = 0
    CUDA_ERROR_NOT_INITIALIZED = 3
    CUDA_ERROR_NO_DEVICE = 100


class _CUdeviceAttribute(enum.IntEnum):
    CU_DEVICE_ATTRIBUTE_INTEGRATED = 18
    CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY = 19
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


class FakeDriver:
    """The part of ``cuda.bindings.driver`` the probe calls, answering like cuda-python: (CUresult, value)."""

    CUresult = _CUresult
    CUdevice_attribute = _CUdeviceAttribute

    def __init__(
        self, devices: list[dict[str, Any]], *, version: int = 13000, init: _CUresult = _CUresult.CUDA_SUCCESS
    ):
        self.devices = devices
        self.version = version
        self.init_result = init
        self.init_calls = 0

    def cuDriverGetVersion(self) -> tuple[_CUresult, int]:
        return _CUresult.CUDA_SUCCESS, self.version

    def cuInit(self, flags: int) -> tuple[_CUresult]:
        self.init_calls += 1
        return (self.init_result,)

    def cuGetErrorString(self, result: _CUresult) -> tuple[_CUresult, bytes]:
        texts = {_CUresult.CUDA_ERROR_NO_DEVICE: b"no CUDA-capable device is detected"}
        return _CUresult.CUDA_SUCCESS, texts.get(result, b"unknown error")

    def cuDeviceGetCount(self) -> tuple[_CUresult, int]:
        return _CUresult.CUDA_SUCCESS, len(self.devices)

    def cuDeviceGet(self, ordinal: int) -> tuple[_CUresult, int]:
        return _CUresult.CUDA_SUCCESS, ordinal

    def cuDeviceGetName(self, length: int, dev: int) -> tuple[_CUresult, bytes]:
        return _CUresult.CUDA_SUCCESS, self.devices[dev]["name"].encode() + b"\0" * (
            length - len(self.devices[dev]["name"])
        )

    def cuDeviceGetAttribute(self, attr: _CUdeviceAttribute, dev: int) -> tuple[_CUresult, int]:
        key = {
            _CUdeviceAttribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: "major",
            _CUdeviceAttribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: "minor",
            _CUdeviceAttribute.CU_DEVICE_ATTRIBUTE_INTEGRATED: "integrated",
            _CUdeviceAttribute.CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY: "map",
        }[attr]
        return _CUresult.CUDA_SUCCESS, int(self.devices[dev][key])

    def cuDeviceTotalMem(self, dev: int) -> tuple[_CUresult, int]:
        return _CUresult.CUDA_SUCCESS, self.devices[dev]["mem"]

    def cuDeviceGetPCIBusId(self, length: int, dev: int) -> tuple[_CUresult, bytes]:
        return _CUresult.CUDA_SUCCESS, f"0000:{dev + 1:02x}:00.0".encode() + b"\0"


_ADAPTER = gpu._query_driver  # the real adapter, kept before any test replaces the module attribute


def _real(drv: FakeDriver) -> gpu.GpuProbe:
    return _ADAPTER(drv)


H100 = {"name": "NVIDIA H100 80GB HBM3", "major": 9, "minor": 0, "integrated": 0, "map": 1, "mem": 85 * 2**30}
ORIN = {"name": "Orin", "major": 8, "minor": 7, "integrated": 1, "map": 0, "mem": 30 * 2**30}


def test_adapter_reads_every_device_attribute() -> None:
    result = gpu._query_driver(FakeDriver([H100, ORIN], version=12080))
    assert result.error is None
    assert result.driver_version == 12080
    assert result.driver_cuda_version == "12.8"
    assert result.devices == (
        GpuDevice(0, "NVIDIA H100 80GB HBM3", 9, 0, False, True, 85 * 2**30, "0000:01:00.0"),
        GpuDevice(1, "Orin", 8, 7, True, False, 30 * 2**30, "0000:02:00.0"),
    )


def test_cuinit_runs_once_per_driver() -> None:
    drv = FakeDriver([H100])
    gpu._query_driver(drv)
    gpu._query_driver(drv)
    assert drv.init_calls == 1


def test_cuinit_failure_keeps_the_driver_version_and_names_the_error() -> None:
    result = gpu._query_driver(FakeDriver([], version=13000, init=_CUresult.CUDA_ERROR_NO_DEVICE))
    assert result.devices == ()
    assert result.driver_version == 13000
    assert result.error == "cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)"


def test_zero_devices_is_reported_as_an_error_text() -> None:
    result = gpu._query_driver(FakeDriver([]))
    assert (result.devices, result.error) == ((), "the driver reports 0 CUDA devices")


def test_probe_never_raises_when_the_driver_library_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> gpu.GpuProbe:
        raise OSError('"cuda" is an NVIDIA driver library and can only be found via system search')

    monkeypatch.setattr(gpu, "_query_driver", missing)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    result = gpu.probe_gpus()
    assert result.devices == () and result.driver_version is None
    assert result.error == (
        'cannot use the NVIDIA driver: "cuda" is an NVIDIA driver library '
        "and can only be found via system search"
    )


def test_probe_without_cuda_python(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_module() -> gpu.GpuProbe:
        raise ImportError("No module named 'cuda'")

    monkeypatch.setattr(gpu, "_query_driver", no_module)
    result = gpu.probe_gpus()
    assert result.error == "cuda-python is not importable (No module named 'cuda')"


def test_probe_names_cuda_visible_devices_when_it_hides_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    drv = FakeDriver([], init=_CUresult.CUDA_ERROR_NO_DEVICE)
    monkeypatch.setattr(gpu, "_query_driver", lambda: _real(drv))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    result = gpu.probe_gpus()
    assert result.error is not None
    assert result.error.endswith("; CUDA_VISIBLE_DEVICES='' limits which GPUs are visible")


def test_probe_passes_devices_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu, "_query_driver", lambda: _real(FakeDriver([H100])))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    result = gpu.probe_gpus()
    assert [d.name for d in result.devices] == ["NVIDIA H100 80GB HBM3"]
    assert result.error is None
