"""report.py: the JSON document (schema cvcuda-setup.verify/1), JUnit XML and the table."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console

from cvcuda_setup.verify import report as render
from cvcuda_setup.verify.result import CheckResult, DeviceFacts, GpuInventory, Report, failed, passed, skipped


def _report(*checks: CheckResult, devices: tuple[DeviceFacts, ...] = ()) -> Report:
    return Report(
        prefix="/opt/ocv",
        python="/usr/bin/python3",
        device_request="all",
        inventory=GpuInventory(devices, {"cuda-python probe": f"{len(devices)} device(s)"}),
        checks=checks,
        require_gpu=False,
        tool_version="0.1.0",
        created="2026-11-25T00:00:00+00:00",
        duration_s=1.5,
    )


H100 = DeviceFacts(0, "NVIDIA H100", 9, 0, True, 80 << 30, "cuda-python")


def _sample() -> Report:
    cv2 = CheckResult.from_parts(
        "cv2",
        "The right cv2",
        [passed("import", "imports /opt/ocv/..."), skipped("cuda", "built without CUDA, as intended")],
        warnings=["opencv-python-headless 5.0.0 also provides cv2 ..."],
    )
    arch = CheckResult.from_parts(
        "arch",
        "Build fits the device",
        [failed("coverage", "rebuild with --arch 9.0", bin=["8.6"])],
        device=0,
    )
    tests = CheckResult.skip("opencv_tests", "OpenCV CUDA accuracy tests", "not requested (--opencv-tests)")
    return _report(cv2, arch, tests, devices=(H100,))


def test_json_document() -> None:
    doc = render.to_json(_sample())
    assert doc["schema"] == "cvcuda-setup.verify/1"
    assert doc["summary"] == {"total": 3, "pass": 1, "fail": 1, "skip": 1, "ok": False, "exit_code": 1}
    assert doc["gpu"]["available"] is True and doc["gpu"]["reason"] is None
    assert doc["gpu"]["devices"][0]["capability"] == "9.0"
    arch = doc["checks"][1]
    assert arch["label"] == "arch[gpu0]" and arch["device"] == 0
    assert arch["parts"][0]["figures"] == {"bin": ["8.6"]}
    assert doc["checks"][0]["status"] == "pass" and doc["checks"][0]["warnings"]
    json.dumps(doc)  # serialisable as is


def test_no_gpu_reason_and_exit_code() -> None:
    ok = _report(CheckResult.skip("gpu", "CUDA devices visible", "no CUDA device"))
    assert ok.exit_code == 0 and ok.ok
    doc = render.to_json(ok)
    assert doc["gpu"]["available"] is False
    assert doc["gpu"]["reason"].startswith("no CUDA device (cuda-python probe: 0 device(s))")


def test_junit(tmp_path: Path) -> None:
    path = render.write_junit(_sample(), tmp_path / "j" / "verify.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.get("failures") == "1" and root.get("skipped") == "1"
    suite = root.find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"cv2", "arch[gpu0]", "opencv_tests"}
    failure = cases["arch[gpu0]"].find("failure")
    assert failure is not None and "rebuild with --arch 9.0" in (failure.get("message") or "")
    assert cases["opencv_tests"].find("skipped") is not None
    out = cases["cv2"].find("system-out")
    assert out is not None and "WARNING opencv-python-headless" in (out.text or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["schema"] == "cvcuda-setup.verify/1" and props["prefix"] == "/opt/ocv"


def test_table_shows_status_reason_and_warnings() -> None:
    console = Console(width=200, record=True)
    console.print(render.table(_sample()))
    text = console.export_text()
    assert "FAIL" in text and "PASS" in text and "SKIP" in text
    assert "gpu0" in text
    assert "warning: opencv-python-headless" in text
    assert render.summary_line(_sample()) == "1 passed, 1 failed, 1 skipped -> exit 1"
