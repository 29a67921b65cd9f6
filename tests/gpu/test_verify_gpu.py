"""``cvcuda-setup verify`` on a GPU host against a CUDA prefix built by the tool (skipped without a GPU).

The prefix: the ``gpu_prefix`` fixture when a conftest defines one, else ``$CVCUDA_SETUP_PREFIX``, else the
tool's default prefix; it must hold a manifest whose recipe builds CUDA, otherwise the tests skip and say so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cvcuda_setup.cli.app import app
from cvcuda_setup.verify import check_pipeline
from cvcuda_setup.verify.context import VerifyOptions, read_manifest_json
from cvcuda_setup.verify.runner import build_context

pytestmark = pytest.mark.gpu

runner = CliRunner()


@pytest.fixture(scope="module")
def cuda_prefix(request: pytest.FixtureRequest) -> Path:
    try:
        return Path(request.getfixturevalue("gpu_prefix"))
    except pytest.FixtureLookupError:
        pass
    candidates = [os.environ.get("CVCUDA_SETUP_PREFIX")]
    try:
        from cvcuda_setup.envvars import DEFAULT_PREFIX

        candidates.append(str(DEFAULT_PREFIX))
    except ImportError:
        pass
    for text in candidates:
        if not text:
            continue
        path = Path(text).expanduser()
        intended, _ = read_manifest_json(path).cuda_intended()
        if intended:
            return path
    pytest.skip(
        "no CUDA prefix: set CVCUDA_SETUP_PREFIX to a prefix built by cvcuda-setup with a CUDA recipe"
    )


def _checks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["label"]: c for c in data["checks"]}


def test_every_gpu_check_passes(cuda_prefix: Path, tmp_path: Path) -> None:
    report = tmp_path / "verify.json"
    junit = tmp_path / "verify.xml"
    out = tmp_path / "images"
    result = runner.invoke(
        app,
        [
            "verify",
            "--prefix",
            str(cuda_prefix),
            "--device",
            "all",
            "--require-gpu",
            "--json",
            str(report),
            "--junit",
            str(junit),
            "--out",
            str(out),
        ],
    )
    data = json.loads(report.read_text())
    failures = {c["label"]: c["reason"] for c in data["checks"] if c["status"] == "fail"}
    assert failures == {}, failures
    assert result.exit_code == 0
    checks = _checks(data)
    for device in data["gpu"]["devices"]:
        for check in ("device_info", "arch", "mapped", "pipeline"):
            assert checks[f"{check}[gpu{device['index']}]"]["status"] == "pass"
    pipeline = checks["pipeline[gpu0]"]
    parts = {p["name"]: p for p in pipeline["parts"]}
    for flow in ("python", "cpp"):
        figures = parts[flow]["figures"]
        assert len(figures["cases"]) >= 15  # every generated pattern at every size, at least
        assert figures["min_f1"] >= 0.99 and figures["blur_max_abs"] <= 1
    assert len(data["artifacts"]["files"]) == 7
    assert all(Path(f).read_bytes().startswith(b"\x89PNG") for f in data["artifacts"]["files"])


def test_reallocated_output_is_caught(cuda_prefix: Path, tmp_path: Path) -> None:
    """Negative control on real hardware: a blur buffer one row short makes the filter reallocate its output,
    and the zero-copy proof must notice (the result is then in device memory, not in the mapped array)."""
    ctx = build_context(VerifyOptions(prefix=cuda_prefix, sizes=((640, 480),), sample_photos=False), tmp_path)
    prep = check_pipeline.prepare(ctx)
    assert prep.error is None and prep.usable
    pc = prep.usable[0]
    request = {
        "device": 0,
        "shrink_output": True,
        "cases": [
            {
                "name": pc.case.name,
                "input_npy": str(pc.input_npy),
                "blur_npy": str(tmp_path / "b.npy"),
                "edges_npy": str(tmp_path / "e.npy"),
            }
        ],
    }
    res = ctx.run_worker("pipeline", request)
    assert res.error is None, res.describe_failure()
    cases = (res.data or {}).get("cases") or []
    assert cases, f"the pipeline worker ran no case: {res.data}"
    case = cases[0]
    assert case.get("ok"), case
    problems = check_pipeline.python_zero_copy_problems(case)
    assert any("blur: the output GpuMat was reallocated" in p for p in problems), problems


def test_device_out_of_range_is_a_usage_error(cuda_prefix: Path) -> None:
    result = runner.invoke(app, ["verify", "--prefix", str(cuda_prefix), "--device", "64"])
    assert result.exit_code == 2
    assert "--device 64: no such CUDA device" in result.output
