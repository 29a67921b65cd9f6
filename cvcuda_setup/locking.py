"""Advisory locks (``fcntl.flock``) held for a run: one build per build directory, one install per prefix.

The lock file holds the owner's pid, so a refused run can name it. The file is left in place afterwards
(removing a lock file races with the next locker); the kernel drops the lock when the process exits, so a
killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cvcuda_setup.errors import CvCudaSetupError


def _read_owner(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode("ascii", errors="replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


@contextmanager
def hold_lock(
    path: Path, *, what: str, error: type[CvCudaSetupError], hint: str | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the ``with`` block; another holder -> ``error`` naming its pid.

    ``what`` names the locked thing in the message (``build directory /x``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise error(f"cannot create the lock file {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            raise error(
                f"{what} is in use by another cvcuda-setup run (pid {owner}, lock {path})",
                hint=hint or "wait for it to finish",
            ) from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
