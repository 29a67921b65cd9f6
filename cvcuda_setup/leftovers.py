"""Pid markers on the tool's temporary dirs, so a later run can prove a killed run's leftover is the tool's.

A marker is a small JSON file ``{"pid", "host", ...}`` written at the top of a dir the tool just created.
A dir is a removable leftover only when its marker is readable, names this host and a process that is no
longer alive (and not this one); a dir without such a marker is never touched.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

#: The marker's file name, at the top of the marked dir.
MARKER = ".cvcuda-setup-staging.json"


def write_owner(directory: Path, marker: str, **info: Any) -> None:
    """Mark ``directory`` (just created by this process) as this process's."""
    data = {"pid": os.getpid(), "host": socket.gethostname(), **info}
    (directory / marker).write_text(json.dumps(data) + "\n", encoding="utf-8")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_owner(directory: Path, marker: str) -> int | None:
    """The pid of the dead process of this host that created ``directory``; None when not provably so."""
    if directory.is_symlink() or not directory.is_dir():
        return None
    try:
        info = json.loads((directory / marker).read_text(encoding="utf-8"))
        pid = int(info["pid"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    host = info.get("host")
    if host is not None and host != socket.gethostname():
        return None  # another machine's (or container's) pid: its liveness cannot be judged here
    if pid <= 0 or pid == os.getpid() or pid_alive(pid):
        return None
    return pid
