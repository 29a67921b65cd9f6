"""Check ``opencv_tests``: OpenCV's own CUDA accuracy test suites, in full, when they were built.

Runs every ``opencv_test_cuda*`` binary (from ``<prefix>/bin`` or the manifest's build directory, built by
``build --with-tests``) with gtest's JSON output, once per selected device (``--cuda_device=N``, the
suites' own option), each run bounded by ``--opencv-tests-timeout``. ``OPENCV_TEST_DATA_PATH`` is the
caller's, else the bundle's ``opencv_extra/testdata`` beside the source tree, else the cache's
(``sources/testdata.py``). Per binary and device: tests run, failed (with names), failed only for missing
test data (counted apart), known upstream failures (``opencv_known_failures.toml``, listed with their
issue, not counted as failures).
Only with ``--opencv-tests``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from cvcuda_setup.verify.context import Context
from cvcuda_setup.verify.procs import run_process
from cvcuda_setup.verify.result import CheckResult, Part, failed, passed, skipped

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ID = "opencv_tests"
TITLE = "OpenCV CUDA accuracy tests"

#: The suites of the CUDA modules: opencv_test_cuda<module> and cudev's own.
PATTERNS = ("opencv_test_cuda*", "opencv_test_cudev")
PATTERN = "opencv_test_cuda*, opencv_test_cudev"
MISSING_DATA = ("Can't find required data file", "Can't find required directory", "Can't find data file")
#: How a CUDA suite fails when its input is not there: ``ASSERT_FALSE(img.empty())`` after ts's
#: ``readImage`` (a plain ``imread`` of ``OPENCV_TEST_DATA_PATH`` + name, no "Can't find" message), or
#: ``ASSERT_TRUE(fs.isOpened())`` after a ``FileStorage`` of it. Counted as missing data only when the run
#: had no testdata folder (or an empty one); with testdata, such a failure is a failure.
EMPTY_IMAGE = re.compile(r"\.empty\(\)\s+Actual: true|\.isOpened\(\)\s+Actual: false")
#: Characters kept of each failing test's first message in the report.
MESSAGE_CHARS = 400
KNOWN_FAILURES = Path(__file__).with_name("opencv_known_failures.toml")


def find_binaries(ctx: Context) -> list[Path]:
    """Every executable ``opencv_test_cuda*``, the prefix's first, one per name."""
    dirs = [ctx.prefix / "bin"]
    if ctx.manifest.build_dir is not None:
        dirs.append(ctx.manifest.build_dir / "bin")
    found: dict[str, Path] = {}
    for d in dirs:
        names = {p for pattern in PATTERNS for p in d.glob(pattern)} if d.is_dir() else set()
        for path in sorted(names):
            if path.is_file() and os.access(path, os.X_OK) and path.name not in found:
                found[path.name] = path
    return [found[name] for name in sorted(found)]


def find_binary(ctx: Context, name: str) -> Path | None:
    return next((p for p in find_binaries(ctx) if p.name == name), None)


def load_known_failures(path: Path | None = None) -> list[dict[str, Any]]:
    """The entries of the known-upstream-failures file (``KNOWN_FAILURES``); an unreadable file: none."""
    try:
        data = tomllib.loads((path or KNOWN_FAILURES).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return []
    entries = data.get("failure", [])
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("test"), str)]


def known_failure(name: str, version: str | None, known: list[dict[str, Any]]) -> dict[str, Any] | None:
    for entry in known:
        versions = entry.get("opencv") or []
        if fnmatch.fnmatchcase(name, entry["test"]) and (
            not versions or (version and any(fnmatch.fnmatchcase(version, v) for v in versions))
        ):
            return entry
    return None


def _is_missing_data(messages: list[str], data_complete: bool) -> bool:
    if all(any(m in text for m in MISSING_DATA) for text in messages):
        return True
    return not data_complete and all(EMPTY_IMAGE.search(text) for text in messages)


def summarize_gtest(
    report: dict[str, Any],
    *,
    version: str | None = None,
    known: list[dict[str, Any]] | None = None,
    data_complete: bool = True,
) -> dict[str, Any]:
    """Counts from gtest's JSON report: run, failed (names and first messages), failed only for missing data
    (ts's "Can't find" messages; an input image that did not load when ``data_complete`` is false), known
    upstream failures (names with their issue), skipped."""
    run = failures = missing = skipped_n = 0
    failed_names: list[str] = []
    messages_of: dict[str, str] = {}
    missing_names: list[str] = []
    known_hits: list[dict[str, str]] = []
    for suite in report.get("testsuites") or []:
        for test in suite.get("testsuite") or []:
            if test.get("status") != "RUN":
                continue
            if test.get("result") == "SKIPPED":
                skipped_n += 1
                continue
            run += 1
            messages = [str(f.get("failure", "")) for f in test.get("failures") or []]
            if not messages:
                continue
            name = f"{suite.get('name')}.{test.get('name')}"
            entry = known_failure(name, version, known or [])
            if _is_missing_data(messages, data_complete):
                missing += 1
                missing_names.append(name)
            elif entry is not None:
                known_hits.append(
                    {
                        "test": name,
                        "issue": str(entry.get("issue", "")),
                        "reason": str(entry.get("reason", "")),
                    }
                )
            else:
                failures += 1
                failed_names.append(name)
                messages_of[name] = messages[0][:MESSAGE_CHARS]
    return {
        "run": run,
        "failed": failures,
        "missing_data": missing,
        "known_failures": known_hits,
        "skipped": skipped_n,
        "failed_tests": failed_names,
        "failure_messages": messages_of,
        "missing_data_tests": missing_names[:50],
    }


def testdata_dir(ctx: Context) -> Path | None:
    """The opencv_extra testdata folder this prefix's build used: the bundle's beside the source tree, else
    the cache's for the OpenCV version."""
    from cvcuda_setup.sources.cache import default_cache_dir
    from cvcuda_setup.sources.testdata import cache_root

    manifest = ctx.manifest.manifest
    tree = manifest.source if manifest is not None else None
    candidates: list[Path] = []
    if tree is not None:
        candidates.append(Path(tree.opencv_dir).parent / "opencv_extra" / "testdata")
    version = ctx.manifest.opencv_version
    if version:
        ref = version
        if tree is not None:
            from cvcuda_setup.sources.testdata import testdata_ref

            ref = testdata_ref(tree.spec, version)
        candidates.append(cache_root(default_cache_dir(), ref))
    return next((c for c in candidates if c.is_dir()), None)


def binary_part(
    ctx: Context, path: Path, device: int | None, env: dict[str, str], *, data_complete: bool = True
) -> Part:
    label = path.name if device is None else f"{path.name}[gpu{device}]"
    out = ctx.work / f"{label}.json"
    args = [f"--gtest_output=json:{out}"]
    if device is not None:
        args.append(f"--cuda_device={device}")
    res = run_process([str(path), *args], env, ctx.options.opencv_tests_timeout_s, ctx.work)
    if not out.is_file():
        return failed(label, f"no gtest report: {res.describe_failure()}")
    try:
        counts = summarize_gtest(
            json.loads(out.read_text(encoding="utf-8")),
            version=ctx.manifest.opencv_version,
            known=load_known_failures(),
            data_complete=data_complete,
        )
    except (OSError, json.JSONDecodeError) as exc:
        return failed(label, f"unreadable gtest report {out}: {exc}")
    counts["binary"] = str(path)
    counts["device"] = device
    if ctx.options.out_dir is not None:  # gtest's own report, with every message, beside verify's
        ctx.options.out_dir.mkdir(parents=True, exist_ok=True)
        counts["gtest_report"] = str(shutil.copyfile(out, ctx.options.out_dir / f"gtest-{label}.json"))
    hits = len(counts["known_failures"])
    known = f", {hits} known failures (listed with their cause)" if hits else ""
    missing = f", {counts['missing_data']} failed for missing testdata" if counts["missing_data"] else ""
    if counts["failed"]:
        names = ", ".join(counts["failed_tests"][:3])
        return failed(
            label, f"{counts['failed']} of {counts['run']} tests failed: {names}{missing}{known}", **counts
        )
    if counts["run"] == 0:
        return skipped(label, "no test ran", **counts)
    if counts["missing_data"] == counts["run"]:
        return skipped(label, "every test needs opencv_extra's testdata (OPENCV_TEST_DATA_PATH)", **counts)
    good = counts["run"] - counts["missing_data"] - len(counts["known_failures"])
    return passed(label, f"{good} tests passed{missing}{known}", **counts)


def run(
    ctx: Context, *, device: int | None = None, gpu_reason: str | None, devices: list[int] | None = None
) -> CheckResult:
    if not ctx.options.opencv_tests:
        return CheckResult.skip(ID, TITLE, "not requested (--opencv-tests)")
    if gpu_reason:
        return CheckResult.skip(ID, TITLE, gpu_reason)
    binaries = find_binaries(ctx)
    if not binaries:
        why = ""
        if ctx.manifest.cmake_option("BUILD_TESTS") in ("OFF", "FALSE", "0"):
            why = " (the build has BUILD_TESTS=OFF: build --with-tests builds them)"
        return CheckResult.skip(ID, TITLE, f"no {PATTERN} binary built{why}")
    env = dict(ctx.env)
    data = None if env.get("OPENCV_TEST_DATA_PATH") else testdata_dir(ctx)
    if data is not None:
        env["OPENCV_TEST_DATA_PATH"] = str(data)
    where = env.get("OPENCV_TEST_DATA_PATH")
    complete = bool(where) and Path(str(where)).is_dir() and any(Path(str(where)).iterdir())
    selected: list[int | None] = list(devices) if devices else [device]
    parts = [binary_part(ctx, path, d, env, data_complete=complete) for path in binaries for d in selected]
    parts.append(
        passed("testdata", f"OPENCV_TEST_DATA_PATH={where}", path=where)
        if where
        else skipped("testdata", "no opencv_extra testdata found: tests reading it fail for missing data")
    )
    return CheckResult.from_parts(ID, TITLE, parts)
