"""A finding: what the doctor saw (level, area, message), what to do about it (fix), and the facts (data)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Level = Literal["ok", "warn", "error"]
LEVELS: tuple[Level, ...] = ("ok", "warn", "error")
#: The ``--json`` document's ``schema`` value; bump it when a field changes meaning or goes away.
SCHEMA = "cvcuda-setup.doctor/1"


@dataclass(frozen=True)
class Finding:
    level: Level
    #: What part of the host: ``gpu``, ``driver``, ``toolkit``, ``arch``, ``cuda-libs``, ``compiler``,
    #: ``compat``, ``sources``, ``host``, ``python``.
    area: str
    message: str
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: Stable identifier of the kind of finding (``gpu.none``, ``compiler.too-new``, ...; docs/doctor.md).
    code: str = ""

    def to_json(self) -> dict[str, Any]:
        data = plain(self.data)
        return {
            "level": self.level,
            "area": self.area,
            "code": self.code,
            "message": self.message,
            "fix": self.fix,
            "data": data,
        }


def plain(obj: Any) -> Any:
    """Paths to strings, tuples to lists, mappings to dicts: what ``json.dumps`` takes."""
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when all are ok, 1 when the worst is a warning, 2 when any is an error."""
    levels = {f.level for f in findings}
    if "error" in levels:
        return 2
    if "warn" in levels:
        return 1
    return 0


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    result: dict[str, int] = dict.fromkeys(LEVELS, 0)
    for f in findings:
        result[f.level] += 1
    return result


def to_document(findings: list[Finding], inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``--json`` document (docs/doctor.md describes every field)."""
    doc: dict[str, Any] = {"schema": SCHEMA, "exit_code": exit_code(findings)}
    if inputs is not None:
        doc["inputs"] = plain(inputs)
    doc["counts"] = counts(findings)
    doc["findings"] = [f.to_json() for f in findings]
    return doc
