"""``hold_lock``: one holder at a time, the refusal names the holder's pid, a dead holder frees the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cvcuda_setup.errors import UsageError
from cvcuda_setup.locking import hold_lock

HOLDER = """
import sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from cvcuda_setup.errors import UsageError
from cvcuda_setup.locking import hold_lock
with hold_lock(Path({path!r}), what="build directory /b", error=UsageError):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def start_holder(path: Path) -> subprocess.Popen[str]:
    code = HOLDER.format(repo=str(Path(__file__).parents[2]), path=str(path))
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_the_holder_writes_its_pid_and_clears_it_on_release(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.lock"
    with hold_lock(path, what="x", error=UsageError):
        assert path.read_text().split()[0] == str(os.getpid())  # then the command line
    assert path.read_text() == ""
    with hold_lock(path, what="x", error=UsageError):  # reusable
        pass


def test_a_second_locker_gets_the_error_type_with_the_pid_and_the_hint(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = start_holder(path)
    try:
        with (
            pytest.raises(
                UsageError,
                match=rf"^build directory /b is in use by another cvcuda-setup run \(pid {holder.pid}, lock ",
            ) as info,
            hold_lock(path, what="build directory /b", error=UsageError, hint="use another --build-dir"),
        ):
            pass
        assert info.value.hint == "use another --build-dir"
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=10)
    with hold_lock(path, what="x", error=UsageError):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = start_holder(path)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with hold_lock(path, what="x", error=UsageError):
        assert path.read_text().split()[0] == str(os.getpid())
