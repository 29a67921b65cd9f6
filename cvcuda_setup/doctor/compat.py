"""The OpenCV x CUDA compatibility table (``compat.toml``): load it, match a combination, recommend a release.

The table is data: each known-bad combination carries its reason, the upstream issue, the upstream fix and
whether it was checked; known-good ones carry their evidence. ``check`` is pure.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

COMPAT_FILE = Path(__file__).with_name("compat.toml")

_CLAUSE = re.compile(r"^(<=|>=|==|!=|<|>)?\s*(\d+(?:\.\d+){0,2})$")


class CompatTableError(ValueError):
    """The table itself is malformed (a bug in the shipped data, or in a user's replacement file)."""


def parse_version(text: str) -> tuple[int, ...]:
    """``"4.10.0"`` -> ``(4, 10, 0)``; anything past three parts (``"-dev"``, ``".95"``) is dropped."""
    parts = re.findall(r"\d+", text)[:3]
    if not parts:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(p) for p in parts)


def _check_spec(spec: str, where: str) -> str:
    spec = spec.strip()
    if spec in ("", "*"):
        return spec
    for clause in spec.split(","):
        if not _CLAUSE.match(clause.strip()):
            raise CompatTableError(f"{where}: cannot read {clause.strip()!r} in range {spec!r}")
    return spec


def matches(version: str | tuple[int, ...], spec: str) -> bool:
    """Whether ``version`` satisfies every clause of ``spec`` (see compat.toml's header for the syntax)."""
    spec = spec.strip()
    if spec in ("", "*"):
        return True
    have = parse_version(version) if isinstance(version, str) else version
    for clause in spec.split(","):
        match = _CLAUSE.match(clause.strip())
        if not match:
            raise CompatTableError(f"cannot read {clause.strip()!r} in range {spec!r}")
        op, want_text = match.group(1) or "==", match.group(2)
        want = parse_version(want_text)
        if op in ("==", "!="):
            equal = have[: len(want)] == want
            if equal != (op == "=="):
                return False
            continue
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        ok = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class Rule:
    """One row of the table: a combination (ranges), known bad or known good."""

    kind: str  # "bad" or "good"
    cuda: str
    opencv: str
    gcc: str | None
    contrib: bool | None
    checked: bool
    evidence: str
    id: str = ""
    reason: str = ""
    issue: tuple[str, ...] = ()
    upstream_fix: tuple[str, ...] = ()
    fixed_in: str = ""
    workaround: str = ""

    def applies(self, cuda: str, opencv: str, gcc: str | None, contrib: bool) -> bool:
        if self.contrib is True and not contrib:
            return False
        if self.gcc is not None and (gcc is None or not matches(gcc, self.gcc)):
            return False
        return matches(cuda, self.cuda) and matches(opencv, self.opencv)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "cuda": self.cuda,
            "opencv": self.opencv,
            "checked": self.checked,
            "evidence": self.evidence,
        }
        if self.gcc is not None:
            data["gcc"] = self.gcc
        if self.contrib is not None:
            data["contrib"] = self.contrib
        for key in ("reason", "fixed_in", "workaround"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.issue:
            data["issue"] = list(self.issue)
        if self.upstream_fix:
            data["upstream_fix"] = list(self.upstream_fix)
        return data


@dataclass(frozen=True)
class ArchFloor:
    cuda: str
    min: str
    reason: str
    checked: bool


@dataclass(frozen=True)
class CompatTable:
    releases: tuple[str, ...]
    bad: tuple[Rule, ...]
    good: tuple[Rule, ...]
    arch_floors: tuple[ArchFloor, ...] = ()
    path: Path = COMPAT_FILE

    def newest_cuda(self) -> tuple[int, ...]:
        """The newest CUDA version a row is about (upper bounds such as ``<14.0`` do not count)."""
        versions = []
        for rule in (*self.bad, *self.good):
            for clause in rule.cuda.split(","):
                match = _CLAUSE.match(clause.strip())
                if match and (match.group(1) or "==") in (">=", ">", "=="):
                    versions.append(parse_version(match.group(2)))
        return max(versions, default=(0,))


_BAD_KEYS = {
    "id",
    "cuda",
    "opencv",
    "gcc",
    "contrib",
    "reason",
    "issue",
    "upstream_fix",
    "fixed_in",
    "workaround",
    "checked",
    "evidence",
}
_GOOD_KEYS = {"cuda", "opencv", "gcc", "contrib", "checked", "evidence"}
_FLOOR_KEYS = {"cuda", "min", "reason", "checked", "evidence"}


def _strs(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise CompatTableError(f"{where}: must be a string or a list of strings")


def _rule(kind: str, row: Mapping[str, Any], where: str) -> Rule:
    allowed = _BAD_KEYS if kind == "bad" else _GOOD_KEYS
    unknown = sorted(set(row) - allowed)
    if unknown:
        raise CompatTableError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})")
    required = ["cuda", "opencv", "checked", "evidence"] + (
        ["id", "reason", "issue"] if kind == "bad" else []
    )
    for key in required:
        if key not in row:
            raise CompatTableError(f"{where}: missing key {key!r}")
    for key in ("cuda", "opencv", "gcc", "id", "reason", "fixed_in", "workaround", "evidence"):
        if key in row and not isinstance(row[key], str):
            raise CompatTableError(f"{where}: {key!r} must be a string")
    for key in ("checked", "contrib"):
        if key in row and not isinstance(row[key], bool):
            raise CompatTableError(f"{where}: {key!r} must be true or false")
    return Rule(
        kind=kind,
        id=row.get("id", ""),
        cuda=_check_spec(row["cuda"], f"{where}.cuda"),
        opencv=_check_spec(row["opencv"], f"{where}.opencv"),
        gcc=_check_spec(row["gcc"], f"{where}.gcc") if "gcc" in row else None,
        contrib=row.get("contrib"),
        checked=row["checked"],
        evidence=row["evidence"],
        reason=row.get("reason", ""),
        issue=_strs(row.get("issue", []), f"{where}.issue"),
        upstream_fix=_strs(row.get("upstream_fix", []), f"{where}.upstream_fix"),
        fixed_in=row.get("fixed_in", ""),
        workaround=row.get("workaround", ""),
    )


def parse_table(data: Mapping[str, Any], path: Path = COMPAT_FILE) -> CompatTable:
    unknown = sorted(set(data) - {"schema", "releases", "bad", "good", "arch_floor"})
    if unknown:
        raise CompatTableError(f"{path}: unknown key {unknown[0]!r}")
    if data.get("schema") != 1:
        raise CompatTableError(f"{path}: schema must be 1, got {data.get('schema')!r}")
    releases = _strs(data.get("releases", []), f"{path}: releases")
    for release in releases:
        parse_version(release)
    if list(releases) != sorted(releases, key=parse_version):
        raise CompatTableError(f"{path}: releases must be sorted oldest first")
    bad = tuple(_rule("bad", row, f"{path}: bad[{i}]") for i, row in enumerate(data.get("bad", [])))
    ids = [r.id for r in bad]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CompatTableError(f"{path}: duplicate bad id {duplicates[0]!r}")
    good = tuple(_rule("good", row, f"{path}: good[{i}]") for i, row in enumerate(data.get("good", [])))
    floors = []
    for i, row in enumerate(data.get("arch_floor", [])):
        where = f"{path}: arch_floor[{i}]"
        unknown_keys = sorted(set(row) - _FLOOR_KEYS)
        if unknown_keys or not {"cuda", "min", "reason", "checked"} <= set(row):
            raise CompatTableError(
                f"{where}: needs cuda, min, reason, checked (and nothing else but evidence)"
            )
        floors.append(
            ArchFloor(
                cuda=_check_spec(row["cuda"], where),
                min=row["min"],
                reason=row["reason"],
                checked=row["checked"],
            )
        )
    return CompatTable(releases=releases, bad=bad, good=good, arch_floors=tuple(floors), path=path)


@cache
def load_table(path: Path = COMPAT_FILE) -> CompatTable:
    """The shipped table (or another file with the same layout)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CompatTableError(f"{path}: cannot read the compatibility table: {exc}") from None
    return parse_table(data, path)


@dataclass(frozen=True)
class Verdict:
    """What the table says about one combination."""

    bad: tuple[Rule, ...]
    good: tuple[Rule, ...]
    #: The newest release that no bad row rules out for this toolkit/compiler, overall and per major line.
    recommended: str | None
    recommended_by_major: Mapping[int, str] = field(default_factory=dict)
    #: True when the toolkit is newer than anything in the table.
    untested_cuda: bool = False


def check(
    cuda: str, opencv: str, *, gcc: str | None = None, contrib: bool = True, table: CompatTable | None = None
) -> Verdict:
    """Match (CUDA, OpenCV, gcc, contrib) against the table."""
    table = load_table() if table is None else table
    bad = tuple(r for r in table.bad if r.applies(cuda, opencv, gcc, contrib))
    good = tuple(r for r in table.good if r.applies(cuda, opencv, gcc, contrib))
    by_major: dict[int, str] = {}
    recommended = None
    # A row that holds for every OpenCV release (opencv = "*") is fixed by its workaround, not by a version.
    discriminating = [r for r in table.bad if r.opencv.strip() not in ("", "*")]
    for release in reversed(table.releases):
        if any(r.applies(cuda, release, gcc, contrib) for r in discriminating):
            continue
        recommended = recommended or release
        by_major.setdefault(parse_version(release)[0], release)
    untested = parse_version(cuda)[:2] > table.newest_cuda()[:2]
    return Verdict(
        bad=bad, good=good, recommended=recommended, recommended_by_major=by_major, untested_cuda=untested
    )


def arch_floor(cuda: str, table: CompatTable | None = None) -> ArchFloor | None:
    table = load_table() if table is None else table
    for floor in table.arch_floors:
        if matches(cuda, floor.cuda):
            return floor
    return None


def describe_rule(rule: Rule) -> str:
    """One line: the reason, the issue, the fix."""
    text = rule.reason
    if rule.issue:
        text += f" [{', '.join(rule.issue)}]"
    return text


def rule_fix(
    rule: Rule, recommended: str | None, recommended_by_major: Mapping[int, str], opencv: str
) -> str:
    parts: list[str] = []
    if rule.fixed_in:
        parts.append(f"fixed upstream in OpenCV {rule.fixed_in} ({', '.join(rule.upstream_fix)})")
    elif rule.upstream_fix:
        parts.append(f"upstream fix: {', '.join(rule.upstream_fix)}")
    if rule.workaround:
        parts.append(rule.workaround)
    if recommended:
        same_line = recommended_by_major.get(parse_version(opencv)[0])
        line_hint = (
            f" (newest {parse_version(opencv)[0]}.x: {same_line})"
            if same_line and same_line != recommended
            else ""
        )
        parts.append(f"use --opencv-version {recommended}{line_hint}")
    return "; ".join(parts)
