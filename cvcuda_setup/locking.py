"""Advisory locks (``fcntl.flock``) held for a run: one build per build directory, one install per prefix.

The lock file holds the owner's pid, so a refused run can name it. The file is left in place afterwards
(removing a lock file races with the next locker); the kernel drops the lock when the process exits, so a
killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cvcuda_setup.errors import CvCudaSetupError

#: Locks this process holds (path -> depth): taking one again (build, then its install step) is a no-op.
_HELD: dict[str, int] = {}


def _read_owner(fd: int) -> str:
    """``PID COMMAND LINE`` of the holder, as it wrote it (shortened); ``unknown`` when unreadable."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", errors="replace").strip()
    except OSError:
        return "unknown"
    pid, _, cmd = text.partition(" ")
    if not pid.isdigit():
        return "unknown"
    if len(cmd) > 120:
        cmd = cmd[:59] + "…" + cmd[-60:]
    return f"{pid}{f' {cmd}' if cmd else ''}"


@contextmanager
def hold_lock(
    path: Path,
    *,
    what: str,
    error: type[CvCudaSetupError],
    hint: str | None = None,
    wait: bool = False,
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the ``with`` block; another holder -> ``error`` naming its pid
    and command line (or, with ``wait``, block until it is gone). Re-entrant within this process.

    ``what`` names the locked thing in the message (``build directory /x``).
    """
    key = os.path.abspath(path)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise error(
            f"cannot create the lock file {path}: {exc.strerror}", hint="choose a location you can write to"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            pid, _, cmd = owner.partition(" ")
            if not wait:
                raise error(
                    f"{what} is in use by another cvcuda-setup run (pid {pid}, lock {path}"
                    + (f"; its command: {cmd})" if cmd else ")"),
                    hint=hint or "wait for it to finish",
                ) from None
            from cvcuda_setup.console import console

            console.info(f"waiting for pid {pid} to release {what} ...")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} {shlex.join(sys.argv)}\n".encode("utf-8", "replace"))
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
