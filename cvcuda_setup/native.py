"""``native/`` (the zero-copy plugin) built and installed against a prefix's OpenCV.

    prefix --plan_plugin--> PluginPlan (OpenCV config dir, CUDA runtime, cmake/ninja, interpreter, commands)
           --run_plan-----> PluginResult (library, headers, CMake package, check tool, Python module)

The C++ side is a plain CMake project, configured with the prefix's ``OpenCV_DIR`` and installed into the
prefix: ``lib/libcvcuda_zerocopy.so``, ``include/cvcuda_zerocopy/``, ``lib/cmake/cvcuda_zerocopy/`` (so
``find_package(cvcuda_zerocopy)`` works) and ``bin/cvcuda-zerocopy-check`` (used by ``verify``).

The Python module ``cvcuda_zerocopy`` is built by scikit-build-core through ``pip install
--no-build-isolation --no-deps --no-index`` (works offline) with ``--target`` = the directory that holds the
prefix's ``cv2`` (else ``<prefix>/lib/pythonX.Y/site-packages``): the PYTHONPATH that ``cvcuda-setup env``
exports finds both, and nothing is written into the interpreter's own site-packages. The module links the
library just installed, so C++ and Python code in one process share one pool.

The CUDA runtime is the toolkit the OpenCV build used: the one the caller passes (``build``), else the one
the prefix's manifest records (``plugin``); only without either does the plan search (``pluginenv``'s order)
and say so in its warnings.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cvcuda_setup import cmakedriver
from cvcuda_setup.console import console
from cvcuda_setup.errors import BuildError, ToolchainError, UsageError
from cvcuda_setup.model import jsonable
from cvcuda_setup.pluginenv import (
    CudaRuntime,
    OpenCVInfo,
    TargetPython,
    find_cuda_runtime,
    find_opencv,
    probe_target_python,
    python_build_tools,
    python_target_dir,
    recorded_toolkit,
    runtime_at,
)
from cvcuda_setup.tools import capture

#: The plugin's stages; the facts it is built against (``pluginenv``) are re-exported for their callers.
__all__ = [
    "CudaRuntime",
    "OpenCVInfo",
    "PluginPlan",
    "PluginResult",
    "TargetPython",
    "build_plugin",
    "default_build_dir",
    "find_cuda_runtime",
    "find_opencv",
    "native_source_dir",
    "plan_plugin",
    "probe_target_python",
    "python_target_dir",
    "run_plan",
    "runtime_at",
]

#: The package the native sources ship in (``cvcuda_setup/_data/native`` in a wheel).
PACKAGE_DIR = Path(__file__).resolve().parent
TOOL_NAME = "cvcuda-zerocopy-check"
LIBRARY_GLOB = "libcvcuda_zerocopy.so*"
_TIMEOUT_S = 120


@dataclass(frozen=True)
class PluginPlan:
    """Everything a plugin build does, computed up front (the commands are tested without running them)."""

    prefix: Path
    source_dir: Path
    build_dir: Path
    opencv: OpenCVInfo
    cuda: CudaRuntime
    cmake: Path
    ninja: Path
    jobs: int
    build_type: str = "Release"
    tests: bool = False
    python: TargetPython | None = None
    #: Where the Python module goes (``pip install --target``); None without a Python module.
    python_target: Path | None = None
    #: Configure with ``--fresh``: the build dir was configured for another source tree.
    fresh: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def ctest(self) -> Path:
        return self.cmake.with_name("ctest")

    @property
    def python_build_dir(self) -> Path:
        return self.build_dir / "python"

    def configure_command(self) -> list[str]:
        options = [
            ("CMAKE_BUILD_TYPE", self.build_type),
            ("CMAKE_INSTALL_PREFIX", str(self.prefix)),
            ("CMAKE_MAKE_PROGRAM", str(self.ninja)),
            ("OpenCV_DIR", str(self.opencv.cmake_dir)),
            ("CVZC_BUILD_TOOLS", "ON"),
            ("CVZC_BUILD_TESTS", "ON" if self.tests else "OFF"),
            *self.cuda.cmake_options(),
            *self._findcuda_options(),
        ]
        cmd = [str(self.cmake), "-S", str(self.source_dir), "-B", str(self.build_dir), "-G", "Ninja"]
        if self.fresh:
            cmd.append("--fresh")
        return cmd + [f"-D{name}={value}" for name, value in options]

    def build_command(self) -> list[str]:
        return [str(self.cmake), "--build", str(self.build_dir), "--parallel", str(self.jobs)]

    def test_command(self) -> list[str]:
        return [str(self.ctest), "--test-dir", str(self.build_dir), "--output-on-failure"]

    def install_command(self) -> list[str]:
        return [str(self.cmake), "--install", str(self.build_dir)]

    def pip_command(self) -> list[str] | None:
        if self.python is None or self.python_target is None:
            return None
        return [
            str(self.python.executable), "-m", "pip", "install",
            "--no-build-isolation", "--no-deps", "--no-index", "--upgrade", "--disable-pip-version-check",
            "--target", str(self.python_target),
            "-C", f"build-dir={self.python_build_dir}",
            "-C", f"cmake.build-type={self.build_type}",
            "-C", f"cmake.define.CMAKE_PREFIX_PATH={self.prefix}",
            "-C", f"cmake.define.OpenCV_DIR={self.opencv.cmake_dir}",
            "-C", f"cmake.define.CMAKE_MAKE_PROGRAM={self.ninja}",
            *self._pip_cuda_args(),
            str(self.source_dir),
        ]  # fmt: skip

    def _findcuda_options(self) -> list[tuple[str, str]]:
        """A CUDA OpenCV's config looks for the toolkit again (FindCUDA): point it at the same one."""
        if not self.opencv.cuda or self.cuda.root is None:
            return []
        return [("CUDA_TOOLKIT_ROOT_DIR", str(self.cuda.root))]

    def _pip_cuda_args(self) -> list[str]:
        options = [(k, v) for k, v in self.cuda.cmake_options() if k == "CUDAToolkit_ROOT"]
        options += self._findcuda_options() if options else []
        return [arg for k, v in options for arg in ("-C", f"cmake.define.{k}={v}")]

    def commands(self) -> list[list[str]]:
        out = [self.configure_command(), self.build_command()]
        if self.tests:
            out.append(self.test_command())
        out.append(self.install_command())
        pip = self.pip_command()
        if pip is not None:
            out.append(pip)
        return out

    def shell_lines(self) -> list[str]:
        return [shlex.join(c) for c in self.commands()]

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The children's environment: the chosen cmake and ninja first on PATH, the job count for pip."""
        env = dict(os.environ if base is None else base)
        dirs = list(dict.fromkeys([str(self.cmake.parent), str(self.ninja.parent)]))
        env["PATH"] = os.pathsep.join([*dirs, *([env["PATH"]] if env.get("PATH") else [])])
        env["CMAKE_BUILD_PARALLEL_LEVEL"] = str(self.jobs)
        env["CMAKE_GENERATOR"] = "Ninja"
        return env

    def to_json(self) -> dict[str, Any]:
        data = jsonable(asdict(self))
        data["commands"] = self.commands()
        return data  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PluginResult:
    """What a plugin build installed."""

    prefix: Path
    library: Path
    tool: Path
    cmake_dir: Path
    include_dir: Path
    opencv: OpenCVInfo
    cuda: CudaRuntime
    #: The installed ``cvcuda_zerocopy`` package directory (None: no Python module was built).
    python_module: Path | None
    python: Path | None
    tests_run: bool
    durations: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return jsonable(asdict(self))  # type: ignore[no-any-return]


# -- locating things --------------------------------------------------------------------------------


def native_source_dir() -> Path:
    """The plugin's CMake project: ``cvcuda_setup/_data/native`` in a wheel, the checkout's ``native/``."""
    for candidate in (PACKAGE_DIR / "_data" / "native", PACKAGE_DIR.parent / "native"):
        if (candidate / "CMakeLists.txt").is_file() and (candidate / "pyproject.toml").is_file():
            return candidate
    raise ToolchainError(
        f"the plugin sources are missing (neither {PACKAGE_DIR / '_data' / 'native'} nor "
        f"{PACKAGE_DIR.parent / 'native'} holds CMakeLists.txt)",
        hint="reinstall cvcuda-setup, or run from a source checkout",
    )


def default_build_dir(prefix: Path) -> Path:
    """``<cache>/build/plugin-<hash of the prefix>``: one build tree per prefix, reused for rebuilds."""
    from cvcuda_setup.sources import default_cache_dir

    digest = hashlib.sha256(str(prefix.resolve()).encode()).hexdigest()[:10]
    return default_cache_dir().expanduser() / "build" / f"plugin-{digest}"


def plan_plugin(
    prefix: Path,
    *,
    python: Path | str | None,
    build_dir: Path,
    jobs: int,
    tests: bool = False,
    install_python: bool = True,
    build_type: str = "Release",
    env: Mapping[str, str] | None = None,
    skip_python_flag: str = "--no-python",
    cuda_toolkit_root: Path | None = None,
    target_python: TargetPython | None = None,
) -> PluginPlan:
    """Locate everything and compute the commands; raises the first problem as one clear error.

    ``cuda_toolkit_root`` (the OpenCV build plan's toolkit) and ``target_python`` (the host's probe) are
    used as given instead of searched for again. Without ``cuda_toolkit_root`` the toolkit is the one the
    prefix's manifest records; only a prefix whose manifest records none searches (with a warning)."""
    from cvcuda_setup.tools import find_cmake, find_ninja

    if jobs < 1:
        raise UsageError(f"--jobs {jobs} must be at least 1")
    prefix = prefix.expanduser().resolve()
    build_dir = build_dir.expanduser().resolve()
    opencv = find_opencv(prefix)
    source = native_source_dir()
    warnings: list[str] = []
    if not opencv.cuda:
        warnings.append(
            f"OpenCV {opencv.version or '?'} in {prefix} was built without CUDA: the plugin still builds "
            "(GpuMat is in core), but GPU views and the pipeline check need a CUDA build (--recipe minimal)"
        )
    target_dir: Path | None = None
    if not install_python:
        target_python = None
    elif target_python is None:
        target_python = probe_target_python(python)
    if target_python is not None:
        warnings += python_build_tools(target_python, skip_python_flag)
        target_dir, mismatch = python_target_dir(prefix, target_python.version)
        if mismatch:
            warnings.append(mismatch)
    site_dirs = list(target_python.site_dirs) if target_python else []
    site_dirs += [Path(p) for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    if cuda_toolkit_root is not None:
        cuda = runtime_at(cuda_toolkit_root)
    else:
        recorded = recorded_toolkit(prefix)
        if recorded.root is not None:
            cuda = runtime_at(recorded.root, origin=f"recorded in {recorded.manifest}")
        else:
            cuda = find_cuda_runtime(env, site_dirs)
            warnings.append(
                f"{recorded.missing}: the plugin is built against the CUDA toolkit found by searching "
                f"({cuda.include_dir}, {cuda.origin}), which may not be the one OpenCV was built with"
            )
    configured = cmakedriver.configured_source(build_dir)
    fresh = configured is not None and configured.resolve() != source.resolve()
    return PluginPlan(
        prefix=prefix,
        source_dir=source,
        build_dir=build_dir,
        opencv=opencv,
        cuda=cuda,
        cmake=find_cmake(),
        ninja=find_ninja(),
        jobs=jobs,
        build_type=build_type,
        tests=tests,
        python=target_python,
        python_target=target_dir,
        fresh=fresh,
        warnings=tuple(warnings),
    )


# -- running ----------------------------------------------------------------------------------------


def _failure_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line.startswith("#")]
    for line in reversed(lines):
        if re.search(r"\berror\b|CMake Error|FAILED", line, re.IGNORECASE):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def _step(plan: PluginPlan, name: str, cmd: list[str], durations: dict[str, float]) -> None:
    from cvcuda_setup.tools import run

    log = plan.build_dir / "logs" / f"{name}.log"
    with console.step(f"plugin: {name}"):
        result = run(cmd, env=plan.env(), log=log, capture=True, echo=True)
    durations[name] = round(result.duration, 2)
    if result.returncode != 0:
        raise BuildError(
            f"plugin {name} failed (exit status {result.returncode}): {_failure_line(result.output)}",
            hint=f"full log: {log}",
        )


def _check_python_module(plan: PluginPlan) -> Path:
    """Import the installed module in the target interpreter (no LD_LIBRARY_PATH: RUNPATH must do)."""
    assert plan.python is not None and plan.python_target is not None
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(plan.python_target), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    code = "import json, cvcuda_zerocopy as z; print(json.dumps({'file': z.__file__, 'v': z.__version__}))"
    proc = capture([plan.python.executable, "-c", code], env=env, timeout=_TIMEOUT_S, cwd=plan.build_dir)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(
            f"the installed Python module does not import in {plan.python.executable}: {tail}",
            hint=f"PYTHONPATH={plan.python_target}",
        )
    return Path(json.loads(proc.stdout.strip().splitlines()[-1])["file"]).parent


def _check_tool(tool: Path) -> None:
    try:
        proc = capture([tool, "--help"], timeout=_TIMEOUT_S)
    except OSError as exc:
        raise BuildError(f"the installed {tool.name} cannot run: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"the installed {tool} does not run (exit status {proc.returncode}): {tail}")


def run_plan(plan: PluginPlan) -> PluginResult:
    """Configure, build, (test,) install, pip-install the Python module; check what was installed."""
    for warning in plan.warnings:
        console.warn(warning)
    plan.build_dir.mkdir(parents=True, exist_ok=True)
    durations: dict[str, float] = {}
    configure = plan.configure_command()
    unfresh = [a for a in configure if a != "--fresh"]  # the identity of the configuration
    last = cmakedriver.read_stamp(plan.build_dir)
    decision = cmakedriver.decide(plan.build_dir, unfresh, plan.source_dir, last)
    if decision.needed or plan.fresh:
        cmakedriver.forget_stamp(plan.build_dir)
        _step(plan, "configure", configure, durations)
        cmakedriver.write_stamp(plan.build_dir, cmakedriver.ConfigureRecord.of(unfresh, plan.source_dir))
    else:
        console.info(f"configure: skipped ({decision.reason}; build dir {plan.build_dir})")
    _step(plan, "build", plan.build_command(), durations)
    if plan.tests:
        _step(plan, "test", plan.test_command(), durations)
    from cvcuda_setup.record import adopt_changes, scan

    before = scan(plan.prefix, hashes=False)
    _step(plan, "install", plan.install_command(), durations)

    libdirs = [plan.prefix / "lib", plan.prefix / "lib64"]
    libraries = sorted(p for d in libdirs if d.is_dir() for p in d.glob(LIBRARY_GLOB))
    tool = plan.prefix / "bin" / TOOL_NAME
    cmake_dir = next(
        (d / "cmake" / "cvcuda_zerocopy" for d in libdirs if (d / "cmake" / "cvcuda_zerocopy").is_dir()), None
    )
    if not libraries or not tool.is_file() or cmake_dir is None:
        raise BuildError(
            f"the plugin install into {plan.prefix} is incomplete "
            f"(the library, {TOOL_NAME} or the CMake package is missing)"
        )
    _check_tool(tool)

    module: Path | None = None
    pip = plan.pip_command()
    if pip is not None:
        _step(plan, "python", pip, durations)
        module = _check_python_module(plan)
    adopt_changes(plan.prefix, before)  # the plugin's files join the install record: the prefix stays ours
    return PluginResult(
        prefix=plan.prefix,
        library=libraries[0],
        tool=tool,
        cmake_dir=cmake_dir,
        include_dir=plan.prefix / "include" / "cvcuda_zerocopy",
        opencv=plan.opencv,
        cuda=plan.cuda,
        python_module=module,
        python=plan.python.executable if plan.python else None,
        tests_run=plan.tests,
        durations=durations,
        warnings=plan.warnings,
    )


def build_plugin(
    prefix: Path,
    *,
    python: Path | None,
    build_dir: Path,
    jobs: int,
    tests: bool = False,
    install_python: bool = True,
    skip_python_flag: str = "--no-python",
    cuda_toolkit_root: Path | None = None,
    target_python: TargetPython | None = None,
) -> PluginResult:
    """Build and install the plugin into ``prefix`` (what ``build`` runs at its end and ``plugin`` runs)."""
    plan = plan_plugin(
        prefix,
        python=python,
        build_dir=build_dir,
        jobs=jobs,
        tests=tests,
        install_python=install_python,
        skip_python_flag=skip_python_flag,
        cuda_toolkit_root=cuda_toolkit_root,
        target_python=target_python,
    )
    return run_plan(plan)
