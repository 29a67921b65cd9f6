"""verify --opencv-tests: every opencv_test_cuda* binary in full, per device, with counts, failing names,
missing-data failures apart and known upstream failures listed (fake gtest binaries writing gtest JSON)."""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

import pytest

from cvcuda_setup.verify import check_opencv_tests as cot
from cvcuda_setup.verify.context import Context, VerifyOptions, read_manifest_json

REPORT = {
    "testsuites": [
        {
            "name": "CUDA_Arithm/Add",
            "testsuite": [
                {"name": "Accuracy/0", "status": "RUN"},
                {"name": "Accuracy/1", "status": "RUN", "failures": [{"failure": "x.cpp:5 Value of: ..."}]},
                {"name": "Accuracy/2", "status": "RUN", "failures": [{"failure": "Known broken"}]},
                {
                    "name": "Data/0",
                    "status": "RUN",
                    "failures": [{"failure": "OpenCV tests: Can't find required data file: gpu/a.png"}],
                },
            ],
        }
    ]
}


def _fake(bin_dir: Path, name: str, report: dict[str, object]) -> Path:
    """A gtest binary: writes ``report`` to --gtest_output=json:FILE and logs its arguments and data path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    payload = json.dumps(report).replace("'", "'\\''")
    path.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in --gtest_output=json:*) out="${a#--gtest_output=json:}";; esac; done\n'
        f'echo "$* data=$OPENCV_TEST_DATA_PATH" >> "{bin_dir}/calls.log"\n'
        f"printf '%s' '{payload}' > \"$out\"\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _ctx(
    prefix: Path, work: Path, env: dict[str, str] | None = None, *, timeout_s: float = 1800.0
) -> Context:
    work.mkdir(parents=True, exist_ok=True)
    return Context(
        options=VerifyOptions(prefix=prefix, opencv_tests=True, opencv_tests_timeout_s=timeout_s),
        prefix=prefix,
        manifest=read_manifest_json(prefix),
        python="python3",
        python_version=None,
        env=dict(env or {"PATH": "/usr/bin:/bin"}),
        prefix_env={},
        tool=prefix / "bin" / "none",
        work=work,
    )


def test_every_binary_runs_in_full_on_every_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    known = tmp_path / "known.toml"
    known.write_text(
        '[[failure]]\ntest = "CUDA_Arithm/Add.Accuracy/2"\nissue = "https://github.com/opencv/x/issues/1"\n'
        'reason = "upstream"\n'
    )
    monkeypatch.setattr(cot, "KNOWN_FAILURES", known)
    prefix = tmp_path / "prefix"
    _fake(prefix / "bin", "opencv_test_cudaarithm", REPORT)
    _fake(
        prefix / "bin",
        "opencv_test_cudafilters",
        {"testsuites": [{"name": "F", "testsuite": [{"name": "a", "status": "RUN"}]}]},
    )
    _fake(prefix / "bin", "opencv_test_core", REPORT)  # not a CUDA suite: not run
    data = tmp_path / "testdata"
    data.mkdir()
    result = cot.run(
        _ctx(prefix, tmp_path / "w", {"PATH": "/usr/bin:/bin", "OPENCV_TEST_DATA_PATH": str(data)}),
        gpu_reason=None,
        devices=[0, 1],
    )
    parts = {p.name: p for p in result.parts}
    assert set(parts) == {
        "opencv_test_cudaarithm[gpu0]",
        "opencv_test_cudaarithm[gpu1]",
        "opencv_test_cudafilters[gpu0]",
        "opencv_test_cudafilters[gpu1]",
        "testdata",
    }
    arith = parts["opencv_test_cudaarithm[gpu1]"]
    assert arith.status == "fail" and arith.figures["failed_tests"] == ["CUDA_Arithm/Add.Accuracy/1"]
    assert arith.figures["run"] == 4 and arith.figures["missing_data"] == 1
    assert arith.figures["known_failures"][0]["issue"] == "https://github.com/opencv/x/issues/1"
    assert "1 known failures (listed with their cause)" in arith.reason
    assert "1 failed for missing testdata" in arith.reason
    assert parts["opencv_test_cudafilters[gpu0]"].status == "pass"
    assert result.status == "fail"
    calls = (prefix / "bin" / "calls.log").read_text().splitlines()
    assert len(calls) == 4 and all("--gtest_filter" not in c for c in calls)
    assert sum("--cuda_device=1" in c for c in calls) == 2 and all(f"data={data}" in c for c in calls)


def test_no_binary_is_a_skip_naming_with_tests(tmp_path: Path) -> None:
    (tmp_path / "prefix").mkdir()
    result = cot.run(_ctx(tmp_path / "prefix", tmp_path / "w"), gpu_reason=None, devices=[0])
    assert result.status == "skip" and "opencv_test_cuda*" in result.reason


def test_missing_data_only_is_a_skip_and_testdata_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cot, "testdata_dir", lambda ctx: None)
    prefix = tmp_path / "prefix"
    only_missing = {"testsuites": [{"name": "S", "testsuite": [REPORT["testsuites"][0]["testsuite"][3]]}]}  # type: ignore[index]
    _fake(prefix / "bin", "opencv_test_cudaimgproc", only_missing)
    result = cot.run(_ctx(prefix, tmp_path / "w"), device=0, gpu_reason=None)
    parts = {p.name: p for p in result.parts}
    assert parts["opencv_test_cudaimgproc[gpu0]"].status == "skip"
    assert parts["testdata"].status == "skip" and result.status == "skip"


def test_known_failure_versions_are_matched() -> None:
    known = [{"test": "A.*", "opencv": ["4.*"], "issue": "u"}]
    assert cot.known_failure("A.b", "4.10.0", known) is not None
    assert cot.known_failure("A.b", "5.1.0", known) is None
    shipped = cot.load_known_failures()  # the shipped file parses; each entry says why (issue or reason)
    assert shipped and all(e["test"] and (e.get("issue") or e.get("reason")) for e in shipped)


def test_a_suite_past_its_bound_fails_and_says_so(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    slow = prefix / "bin" / "opencv_test_cudawarping"
    slow.parent.mkdir(parents=True)
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(slow.stat().st_mode | stat.S_IXUSR)
    result = cot.run(_ctx(prefix, tmp_path / "w", timeout_s=0.5), device=0, gpu_reason=None)
    part = {p.name: p for p in result.parts}["opencv_test_cudawarping[gpu0]"]
    assert part.status == "fail" and "timed out after" in part.reason


NOT_LOADED = "test_canny.cpp:79\nValue of: img.empty()\n  Actual: true\nExpected: false"
EMPTY_IMAGE_FAILURE = {
    "testsuites": [
        {
            "name": "CUDA_ImgProc/Canny",
            "testsuite": [
                {
                    "name": "Accuracy/0",
                    "status": "RUN",
                    "failures": [{"failure": NOT_LOADED}],
                },
                {
                    "name": "Accuracy/1",
                    "status": "RUN",
                    "failures": [{"failure": "max difference 3 exceeds 1"}],
                },
            ],
        }
    ]
}


@pytest.mark.parametrize(("with_data", "missing", "failed"), [(False, 1, 3), (True, 0, 4)])
def test_an_image_that_did_not_load_is_missing_data_only_without_testdata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_data: bool, missing: int, failed: int
) -> None:
    """cudev's suite is found too; without a testdata folder an empty() assertion is missing data, with one it
    is a failure; failing names reach the JUnit details and gtest's own report is kept beside verify's."""
    from cvcuda_setup.verify import report as render

    monkeypatch.setattr(cot, "testdata_dir", lambda ctx: None)
    prefix = tmp_path / "prefix"
    _fake(prefix / "bin", "opencv_test_cudev", REPORT)
    _fake(prefix / "bin", "opencv_test_cudaimgproc", EMPTY_IMAGE_FAILURE)
    env = {"PATH": "/usr/bin:/bin"}
    if with_data:
        data = tmp_path / "testdata"
        (data / "gpu").mkdir(parents=True)
        env["OPENCV_TEST_DATA_PATH"] = str(data)
    ctx = _ctx(prefix, tmp_path / "w", env)
    out = tmp_path / "out"
    ctx = dataclasses.replace(ctx, options=VerifyOptions(prefix=prefix, opencv_tests=True, out_dir=out))
    result = cot.run(ctx, device=0, gpu_reason=None)
    parts = {p.name: p for p in result.parts}
    imgproc, cudev = parts["opencv_test_cudaimgproc[gpu0]"], parts["opencv_test_cudev[gpu0]"]
    assert cudev.figures["run"] == 4
    assert imgproc.figures["missing_data"] + cudev.figures["missing_data"] == missing + 1
    assert imgproc.figures["failed"] + cudev.figures["failed"] == failed
    assert "max difference 3" in imgproc.figures["failure_messages"]["CUDA_ImgProc/Canny.Accuracy/1"]
    assert json.loads(Path(imgproc.figures["gtest_report"]).read_text()) == EMPTY_IMAGE_FAILURE
    details = render._details(result)
    assert (
        "FAILED CUDA_ImgProc/Canny.Accuracy/1" in details and "FAILED CUDA_Arithm/Add.Accuracy/1" in details
    )


@pytest.mark.parametrize(
    ("message", "missing"),
    [
        ("Value of: img.empty()\n  Actual: true\nExpected: false\nCan't load input image", True),
        ("Value of: fs.isOpened()\n  Actual: false\nExpected: true", True),
        ("Value of: img.empty()\n  Actual: false\nExpected: true", False),
        ("The max difference between matrices is 2, which exceeds 1", False),
    ],
)
def test_what_counts_as_input_not_loaded_without_testdata(message: str, missing: bool) -> None:
    report = {
        "testsuites": [
            {"name": "S", "testsuite": [{"name": "t", "status": "RUN", "failures": [{"failure": message}]}]}
        ]
    }
    without = cot.summarize_gtest(report, data_complete=False)
    assert (without["missing_data"], without["failed"]) == ((1, 0) if missing else (0, 1))
    assert cot.summarize_gtest(report, data_complete=True)["failed"] == 1
