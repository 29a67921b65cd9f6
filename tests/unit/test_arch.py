from __future__ import annotations

import pytest

from cvcuda_setup.arch import parse_arch, validate_arch
from cvcuda_setup.errors import ArchError
from cvcuda_setup.model import ArchSelection, GpuDevice

# What nvcc 13.0 prints for --list-gpu-code / --list-gpu-arch (recorded on this machine).
CODES_13 = (
    "sm_75",
    "sm_80",
    "sm_86",
    "sm_87",
    "sm_88",
    "sm_89",
    "sm_90",
    "sm_100",
    "sm_110",
    "sm_103",
    "sm_120",
)
ARCHS_13 = tuple(c.replace("sm_", "compute_") for c in CODES_13)


@pytest.mark.parametrize(
    ("text", "bins", "ptxs"),
    [
        ("8.9", ("8.9",), ()),
        ("8.6,8.9,9.0", ("8.6", "8.9", "9.0"), ()),
        ("9.0+PTX", ("9.0",), ("9.0",)),
        ("9.0+ptx", ("9.0",), ("9.0",)),
        ("sm_90", ("9.0",), ()),
        ("compute_90", (), ("9.0",)),
        ("90", ("9.0",), ()),
        ("120", ("12.0",), ()),
        ("sm_100,8.0", ("8.0", "10.0"), ()),
        ("9.0, 8.9;8.9", ("8.9", "9.0"), ()),
    ],
)
def test_forms_normalise(text: str, bins: tuple[str, ...], ptxs: tuple[str, ...]) -> None:
    sel = parse_arch(text)
    assert (sel.bin, sel.ptx, sel.origin) == (bins, ptxs, "explicit")


@pytest.mark.parametrize(
    "text", ["", "9", "nine", "9.10", "sm90", "compute_90+PTX", "9.0+PTXX", "auto,9.0", "0.5"]
)
def test_malformed_values_are_refused(text: str) -> None:
    with pytest.raises(ArchError) as info:
        parse_arch(text)
    assert info.value.return_code == 2


def test_family_variants_get_a_specific_hint() -> None:
    with pytest.raises(ArchError, match=r"use the plain capability, e\.g\. sm_90"):
        parse_arch("sm_90a")


def test_auto_takes_the_union_of_devices() -> None:
    devices = (GpuDevice(0, "H100", 9, 0), GpuDevice(1, "L4", 8, 9), GpuDevice(2, "H100", 9, 0))
    sel = parse_arch("auto", devices)
    assert sel.bin == ("8.9", "9.0") and sel.origin == "auto" and len(sel.devices) == 3


def test_auto_without_gpu_says_what_to_do() -> None:
    with pytest.raises(ArchError, match=r"--arch auto found no CUDA device.*\(no driver\).*--arch 8.9"):
        parse_arch("auto", (), probe_error="no driver")


def test_validation_against_nvcc_lists() -> None:
    ok = validate_arch(parse_arch("8.9,9.0+PTX"), CODES_13, ARCHS_13, nvcc="nvcc 13.0")
    assert ok.validated
    with pytest.raises(ArchError, match=r"7\.0 cannot be targeted by nvcc 13\.0.*dropped 7\.0"):
        validate_arch(parse_arch("7.0"), CODES_13, ARCHS_13, nvcc="nvcc 13.0")
    with pytest.raises(ArchError, match=r"13\.0\+PTX cannot be targeted.*newer CUDA toolkit"):
        validate_arch(parse_arch("compute_130"), CODES_13, ARCHS_13, nvcc="nvcc 13.0")


def test_covers_by_sass_or_ptx() -> None:
    sel = ArchSelection(bin=("8.0",), ptx=(), origin="explicit")
    assert sel.covers(8, 6)  # same major, SASS runs on higher minor
    assert not sel.covers(9, 0)  # the classic "no kernel image is available"
    with_ptx = ArchSelection(bin=("8.0",), ptx=("8.0",), origin="explicit")
    assert with_ptx.covers(9, 0)  # JIT from PTX
    assert not with_ptx.covers(7, 5)


@pytest.mark.parametrize(
    ("token", "capability", "compact"),
    [
        ("9.0", "9.0", "90"),
        ("90", "9.0", "90"),
        ("120", "12.0", "120"),
        ("sm_86", "8.6", "86"),
        ("compute_90", "9.0", "90"),
        ("90-real", "9.0", "90"),
        ("8.6-virtual", "8.6", "86"),
        ("9.0a", "9.0", "90a"),
        ("100f", "10.0", "100f"),
    ],
)
def test_one_reader_for_every_recorded_spelling(token: str, capability: str, compact: str) -> None:
    from cvcuda_setup.arch import read_arch_token
    from cvcuda_setup.verify.buildinfo import normalize_arch
    from cvcuda_setup.wheel.naming import arch_number

    read = read_arch_token(token)
    assert read is not None and (read.capability, read.compact) == (capability, compact)
    # verify's and the wheel label's normalisers are this reader's two views
    assert arch_number(token) == compact
    assert normalize_arch(token) == (capability if not read.variant else None)


@pytest.mark.parametrize("token", ["", "9", "x", "9.10", "sm90", "0.5", "1000"])
def test_the_reader_refuses_what_is_not_an_arch(token: str) -> None:
    from cvcuda_setup.arch import read_arch_token

    assert read_arch_token(token) is None
