"""``cvcuda-setup ci``: doctor -> plan -> build -> plugin -> verify; one exit code, one report folder.

Each step is the tool's own command run as a child process (``python -m cvcuda_setup ...``): the steps stay as
decoupled as the commands are, and each gets its own stdout/stderr log. A step fails when its exit code is not
one it allows (doctor allows 1: warnings only); the steps after a failed one are skipped and the run ends with
the failed step's exit code.

Report folder layout::

    summary.json          schema cvcuda-setup.ci/1: inputs, per-step status, exit code, duration, outputs
    doctor.json           cvcuda-setup doctor --json
    build-plan.json       cvcuda-setup build --dry-run --json (what the build step runs)
    verify.json           cvcuda-setup verify --json
    verify.xml            JUnit XML from verify
    verify-images/        the pipeline's input/output images (verify --out)
    sccache.json          what the build did with the compiler cache (with --launcher sccache)
    logs/<step>.stdout.log, logs/<step>.stderr.log
    logs/build/           the build directory's cvcuda-setup-logs/ (configure, build, install logs)
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cvcuda_setup.ci_plan import (
    BUILD_LOGS,
    KNOWN_OUTPUTS,
    LOGS,
    SCHEMA,
    SUMMARY,
    CiOptions,
    CiResult,
    Log,
    Step,
    StepResult,
    default_tool,
    normalise,
    plan_steps,
)
from cvcuda_setup.errors import CvCudaSetupError, UsageError
from cvcuda_setup.tools import run_teed

# ---------------------------------------------------------------- running


def prepare_report_dir(report: Path) -> None:
    """Create the folder, or reuse one of an earlier ``ci`` run (its old result files are removed first).

    A non-empty folder that holds no ``ci`` summary is refused: this tool writes only into folders it made.
    """
    if report.exists() and not report.is_dir():
        raise UsageError(f"--report {report} is a file", hint="give a folder (it is created if missing)")
    if report.is_dir() and any(report.iterdir()):
        summary = report / SUMMARY
        try:
            ours = json.loads(summary.read_text()).get("schema") == SCHEMA
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise UsageError(
                f"--report {report} is not empty and holds no cvcuda-setup ci summary",
                hint="give a new or empty folder",
            )
        for name in KNOWN_OUTPUTS:
            (report / name).unlink(missing_ok=True)
    (report / LOGS).mkdir(parents=True, exist_ok=True)


def run_command(
    cmd: Sequence[str],
    *,
    stdout_log: Path,
    stderr_log: Path,
    env: Mapping[str, str],
    echo: Log | None,
    echo_stdout: bool,
    prefix: str,
) -> int:
    """Run one child with stdout and stderr each teed to a log (and echoed as plain lines); its exit code."""

    def show(line: str) -> None:
        if echo is not None:
            echo(f"{prefix}{line}")

    with stdout_log.open("w", encoding="utf-8") as out, stderr_log.open("w", encoding="utf-8") as err:
        try:
            code = run_teed(
                cmd,
                stdout_sink=out,
                stderr_sink=err,
                env=env,
                on_stdout=show if echo_stdout else None,
                on_stderr=show,
            )
        except OSError as exc:
            err.write(f"cannot run {cmd[0]}: {exc.strerror}\n")
            return 127
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's 128+N


def _child_env(base: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    env.setdefault("NO_COLOR", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _copy_build_logs(build_dir: Path | None, report: Path) -> list[str]:
    if build_dir is None:
        return []
    src = build_dir / BUILD_LOGS
    if not src.is_dir():
        return []
    dest = report / LOGS / "build"
    shutil.copytree(src, dest, dirs_exist_ok=True)
    return [str(p.relative_to(report)) for p in sorted(dest.rglob("*")) if p.is_file()]


def _uses_sccache(launcher: str) -> bool:
    """Whether the build will compile through sccache: decided by ``host.resolve_launcher``, the resolver
    the build itself uses, so ci starts a server exactly when the build needs one."""
    from cvcuda_setup.host import resolve_launcher

    try:
        chosen = resolve_launcher(launcher)
    except CvCudaSetupError:
        # --launcher sccache that is not installed: the sccache step says so; a bad name: the build says so
        return launcher.strip().lower() == "sccache"
    return chosen is not None and Path(chosen).name == "sccache"


def run_ci(
    options: CiOptions,
    *,
    log: Log,
    environ: Mapping[str, str] | None = None,
) -> CiResult:
    """Run the steps; never raises for a failing step (its exit code decides), only for bad input."""
    from cvcuda_setup.recipes import load_recipe

    o = normalise(options)
    recipe = load_recipe(o.recipe)  # a bad recipe name is an input error: exit 2 before anything runs
    prepare_report_dir(o.report_dir)
    env = _child_env(os.environ if environ is None else environ)
    steps = plan_steps(o, o.opencv_version or recipe.opencv_version)
    result = CiResult(options=o, steps=[], started=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    start = time.monotonic()
    sccache_server = None
    stats_before = None
    failed: StepResult | None = None
    build_dir = o.build_dir
    try:
        for step in steps:
            if failed is not None:
                result.steps.append(StepResult(step.name, "skipped", note=f"after {failed.name} failed"))
                continue
            if step.name == "build" and _uses_sccache(o.launcher):
                sccache_step, sccache_server, stats_before = _sccache_setup(env, log)
                result.steps.append(sccache_step)
                if sccache_step.status == "failed":
                    failed = sccache_step
                    result.steps.append(StepResult(step.name, "skipped", note="after sccache failed"))
                    continue
                env = sccache_server.env if sccache_server is not None else env
            res = _run_step(step, o, env, log)
            result.steps.append(res)
            if step.name == "plan" and res.status == "passed":
                build_dir = build_dir or _plan_build_dir(o.report_dir / "build-plan.json")
                result.build_dir = str(build_dir) if build_dir else None
            if step.name == "build":
                res.outputs += _copy_build_logs(build_dir, o.report_dir)
                if sccache_server is not None and stats_before is not None:
                    result.sccache = _sccache_report(sccache_server, stats_before, o.report_dir, log)
            if res.status == "failed":
                failed = res
    finally:
        result.duration_s = time.monotonic() - start
        (o.report_dir / SUMMARY).write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def _run_step(step: Step, o: CiOptions, env: Mapping[str, str], log: Log) -> StepResult:
    report = o.report_dir
    out_rel, err_rel = f"{LOGS}/{step.name}.stdout.log", f"{LOGS}/{step.name}.stderr.log"
    res = StepResult(step.name, "failed", stdout=out_rel, stderr=err_rel)
    cmd = [*(o.tool or default_tool()), *step.argv]
    res.command = cmd
    log(f"ci: {step.name}: $ {shlex.join(cmd)}")
    t0 = time.monotonic()
    code = run_command(
        cmd,
        stdout_log=report / out_rel,
        stderr_log=report / err_rel,
        env=env,
        echo=log,
        echo_stdout=step.stdout_to is None,
        prefix=f"[{step.name}] ",
    )
    res.duration_s = time.monotonic() - t0
    res.exit_code = code
    res.status = "passed" if code in step.ok_codes else "failed"
    if step.stdout_to is not None:
        text = (report / out_rel).read_text(encoding="utf-8")
        try:
            json.loads(text)
        except ValueError:
            if res.status == "passed":
                res.status = "failed"
                res.exit_code = 1
                res.note = f"{step.name} printed no JSON on stdout"
        else:
            (report / step.stdout_to).write_text(text, encoding="utf-8")
            res.outputs.append(step.stdout_to)
            if step.name == "doctor" and res.status == "failed":
                res.problems = _doctor_errors(text)
    res.outputs += [name for name in step.outputs if (report / name).exists()]
    if res.status == "failed" and not res.problems:
        res.problems = _error_lines(report / err_rel)
    if step.name == "doctor" and code == 1 and res.status == "passed":
        res.note = "warnings only (see doctor.json)"
    log(f"ci: {step.name}: {res.status} (exit {res.exit_code}, {res.duration_s:.1f} s)")
    return res


def _plan_build_dir(plan_json: Path) -> Path | None:
    try:
        value = json.loads(plan_json.read_text()).get("build_dir")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(value) if isinstance(value, str) and value else None


def _sccache_setup(env: Mapping[str, str], log: Log) -> tuple[StepResult, Any, Any]:
    """Find sccache, make its server serve the cache the environment names; stats before the build."""
    from cvcuda_setup.sccache_server import ensure_server, server_for

    res = StepResult("sccache", "failed")
    t0 = time.monotonic()
    try:
        server = server_for(env)
        before = ensure_server(server, log=log)
    except CvCudaSetupError as exc:
        res.exit_code = exc.return_code
        res.note = str(exc)
        res.duration_s = time.monotonic() - t0
        log(f"ci: sccache: failed: {exc}")
        return res, None, None
    res.status = "passed"
    res.exit_code = 0
    res.duration_s = time.monotonic() - t0
    res.note = f"{server.config.describe()} (server reports {before.cache_location})"
    log(f"ci: sccache: {res.note}")
    return res, server, before


def _sccache_report(server: Any, before: Any, report: Path, log: Log) -> dict[str, Any] | None:
    try:
        delta = server.stats().minus(before)
    except CvCudaSetupError as exc:
        log(f"ci: sccache: stats unavailable: {exc}")
        return None
    data: dict[str, Any] = delta.to_json()
    (report / "sccache.json").write_text(json.dumps(data, indent=2) + "\n")
    log("ci: " + delta.summary_line())
    return data


def _doctor_errors(text: str) -> list[str]:
    """doctor --json's error findings as ``message (fix: ...)`` lines."""
    try:
        findings = json.loads(text).get("findings", [])
    except (ValueError, AttributeError):
        return []
    lines = []
    for f in findings:
        if isinstance(f, dict) and f.get("level") == "error":
            fix = f" (fix: {f['fix']})" if f.get("fix") else ""
            lines.append(f"{f.get('message', '?')}{fix}")
    return lines


def _error_lines(stderr_log: Path, limit: int = 5) -> list[str]:
    """The last ``error:`` lines a failed step wrote to stderr."""
    try:
        text = stderr_log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = [line.strip() for line in text.splitlines() if line.strip().startswith("error:")]
    return [line.removeprefix("error:").strip() for line in found[-limit:]]
