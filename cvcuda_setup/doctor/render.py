"""The findings as a rich table on stdout, with a one-line summary on stderr."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from cvcuda_setup.console import Output
from cvcuda_setup.doctor.findings import Finding, counts, exit_code

_STYLE = {"ok": "green", "warn": "yellow", "error": "bold red"}


def table(findings: Sequence[Finding]) -> Table:
    result = Table(title="cvcuda-setup doctor", show_lines=False, expand=False)
    result.add_column("level", no_wrap=True)
    result.add_column("area", no_wrap=True)
    result.add_column("finding", overflow="fold")
    result.add_column("fix", overflow="fold")
    for f in findings:
        result.add_row(
            Text(f.level, style=_STYLE[f.level]),
            Text(f.area),
            Text(f.message),
            Text(f.fix or ""),
        )
    return result


def render(findings: Sequence[Finding], console: Output) -> None:
    """The table on stdout, then ``doctor: N ok, N warnings, N errors (exit N)`` on stderr."""
    console.table(table(findings))
    c = counts(findings)
    console.info(
        f"doctor: {c['ok']} ok, {c['warn']} warning{'s' if c['warn'] != 1 else ''}, "
        f"{c['error']} error{'s' if c['error'] != 1 else ''} (exit {exit_code(findings)})"
    )
