"""``bench pipeline``'s Python side on documents of the documented shape: validation, speed-ups, targets.

The documents are written here the way docs/benchmarks.md describes the C++ tool's output; nothing is run.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rich.console import Console

from cvcuda_setup.bench import pipeline as pb
from cvcuda_setup.bench.common import BenchError, FrameSize, parse_sizes
from cvcuda_setup.errors import UsageError

SIZES = {"640x480": (640, 480), "3840x2160": (3840, 2160), "7680x4320": (7680, 4320)}

#: The first prototype's 4K figures (H100) from the issue, scaled by pixel count for the other sizes.
FOUR_K = {
    "zerocopy": 0.88,
    "pinned": 0.74,
    "pageable": 1.63,
    "device": 0.42,
    "cpu": 8.6,
    "banded": 0.60,
    "pipelined": 0.45,
}


def _strategy(
    median: float, *, timer: str = "cuda_event", mismatched: int | None = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "timer": timer,
        "runs": 50,
        "median_ms": median,
        "p10_ms": median * 0.95,
        "p90_ms": median * 1.08,
        "min_ms": median * 0.9,
        "max_ms": median * 1.3,
        "mean_ms": median * 1.01,
        "wall_median_ms": median * 1.05,
        "wall_p10_ms": median,
        "wall_p90_ms": median * 1.1,
        "config": {},
        "mismatched_pixels": mismatched,
        "edge_pixels": 12345,
        **extra,
    }


def sample_doc(medians: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """A document of the documented shape; ``medians[size][strategy]`` overrides the scaled issue figures."""
    results = []
    for size, (w, h) in SIZES.items():
        scale = (w * h) / (3840 * 2160)
        strategies = {}
        for name, ms in FOUR_K.items():
            median = (medians or {}).get(size, {}).get(name, ms * scale)
            extra: dict[str, Any] = {}
            if name == "banded":
                extra["blur_mismatched_pixels"] = 0
            if name == "pipelined":
                extra["config"] = {"frames_per_run": 8, "slot_mismatched_pixels": 0}
            strategies[name] = _strategy(
                median, timer="wall" if name == "cpu" else "cuda_event", mismatched=0, **extra
            )
        strategies["cpu"]["mismatched_pixels"] = 811  # a different algorithm: informational only
        results.append(
            {
                "size": size,
                "width": w,
                "height": h,
                "megapixels": w * h / 1e6,
                "bytes_in": w * h,
                "bytes_out": w * h,
                "floor_ms": 0.33 * scale,
                "strategies": strategies,
            }
        )
    return {
        "schema": pb.SCHEMA,
        "device": {"index": 0, "name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"},
        "opencv_version": "5.1.0",
        "plugin": "cvcuda_zerocopy 0.1.0",
        "params": {"repeat": 50, "warmup": 5, "bands": 4, "streams": 2, "reference": "zerocopy"},
        "bandwidth": {"bytes": 268435456, "h2d_gbps": 50.2, "d2h_gbps": 49.8},
        "results": results,
    }


def _render(table: Any) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


def test_sample_document_is_valid() -> None:
    pb.validate(sample_doc())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema="other/1"), "schema"),
        (lambda d: d.pop("bandwidth"), "'bandwidth'"),
        (lambda d: d["results"].clear(), "results is empty"),
        (lambda d: d["results"][1].pop("floor_ms"), "results[1] has no 'floor_ms'"),
        (
            lambda d: d["results"][0]["strategies"]["banded"].pop("median_ms"),
            "strategies.banded has no 'median_ms'",
        ),
        (
            lambda d: d["results"][0]["strategies"]["pinned"].update(median_ms="fast"),
            "pinned.median_ms is str",
        ),
        (
            lambda d: d["results"][0]["strategies"]["cpu"].update(timer="stopwatch"),
            "cpu.timer is 'stopwatch'",
        ),
        (lambda d: d["results"][2]["strategies"]["device"].update(runs=True), "device.runs is bool"),
    ],
)
def test_validate_names_the_bad_field(mutate: Any, message: str) -> None:
    doc = sample_doc()
    mutate(doc)
    with pytest.raises(BenchError, match=None) as info:
        pb.validate(doc)
    assert message in str(info.value)


def test_null_statistics_are_accepted() -> None:
    doc = sample_doc()
    doc["results"][0]["strategies"]["pinned"]["mismatched_pixels"] = None
    pb.validate(doc)


def test_speedups_are_pageable_over_strategy() -> None:
    sp = pb.speedups(sample_doc())
    assert sp["3840x2160"]["zerocopy"] == pytest.approx(1.63 / 0.88)
    assert sp["3840x2160"]["pageable"] == pytest.approx(1.0)
    assert sp["3840x2160"]["cpu"] == pytest.approx(1.63 / 8.6)


def _checks(doc: dict[str, Any], target: str) -> dict[str, pb.TargetCheck]:
    return {c.size: c for c in pb.targets(doc) if c.target == target}


def test_zerocopy_target_is_judged_at_every_size() -> None:
    doc = sample_doc({"640x480": {"zerocopy": 0.02, "pageable": 0.05}})
    checks = _checks(doc, "zerocopy vs pageable")
    assert set(checks) == set(SIZES)
    assert checks["640x480"].met is True  # 2.5x
    assert checks["3840x2160"].met is True  # 1.63 / 0.88 = 1.85x
    doc = sample_doc({"3840x2160": {"zerocopy": 1.0}})
    assert _checks(doc, "zerocopy vs pageable")["3840x2160"].met is False  # 1.63x


def test_banded_targets_only_at_4k_and_up() -> None:
    doc = sample_doc({"7680x4320": {"banded": 3.2, "pinned": 2.96}})
    vs_pinned = _checks(doc, "banded vs pinned")
    assert set(vs_pinned) == {"3840x2160", "7680x4320"}
    assert vs_pinned["3840x2160"].met is True  # 0.60 < 0.74
    assert vs_pinned["7680x4320"].met is False  # 3.2 > 2.96
    floor = _checks(doc, "banded vs max(device, copy floor)")
    # 4K: bound = max(0.42, 0.33) = 0.42; 0.60 / 0.42 = 1.43 > 1.3
    assert floor["3840x2160"].measured == pytest.approx(0.60 / 0.42)
    assert floor["3840x2160"].met is False


def test_banded_bound_uses_the_floor_when_it_is_larger() -> None:
    doc = sample_doc({"3840x2160": {"device": 0.2, "banded": 0.4}})
    check = _checks(doc, "banded vs max(device, copy floor)")["3840x2160"]
    assert check.measured == pytest.approx(0.4 / 0.33)
    assert check.met is True


def test_missing_strategy_gives_unjudged_targets() -> None:
    doc = sample_doc()
    for entry in doc["results"]:
        del entry["strategies"]["pageable"]
    checks = _checks(doc, "zerocopy vs pageable")
    assert all(c.met is None and c.measured is None for c in checks.values())


def test_mismatches_of_gpu_strategies_are_failures_but_cpu_differences_are_not() -> None:
    doc = sample_doc()
    assert pb.mismatch_failures(doc) == []
    bad = copy.deepcopy(doc)
    bad["results"][1]["strategies"]["banded"]["mismatched_pixels"] = 7
    bad["results"][2]["strategies"]["banded"]["blur_mismatched_pixels"] = 3
    failures = pb.mismatch_failures(bad)
    assert failures == [
        "banded edges differ from zerocopy in 7 pixels at 3840x2160",
        "banded blur differs from the full-frame blur in 3 pixels at 7680x4320",
    ]
    check = _checks(bad, "banded output == zerocopy output")
    assert check["3840x2160"].met is False
    assert check["640x480"].met is True


def test_pipelined_slot_mismatch_is_a_failure() -> None:
    doc = sample_doc()
    doc["results"][0]["strategies"]["pipelined"]["config"]["slot_mismatched_pixels"] = 5
    assert pb.mismatch_failures(doc) == [
        "pipelined: its two buffer slots hold different edges (5 pixels) at 640x480"
    ]
    check = _checks(doc, "pipelined vs max(device, copy floor)")["3840x2160"]
    assert check.measured == pytest.approx(0.45 / 0.42) and check.met is True


def test_summary_has_speedups_targets_and_failures() -> None:
    summary = pb.summary(sample_doc())
    assert set(summary) == {"speedup_vs_pageable", "targets", "mismatch_failures"}
    assert {t["target"] for t in summary["targets"]} == {
        "zerocopy vs pageable",
        "banded output == zerocopy output",
        "banded vs pinned",
        "banded vs max(device, copy floor)",
        "pipelined vs max(device, copy floor)",
    }


def test_table_shows_every_strategy_size_and_floor() -> None:
    text = _render(pb.table(sample_doc()))
    for name in pb.STRATEGIES:
        assert name in text
    assert "3840x2160" in text and "7680x4320" in text
    assert "0.880 ms  x1.85" in text  # zerocopy at 4K with its speed-up
    assert "0.836-0.950" in text  # its p10-p90
    assert "floor (copy)" in text and "0.330 ms" in text
    assert "50.2/49.8 GB/s" in text


def test_table_marks_mismatches() -> None:
    doc = sample_doc()
    doc["results"][0]["strategies"]["pinned"]["mismatched_pixels"] = 12
    assert "MISMATCH 12" in _render(pb.table(doc))


def test_targets_table_renders_status() -> None:
    doc = sample_doc({"3840x2160": {"zerocopy": 1.0}})
    text = _render(pb.targets_table(pb.targets(doc)))
    assert "NOT met" in text and "met" in text
    assert "1.63x" in text


def test_parse_strategies() -> None:
    assert pb.parse_strategies(None) == pb.STRATEGIES
    assert pb.parse_strategies("banded, zerocopy,banded") == ("banded", "zerocopy")
    with pytest.raises(UsageError, match="unknown turbo"):
        pb.parse_strategies("zerocopy,turbo")


def test_tool_args() -> None:
    args = pb.tool_args(
        [FrameSize(640, 480), FrameSize(3840, 2160)],
        repeat=20,
        warmup=3,
        device=1,
        bands=8,
        streams=3,
        strategies=("zerocopy", "banded"),
        copy_blocks_per_sm=1,
    )
    assert args == [
        "pipeline",
        "--sizes",
        "640x480,3840x2160",
        "--repeat",
        "20",
        "--warmup",
        "3",
        "--device",
        "1",
        "--bands",
        "8",
        "--streams",
        "3",
        "--copy-blocks-per-sm",
        "1",
        "--strategies",
        "zerocopy,banded",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("640x", "is not WIDTHxHEIGHT"),
        ("8x8", "must be 16..32767"),
        ("640x480,640x480", "twice"),
        (" , ", "is empty"),
    ],
)
def test_parse_sizes_rejects(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_sizes(text)


def test_parse_sizes() -> None:
    assert parse_sizes("640x480, 7680X4320") == (FrameSize(640, 480), FrameSize(7680, 4320))
    assert FrameSize(3840, 2160).megapixels == pytest.approx(8.2944)


def test_plot_writes_a_png(tmp_path: Any) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is optional (pip install matplotlib)")
    from cvcuda_setup.bench.plot import plot_pipeline

    out = plot_pipeline(sample_doc(), tmp_path / "plots" / "pipeline.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
