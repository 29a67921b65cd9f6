"""``bench alloc``'s Python side on documents in the documented shape: validation, pool target, table."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from cvcuda_setup.bench import alloc as ab
from cvcuda_setup.bench.common import BenchError, FrameSize


def _alloc(per_second: float, *, iterations: int = 200, early: bool = False) -> dict[str, Any]:
    seconds = iterations / per_second
    return {
        "what": "x",
        "iterations": iterations,
        "seconds": seconds,
        "per_second": per_second,
        "mean_us": seconds * 1e6 / iterations,
        "mapped": True,
        "stopped_early": early,
    }


def sample_doc(pooled_4k: float = 400_000.0, unpooled_4k: float = 250.0) -> dict[str, Any]:
    results = []
    for w, h in ((1920, 1080), (3840, 2160)):
        for type_name, channels in (("CV_8UC1", 1), ("CV_8UC3", 3)):
            big = w == 3840
            results.append(
                {
                    "size": f"{w}x{h}",
                    "width": w,
                    "height": h,
                    "type": type_name,
                    "bytes": w * h * channels,
                    "allocators": {
                        "plugin_pooled": _alloc(pooled_4k if big else 900_000.0),
                        "plugin_unpooled": _alloc(unpooled_4k if big else 700.0, iterations=30, early=True),
                        "opencv_shared": _alloc(240.0, iterations=30, early=True),
                        "cpu_default": _alloc(2_000_000.0),
                    },
                }
            )
    return {
        "schema": ab.SCHEMA,
        "device": {"name": "NVIDIA H100"},
        "params": {"iterations": 200, "max_seconds": 3.0},
        "results": results,
    }


def test_sample_is_valid() -> None:
    ab.validate(sample_doc())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema="x"), "schema"),
        (lambda d: d.update(results=[]), "results is missing or empty"),
        (lambda d: d["results"][0].pop("type"), "results[0].type"),
        (lambda d: d["results"][1].update(bytes="many"), "results[1].bytes"),
        (lambda d: d["results"][2]["allocators"]["cpu_default"].pop("per_second"), "cpu_default.per_second"),
        (lambda d: d["results"][3].update(allocators={}), "results[3].allocators"),
    ],
)
def test_validate_names_the_bad_field(mutate: Any, message: str) -> None:
    doc = sample_doc()
    mutate(doc)
    with pytest.raises(BenchError) as info:
        ab.validate(doc)
    assert message in str(info.value)


def test_pool_target_only_at_4k() -> None:
    checks = ab.pool_checks(sample_doc())
    assert [(c.size, c.type) for c in checks] == [("3840x2160", "CV_8UC1"), ("3840x2160", "CV_8UC3")]
    assert checks[0].ratio == pytest.approx(1600.0)
    assert all(c.met for c in checks)


def test_pool_target_not_met() -> None:
    checks = ab.pool_checks(sample_doc(pooled_4k=10_000.0, unpooled_4k=250.0))
    assert checks[0].ratio == pytest.approx(40.0)
    assert checks[0].met is False


def test_table_and_pool_table() -> None:
    doc = sample_doc()
    console = Console(record=True, width=200)
    console.print(ab.table(doc))
    console.print(ab.pool_table(ab.pool_checks(doc)))
    text = console.export_text()
    for name in ab.ALLOCATORS:
        assert name in text
    assert "400.0 k/s" in text and "2.5 us" in text  # pooled 4K: rate and mean time
    assert "250.0 /s*" in text  # unpooled stopped early by --max-seconds
    assert "1600x" in text and "met" in text


def test_tool_args() -> None:
    args = ab.tool_args([FrameSize(3840, 2160)], iterations=500, max_seconds=1.5, device=0)
    assert args == [
        "alloc",
        "--sizes",
        "3840x2160",
        "--iterations",
        "500",
        "--max-seconds",
        "1.5",
        "--device",
        "0",
    ]
