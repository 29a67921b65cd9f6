"""``cvcuda-setup ci``, what it runs and what it reports: the options, the steps planned from them (pure), the
per-step results and the summary (``summary.json``, schema ``cvcuda-setup.ci/1``). ``ci.py`` runs them."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cvcuda_setup import __version__
from cvcuda_setup.errors import UsageError

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
    #: ``ci --opencv-tests``: build with ``--with-tests`` and run ``verify --opencv-tests``.
    opencv_tests: bool = False
    #: ``ci --cache oci://HOST/REPO``: the build step installs from the binary cache (hit) or pushes (miss).
    cache: str | None = None
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


def plan_steps(o: CiOptions, opencv_version: str) -> list[Step]:
    """The steps for these options: doctor, plan, build, plugin, verify (each a command of this tool)."""
    doctor = ["doctor", "--recipe", o.recipe, "--arch", o.arch, "--opencv-version", opencv_version]
    doctor += ["--prefix", str(o.prefix), "--json"]
    if o.build_dir:
        doctor += ["--build-dir", str(o.build_dir)]
    if o.python:
        doctor += ["--python", o.python]
    if o.source and os.path.isdir(o.source):
        doctor += ["--source", o.source]
    tests = ["--with-tests"] if o.opencv_tests else []
    build = ["build", *_build_args(o), *tests, "--no-doctor", "--no-plugin"]
    if o.cache:
        build += ["--cache", o.cache]
    if o.force:
        build.append("--force")
    steps = [
        Step("doctor", tuple(doctor), ok_codes=frozenset({0, 1}), stdout_to="doctor.json"),
        Step("plan", ("build", *_build_args(o), *tests, "--dry-run", "--json"), stdout_to="build-plan.json"),
        Step("build", tuple(build)),
    ]
    plugin = ["plugin", "--prefix", str(o.prefix)]
    if o.python:
        plugin += ["--python", o.python]
    if o.jobs:
        plugin += ["--jobs", str(o.jobs)]
    steps.append(Step("plugin", tuple(plugin)))
    verify = ["verify", "--prefix", str(o.prefix), "--json", str(o.report_dir / "verify.json")]
    verify += ["--junit", str(o.report_dir / "verify.xml"), "--out", str(o.report_dir / "verify-images")]
    if o.require_gpu:
        verify.append("--require-gpu")
    if o.opencv_tests:
        verify.append("--opencv-tests")
    if o.python:
        verify += ["--python", o.python]
    steps.append(Step("verify", tuple(verify), outputs=("verify.json", "verify.xml", "verify-images")))
    return steps


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
