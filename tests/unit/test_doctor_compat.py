"""doctor.compat: the shipped table loads and says what the upstream threads say; ranges; loader errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cvcuda_setup.doctor import compat


def ids(cuda: str, opencv: str, gcc: str | None = "13.3.0", contrib: bool = True) -> list[str]:
    return [r.id for r in compat.check(cuda, opencv, gcc=gcc, contrib=contrib).bad]


def test_the_shipped_table_loads_and_every_bad_row_has_its_sources() -> None:
    table = compat.load_table()
    assert table.releases[-1] == "5.1.0"
    assert len(table.bad) >= 8
    for rule in table.bad:
        assert rule.reason and rule.evidence
        assert rule.issue and all(u.startswith("https://github.com/opencv/") for u in rule.issue)
        assert all(u.startswith("https://github.com/opencv/") for u in rule.upstream_fix)
        if rule.fixed_in:
            assert rule.fixed_in in table.releases
            assert not rule.applies(rule.cuda.split(",")[0].lstrip("<>=!"), rule.fixed_in, "13.3.0", True)


@pytest.mark.parametrize(
    ("cuda", "opencv", "expected"),
    [
        ("12.0", "4.6.0", ["cuda12-texture-references"]),
        ("12.0", "4.7.0", []),
        ("11.8", "4.6.0", []),
        ("12.4", "4.9.0", ["cuda12.4-thrust-tuple"]),
        ("12.4", "4.10.0", []),
        ("12.6", "4.10.0", ["cuda12.6-zipptr-tuple-size"]),
        ("12.9", "4.11.0", ["cuda12.9-nppGetStreamContext"]),
        ("12.9", "4.12.0", []),
        ("13.0", "4.12.0", ["cuda13-devprop-fields"]),
        ("13.0", "4.13.0", []),
        ("13.0", "5.1.0", []),
        ("13.2", "4.13.0", ["cuda13.2-cccl3-namespace"]),
        ("13.2", "5.1.0", []),
    ],
)
def test_reported_facts(cuda: str, opencv: str, expected: list[str]) -> None:
    assert ids(cuda, opencv) == expected


def test_contrib_only_rows_need_contrib() -> None:
    assert ids("12.4", "4.9.0", contrib=False) == []
    assert ids("12.9", "4.11.0", contrib=False) == ["cuda12.9-nppGetStreamContext"]


def test_host_compiler_rows() -> None:
    assert ids("13.1", "5.1.0", gcc="16.1.1") == ["cuda13-gcc16-configure"]
    assert ids("13.0", "5.1.0", gcc="15.1.0") == []  # nvcc 13.0 accepts gcc 15 (host_config.h)
    assert ids("13.2", "5.1.0", gcc="15.1.0") == ["cuda13.1-gcc15-configure"]  # reported, unchecked
    assert ids("13.1", "5.1.0", gcc=None) == []  # a gcc row never matches clang / unknown
    unchecked = [r for r in compat.check("13.2", "5.1.0", gcc="15.1.0").bad]
    assert [r.checked for r in unchecked] == [False]


def test_recommendation_is_the_newest_release_not_ruled_out() -> None:
    verdict = compat.check("13.2", "4.13.0", gcc="13.3.0")
    assert verdict.recommended == "5.1.0"
    assert (
        4 not in verdict.recommended_by_major
    )  # every checked 4.x fails or is unchecked with 13.2 + contrib
    verdict = compat.check("12.9", "4.11.0", gcc="13.3.0")
    assert (verdict.recommended, verdict.recommended_by_major[4]) == ("5.1.0", "4.14.0")
    # a row for every release (a host-compiler problem) does not wipe out the recommendation
    assert compat.check("13.1", "5.1.0", gcc="16.1.1").recommended == "5.1.0"


def test_known_good_row_and_untested_cuda() -> None:
    verdict = compat.check("13.0", "5.1.0", gcc="13.3.0")
    assert [r.kind for r in verdict.good] == ["good"]
    assert not verdict.untested_cuda
    assert compat.check("13.0", "5.1.0", gcc="12.2.0").good == ()
    assert compat.check("13.5", "5.1.0").untested_cuda


def test_rule_fix_text() -> None:
    rule = next(r for r in compat.load_table().bad if r.id == "cuda13-devprop-fields")
    verdict = compat.check("13.0", "4.12.0")
    text = compat.rule_fix(rule, verdict.recommended, verdict.recommended_by_major, "4.12.0")
    assert text == (
        "fixed upstream in OpenCV 4.13.0 (https://github.com/opencv/opencv/pull/27636); "
        "use --opencv-version 5.1.0 (newest 4.x: 4.14.0)"
    )


def test_arch_floor() -> None:
    floor = compat.arch_floor("13.0")
    assert floor is not None and (floor.min, floor.checked) == ("7.5", True)
    assert compat.arch_floor("11.8") is None


@pytest.mark.parametrize(
    ("version", "spec", "result"),
    [
        ("13.0", ">=12.0", True),
        ("11.8", ">=12.0", False),
        ("4.10.0", ">=4.10.0,<5.1.0", True),
        ("5.1.0", ">=4.10.0,<5.1.0", False),
        ("13.3.0", "==13", True),
        ("14.1", "==13", False),
        ("13.3.0", "!=13", False),
        ("5.1.0", "5.1.0", True),
        ("4.5.4", "*", True),
        ("12.4", "<=12.4", True),
        ("12.4.1", ">12.4", True),
    ],
)
def test_ranges(version: str, spec: str, result: bool) -> None:
    assert compat.matches(version, spec) is result


def good_table(**bad: Any) -> dict[str, Any]:
    row = {
        "id": "x",
        "cuda": ">=12.0",
        "opencv": "<4.7.0",
        "reason": "r",
        "issue": ["u"],
        "checked": True,
        "evidence": "e",
    }
    row.update(bad)
    return {"schema": 1, "releases": ["4.6.0", "4.7.0"], "bad": [row]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**good_table(), "extra": 1}, "unknown key 'extra'"),
        ({**good_table(), "schema": 2}, "schema must be 1"),
        ({**good_table(), "releases": ["4.7.0", "4.6.0"]}, "sorted oldest first"),
        (good_table(colour="red"), "unknown key 'colour'"),
        (good_table(cuda="twelve"), "cannot read 'twelve'"),
        (good_table(checked="yes"), "'checked' must be true or false"),
        (good_table(issue=3), "must be a string or a list of strings"),
        ({**good_table(), "bad": [good_table()["bad"][0], good_table()["bad"][0]]}, "duplicate bad id 'x'"),
    ],
)
def test_malformed_tables_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(compat.CompatTableError, match=message):
        compat.parse_table(data, Path("t.toml"))


def test_missing_required_key() -> None:
    data = good_table()
    del data["bad"][0]["reason"]
    with pytest.raises(compat.CompatTableError, match="missing key 'reason'"):
        compat.parse_table(data, Path("t.toml"))


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "compat.toml"
    bad.write_text("schema = [")
    with pytest.raises(compat.CompatTableError, match="cannot read the compatibility table"):
        compat.load_table(bad)
