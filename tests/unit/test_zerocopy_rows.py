"""``cvcuda_zerocopy.mapped_empty``'s row padding, with the extension module replaced at its boundary.

The real ``_native`` needs a CUDA device; here ``alloc`` hands out plain bytearrays (recording the sizes asked
for) and ``row_alignment`` answers what a device would (32 bytes, cudaDevAttrTexturePitchAlignment on current
GPUs). What is checked is the layout arithmetic of the pure-Python package: the GPU tests
(tests/gpu/test_plugin_gpu.py) run the same code against the real module and CUDA Canny.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "native" / "python" / "cvcuda_zerocopy" / "__init__.py"


class FakeNative(types.ModuleType):
    MAPPED, PORTABLE, WRITE_COMBINED, VERSION = 1, 2, 4, "0.0.0-test"
    CudaError = type("CudaError", (RuntimeError,), {})
    MappedBuffer = bytearray
    Registration = object

    def __init__(self, alignment: int) -> None:
        super().__init__("cvcuda_zerocopy._native")
        self.alignment = alignment
        self.calls: list[tuple[int, int, bool]] = []

    def alloc(self, nbytes: int, flags: int, pooled: bool) -> bytearray:
        self.calls.append((nbytes, flags, pooled))
        return bytearray(nbytes)

    def row_alignment(self) -> int:
        return self.alignment


@pytest.fixture
def zc(monkeypatch: pytest.MonkeyPatch) -> Any:
    fake = FakeNative(32)
    package = types.ModuleType("cvcuda_zerocopy")
    package.__path__ = [str(PACKAGE.parent)]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cvcuda_zerocopy", package)
    monkeypatch.setitem(sys.modules, "cvcuda_zerocopy._native", fake)
    spec = importlib.util.spec_from_file_location("cvcuda_zerocopy", PACKAGE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "cvcuda_zerocopy", module)
    spec.loader.exec_module(module)
    module.fake = fake
    return module


def test_odd_rows_are_padded_to_the_device_alignment(zc: Any) -> None:
    a = zc.mapped_empty((479, 641), np.uint8)
    assert a.shape == (479, 641) and a.strides == (672, 1)  # 641 -> 21 * 32
    assert not a.flags["C_CONTIGUOUS"]
    assert zc.fake.calls[-1] == (479 * 672, zc.MAPPED, True)
    a[...] = 9  # every element is inside the buffer; the padding is not part of the array
    assert int(a.sum()) == 9 * 479 * 641
    assert zc.mapped_buffer(a) is a.base and zc.mapped_buffer(a[10:20, 3:7]) is a.base


def test_aligned_rows_stay_contiguous(zc: Any) -> None:
    for shape, dtype in (((480, 640), np.uint8), ((1080, 1920, 3), np.uint8), ((100, 120, 3), np.float32)):
        a = zc.mapped_empty(shape, dtype)
        assert a.flags["C_CONTIGUOUS"], (shape, dtype)
        assert zc.fake.calls[-1][0] == a.nbytes


def test_hwc_pads_whole_rows_and_keeps_pixels_packed(zc: Any) -> None:
    a = zc.mapped_empty((5, 7, 3), np.uint16)  # a row is 7 * 3 * 2 = 42 bytes -> 64
    assert a.strides == (64, 6, 2)


def test_tight_rows_and_other_ranks_are_not_padded(zc: Any) -> None:
    assert zc.mapped_empty((479, 641), np.uint8, row_alignment=1).strides == (641, 1)
    assert zc.mapped_empty((641,), np.uint8).strides == (1,)
    four = zc.mapped_empty((2, 3, 5, 7), np.uint8)
    assert four.flags["C_CONTIGUOUS"]
    assert zc.mapped_empty((3, 5), np.uint8, row_alignment=512).strides == (512, 1)


def test_flags_reach_alloc(zc: Any) -> None:
    zc.mapped_empty((3, 5), np.uint8, write_combined=True, portable=True, pooled=False)
    assert zc.fake.calls[-1] == (3 * 32, zc.MAPPED | zc.WRITE_COMBINED | zc.PORTABLE, False)


@pytest.mark.parametrize("bad", [0, 3, 24, -32])
def test_a_bad_alignment_names_the_value(zc: Any, bad: int) -> None:
    with pytest.raises(ValueError, match=f"row_alignment={bad} is not a power of two"):
        zc.mapped_empty((4, 4), np.uint8, row_alignment=bad)


def test_empty_shapes_allocate_nothing(zc: Any) -> None:
    assert zc.mapped_empty((0, 641), np.uint8).shape == (0, 641)
    assert zc.fake.calls == []
