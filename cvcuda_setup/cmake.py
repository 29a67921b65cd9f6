"""Run a BuildPlan: lock the build dir, patch, configure (if needed), build with progress, install atomically.

``execute`` is the whole stage; the plan is run unchanged (its configure/build/install commands). Every step
writes its full output to ``<build>/cvcuda-setup-logs/{configure,build,install}.log``; a failing step raises
``StepFailed`` (a ``BuildError``) with the first real error lines, the log path and a hint (``diagnose.py``).

Re-runs: the build dir keeps ``.cvcuda-setup-build.json`` (written when the tool creates or adopts an empty
dir; a non-empty dir without it is refused, never cleaned). It records the hash of the last successful
configure (configure command + source dir). Same hash: no configure, ninja builds what changed. Changed:
cmake runs again with the new options; when the source dir changed or an option was removed (a value CMake
would otherwise keep in its cache) ``CMakeCache.txt`` and ``CMakeFiles/`` are removed first (what
``cmake --fresh`` does), object files are kept and ninja rebuilds only what the new configuration changes.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cvcuda_setup.builddir import (
    LOCK_FILE,
    LOG_DIR,
    claim_build_dir,
    clear_cmake_cache,
    configure_decision,
    now,
    plan_hash,
    write_marker,
)
from cvcuda_setup.buildmanifest import make_manifest
from cvcuda_setup.cmakedriver import ConfigureRecord
from cvcuda_setup.configlog import BuildSummary, compiler_facts, parse_configure_summary
from cvcuda_setup.console import console
from cvcuda_setup.diagnose import Context as DiagnoseContext
from cvcuda_setup.diagnose import diagnose, first_errors
from cvcuda_setup.errors import BuildError, UsageError
from cvcuda_setup.install import (
    check_prefix,
    commit,
    lock_prefix,
    outside_prefix,
    staged_prefix,
    staging_area,
)
from cvcuda_setup.locking import hold_lock
from cvcuda_setup.manifest import (
    Manifest,
    find_module_dir,
    has_extension,
    read_manifest,
    summary_lines,
    write_manifest,
)
from cvcuda_setup.model import AppliedPatch, BuildPlan, SourceTree
from cvcuda_setup.patches import apply_patches
from cvcuda_setup.progress import (
    NINJA_STATUS,
    NinjaStatusParser,
    PlainProgress,
    ProgressSink,
    RichProgress,
    line_status,
)
from cvcuda_setup.tools import RunResult, run

__all__ = ["StepFailed", "execute", "plan_hash", "read_manifest"]


_ON = ("ON", "TRUE", "1", "YES", "Y")


class StepFailed(BuildError):
    """A configure/build/install step failed: the first error lines, the log and hints come with it."""

    def __init__(
        self, step: str, what: str, *, log: Path, errors: Sequence[str], hints: Sequence[str]
    ) -> None:
        super().__init__(f"{step} failed: {what} (full log: {log})", hint=hints[0] if hints else None)
        self.step = step
        self.log = log
        self.errors = list(errors)
        self.hints = list(hints)

    def __str__(self) -> str:
        lines = [self.message, *(f"  | {line}" for line in self.errors)]
        lines += [f"  hint: {hint}" for hint in self.hints]
        return "\n".join(lines)


# --- steps ------------------------------------------------------------------------------------------------


def _log_text(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _failure(step: str, what: str, log: Path, plan: BuildPlan, text: str | None = None) -> StepFailed:
    body = _log_text(log) if text is None else text
    errors = first_errors(body)
    if not errors:
        tail = [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("# ")][-8:]
        errors = tail
    facts = compiler_facts(plan.build_dir)
    ctx = DiagnoseContext(jobs=plan.jobs, cuda_version=facts.get("cuda_version"))
    hints = [d.hint for d in diagnose(body, ctx)]
    return StepFailed(step, what, log=log, errors=errors, hints=hints)


def _run_step(
    step: str,
    cmd: list[str],
    log: Path,
    plan: BuildPlan,
    *,
    env: dict[str, str],
    on_line: Callable[[str], None],
) -> RunResult:
    result = run(cmd, env=env, log=log, on_line=on_line)
    if result.returncode != 0:
        raise _failure(step, f"{Path(cmd[0]).name} exited with status {result.returncode}", log, plan)
    return result


def _tool_env(plan: BuildPlan, **extra: str) -> dict[str, str]:
    """This environment, with the plan's ninja's directory on PATH (cmake -G Ninja looks for it there)."""
    env = dict(os.environ)
    ninja_dir = str(Path(plan.ninja).parent) if os.sep in plan.ninja else None
    if ninja_dir:
        env["PATH"] = os.pathsep.join([ninja_dir, env.get("PATH", "")])
    env.update(extra)
    return env


def _wanted_modules(plan: BuildPlan) -> list[str]:
    return [m for m in plan.modules if not m.endswith("_bindings_generator") and m != "world"]


def check_configuration(plan: BuildPlan, summary: BuildSummary, log: Path) -> None:
    """Fail early when OpenCV's configure will not build what the recipe asked for."""
    if not summary.found:
        console.warn(f"no OpenCV configuration summary in {log}: the modules and CUDA were not checked")
        return
    text = _log_text(log)
    if (plan.option("WITH_CUDA") or "").upper() in _ON and summary.cuda is not True:
        failure = _failure(
            "configure",
            f"WITH_CUDA=ON but OpenCV's configure says NVIDIA CUDA: {summary.cuda_line or 'NO'}",
            log,
            plan,
        )
        if not failure.hints:
            failure.hints.append(
                "CMake did not find a usable CUDA toolkit: put nvcc on PATH or set CUDA_HOME, and check "
                "`cvcuda-setup doctor`"
            )
        raise failure
    built = set(summary.modules_built)
    missing = [m for m in _wanted_modules(plan) if m not in built]
    if plan.python is not None and "python3" not in built and "python3" not in missing:
        missing.append("python3")
    if missing:
        where = {
            **{m: "disabled" for m in summary.modules_disabled},
            **{m: "disabled by dependency" for m in summary.modules_disabled_by_dependency},
            **{m: "unavailable" for m in summary.modules_unavailable},
        }
        listed = ", ".join(f"{m} ({where.get(m, 'not in the sources')})" for m in missing)
        failure = _failure("configure", f"OpenCV's configure will not build {listed}", log, plan, text)
        failure.errors = [f"To be built: {' '.join(summary.modules_built)}"]
        if not failure.hints:
            failure.hints.append(
                "read the 'OpenCV modules' part of the configure log; a module 'not in the sources' is "
                "missing from a pruned bundle (write the bundle again) or needs opencv_contrib"
            )
        raise failure


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A SIGTERM (CI cancelling the job) stops the build like Ctrl-C: child processes are stopped too."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def execute(
    plan: BuildPlan,
    tree: SourceTree,
    *,
    force: bool = False,
    keep_going: bool = False,
    patches: Sequence[tuple[Path, str | None]] | None = None,
    cache_key: Mapping[str, Any] | None = None,
) -> Manifest:
    """Run the plan: lock, patches, configure (if needed), build, checks, atomic install, manifest
    (recording ``cache_key``, the build's binary cache key, when given).

    ``patches`` pairs each patch with its expected sha256 (or None); default: ``plan.patches`` unverified.
    """
    patch_list = list(patches) if patches is not None else [(p, None) for p in plan.patches]
    check_prefix(plan.prefix, force=force)  # refuse a foreign prefix before an hour of compiling
    build_dir = plan.build_dir
    logs = build_dir / LOG_DIR
    marker = claim_build_dir(build_dir)
    durations: dict[str, float | None] = {"configure": None, "build": None, "install": None}
    step = "patches"
    with (
        hold_lock(
            build_dir / LOCK_FILE,
            what=f"build directory {build_dir}",
            error=UsageError,
            hint="wait for it to finish, or pass another --build-dir",
        ),
        _sigterm_as_interrupt(),
    ):
        try:
            applied = apply_patches(tree, patch_list)
            if applied:
                console.info("patches: " + ", ".join(f"{p.name} ({p.tree})" for p in applied))

            step = "configure"
            decision = configure_decision(plan, build_dir, marker)
            configure_log = logs / "configure.log"
            if decision.needed:
                with console.step(f"configure ({decision.reason})"):
                    if decision.fresh:
                        clear_cmake_cache(build_dir, marker)
                    marker = {**marker, "configured": None}
                    write_marker(build_dir, marker)
                    with line_status("configure") as show:
                        result = _run_step(
                            "configure",
                            plan.configure_command(),
                            configure_log,
                            plan,
                            env=_tool_env(plan),
                            on_line=show,
                        )
                durations["configure"] = result.duration
                marker = {
                    **marker,
                    "configured": {
                        **ConfigureRecord.of(plan.configure_command(), plan.source_dir).to_json(),
                        "at": now(),
                    },
                }
                write_marker(build_dir, marker)
            else:
                console.info(f"configure: skipped ({decision.reason}; build dir {build_dir})")
            summary = parse_configure_summary(_log_text(configure_log))
            check_configuration(plan, summary, configure_log)

            step = "build"
            build_cmd = plan.build_command() + (["-k", "0"] if keep_going else [])
            with console.step(f"build ({plan.jobs} jobs)"):
                sink: ProgressSink = (
                    RichProgress("build") if console.interactive else PlainProgress("build", console.info)
                )
                parser = NinjaStatusParser(sink)
                try:
                    result = _run_step(
                        "build",
                        build_cmd,
                        logs / "build.log",
                        plan,
                        env=_tool_env(plan, NINJA_STATUS=NINJA_STATUS),
                        on_line=parser,
                    )
                finally:
                    sink.close()
            durations["build"] = result.duration
            rerun = parse_configure_summary(_log_text(logs / "build.log"))
            if rerun.found:  # ninja re-ran cmake (a CMakeLists.txt changed): its summary is the current one
                summary = rerun

            step = "install"
            with lock_prefix(plan.prefix), staging_area(plan.prefix) as staging:
                with console.step(f"install into {plan.prefix}"):
                    with line_status("install") as show:
                        result = _run_step(
                            "install",
                            plan.install_command(),
                            logs / "install.log",
                            plan,
                            env=_tool_env(plan, DESTDIR=str(staging)),
                            on_line=show,
                        )
                    durations["install"] = result.duration
                    manifest = _finish_install(
                        plan, tree, summary, durations, applied, staging, logs / "install.log", cache_key
                    )
                    commit(staged_prefix(staging, plan.prefix), plan.prefix, force=force)
        except KeyboardInterrupt:
            console.warn(
                f"interrupted during {step}: its processes were stopped; {build_dir} is kept and the next "
                "run continues from there"
            )
            raise
    for line in summary_lines(manifest):
        console.info(line)
    return manifest


def _finish_install(
    plan: BuildPlan,
    tree: SourceTree,
    summary: BuildSummary,
    durations: dict[str, float | None],
    applied: Sequence[AppliedPatch],
    staging: Path,
    log: Path,
    cache_key: Mapping[str, Any] | None = None,
) -> Manifest:
    """Check the staged prefix and write the manifest into it (before the swap, so both arrive together)."""
    staged = staged_prefix(staging, plan.prefix)
    stray = outside_prefix(staging, plan.prefix)
    if stray:
        raise StepFailed(
            "install",
            f"{len(stray)} file(s) were installed outside the prefix {plan.prefix}",
            log=log,
            errors=stray[:10],
            hints=["an install path option is absolute (e.g. OPENCV_PYTHON3_INSTALL_PATH): make it relative"],
        )
    if not staged.is_dir():
        raise StepFailed(
            "install", f"nothing was installed under {plan.prefix}", log=log, errors=[], hints=[]
        )
    module_dir = None
    staged_module = find_module_dir(staged)
    if staged_module is not None:
        module_dir = plan.prefix / staged_module.relative_to(staged)
    if plan.python is not None and (staged_module is None or not has_extension(staged_module)):
        raise StepFailed(
            "install",
            f"the recipe asks for Python bindings but the install has no cv2 extension module (Python "
            f"{plan.python.version}, {plan.python.executable})",
            log=log,
            errors=[],
            hints=[
                "read the 'Python 3:' part of the configure log: OpenCV needs the interpreter's headers, "
                "libpython and numpy"
            ],
        )
    manifest = make_manifest(plan, tree, summary, durations, applied, module_dir, cache_key)
    write_manifest(staged, manifest)
    return manifest
