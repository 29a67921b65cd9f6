"""What a verify run produces: parts, checks and the report (data only; rendering is in ``report.py``).

A check (e.g. ``pipeline`` on device 0) is made of parts (``cpp``, ``python``). A check fails when any
part fails, is skipped when every part is skipped, and passes otherwise. Warnings never change a status; they
are listed next to it (e.g. a pip OpenCV wheel that loses to the prefix's cv2 now but would win without the
env).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "skip"]

SCHEMA = "cvcuda-setup.verify/1"


@dataclass(frozen=True)
class Part:
    """One measured aspect of a check, with its own status, reason and figures."""

    name: str
    status: Status
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "reason": self.reason, "figures": self.figures}


def passed(name: str, reason: str, /, **figures: Any) -> Part:
    return Part(name, "pass", reason, dict(figures))


def failed(name: str, reason: str, /, **figures: Any) -> Part:
    return Part(name, "fail", reason, dict(figures))


def skipped(name: str, reason: str, /, **figures: Any) -> Part:
    return Part(name, "skip", reason, dict(figures))


def combine(parts: Iterable[Part]) -> tuple[Status, str]:
    """The check's status and reason from its parts: the failures' reasons if any failed, else the passes'."""
    items = list(parts)
    fails = [p for p in items if p.status == "fail"]
    if fails:
        return "fail", "; ".join(f"{p.name}: {p.reason}" for p in fails)
    passes = [p for p in items if p.status == "pass"]
    if passes:
        notes = [f"{p.name}: {p.reason}" for p in passes]
        notes += [f"{p.name} skipped: {p.reason}" for p in items if p.status == "skip"]
        return "pass", "; ".join(notes)
    if items:
        return "skip", "; ".join(dict.fromkeys(p.reason for p in items))
    return "skip", "nothing to check"


@dataclass(frozen=True)
class CheckResult:
    """One row of the report: a check, on one device (``device``) or for the whole prefix (``None``)."""

    id: str
    title: str
    status: Status
    reason: str
    device: int | None = None
    parts: tuple[Part, ...] = ()
    warnings: tuple[str, ...] = ()
    duration_s: float = 0.0

    @classmethod
    def from_parts(
        cls,
        check_id: str,
        title: str,
        parts: Iterable[Part],
        *,
        device: int | None = None,
        warnings: Iterable[str] = (),
        duration_s: float = 0.0,
    ) -> CheckResult:
        items = tuple(parts)
        status, reason = combine(items)
        return cls(check_id, title, status, reason, device, items, tuple(warnings), duration_s)

    @classmethod
    def skip(cls, check_id: str, title: str, reason: str, *, device: int | None = None) -> CheckResult:
        return cls(check_id, title, "skip", reason, device)

    @property
    def label(self) -> str:
        """``pipeline`` or ``pipeline[gpu0]``: unique within a report."""
        return self.id if self.device is None else f"{self.id}[gpu{self.device}]"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "title": self.title,
            "device": self.device,
            "status": self.status,
            "reason": self.reason,
            "warnings": list(self.warnings),
            "duration_s": round(self.duration_s, 3),
            "parts": [p.to_json() for p in self.parts],
        }


@dataclass(frozen=True)
class DeviceFacts:
    """A CUDA device as the verify run sees it (merged from the probes that answered)."""

    index: int
    name: str
    major: int
    minor: int
    can_map_host_memory: bool | None = None
    total_memory: int | None = None
    source: str = ""

    @property
    def capability(self) -> str:
        return f"{self.major}.{self.minor}"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "capability": self.capability,
            "major": self.major,
            "minor": self.minor,
            "can_map_host_memory": self.can_map_host_memory,
            "total_memory": self.total_memory,
            "source": self.source,
        }


@dataclass(frozen=True)
class GpuInventory:
    """The devices found and, when none, why (every source's answer)."""

    devices: tuple[DeviceFacts, ...]
    #: Each source asked ("cuda-python probe", "check tool", "cv2.cuda") -> its answer (count or error).
    sources: dict[str, str]

    @property
    def available(self) -> bool:
        return bool(self.devices)

    @property
    def reason(self) -> str:
        """Why there is no device, as the skip reason of every GPU check."""
        if self.devices:
            return ""
        answers = "; ".join(f"{k}: {v}" for k, v in self.sources.items())
        return f"no CUDA device ({answers})" if answers else "no CUDA device"


@dataclass(frozen=True)
class Report:
    """A whole verify run."""

    prefix: str
    python: str
    device_request: str
    inventory: GpuInventory
    checks: tuple[CheckResult, ...]
    require_gpu: bool
    tool_version: str
    created: str
    duration_s: float
    artifacts: tuple[str, ...] = ()
    artifacts_dir: str | None = None

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status == status)

    @property
    def ok(self) -> bool:
        return self.count("fail") == 0

    @property
    def exit_code(self) -> int:
        """0 only when nothing failed (``--require-gpu`` without a GPU fails the ``gpu`` check)."""
        return 0 if self.ok else 1
