"""``build --extract-limit`` (bounds raised on the command line) and ``build --wait`` (the prefix lock held by
another process): through typer's runner, with the build step itself replaced by a recorder."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest
from test_cli_build import fake_nvcc, run
from test_sources_fakes import fake_opencv

__all__ = ["fake_nvcc"]  # the fixture, imported for pytest


def _one_error_line(err: str) -> bool:
    return len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1 and "Traceback" not in err


@pytest.fixture()
def built(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replaces the configure/build/install step: records the fetched tree instead of running cmake."""
    calls: list[Any] = []

    def execute(plan: Any, tree: Any, **kwargs: Any) -> None:
        calls.append(tree)

    monkeypatch.setattr("cvcuda_setup.cmake.execute", execute)
    return calls


def _source(tmp_path: Path) -> Path:
    """A small real OpenCV-like tarball (about 30 members)."""
    fake_opencv(tmp_path / "src", contrib=False)
    archive = tmp_path / "opencv-5.1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(tmp_path / "src" / "opencv", arcname="opencv-5.1.0")
    return archive


def _build(tmp_path: Path, source: Path, *extra: str) -> tuple[int, str, str]:
    return run(
        "build",
        "--recipe",
        "cpu-test",
        "--source",
        str(source),
        "--no-doctor",
        "--no-plugin",
        "--prefix",
        str(tmp_path / "prefix"),
        "--cache-dir",
        str(tmp_path / "cache"),
        *extra,
    )


def test_extract_limit_refuses_then_lets_the_same_archive_through(
    fake_nvcc: Path, tmp_path: Path, built: list[Any]
) -> None:
    source = _source(tmp_path)
    code, _, err = _build(tmp_path, source, "--extract-limit", "members=5")
    assert code == 2 and _one_error_line(err) and "more than 5 members" in err
    assert "--extract-limit members=N" in err and "CVCUDA_SETUP_MAX_EXTRACT_MEMBERS" in err
    assert not (tmp_path / "cache" / "trees").exists() and built == []  # refused: nothing kept
    code, _, err = _build(
        tmp_path, source, "--extract-limit", "members=1000", "--extract-limit", "name-length=300"
    )
    assert code == 0, err
    assert len(built) == 1 and built[0].opencv_dir.is_dir()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("bytes=lots", "'lots' is not a positive whole number"),
        ("members=0", "'0' is not a positive whole number"),
        ("size=10", "is not KEY=N with KEY one of bytes, members, name-length"),
        ("bytes", "is not KEY=N"),
    ],
)
def test_a_bad_extract_limit_is_one_line_exit_2_before_anything_is_fetched(
    fake_nvcc: Path, tmp_path: Path, value: str, says: str
) -> None:
    code, _, err = _build(tmp_path, _source(tmp_path), "--extract-limit", value)
    assert code == 2 and _one_error_line(err), err
    assert f"--extract-limit {value!r}" in err and says in err and "e.g. --extract-limit " in err
    assert not (tmp_path / "cache").exists()


def test_a_bad_bound_in_the_environment_is_refused_up_front_even_in_dry_run(
    fake_nvcc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CVCUDA_SETUP_MAX_EXTRACT_BYTES", "-3")
    code, _, err = _build(tmp_path, _source(tmp_path), "--dry-run")
    assert code == 2 and _one_error_line(err) and "CVCUDA_SETUP_MAX_EXTRACT_BYTES='-3'" in err


HOLDER = """
import sys
from pathlib import Path
from cvcuda_setup.install import lock_prefix
with lock_prefix(Path(sys.argv[-1])):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _holder(prefix: Path) -> subprocess.Popen[str]:
    """Another process holding the prefix's lock (its command line names a build) until told on stdin."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, "build", "--prefix", str(prefix)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.wait(timeout=30)


def test_a_second_build_into_a_locked_prefix_is_refused_at_once_naming_the_holder(
    fake_nvcc: Path, tmp_path: Path, built: list[Any]
) -> None:
    tmp_path = tmp_path.resolve()
    holder = _holder(tmp_path / "prefix")
    try:
        code, _, err = _build(tmp_path, _source(tmp_path))
    finally:
        _release(holder)
    assert code == 2 and _one_error_line(err), err
    assert f"pid {holder.pid}" in err and "its command: -c build --prefix /" in err  # (long paths shortened)
    assert "--wait" in err  # the hint
    assert built == [] and not (tmp_path / "cache" / "trees").exists()  # nothing fetched or built


def test_build_wait_waits_for_the_holder_then_proceeds(
    fake_nvcc: Path, tmp_path: Path, built: list[Any]
) -> None:
    tmp_path = tmp_path.resolve()
    holder = _holder(tmp_path / "prefix")
    released: list[bool] = []

    def release_later() -> None:
        released.append(True)
        _release(holder)

    timer = threading.Timer(1.0, release_later)
    timer.start()
    try:
        code, _, err = _build(tmp_path, _source(tmp_path), "--wait")
    finally:
        timer.cancel()
        if holder.poll() is None:
            _release(holder)
    assert code == 0, err
    assert f"waiting for pid {holder.pid} to release prefix {tmp_path / 'prefix'}" in err
    assert released == [True] and holder.returncode == 0  # it ran only after the holder let go
    assert len(built) == 1 and built[0].opencv_dir.is_dir()
