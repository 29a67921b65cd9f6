"""``cvcuda-setup bench pipeline|alloc|plot`` end to end through typer's CliRunner, fakes at the boundaries.

The fakes: the cuda-python adapter (``probe.gpu._query_driver``) reports no GPU or a fake H100; ``cmake`` is a
script that "configures" (writes build.ninja) and "builds" (writes the benchmark tool); the tool is a script
printing a document in the documented shape. Everything between (the GPU gate, the builder, running the tool,
exit codes, validation, targets, tables, JSON files) is the real code.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from test_bench_alloc import sample_doc as alloc_doc
from test_bench_pipeline import sample_doc as pipeline_doc
from typer.testing import CliRunner

from cvcuda_setup.bench import tool as bench_tool
from cvcuda_setup.cli.app import app
from cvcuda_setup.model import GpuDevice
from cvcuda_setup.probe import gpu as gpu_probe

runner = CliRunner()

H100 = GpuDevice(index=0, name="Fake H100", major=9, minor=0, total_memory=80 << 30)

FAKE_TOOL = """#!{python}
import json, os, sys
with open(os.environ["FAKE_BENCH_ARGS"], "w") as f:
    json.dump(sys.argv[1:], f)
sys.stderr.write("fake tool: " + sys.argv[1] + " running\\n")
rc = int(os.environ.get("FAKE_BENCH_RC", "0"))
if rc:
    sys.stderr.write("error: " + os.environ.get("FAKE_BENCH_MESSAGE", "boom") + "\\n")
    sys.exit(rc)
sys.stdout.write(open(os.environ["FAKE_BENCH_DOC"]).read())
"""

FAKE_CMAKE = """#!{python}
import json, os, sys, stat
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_CMAKE_LOG"], "a") as f:
    f.write(json.dumps(args) + "\\n")
if args[0] == "-S":
    Path(args[args.index("-B") + 1], "build.ninja").write_text("# fake\\n")
elif args[0] == "--build":
    exe = Path(args[1], "cvcuda-zerocopy-bench")
    exe.write_text({tool!r})
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
"""


def _driver(
    monkeypatch: pytest.MonkeyPatch, devices: tuple[GpuDevice, ...], error: str | None = None
) -> None:
    probe = gpu_probe.GpuProbe(devices=devices, driver_version=13000, error=error)
    monkeypatch.setattr(gpu_probe, "_query_driver", lambda drv=None: probe)


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A fake H100, a fake cmake that builds the fake tool, and the files they talk through."""
    _driver(monkeypatch, (H100,))
    cmake = tmp_path / "bin" / "cmake"
    cmake.parent.mkdir()
    tool = FAKE_TOOL.format(python=sys.executable)
    cmake.write_text(FAKE_CMAKE.format(python=sys.executable, tool=tool), encoding="utf-8")
    cmake.chmod(cmake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(bench_tool, "_tool_paths", lambda: (str(cmake), "/fake/ninja"))
    prefix = tmp_path / "prefix"
    (prefix / "lib").mkdir(parents=True)
    paths = {
        "prefix": prefix,
        "cache": tmp_path / "cache",
        "cmake_log": tmp_path / "cmake.log",
        "args": tmp_path / "tool-args.json",
        "doc": tmp_path / "doc.json",
    }
    monkeypatch.setenv("FAKE_CMAKE_LOG", str(paths["cmake_log"]))
    monkeypatch.setenv("FAKE_BENCH_ARGS", str(paths["args"]))
    monkeypatch.setenv("FAKE_BENCH_DOC", str(paths["doc"]))
    return paths


def _invoke(*args: str) -> Any:
    return runner.invoke(app, ["bench", *args])


@pytest.mark.parametrize("command", ["pipeline", "alloc"])
def test_no_gpu_exits_2(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _driver(monkeypatch, (), error="the driver reports 0 CUDA devices")
    result = _invoke(command, "--prefix", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "no CUDA device: the driver reports 0 CUDA devices" in result.output


def test_device_out_of_range_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _driver(monkeypatch, (H100,))
    result = _invoke("pipeline", "--prefix", str(tmp_path), "--device", "3")
    assert result.exit_code == 2
    assert "--device 3: only 1 CUDA device(s) visible" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pipeline", "--sizes", "1920by1080"], "is not WIDTHxHEIGHT"),
        (["pipeline", "--strategies", "zerocopy,warp"], "unknown warp"),
        (["pipeline", "--repeat", "0"], "--repeat 0 is out of range"),
        (["alloc", "--max-seconds", "0"], "--max-seconds 0.0 is out of range"),
        (["build", "--recipe", "minimal", "--compare", "minimal"], "same recipe"),
    ],
)
def test_bad_options_exit_2_before_any_work(args: list[str], message: str) -> None:
    result = _invoke(*args)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("command", ["pipeline", "alloc", "build", "plot"])
def test_help_has_an_example(command: str) -> None:
    result = _invoke(command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and f"cvcuda-setup bench {command}" in result.output


def test_pipeline_end_to_end(fakes: dict[str, Path]) -> None:
    fakes["doc"].write_text(json.dumps(pipeline_doc()), encoding="utf-8")
    out = fakes["prefix"].parent / "out" / "pipeline.json"
    result = _invoke(
        "pipeline",
        "--prefix",
        str(fakes["prefix"]),
        "--cache-dir",
        str(fakes["cache"]),
        "--sizes",
        "640x480,3840x2160,7680x4320",
        "--repeat",
        "20",
        "--bands",
        "6",
        "--json",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "fake tool: pipeline running" in result.output  # the tool's stderr is echoed
    assert "0.880 ms  x1.85" in result.output and "targets" in result.output
    tool_args = json.loads(fakes["args"].read_text())
    assert tool_args[:3] == ["pipeline", "--sizes", "640x480,3840x2160,7680x4320"]
    assert tool_args[tool_args.index("--bands") + 1] == "6"
    assert tool_args[tool_args.index("--repeat") + 1] == "20"
    assert tool_args[tool_args.index("--copy-blocks-per-sm") + 1] == "2"
    written = json.loads(out.read_text())
    assert written["summary"]["mismatch_failures"] == []
    assert written["summary"]["speedup_vs_pageable"]["3840x2160"]["zerocopy"] == pytest.approx(1.63 / 0.88)
    configure = json.loads(fakes["cmake_log"].read_text().splitlines()[0])
    assert f"-DCMAKE_PREFIX_PATH={fakes['prefix'].resolve()}" in configure
    assert "-DCMAKE_CUDA_ARCHITECTURES=90" in configure  # from the (fake) device's compute capability


def test_pipeline_reuses_the_configured_build(fakes: dict[str, Path]) -> None:
    fakes["doc"].write_text(json.dumps(pipeline_doc()), encoding="utf-8")
    args = ["pipeline", "--prefix", str(fakes["prefix"]), "--cache-dir", str(fakes["cache"]), "--json", "-"]
    assert _invoke(*args).exit_code == 0
    assert _invoke(*args).exit_code == 0
    calls = [json.loads(line)[0] for line in fakes["cmake_log"].read_text().splitlines()]
    assert calls == ["-S", "--build", "--build"]  # configured once, built (incrementally) each time


def test_pipeline_json_to_stdout_is_the_document(fakes: dict[str, Path]) -> None:
    fakes["doc"].write_text(json.dumps(pipeline_doc()), encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "bench",
            "pipeline",
            "--prefix",
            str(fakes["prefix"]),
            "--cache-dir",
            str(fakes["cache"]),
            "--json",
            "-",
        ],
    )
    assert result.exit_code == 0
    start = result.stdout.index("{\n")
    doc = json.loads(result.stdout[start:])
    assert doc["schema"] == "cvcuda-setup/bench-pipeline/1" and "summary" in doc


def test_pipeline_mismatch_exits_1_after_writing_the_figures(fakes: dict[str, Path]) -> None:
    doc = pipeline_doc()
    doc["results"][1]["strategies"]["banded"]["mismatched_pixels"] = 42
    fakes["doc"].write_text(json.dumps(doc), encoding="utf-8")
    out = fakes["prefix"].parent / "mismatch.json"
    result = _invoke(
        "pipeline", "--prefix", str(fakes["prefix"]), "--cache-dir", str(fakes["cache"]), "--json", str(out)
    )
    assert result.exit_code == 1
    assert "banded edges differ from zerocopy in 42 pixels at 3840x2160" in result.output
    assert json.loads(out.read_text())["summary"]["mismatch_failures"]


def test_tool_without_device_exits_2(fakes: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BENCH_RC", "3")
    monkeypatch.setenv("FAKE_BENCH_MESSAGE", "no CUDA device: cudaGetDeviceCount: cudaErrorNoDevice")
    result = _invoke("alloc", "--prefix", str(fakes["prefix"]), "--cache-dir", str(fakes["cache"]))
    assert result.exit_code == 2
    assert "error: no CUDA device: cudaGetDeviceCount: cudaErrorNoDevice" in result.output


def test_tool_crash_exits_1(fakes: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BENCH_RC", "1")
    monkeypatch.setenv("FAKE_BENCH_MESSAGE", "OpenCV: cudaErrorIllegalAddress")
    result = _invoke("pipeline", "--prefix", str(fakes["prefix"]), "--cache-dir", str(fakes["cache"]))
    assert result.exit_code == 1
    assert "exited with code 1: OpenCV: cudaErrorIllegalAddress" in result.output


def test_tool_output_of_the_wrong_shape_exits_1(fakes: dict[str, Path]) -> None:
    doc = pipeline_doc()
    del doc["results"][0]["floor_ms"]
    fakes["doc"].write_text(json.dumps(doc), encoding="utf-8")
    result = _invoke("pipeline", "--prefix", str(fakes["prefix"]), "--cache-dir", str(fakes["cache"]))
    assert result.exit_code == 1
    assert "results[0] has no 'floor_ms'" in result.output


def test_alloc_end_to_end(fakes: dict[str, Path]) -> None:
    fakes["doc"].write_text(json.dumps(alloc_doc()), encoding="utf-8")
    out = fakes["prefix"].parent / "alloc.json"
    result = _invoke(
        "alloc",
        "--prefix",
        str(fakes["prefix"]),
        "--cache-dir",
        str(fakes["cache"]),
        "--iterations",
        "1000",
        "--json",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "plugin_pooled" in result.output and "1600x" in result.output
    assert json.loads(fakes["args"].read_text())[:5] == [
        "alloc",
        "--sizes",
        "1920x1080,3840x2160",
        "--iterations",
        "1000",
    ]
    assert json.loads(out.read_text())["summary"]["pool_targets"][0]["met"] is True


def test_missing_prefix_exits_2(fakes: dict[str, Path]) -> None:
    result = _invoke(
        "pipeline", "--prefix", str(fakes["prefix"] / "nope"), "--cache-dir", str(fakes["cache"])
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_plot_without_matplotlib_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    doc = tmp_path / "p.json"
    doc.write_text(json.dumps(pipeline_doc()), encoding="utf-8")
    result = _invoke("plot", str(doc), "--out", str(tmp_path / "p.png"))
    assert result.exit_code == 2
    assert "pip install matplotlib" in result.output
    _driver(monkeypatch, ())
    result = _invoke("pipeline", "--prefix", str(tmp_path), "--plot", str(tmp_path / "p.png"))
    assert result.exit_code == 2 and "pip install matplotlib" in result.output  # before any GPU work


def test_plot_from_a_saved_document(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is optional (pip install matplotlib)")
    doc = tmp_path / "p.json"
    doc.write_text(json.dumps(pipeline_doc()), encoding="utf-8")
    result = _invoke("plot", str(doc), "--out", str(tmp_path / "p.png"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_pipeline_device_all_runs_once_per_device(
    fakes: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    l4 = GpuDevice(index=1, name="Fake L4", major=8, minor=9, total_memory=24 << 30)
    _driver(monkeypatch, (H100, l4))
    fakes["doc"].write_text(json.dumps(pipeline_doc()), encoding="utf-8")
    out = fakes["prefix"].parent / "per-device.json"
    result = _invoke(
        "pipeline", "--prefix", str(fakes["prefix"]), "--cache-dir", str(fakes["cache"]),
        "--device", "all", "--json", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "GPU 0: Fake H100" in result.output and "GPU 1: Fake L4" in result.output
    written = json.loads(out.read_text())
    assert written["schema"] == "cvcuda-setup.bench-pipeline-devices/1" and len(written["devices"]) == 2
    last_args = json.loads(fakes["args"].read_text())
    assert last_args[last_args.index("--device") + 1] == "1"
    configure = json.loads(fakes["cmake_log"].read_text().splitlines()[0])
    assert "-DCMAKE_CUDA_ARCHITECTURES=89;90" in configure  # one tool for the union of the devices


def test_pipeline_device_must_be_an_index_or_all(fakes: dict[str, Path]) -> None:
    result = _invoke("pipeline", "--prefix", str(fakes["prefix"]), "--device", "gpu0")
    assert result.exit_code == 2 and "--device 'gpu0' is not a device index" in result.output
