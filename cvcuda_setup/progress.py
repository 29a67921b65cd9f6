"""Progress of a ninja build: its ``[done/total]`` status lines as a bar (terminal) or periodic lines (CI).

``NinjaStatusParser`` reads the lines ``NINJA_STATUS`` makes ninja print and feeds a ``ProgressSink``:
``RichProgress`` on a terminal, ``PlainProgress`` otherwise. ``line_status`` shows the last output line of a
step without a count (configure).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from cvcuda_setup.console import console

#: ninja's status line format, parsed for the progress bar.
NINJA_STATUS = "[%f/%t] "
#: Plain (non-terminal) progress prints a line at least every this many percent or seconds.
PLAIN_EVERY_PERCENT = 5
PLAIN_EVERY_SECONDS = 30.0

_STATUS = re.compile(r"^\[(\d+)/(\d+)\]\s?(.*)$")


def short_target(text: str) -> str:
    """``Building CXX object modules/core/CMakeFiles/x.dir/a.cpp.o`` -> ``Building CXX object a.cpp.o``."""
    return re.sub(r"\S*/", "", text).strip()


class ProgressSink(Protocol):
    def update(self, done: int, total: int, current: str) -> None: ...

    def close(self) -> None: ...


class PlainProgress:
    """Without a terminal (CI logs): a line every ``PLAIN_EVERY_PERCENT`` % or ``PLAIN_EVERY_SECONDS`` s."""

    def __init__(
        self, label: str, emit: Callable[[str], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.label = label
        self.emit = emit
        self.clock = clock
        self.start = clock()
        self.last_time = self.start
        self.last_bucket = -1
        self.last: tuple[int, int, str] | None = None
        self.printed: tuple[int, int] | None = None

    def update(self, done: int, total: int, current: str) -> None:
        if self.last is not None and self.last[1] != total:  # ninja re-ran cmake and started over
            self.last_bucket = -1
        self.last = (done, total, current)
        now = self.clock()
        bucket = (done * 100 // total) // PLAIN_EVERY_PERCENT if total else 0
        if bucket > self.last_bucket or now - self.last_time >= PLAIN_EVERY_SECONDS or done == total:
            self._print(done, total, current, now)
            self.last_bucket = bucket

    def _print(self, done: int, total: int, current: str, now: float) -> None:
        if self.printed == (done, total):
            return
        pct = done * 100 // total if total else 100
        elapsed = int(now - self.start)
        self.emit(
            f"{self.label}: {done}/{total} ({pct}%) {elapsed // 60}:{elapsed % 60:02d} {current}".rstrip()
        )
        self.last_time = now
        self.printed = (done, total)

    def close(self) -> None:
        if self.last is not None:
            self._print(*self.last, self.clock())


class RichProgress:
    """A progress bar on the terminal: done/total, elapsed time and the current target."""

    def __init__(self, label: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn(f"[bold]{label}[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[current]}", markup=False),
            console=console.err,
            transient=False,
        )
        self.task = self.progress.add_task(label, total=None, current="")
        self.progress.start()

    def update(self, done: int, total: int, current: str) -> None:
        self.progress.update(self.task, completed=done, total=total, current=current[:70])

    def close(self) -> None:
        self.progress.stop()


class NinjaStatusParser:
    """Feeds ninja's ``[done/total] description`` lines (``NINJA_STATUS=[%f/%t] ``) to a progress sink."""

    def __init__(self, sink: ProgressSink) -> None:
        self.sink = sink
        self.steps = 0
        self.total = 0

    def __call__(self, line: str) -> None:
        match = _STATUS.match(line)
        if not match:
            return
        done, total = int(match.group(1)), int(match.group(2))
        self.steps, self.total = done, total
        self.sink.update(done, total, short_target(match.group(3)))


@contextmanager
def line_status(label: str) -> Iterator[Callable[[str], None]]:
    """On a terminal: a spinner showing the step's latest output line; elsewhere nothing (the log has it)."""
    if not console.interactive:
        yield lambda line: None
        return
    with console.err.status(label) as status:

        def show(line: str) -> None:
            if line.strip():
                status.update(f"{label}: {line.strip()[:100]}")

        yield show
