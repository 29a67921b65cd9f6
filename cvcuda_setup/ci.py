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
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Literal

from cvcuda_setup import __version__
from cvcuda_setup.errors import CvCudaSetupError, UsageError

SCHEMA = "cvcuda-setup.ci/1"
SUMMARY = "summary.json"
LOGS = "logs"
#: Where the build step keeps its log files, relative to the build directory (written by cmake.execute).
BUILD_LOGS = "cvcuda-setup-logs"
#: Files a step of an earlier run may have left; removed at the start so no stale result is read as new.
KNOWN_OUTPUTS = ("doctor.json", "build-plan.json", "verify.json", "verify.xml", "sccache.json", SUMMARY)

Status = Literal["passed", "failed", "skipped"]
Log = Callable[[str], None]


@dataclass(frozen=True)
class CiOptions:
    """What ``cvcuda-setup ci`` was asked for; paths are absolute once :func:`normalise` has run."""

    recipe: str
    arch: str
    prefix: Path
    report_dir: Path
    source: str | None = None
    launcher: str = "auto"
    require_gpu: bool = True
    build_dir: Path | None = None
    opencv_version: str | None = None
    python: str | None = None
    jobs: int | None = None
    defines: tuple[str, ...] = ()
    force: bool = False
    #: How to run the tool [:func:`default_tool`]; a test may point it at another executable.
    tool: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Step:
    """One child command: ``argv`` is what follows the tool (``doctor --recipe ...``)."""

    name: str
    argv: tuple[str, ...]
    ok_codes: frozenset[int] = frozenset({0})
    #: Report file (relative) that receives the step's stdout, for steps that print JSON.
    stdout_to: str | None = None
    #: Report files or folders (relative) the step writes itself.
    outputs: tuple[str, ...] = ()


@dataclass
class StepResult:
    name: str
    status: Status
    exit_code: int | None = None
    duration_s: float = 0.0
    command: list[str] = field(default_factory=list)
    stdout: str | None = None
    stderr: str | None = None
    outputs: list[str] = field(default_factory=list)
    note: str = ""
    #: Why a failed step failed, one line each: doctor's error findings with their fixes, else the
    #: step's ``error:`` lines.
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 3),
            "command": self.command,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "outputs": self.outputs,
            "note": self.note,
            "problems": self.problems,
        }


@dataclass
class CiResult:
    options: CiOptions
    steps: list[StepResult]
    started: str
    duration_s: float = 0.0
    sccache: dict[str, Any] | None = None
    build_dir: str | None = None

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    @property
    def exit_code(self) -> int:
        failed = self.failed_step
        if failed is None:
            return 0
        return failed.exit_code if failed.exit_code else 1

    def to_json(self) -> dict[str, Any]:
        o = self.options
        failed = self.failed_step
        return {
            "schema": SCHEMA,
            "tool_version": __version__,
            "status": "passed" if failed is None else "failed",
            "exit_code": self.exit_code,
            "failed_step": failed.name if failed else None,
            "started": self.started,
            "duration_s": round(self.duration_s, 3),
            "inputs": {
                "recipe": o.recipe,
                "arch": o.arch,
                "prefix": str(o.prefix),
                "source": o.source,
                "launcher": o.launcher,
                "require_gpu": o.require_gpu,
                "build_dir": str(o.build_dir) if o.build_dir else None,
                "opencv_version": o.opencv_version,
                "python": o.python,
                "jobs": o.jobs,
                "defines": list(o.defines),
            },
            "build_dir": self.build_dir,
            "steps": [s.to_json() for s in self.steps],
            "sccache": self.sccache,
        }


# ---------------------------------------------------------------- planning (pure)


def default_tool() -> tuple[str, ...]:
    """This interpreter running this package: the children see exactly the code the parent runs."""
    return (sys.executable, "-m", "cvcuda_setup")


def normalise(options: CiOptions) -> CiOptions:
    """Absolute paths (children run in the same directory, but the summary should not depend on it)."""
    from dataclasses import replace

    if options.launcher not in ("auto", "ccache", "sccache", "none"):
        raise UsageError(f"--launcher {options.launcher!r} is not one of auto, ccache, sccache, none")
    if options.jobs is not None and options.jobs < 1:
        raise UsageError(f"--jobs {options.jobs} must be at least 1")
    source = options.source
    if source and os.path.isdir(os.path.expanduser(source)):
        source = str(Path(source).expanduser().resolve())
    return replace(
        options,
        prefix=options.prefix.expanduser().resolve(),
        report_dir=options.report_dir.expanduser().resolve(),
        build_dir=options.build_dir.expanduser().resolve() if options.build_dir else None,
        source=source,
        tool=options.tool or default_tool(),
    )


def _build_args(o: CiOptions) -> list[str]:
    """The options ``build`` gets in both the plan step (dry run) and the build step."""
    args = ["--recipe", o.recipe, "--arch", o.arch, "--prefix", str(o.prefix), "--launcher", o.launcher]
    if o.source:
        args += ["--source", o.source]
    if o.opencv_version:
        args += ["--opencv-version", o.opencv_version]
    if o.build_dir:
        args += ["--build-dir", str(o.build_dir)]
    if o.python:
        args += ["--python", o.python]
    if o.jobs:
        args += ["--jobs", str(o.jobs)]
    for define in o.defines:
        args += ["-D", define]
    return args


def plan_steps(o: CiOptions, opencv_version: str, plugin_options: Sequence[str] | None) -> list[Step]:
    """The steps for these options. ``plugin_options`` are the ``plugin`` command's option names (None: the
    command does not exist in this cvcuda-setup, and the plugin step says so)."""
    doctor = ["doctor", "--recipe", o.recipe, "--arch", o.arch, "--opencv-version", opencv_version]
    doctor += ["--prefix", str(o.prefix), "--json"]
    if o.build_dir:
        doctor += ["--build-dir", str(o.build_dir)]
    if o.python:
        doctor += ["--python", o.python]
    if o.source and os.path.isdir(o.source):
        doctor += ["--source", o.source]
    build = ["build", *_build_args(o), "--no-doctor", "--no-plugin"]
    if o.force:
        build.append("--force")
    steps = [
        Step("doctor", tuple(doctor), ok_codes=frozenset({0, 1}), stdout_to="doctor.json"),
        Step("plan", ("build", *_build_args(o), "--dry-run", "--json"), stdout_to="build-plan.json"),
        Step("build", tuple(build)),
    ]
    if plugin_options is not None:
        plugin = ["plugin", "--prefix", str(o.prefix)]
        if o.python and "--python" in plugin_options:
            plugin += ["--python", o.python]
        if o.jobs and "--jobs" in plugin_options:
            plugin += ["--jobs", str(o.jobs)]
        steps.append(Step("plugin", tuple(plugin)))
    else:
        steps.append(Step("plugin", ()))
    verify = ["verify", "--prefix", str(o.prefix), "--json", str(o.report_dir / "verify.json")]
    verify += ["--junit", str(o.report_dir / "verify.xml"), "--out", str(o.report_dir / "verify-images")]
    if o.require_gpu:
        verify.append("--require-gpu")
    if o.python:
        verify += ["--python", o.python]
    steps.append(Step("verify", tuple(verify), outputs=("verify.json", "verify.xml", "verify-images")))
    return steps


def command_options(name: str) -> list[str] | None:
    """The option names (``--prefix``, ``-D``, ...) of one of this tool's commands; None when it has none."""
    import typer.main

    from cvcuda_setup.cli.app import app

    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    command = commands.get(name)
    if command is None:
        return None
    names: list[str] = []
    for param in command.params:
        names += [*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())]
    return names


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


def _pump(stream: IO[bytes], sink: IO[str], echo: Log | None, prefix: str) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        sink.write(line + "\n")
        sink.flush()
        if echo is not None:
            echo(f"{prefix}{line}")
    stream.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C: SIGINT the child's process group (ninja and the compilers too), then SIGKILL after a grace."""
    for sig, grace in ((signal.SIGINT, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


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
    with stdout_log.open("w", encoding="utf-8") as out, stderr_log.open("w", encoding="utf-8") as err:
        try:
            proc = subprocess.Popen(
                list(cmd),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            err.write(f"cannot run {cmd[0]}: {exc.strerror}\n")
            return 127
        assert proc.stdout is not None and proc.stderr is not None
        threads = [
            threading.Thread(target=_pump, args=(proc.stdout, out, echo if echo_stdout else None, prefix)),
            threading.Thread(target=_pump, args=(proc.stderr, err, echo, prefix)),
        ]
        for t in threads:
            t.daemon = True
            t.start()
        try:
            code = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        finally:
            for t in threads:
                t.join(timeout=10)
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
    if launcher == "sccache":
        return True
    if launcher != "auto":
        return False
    try:
        from cvcuda_setup.cmake import resolve_launcher
    except ImportError:
        return False
    try:
        chosen = resolve_launcher("auto")
    except CvCudaSetupError:
        return False
    return bool(chosen) and Path(str(chosen)).name == "sccache"


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
    steps = plan_steps(o, o.opencv_version or recipe.opencv_version, command_options("plugin"))
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
    if not step.argv:
        (report / out_rel).write_text("")
        (report / err_rel).write_text(f"this cvcuda-setup has no '{step.name}' command\n")
        res.exit_code = 2
        res.note = f"this cvcuda-setup has no '{step.name}' command"
        log(f"ci: {step.name}: failed: {res.note}")
        return res
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
    from cvcuda_setup.sccache import ensure_server, server_for

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


def summary_lines(result: CiResult) -> list[str]:
    """Plain lines for the end of the run: one per step, then the verdict."""
    lines = []
    for s in result.steps:
        code = "" if s.exit_code is None else f" exit {s.exit_code}"
        extra = f" - {s.note}" if s.note else ""
        lines.append(f"{s.name:<8} {s.status:<7}{code:>8} {s.duration_s:8.1f} s{extra}")
    failed = result.failed_step
    report = result.options.report_dir
    if failed is None:
        lines.append(f"ci passed in {result.duration_s:.1f} s; report: {report}")
    else:
        lines.append(f"ci failed at {failed.name} (exit {result.exit_code}); report: {report}")
        lines += [f"  {failed.name}: {problem}" for problem in failed.problems]
    return lines
