"""``bench alloc``: allocations per second of per-frame Mats per allocator; validation, pool target, table.

The C++ tool measures (create + release of one CV_8UC1 or CV_8UC3 Mat of a frame size, per allocator); this
module checks the document's shape (docs/benchmarks.md), derives pooled/unpooled ratios and renders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rich.table import Table

from cvcuda_setup.bench.common import BenchError, FrameSize

SCHEMA = "cvcuda-setup/bench-alloc/1"
ALLOCATORS = ("plugin_pooled", "plugin_unpooled", "opencv_shared", "cpu_default")
POOL_SPEEDUP_GOAL = 100.0
#: The pool target is judged at frames of at least this many pixels (4K).
TARGET_PIXELS = 3840 * 2160


def tool_args(sizes: Sequence[FrameSize], *, iterations: int, max_seconds: float, device: int) -> list[str]:
    return [
        "alloc",
        "--sizes",
        ",".join(s.text for s in sizes),
        "--iterations",
        str(iterations),
        "--max-seconds",
        repr(float(max_seconds)),
        "--device",
        str(device),
    ]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate(doc: Mapping[str, Any]) -> None:
    """Raise ``BenchError`` naming the first field that does not have the documented shape."""
    if doc.get("schema") != SCHEMA:
        raise BenchError(f"benchmark JSON: schema is {doc.get('schema')!r}, expected {SCHEMA!r}")
    results = doc.get("results")
    if not isinstance(results, list) or not results:
        raise BenchError("benchmark JSON: results is missing or empty")
    for i, entry in enumerate(results):
        where = f"results[{i}]"
        if not isinstance(entry, dict):
            raise BenchError(f"benchmark JSON: {where} is not an object")
        for key, check in (("size", str), ("type", str)):
            if not isinstance(entry.get(key), check):
                raise BenchError(f"benchmark JSON: {where}.{key} is missing or not a string")
        for key in ("width", "height", "bytes"):
            if not _is_number(entry.get(key)):
                raise BenchError(f"benchmark JSON: {where}.{key} is missing or not a number")
        allocators = entry.get("allocators")
        if not isinstance(allocators, dict) or not allocators:
            raise BenchError(f"benchmark JSON: {where}.allocators is missing or empty")
        for name, data in allocators.items():
            awhere = f"{where}.allocators.{name}"
            if not isinstance(data, dict):
                raise BenchError(f"benchmark JSON: {awhere} is not an object")
            for key in ("iterations", "seconds", "per_second", "mean_us"):
                if not _is_number(data.get(key)):
                    raise BenchError(f"benchmark JSON: {awhere}.{key} is missing or not a number")


@dataclass(frozen=True)
class PoolCheck:
    size: str
    type: str
    pooled_per_second: float
    unpooled_per_second: float
    ratio: float | None
    goal: str
    met: bool | None


def _rate(entry: Mapping[str, Any], name: str) -> float | None:
    data = entry["allocators"].get(name)
    return float(data["per_second"]) if isinstance(data, dict) else None


def pool_checks(doc: Mapping[str, Any]) -> list[PoolCheck]:
    """Pooled vs unpooled plugin allocation at 4K (and larger) frames."""
    checks = []
    for entry in doc["results"]:
        if int(entry["width"]) * int(entry["height"]) < TARGET_PIXELS:
            continue
        pooled = _rate(entry, "plugin_pooled")
        unpooled = _rate(entry, "plugin_unpooled")
        if pooled is None or unpooled is None:
            continue
        ratio = pooled / unpooled if unpooled > 0 else None
        checks.append(
            PoolCheck(
                size=entry["size"],
                type=entry["type"],
                pooled_per_second=pooled,
                unpooled_per_second=unpooled,
                ratio=ratio,
                goal=f">= {POOL_SPEEDUP_GOAL:.0f}x",
                met=None if ratio is None else ratio >= POOL_SPEEDUP_GOAL,
            )
        )
    return checks


def summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"pool_targets": [asdict(c) for c in pool_checks(doc)]}


def _fmt_rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f} M/s"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k/s"
    return f"{value:.1f} /s"


def table(doc: Mapping[str, Any]) -> Table:
    """Allocator x (size, type): allocations per second and the mean time of one create + release."""
    entries = doc["results"]
    t = Table(
        title="per-frame Mat create + release: allocations per second (mean time each)",
        caption="stopped early* = hit --max-seconds before --iterations",
    )
    t.add_column("allocator")
    for e in entries:
        t.add_column(f"{e['size']}\n{e['type']}", justify="right")
    names = [n for n in ALLOCATORS if any(n in e["allocators"] for e in entries)]
    names += sorted({n for e in entries for n in e["allocators"]} - set(names))
    for name in names:
        cells = []
        for e in entries:
            data = e["allocators"].get(name)
            if not isinstance(data, dict):
                cells.append("-")
                continue
            star = "*" if data.get("stopped_early") else ""
            cells.append(f"{_fmt_rate(float(data['per_second']))}{star}\n{float(data['mean_us']):.1f} us")
        t.add_row(name, *cells)
    return t


def pool_table(checks: Sequence[PoolCheck]) -> Table:
    t = Table(title="target: pooled mapped allocation of a 4K frame vs unpooled")
    for column in ("size", "type", "pooled/unpooled", "goal", "status"):
        t.add_column(column)
    for c in checks:
        status = "n/a" if c.met is None else ("met" if c.met else "NOT met")
        ratio = "-" if c.ratio is None else f"{c.ratio:.0f}x"
        t.add_row(c.size, c.type, ratio, c.goal, status)
    return t
