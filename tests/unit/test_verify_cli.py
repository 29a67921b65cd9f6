"""``cvcuda-setup verify`` end to end on a fake prefix: fake check tool (a script) and a fake driver adapter.

The fakes sit at the process/library boundary only: the C++ check tool is a script printing the JSON its
contract describes, and the cuda-python adapter (``probe.gpu._query_driver``) reports GPUs. The prefix's cv2
is a stub that fails to load, so every Python-side part must fail: a GPU check must never pass on the C++
side alone.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cvcuda_setup.cli.app import app
from cvcuda_setup.model import GpuDevice
from cvcuda_setup.probe import gpu as gpu_probe

runner = CliRunner()

FAKE_TOOL = r"""
import json, sys
cmd = sys.argv[1]
devices = [
    {"index": i, "name": "Fake H100", "major": 9, "minor": 0, "can_map_host_memory": True,
     "integrated": False, "total_memory": 80 << 30}
    for i in range(int(%(count)d))
]
dev = int(sys.argv[sys.argv.index("--device") + 1]) if "--device" in sys.argv else 0
rec = {"type": "host", "device_pointer": 4096, "host_pointer": 4096}
if cmd == "device-info":
    print(json.dumps({"cuda_device_count": len(devices), "devices": devices, "driver_version": 13000,
                      "runtime_version": 13000, "opencv_version": "5.1.0", "opencv_cuda": True}))
elif cmd == "kernel":
    print(json.dumps({"ok": True, "error": None, "compatible": True}))
elif cmd == "mapped":
    print(json.dumps({"ok": True, "error": None, "can_map_host_memory": True, "attributes": rec,
                      "pool": {"bytes_in_use": 0}}))
else:
    print(json.dumps({"ok": False, "error": "unexpected " + cmd}))
    sys.exit(1)
"""


def _prefix(tmp_path: Path, *, tool_devices: int | None = None, arch: list[str] | None = None) -> Path:
    prefix = tmp_path / "prefix"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "lib" / "libopencv_core.so.5.1.0").write_bytes(b"")
    # the prefix's cv2 as a broken install looks: it fails to load its library (a stub, no OpenCV here)
    short = f"{sys.version_info.major}.{sys.version_info.minor}"
    cv2 = prefix / "lib" / f"python{short}" / "site-packages" / "cv2"
    cv2.mkdir(parents=True)
    (cv2 / "__init__.py").write_text(
        "raise ImportError('libopencv_core.so.501: cannot open shared object file')\n"
    )
    manifest = {  # as cvcuda-setup 0.1 wrote it (schema 1), the parts verify reads
        "schema": "cvcuda-setup/manifest/1",
        "prefix": str(prefix),
        "opencv_version": "5.1.0",
        "recipe": {"name": "minimal"},
        "cmake_options": {"WITH_CUDA": "ON"},
        "arch": {"bin": arch or ["9.0"], "ptx": []},
        "python": {"executable": sys.executable},
    }
    (prefix / "share" / "cvcuda-setup").mkdir(parents=True)
    (prefix / "share" / "cvcuda-setup" / "manifest.json").write_text(json.dumps(manifest))
    if tool_devices is not None:
        (prefix / "bin").mkdir()
        tool = prefix / "bin" / "cvcuda-zerocopy-check"
        tool.write_text(f"#!{sys.executable}\n" + FAKE_TOOL % {"count": tool_devices})
        tool.chmod(0o755)
    return prefix


def _fake_driver(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    devices = tuple(
        GpuDevice(index=i, name="Fake H100", major=9, minor=0, total_memory=80 << 30) for i in range(count)
    )
    error = None if devices else "the driver reports 0 CUDA devices"
    monkeypatch.setattr(
        gpu_probe, "_query_driver", lambda drv=None: gpu_probe.GpuProbe(devices, 13000, error)
    )


def _clear_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake prefix's own cv2 (a stub that fails to load) must come first: no caller PYTHONPATH."""
    monkeypatch.delenv("PYTHONPATH", raising=False)


def _run(args: list[str], tmp_path: Path) -> tuple[int, dict[str, Any]]:
    report = tmp_path / "report.json"
    result = runner.invoke(app, ["verify", *args, "--json", str(report)])
    data = json.loads(report.read_text()) if report.exists() else {}
    return result.exit_code, data


def _checks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["label"]: c for c in data["checks"]}


def test_no_gpu_skips_every_gpu_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_pythonpath(monkeypatch)
    _fake_driver(monkeypatch, 0)
    code, data = _run(["--prefix", str(_prefix(tmp_path))], tmp_path)
    checks = _checks(data)
    assert data["schema"] == "cvcuda-setup.verify/1"
    assert checks["gpu"]["status"] == "skip"
    assert checks["gpu"]["reason"].startswith("no CUDA device")
    assert "the driver reports 0 CUDA devices" in checks["gpu"]["reason"]
    for label in ("device_info", "arch", "mapped", "pipeline"):
        assert checks[label]["status"] == "skip"
        assert checks[label]["reason"].startswith("no CUDA device")
    assert checks["prefix"]["status"] == "pass"
    # no cv2 under this prefix: the right-cv2 check must say so, and the run fails
    assert checks["cv2"]["status"] == "fail"
    assert "import cv2 failed" in checks["cv2"]["reason"]
    assert code == 1 and data["summary"]["exit_code"] == 1


def test_require_gpu_fails_without_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_pythonpath(monkeypatch)
    _fake_driver(monkeypatch, 0)
    code, data = _run(["--prefix", str(_prefix(tmp_path)), "--require-gpu"], tmp_path)
    gpu = _checks(data)["gpu"]
    assert gpu["status"] == "fail" and "--require-gpu" in gpu["reason"]
    assert code == 1


def test_gpu_checks_need_the_python_side_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_pythonpath(monkeypatch)
    _fake_driver(monkeypatch, 1)
    code, data = _run(["--prefix", str(_prefix(tmp_path, tool_devices=1))], tmp_path)
    checks = _checks(data)
    assert checks["gpu"]["status"] == "pass"
    for label in ("device_info[gpu0]", "arch[gpu0]", "mapped[gpu0]", "pipeline[gpu0]"):
        assert checks[label]["status"] == "fail", label
    parts = {p["name"]: p for p in checks["device_info[gpu0]"]["parts"]}
    assert parts["cpp"]["status"] == "pass" and "Fake H100" in parts["cpp"]["reason"]
    assert parts["python"]["status"] == "fail"
    arch = {p["name"]: p for p in checks["arch[gpu0]"]["parts"]}
    assert arch["coverage"]["status"] == "pass"  # the manifest's 9.0 covers the fake 9.0
    assert arch["kernel-cpp"]["status"] == "pass"
    assert arch["kernel-python"]["status"] == "fail"
    mapped = {p["name"]: p for p in checks["mapped[gpu0]"]["parts"]}
    assert mapped["cpp"]["status"] == "pass"
    assert mapped["python"]["status"] == "fail"
    assert code == 1


def test_arch_mismatch_names_the_rebuild_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_pythonpath(monkeypatch)
    _fake_driver(monkeypatch, 1)
    _, data = _run(["--prefix", str(_prefix(tmp_path, tool_devices=1, arch=["8.6"]))], tmp_path)
    arch = _checks(data)["arch[gpu0]"]
    assert arch["status"] == "fail"
    assert "rebuild with --arch 9.0" in arch["reason"]


def test_device_all_reports_per_device_and_a_bad_index_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clear_pythonpath(monkeypatch)
    _fake_driver(monkeypatch, 2)
    prefix = _prefix(tmp_path, tool_devices=2)
    _, data = _run(["--prefix", str(prefix), "--device", "all"], tmp_path)
    labels = [c["label"] for c in data["checks"]]
    assert labels.count("mapped[gpu0]") == 1 and labels.count("mapped[gpu1]") == 1
    result = runner.invoke(app, ["verify", "--prefix", str(prefix), "--device", "7"])
    assert result.exit_code == 2
    assert "--device 7: no such CUDA device; there are 0 (Fake H100), 1 (Fake H100)" in result.output


def test_missing_tool_is_a_clear_failure_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_pythonpath(monkeypatch)
    _fake_driver(monkeypatch, 1)
    _, data = _run(["--prefix", str(_prefix(tmp_path))], tmp_path)
    parts = {p["name"]: p for p in _checks(data)["device_info[gpu0]"]["parts"]}
    assert parts["cpp"]["status"] == "fail"
    assert "cvcuda-zerocopy-check not found" in parts["cpp"]["reason"]


def test_junit_and_stdout_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_pythonpath(monkeypatch)
    _fake_driver(monkeypatch, 0)
    junit = tmp_path / "out" / "verify.xml"
    result = runner.invoke(
        app, ["verify", "--prefix", str(_prefix(tmp_path)), "--junit", str(junit), "--json", "-"]
    )
    data = json.loads(result.stdout)
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == data["summary"]["total"]
    assert int(suite.get("failures", "-1")) == data["summary"]["fail"]
    assert int(suite.get("skipped", "-1")) == data["summary"]["skip"]
    by_name = {c.get("name"): c for c in cases}
    assert by_name["pipeline"].find("skipped") is not None
    failure = by_name["cv2"].find("failure")
    assert failure is not None and "import cv2 failed" in (failure.get("message") or "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "first"], "--device 'first' is neither a device index nor 'all'"),
        (["--images", "/nonexistent/images"], "--images /nonexistent/images is not a directory"),
    ],
)
def test_bad_options_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["verify", "--prefix", str(_prefix(tmp_path)), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_missing_prefix_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", "--prefix", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
