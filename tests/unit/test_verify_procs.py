"""The process boundary: fake check-tool scripts (crash, garbage, timeout) and the real worker."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from cvcuda_setup.verify.procs import parse_json_output, run_tool, run_worker


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\nimport json, os, signal, sys, time\n{body}\n")
    path.chmod(0o755)
    return path


def test_parse_json_output_tolerates_opencv_noise() -> None:
    assert parse_json_output('{"a": 1}') == {"a": 1}
    assert parse_json_output('[ WARN:0] something\n{"a": 2}\n') == {"a": 2}
    assert parse_json_output('noise\n{\n  "a": 3\n}\n') == {"a": 3}
    assert parse_json_output("no json here") is None
    assert parse_json_output("") is None
    assert parse_json_output("[1, 2]") is None


def test_tool_json_is_read_whatever_the_exit_code(tmp_path: Path) -> None:
    tool = _script(
        tmp_path / "tool", 'print(json.dumps({"error": "no CUDA device", "devices": []})); sys.exit(3)'
    )
    res = run_tool(tool, ["device-info"], os.environ)
    assert res.returncode == 3
    assert res.error is None
    assert res.data == {"error": "no CUDA device", "devices": []}


def test_tool_crash_and_garbage_become_errors(tmp_path: Path) -> None:
    crash = _script(
        tmp_path / "crash", "sys.stderr.write('about to die\\n'); os.kill(os.getpid(), signal.SIGSEGV)"
    )
    res = run_tool(crash, ["mapped"], os.environ)
    assert res.data is None
    assert "SIGSEGV" in (res.error or "")
    assert "about to die" in res.describe_failure()
    garbage = _script(tmp_path / "garbage", "print('hello')")
    res = run_tool(garbage, ["kernel"], os.environ)
    assert res.data is None and "printed no JSON" in (res.error or "")


def test_tool_missing_and_timeout(tmp_path: Path) -> None:
    res = run_tool(tmp_path / "nope", ["device-info"], os.environ)
    assert res.returncode is None and "not found" in (res.error or "")
    slow = _script(tmp_path / "slow", "time.sleep(30)")
    res = run_tool(slow, ["pipeline"], os.environ, timeout=0.5)
    assert "timed out" in (res.error or "")


def test_worker_reports_a_broken_cv2_instead_of_crashing(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "cv2").mkdir(parents=True)
    (site / "cv2" / "__init__.py").write_text(
        "raise ImportError('libopencv_core.so.501: cannot open shared object')"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    res = run_worker(sys.executable, "cv2info", {}, work=tmp_path / "w", env=env, timeout=60)
    assert res.error is None and res.data is not None
    assert "libopencv_core.so.501" in res.data["import_error"]
    assert res.data["executable"] == sys.executable
    assert res.data["sys_path"][0]["origin"] == "current directory"
    # the worker ran in an empty directory of its own, not in the caller's
    assert Path(res.data["sys_path"][0]["path"]).parent == tmp_path / "w"
    assert res.data["candidates"][0] == {**res.data["sys_path"][1], "cv2": str(site / "cv2")}


def test_worker_sees_a_fake_pip_cv2_and_its_distribution(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "cv2").mkdir(parents=True)
    (site / "cv2" / "__init__.py").write_text("__version__ = '5.0.0'\n")
    info = site / "opencv_python_headless-5.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: opencv-python-headless\nVersion: 5.0.0\n")
    (info / "RECORD").write_text("cv2/__init__.py,,\nopencv_python_headless-5.0.0.dist-info/METADATA,,\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    res = run_worker(sys.executable, "cv2info", {}, work=tmp_path / "w", env=env, timeout=60)
    data = res.data or {}
    assert data.get("cv2_file") == str(site / "cv2" / "__init__.py")
    assert data.get("cv2_version") == "5.0.0"
    assert data["candidates"][0]["cv2"] == str(site / "cv2")
    assert data["candidates"][0]["origin"] == "PYTHONPATH"
    dist = next(d for d in data["dists"] if d["name"] == "opencv-python-headless")
    assert dist["cv2_path"] == str(site / "cv2") and dist["version"] == "5.0.0"


def test_worker_records_errors_and_reports_fatal_ones(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "cv2").mkdir(parents=True)
    (site / "cv2" / "__init__.py").write_text("")  # a cv2 without cv2.cuda
    env = {**os.environ, "PYTHONPATH": str(site)}
    res = run_worker(sys.executable, "device", {"device": 0}, work=tmp_path / "w", env=env, timeout=60)
    assert res.error is None and res.data is not None
    assert "AttributeError" in res.data["count_error"]  # recorded, not raised
    res = run_worker(sys.executable, "device", {}, work=tmp_path / "w", env=env, timeout=60)
    assert res.data is not None and "fatal" in res.data
    assert "KeyError" in (res.error or "")
    # requests go through files, readable afterwards for debugging
    requests = sorted((tmp_path / "w").glob("*device.request.json"))
    assert [json.loads(r.read_text()) for r in requests] == [{"device": 0}, {}]


def test_the_worker_runs_its_three_files_without_cvcuda_setup(tmp_path: Path) -> None:
    """worker.py imports worker_common and worker_pipeline: the sources sent, not an installed package
    (``python -S``: no site-packages, so neither cvcuda-setup nor numpy nor cv2 can be imported)."""
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    python.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = run_worker(str(python), "cv2info", {}, work=tmp_path / "w", env=env, timeout=60)
    assert res.error is None and res.data is not None and "No module named 'cv2'" in res.data["import_error"]
    res = run_worker(str(python), "prepare", {"cases": []}, work=tmp_path / "w", env=env, timeout=60)
    assert res.data is not None and "No module named 'cv2'" in res.data["fatal"]
    assert 'File "worker_pipeline.py"' in res.data["traceback"]  # dispatched to the pipeline module
