"""sccache's counters: ``sccache --show-stats --stats-format json`` read into :class:`Stats`, and what one
build did (the difference of two readings)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cvcuda_setup.errors import ToolchainError


def _count(value: Any) -> int:
    """A stats counter: a plain number, or a per-language ``{"counts": {...}}`` map summed."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, Mapping):
        counts = value.get("counts", value)
        if isinstance(counts, Mapping):
            return sum(int(v) for v in counts.values() if isinstance(v, int | float))
    return 0


@dataclass(frozen=True)
class Stats:
    """sccache's counters (``--show-stats --stats-format json``), summed over languages."""

    compile_requests: int
    executed: int
    hits: int
    misses: int
    errors: int
    not_cacheable: int
    compile_fails: int
    cache_location: str = ""
    version: str = ""
    basedirs: tuple[str, ...] = ()
    #: Hits and misses per language, e.g. ``{"C/C++": (812, 3), "CUDA": (40, 0)}``.
    per_language: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float | None:
        """Hits / (hits + misses); None when nothing was looked up."""
        total = self.hits + self.misses
        return self.hits / total if total else None

    def minus(self, before: Stats) -> Stats:
        """The counts since ``before`` was read from the same server (what one build did)."""
        langs = set(self.per_language) | set(before.per_language)
        return Stats(
            compile_requests=self.compile_requests - before.compile_requests,
            executed=self.executed - before.executed,
            hits=self.hits - before.hits,
            misses=self.misses - before.misses,
            errors=self.errors - before.errors,
            not_cacheable=self.not_cacheable - before.not_cacheable,
            compile_fails=self.compile_fails - before.compile_fails,
            cache_location=self.cache_location,
            version=self.version,
            basedirs=self.basedirs,
            per_language={
                lang: (
                    self.per_language.get(lang, (0, 0))[0] - before.per_language.get(lang, (0, 0))[0],
                    self.per_language.get(lang, (0, 0))[1] - before.per_language.get(lang, (0, 0))[1],
                )
                for lang in sorted(langs)
            },
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "compile_requests": self.compile_requests,
            "executed": self.executed,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hit_rate,
            "errors": self.errors,
            "not_cacheable": self.not_cacheable,
            "compile_fails": self.compile_fails,
            "cache_location": self.cache_location,
            "version": self.version,
            "basedirs": list(self.basedirs),
            "per_language": {k: {"hits": h, "misses": m} for k, (h, m) in self.per_language.items()},
        }

    def summary_line(self) -> str:
        rate = "n/a" if self.hit_rate is None else f"{100 * self.hit_rate:.1f}%"
        return (
            f"sccache: {self.hits} hits, {self.misses} misses ({rate} hit rate), {self.errors} errors, "
            f"{self.not_cacheable} not cacheable; cache: {self.cache_location or 'unknown'}"
        )


def parse_stats(text: str) -> Stats:
    """``sccache --show-stats --stats-format json`` output -> :class:`Stats`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ToolchainError(
            "sccache --show-stats --stats-format json did not print JSON",
            hint="sccache 0.7 or newer is needed",
        ) from None
    stats = data.get("stats") if isinstance(data, Mapping) else None
    if not isinstance(stats, Mapping):
        raise ToolchainError(
            "sccache's stats JSON has no 'stats' object", hint="sccache 0.7 or newer is needed"
        )
    hits = stats.get("cache_hits", {})
    misses = stats.get("cache_misses", {})
    hit_counts = hits.get("counts", {}) if isinstance(hits, Mapping) else {}
    miss_counts = misses.get("counts", {}) if isinstance(misses, Mapping) else {}
    per_language = {
        str(lang): (int(hit_counts.get(lang, 0)), int(miss_counts.get(lang, 0)))
        for lang in sorted(set(hit_counts) | set(miss_counts))
    }
    errors = (
        _count(stats.get("cache_errors"))
        + _count(stats.get("cache_read_errors"))
        + _count(stats.get("cache_write_errors"))
        + _count(stats.get("cache_timeouts"))
    )
    return Stats(
        compile_requests=_count(stats.get("compile_requests")),
        executed=_count(stats.get("requests_executed")),
        hits=_count(hits),
        misses=_count(misses),
        errors=errors,
        not_cacheable=_count(stats.get("requests_not_cacheable"))
        + _count(stats.get("non_cacheable_compilations")),
        compile_fails=_count(stats.get("compile_fails")),
        cache_location=str(data.get("cache_location") or ""),
        version=str(data.get("version") or ""),
        basedirs=tuple(str(b) for b in data.get("basedirs") or ()),
        per_language=per_language,
    )
