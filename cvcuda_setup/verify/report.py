"""Rendering a ``Report``: JSON (schema ``cvcuda-setup.verify/1``), JUnit XML for CI, and a rich table.

The JSON schema is documented in docs/verify.md; fields are only ever added within ``/1``.
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from cvcuda_setup.verify.result import SCHEMA, CheckResult, Report

STYLES = {"pass": "green", "fail": "bold red", "skip": "yellow"}


def to_json(report: Report) -> dict[str, Any]:
    inv = report.inventory
    return {
        "schema": SCHEMA,
        "tool": {"name": "cvcuda-setup", "version": report.tool_version},
        "created": report.created,
        "duration_s": round(report.duration_s, 3),
        "prefix": report.prefix,
        "python": report.python,
        "device_request": report.device_request,
        "require_gpu": report.require_gpu,
        "gpu": {
            "available": inv.available,
            "reason": inv.reason or None,
            "sources": inv.sources,
            "devices": [d.to_json() for d in inv.devices],
        },
        "summary": {
            "total": len(report.checks),
            "pass": report.count("pass"),
            "fail": report.count("fail"),
            "skip": report.count("skip"),
            "ok": report.ok,
            "exit_code": report.exit_code,
        },
        "checks": [c.to_json() for c in report.checks],
        "artifacts": {"dir": report.artifacts_dir, "files": list(report.artifacts)},
    }


def write_json(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(report), indent=2, default=str) + "\n", encoding="utf-8")
    return path


#: Failing test names listed per part in the JUnit details (OpenCV's suites: every name, up to this many).
JUNIT_FAILED_NAMES = 500


def _details(check: CheckResult) -> str:
    lines: list[str] = []
    for p in check.parts:
        lines.append(f"{p.status.upper():4} {p.name}: {p.reason}")
        lines += [f"     FAILED {name}" for name in p.figures.get("failed_tests", [])[:JUNIT_FAILED_NAMES]]
    lines += [f"WARNING {w}" for w in check.warnings]
    return "\n".join(lines)


def to_junit(report: Report) -> str:
    """JUnit XML: one testcase per check (per device), failures and skips with their reasons."""
    total_time = f"{report.duration_s:.3f}"
    suites = ET.Element(
        "testsuites",
        name="cvcuda-setup verify",
        tests=str(len(report.checks)),
        failures=str(report.count("fail")),
        skipped=str(report.count("skip")),
        errors="0",
        time=total_time,
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="cvcuda-setup.verify",
        tests=str(len(report.checks)),
        failures=str(report.count("fail")),
        skipped=str(report.count("skip")),
        errors="0",
        time=total_time,
        timestamp=report.created,
        hostname=socket.gethostname(),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("schema", SCHEMA),
        ("prefix", report.prefix),
        ("python", report.python),
        ("device_request", report.device_request),
        ("gpu_available", str(report.inventory.available).lower()),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for check in report.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"cvcuda-setup.verify.{check.id}",
            name=check.label,
            time=f"{check.duration_s:.3f}",
        )
        if check.status == "fail":
            failure = ET.SubElement(case, "failure", message=check.reason, type="VerifyFailure")
            failure.text = _details(check)
        elif check.status == "skip":
            ET.SubElement(case, "skipped", message=check.reason)
        details = _details(check)
        if details:
            ET.SubElement(case, "system-out").text = details
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_junit(report), encoding="utf-8")
    return path


def table(report: Report) -> Table:
    t = Table(title=f"cvcuda-setup verify: {report.prefix}", title_justify="left")
    t.add_column("check")
    t.add_column("device")
    t.add_column("status")
    t.add_column("time", justify="right")
    t.add_column("reason / figures", overflow="fold")
    for check in report.checks:
        reason = Text(check.reason)
        for warning in check.warnings:
            reason.append(f"\nwarning: {warning}", style="yellow")
        t.add_row(
            check.title,
            "-" if check.device is None else f"gpu{check.device}",
            Text(check.status.upper(), style=STYLES[check.status]),
            f"{check.duration_s:.1f} s",
            reason,
        )
    return t


def summary_line(report: Report) -> str:
    return (
        f"{report.count('pass')} passed, {report.count('fail')} failed, {report.count('skip')} skipped"
        f" -> exit {report.exit_code}"
    )
