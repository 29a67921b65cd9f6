"""``bench pipeline``: the blur + Canny pipeline per strategy and size; validation, targets, the table.

The C++ tool measures; this module checks the document has the documented shape (docs/benchmarks.md),
derives the speed-ups and the target checks, and renders. Nothing here touches a GPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rich.table import Table

from cvcuda_setup.bench.common import BenchError, FrameSize

SCHEMA = "cvcuda-setup/bench-pipeline/1"
#: Every strategy, in report order.
STRATEGIES = ("zerocopy", "banded", "pipelined", "pinned", "pageable", "device", "cpu")
#: Strategies whose output must equal the plain zero-copy path's (the CPU pipeline is a different algorithm).
MUST_MATCH = ("banded", "pipelined", "pinned", "pageable", "device")
BASELINE = "pageable"
#: "4K and 8K": sizes of at least 3840x2160 pixels.
LARGE_PIXELS = 3840 * 2160

ZEROCOPY_SPEEDUP_GOAL = 1.8
BANDED_FLOOR_FACTOR = 1.3

_STAT_KEYS = ("median_ms", "p10_ms", "p90_ms", "min_ms", "max_ms")


def parse_strategies(text: str | None) -> tuple[str, ...]:
    """``--strategies`` value -> names (all when empty); unknown names are a usage error."""
    from cvcuda_setup.errors import UsageError

    if not text:
        return STRATEGIES
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise UsageError(
            f"--strategies: unknown {', '.join(unknown)}", hint=f"known: {', '.join(STRATEGIES)}"
        )
    if not names:
        raise UsageError("--strategies is empty", hint=f"known: {', '.join(STRATEGIES)}")
    return names


def tool_args(
    sizes: Sequence[FrameSize],
    *,
    repeat: int,
    warmup: int,
    device: int,
    bands: int,
    streams: int,
    strategies: Sequence[str],
    copy_blocks_per_sm: int = 2,
) -> list[str]:
    """The C++ tool's argument list for one pipeline run."""
    return [
        "pipeline",
        "--sizes",
        ",".join(s.text for s in sizes),
        "--repeat",
        str(repeat),
        "--warmup",
        str(warmup),
        "--device",
        str(device),
        "--bands",
        str(bands),
        "--streams",
        str(streams),
        "--copy-blocks-per-sm",
        str(copy_blocks_per_sm),
        "--strategies",
        ",".join(strategies),
    ]


def _require(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise BenchError(f"benchmark JSON: {where} has no {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float, (int, float))):
        raise BenchError(f"benchmark JSON: {where}.{key} is {type(value).__name__}, not the documented type")
    return value


def _number_or_null(obj: Mapping[str, Any], key: str, where: str) -> None:
    if key not in obj:
        raise BenchError(f"benchmark JSON: {where} has no {key!r}")
    value = obj[key]
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise BenchError(f"benchmark JSON: {where}.{key} is {type(value).__name__}, not a number or null")


def validate(doc: Mapping[str, Any]) -> None:
    """Raise ``BenchError`` naming the first field that does not have the documented shape."""
    if doc.get("schema") != SCHEMA:
        raise BenchError(f"benchmark JSON: schema is {doc.get('schema')!r}, expected {SCHEMA!r}")
    _require(doc, "device", dict, "document")
    bandwidth = _require(doc, "bandwidth", dict, "document")
    for key in ("h2d_gbps", "d2h_gbps"):
        _require(bandwidth, key, (int, float), "bandwidth")
    params = _require(doc, "params", dict, "document")
    _require(params, "repeat", int, "params")
    results = _require(doc, "results", list, "document")
    if not results:
        raise BenchError("benchmark JSON: results is empty")
    for i, entry in enumerate(results):
        where = f"results[{i}]"
        if not isinstance(entry, dict):
            raise BenchError(f"benchmark JSON: {where} is not an object")
        _require(entry, "size", str, where)
        _require(entry, "megapixels", (int, float), where)
        _require(entry, "floor_ms", (int, float), where)
        strategies = _require(entry, "strategies", dict, where)
        if not strategies:
            raise BenchError(f"benchmark JSON: {where}.strategies is empty")
        for name, data in strategies.items():
            swhere = f"{where}.strategies.{name}"
            if not isinstance(data, dict):
                raise BenchError(f"benchmark JSON: {swhere} is not an object")
            timer = _require(data, "timer", str, swhere)
            if timer not in ("cuda_event", "wall"):
                raise BenchError(f"benchmark JSON: {swhere}.timer is {timer!r}, not cuda_event or wall")
            _require(data, "runs", int, swhere)
            for key in _STAT_KEYS:
                _number_or_null(data, key, swhere)
            _number_or_null(data, "mismatched_pixels", swhere)


@dataclass(frozen=True)
class Timing:
    strategy: str
    timer: str
    median_ms: float | None
    p10_ms: float | None
    p90_ms: float | None
    mismatched_pixels: int | None
    blur_mismatched_pixels: int | None
    #: pipelined: pixels where its two alternating output buffers differ (the same input went into both).
    slot_mismatched_pixels: int | None = None


@dataclass(frozen=True)
class SizeResult:
    size: str
    megapixels: float
    pixels: int
    floor_ms: float
    timings: dict[str, Timing]

    def median(self, strategy: str) -> float | None:
        t = self.timings.get(strategy)
        return t.median_ms if t is not None else None


@dataclass(frozen=True)
class TargetCheck:
    """One goal of the issue, at one size: what was measured against what was asked."""

    target: str
    size: str
    measured: float | None
    goal: str
    #: None when it cannot be judged (a strategy was not run).
    met: bool | None
    detail: str = ""


def results(doc: Mapping[str, Any]) -> list[SizeResult]:
    out = []
    for entry in doc["results"]:
        timings = {
            name: Timing(
                strategy=name,
                timer=data["timer"],
                median_ms=data.get("median_ms"),
                p10_ms=data.get("p10_ms"),
                p90_ms=data.get("p90_ms"),
                mismatched_pixels=data.get("mismatched_pixels"),
                blur_mismatched_pixels=data.get("blur_mismatched_pixels"),
                slot_mismatched_pixels=(data.get("config") or {}).get("slot_mismatched_pixels"),
            )
            for name, data in entry["strategies"].items()
        }
        width, height = entry.get("width"), entry.get("height")
        pixels = int(width * height) if isinstance(width, int) and isinstance(height, int) else 0
        if not pixels:
            pixels = round(float(entry["megapixels"]) * 1e6)
        out.append(
            SizeResult(entry["size"], float(entry["megapixels"]), pixels, float(entry["floor_ms"]), timings)
        )
    return out


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def speedups(doc: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """``{size: {strategy: pageable median / strategy median}}`` (None without a pageable run)."""
    return {
        r.size: {name: _ratio(r.median(BASELINE), t.median_ms) for name, t in r.timings.items()}
        for r in results(doc)
    }


def targets(doc: Mapping[str, Any]) -> list[TargetCheck]:
    """The issue's goals, judged on this document."""
    checks: list[TargetCheck] = []
    for r in results(doc):
        speedup = _ratio(r.median(BASELINE), r.median("zerocopy"))
        checks.append(
            TargetCheck(
                target="zerocopy vs pageable",
                size=r.size,
                measured=speedup,
                goal=f">= {ZEROCOPY_SPEEDUP_GOAL}x faster",
                met=None if speedup is None else speedup >= ZEROCOPY_SPEEDUP_GOAL,
            )
        )
        banded = r.timings.get("banded")
        if banded is not None and "zerocopy" in r.timings:
            bad = banded.mismatched_pixels
            blur_bad = banded.blur_mismatched_pixels
            ok = bad == 0 and (blur_bad is None or blur_bad == 0)
            checks.append(
                TargetCheck(
                    target="banded output == zerocopy output",
                    size=r.size,
                    measured=float(bad) if bad is not None else None,
                    goal="0 mismatched pixels (edges and blur)",
                    met=None if bad is None else ok,
                    detail=f"edges {bad}, blur {blur_bad}",
                )
            )
        if r.pixels < LARGE_PIXELS:
            continue
        vs_pinned = _ratio(r.median("pinned"), r.median("banded"))
        checks.append(
            TargetCheck(
                target="banded vs pinned",
                size=r.size,
                measured=vs_pinned,
                goal="faster (> 1.0x)",
                met=None if vs_pinned is None else vs_pinned > 1.0,
            )
        )
        device = r.median("device")
        bound = max(device, r.floor_ms) if device is not None else None
        for name in ("banded", "pipelined"):
            if name not in r.timings:
                continue
            factor = _ratio(r.median(name), bound)
            checks.append(
                TargetCheck(
                    target=f"{name} vs max(device, copy floor)",
                    size=r.size,
                    measured=factor,
                    goal=f"<= {BANDED_FLOOR_FACTOR}x",
                    met=None if factor is None else factor <= BANDED_FLOOR_FACTOR,
                    detail=f"bound {bound:.3f} ms" if bound is not None else "",
                )
            )
    return checks


def mismatch_failures(doc: Mapping[str, Any]) -> list[str]:
    """GPU strategies whose edges (or banded's blur) differ from the zero-copy path: a correctness failure."""
    failures = []
    for r in results(doc):
        for name in MUST_MATCH:
            t = r.timings.get(name)
            if t is None:
                continue
            if t.mismatched_pixels:
                failures.append(
                    f"{name} edges differ from zerocopy in {t.mismatched_pixels} pixels at {r.size}"
                )
            if t.slot_mismatched_pixels:
                failures.append(
                    f"{name}: its two buffer slots hold different edges ({t.slot_mismatched_pixels} pixels) "
                    f"at {r.size}"
                )
            if t.blur_mismatched_pixels:
                failures.append(
                    f"{name} blur differs from the full-frame blur in {t.blur_mismatched_pixels} pixels "
                    f"at {r.size}"
                )
    return failures


def summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What ``--json`` adds to the tool's document under ``"summary"``."""
    return {
        "speedup_vs_pageable": speedups(doc),
        "targets": [asdict(c) for c in targets(doc)],
        "mismatch_failures": mismatch_failures(doc),
    }


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 100 else f"{value:.1f}"


def table(doc: Mapping[str, Any]) -> Table:
    """Strategy x size: median ms per frame, p10-p90, speed-up vs pageable; the copy floor as a last row."""
    rs = results(doc)
    repeat = doc["params"]["repeat"]
    t = Table(
        title=f"blur 5x5 + Canny per frame: median of {repeat} (p10-p90), speed-up vs {BASELINE}",
        caption="GPU strategies timed with CUDA events, cpu with the wall clock; "
        "floor = bytes in/H2D + out/D2H "
        f"at {doc['bandwidth']['h2d_gbps']:.1f}/{doc['bandwidth']['d2h_gbps']:.1f} GB/s",
    )
    t.add_column("strategy")
    for r in rs:
        t.add_column(f"{r.size}\n{r.megapixels:.1f} MP", justify="right")
    present = [n for n in STRATEGIES if any(n in r.timings for r in rs)]
    present += sorted({n for r in rs for n in r.timings} - set(present))
    for name in present:
        cells = []
        for r in rs:
            timing = r.timings.get(name)
            if timing is None or timing.median_ms is None:
                cells.append("-")
                continue
            speed = _ratio(r.median(BASELINE), timing.median_ms)
            line1 = f"{_fmt_ms(timing.median_ms)} ms" + (f"  x{speed:.2f}" if speed is not None else "")
            line2 = f"{_fmt_ms(timing.p10_ms)}-{_fmt_ms(timing.p90_ms)}"
            if name in MUST_MATCH and timing.mismatched_pixels:
                line2 += f"  MISMATCH {timing.mismatched_pixels}"
            cells.append(f"{line1}\n{line2}")
        t.add_row(name, *cells)
    t.add_row("floor (copy)", *[f"{_fmt_ms(r.floor_ms)} ms" for r in rs])
    return t


def targets_table(checks: Sequence[TargetCheck]) -> Table:
    t = Table(title="targets")
    for column in ("target", "size", "measured", "goal", "status"):
        t.add_column(column, justify="right" if column == "measured" else "left")
    for c in checks:
        if c.measured is None:
            measured = "-"
        elif c.target.startswith("banded output"):
            measured = f"{int(c.measured)}"
        else:
            measured = f"{c.measured:.2f}x"
        status = "n/a" if c.met is None else ("met" if c.met else "NOT met")
        t.add_row(c.target, c.size, measured, c.goal + (f" ({c.detail})" if c.detail else ""), status)
    return t
