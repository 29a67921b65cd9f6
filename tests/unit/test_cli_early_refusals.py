"""The user's own mistakes are named first: no probe of the host (no GPU here) may mask them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cvcuda_setup.cli.app import main


def _run(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(sys, "argv", ["cvcuda-setup", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    out, err = capsys.readouterr()
    assert exc.value.code == 2, (out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["-D", "FOO"], "-D 'FOO' is not NAME=VALUE"),
        (["--jobs", "0"], "--jobs 0 must be at least 1"),
        (["--jobs", "-3"], "--jobs -3 must be at least 1"),
        (["--patch", "{file}", "--patch-sha256", "zz"], "--patch-sha256 value 'zz' is not a sha256"),
        (["--build-dir", "{file}/x"], "which is a file"),
        (["--prefix", "{file}/sub/p"], "which is a file"),
        (["--opencv-version", "9"], "OpenCV version '9' is not X.Y.Z"),
        (["--opencv-version", "4.13"], "OpenCV version '4.13' is not X.Y.Z"),
    ],
)
def test_build_names_a_malformed_option_before_looking_for_a_gpu(
    extra: list[str],
    named: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    args = [a.replace("{file}", str(afile)) for a in extra]
    monkeypatch.setenv("CVCUDA_SETUP_CACHE", str(tmp_path / "cache"))
    line = _run(["build", "--recipe", "minimal", "--dry-run", *args], capsys, monkeypatch)
    assert named in line, line
    assert "CUDA device" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing written


def test_wheel_refuses_a_missing_prefix_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    line = _run(["wheel", "--prefix", str(tmp_path / "none")], capsys, monkeypatch)
    assert "is not a directory" in line and str(tmp_path / "none") in line


@pytest.mark.parametrize("bound", ["0", "-5"])
def test_verify_refuses_a_suite_bound_that_is_not_positive(
    bound: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    line = _run(["verify", "--opencv-tests", "--opencv-tests-timeout", bound], capsys, monkeypatch)
    assert f"--opencv-tests-timeout {bound} is not a positive number of seconds" in line
