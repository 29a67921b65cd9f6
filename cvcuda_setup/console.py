"""The one output object: data to stdout, diagnostics to stderr, steps with timings, JSON.

Colour and spinners only on a terminal; ``NO_COLOR`` is honoured (rich does that).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table


class Output:
    def __init__(self) -> None:
        self.out = Console(soft_wrap=True)
        self.err = Console(stderr=True, soft_wrap=True)

    @property
    def interactive(self) -> bool:
        return self.err.is_terminal

    def print(self, text: str = "") -> None:
        """Data: to stdout, verbatim (no markup)."""
        self.out.print(text, markup=False, highlight=False)

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        sys.stdout.flush()

    def table(self, table: Table) -> None:
        self.out.print(table)

    def info(self, text: str) -> None:
        self.err.print(text, markup=False, highlight=False)

    def warn(self, text: str) -> None:
        self.err.print(f"warning: {text}", style="yellow", markup=False, highlight=False)

    def error(self, text: str) -> None:
        self.err.print(f"error: {text}", style="bold red", markup=False, highlight=False)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        """A named step with its duration on stderr (``==> title`` ... ``<== title (12.3 s)``)."""
        start = time.monotonic()
        self.err.print(f"==> {title}", style="bold", markup=False, highlight=False)
        try:
            yield
        finally:
            self.err.print(
                f"<== {title} ({time.monotonic() - start:.1f} s)", style="dim", markup=False, highlight=False
            )


console = Output()
