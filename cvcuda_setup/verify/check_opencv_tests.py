"""Check ``opencv_tests``: OpenCV's own CUDA accuracy tests for Gaussian and Canny, when they were built.

Runs ``opencv_test_cudafilters`` and ``opencv_test_cudaimgproc`` (from ``<prefix>/bin`` or the manifest's
build directory) with ``--gtest_filter=*Gaussian*:*Canny*`` and gtest's JSON output. Only with
``--opencv-tests``; skipped when the binaries were not built (the recipes set BUILD_TESTS=OFF). The Canny
tests read ``stereobm/aloe-L.png`` from opencv_extra's testdata (``OPENCV_TEST_DATA_PATH``): tests that fail
only because that data is missing are counted apart and make the part a skip, not a pass.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cvcuda_setup.verify.context import Context
from cvcuda_setup.verify.procs import run_process
from cvcuda_setup.verify.result import CheckResult, Part, failed, passed, skipped

ID = "opencv_tests"
TITLE = "OpenCV CUDA accuracy tests"

BINARIES = ("opencv_test_cudafilters", "opencv_test_cudaimgproc")
GTEST_FILTER = "*Gaussian*:*Canny*"
MISSING_DATA = "Can't find required data file"
TIMEOUT_S = 900.0


def find_binary(ctx: Context, name: str) -> Path | None:
    dirs = [ctx.prefix / "bin"]
    if ctx.manifest.build_dir is not None:
        dirs.append(ctx.manifest.build_dir / "bin")
    for d in dirs:
        path = d / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def summarize_gtest(report: dict[str, Any]) -> dict[str, Any]:
    """Counts from gtest's JSON report: tests run, failed, failed only for missing test data, skipped."""
    run = failures = missing = skipped_n = 0
    failed_names: list[str] = []
    for suite in report.get("testsuites") or []:
        for test in suite.get("testsuite") or []:
            if test.get("status") != "RUN":
                continue
            if test.get("result") == "SKIPPED":
                skipped_n += 1
                continue
            run += 1
            messages = [str(f.get("failure", "")) for f in test.get("failures") or []]
            if messages:
                if all(MISSING_DATA in m for m in messages):
                    missing += 1
                else:
                    failures += 1
                    failed_names.append(f"{suite.get('name')}.{test.get('name')}")
    return {
        "run": run,
        "failed": failures,
        "missing_data": missing,
        "skipped": skipped_n,
        "failed_tests": failed_names[:20],
    }


def binary_part(ctx: Context, name: str, device: int | None) -> Part:
    path = find_binary(ctx, name)
    if path is None:
        why = ""
        if ctx.manifest.cmake_option("BUILD_TESTS") in ("OFF", "FALSE", "0"):
            why = " (the build has BUILD_TESTS=OFF)"
        return skipped(name, f"not built{why}")
    out = ctx.work / f"{name}.json"
    args = [f"--gtest_filter={GTEST_FILTER}", f"--gtest_output=json:{out}"]
    if device is not None:
        args.append(f"--cuda_device={device}")
    res = run_process([str(path), *args], ctx.env, TIMEOUT_S, ctx.work)
    if not out.is_file():
        return failed(name, f"no gtest report: {res.describe_failure()}")
    try:
        counts = summarize_gtest(json.loads(out.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        return failed(name, f"unreadable gtest report {out}: {exc}")
    counts["binary"] = str(path)
    if counts["failed"]:
        return failed(
            name,
            f"{counts['failed']} of {counts['run']} tests failed: {', '.join(counts['failed_tests'][:3])}",
            **counts,
        )
    if counts["run"] == 0:
        return skipped(name, "no test matched the filter", **counts)
    if counts["missing_data"] == counts["run"]:
        return skipped(name, "every test needs opencv_extra's testdata: set OPENCV_TEST_DATA_PATH", **counts)
    note = (
        f", {counts['missing_data']} skipped for missing testdata (OPENCV_TEST_DATA_PATH)"
        if counts["missing_data"]
        else ""
    )
    return passed(name, f"{counts['run'] - counts['missing_data']} tests passed{note}", **counts)


def run(ctx: Context, *, device: int | None, gpu_reason: str | None) -> CheckResult:
    if not ctx.options.opencv_tests:
        return CheckResult.skip(ID, TITLE, "not requested (--opencv-tests)")
    if gpu_reason:
        return CheckResult.skip(ID, TITLE, gpu_reason)
    return CheckResult.from_parts(ID, TITLE, [binary_part(ctx, name, device) for name in BINARIES])
