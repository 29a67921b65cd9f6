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

The CUDA runtime headers and library come from, in order: the nvcc the build would use (its toolkit root),
``CUDA_HOME``/``CUDA_PATH``, ``/usr/local/cuda``, then pip's NVIDIA wheels
(``site-packages/nvidia/cu13/{include/cuda_runtime.h,lib/libcudart.so.13}``, CUDA 12's
``nvidia/cuda_runtime``), in the target interpreter's site directories and this one's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cvcuda_setup.console import console
from cvcuda_setup.errors import BuildError, ToolchainError, UsageError
from cvcuda_setup.model import jsonable

#: The package the native sources ship in (``cvcuda_setup/_data/native`` in a wheel).
PACKAGE_DIR = Path(__file__).resolve().parent
TOOL_NAME = "cvcuda-zerocopy-check"
LIBRARY_GLOB = "libcvcuda_zerocopy.so*"
_TIMEOUT_S = 120


# -- facts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenCVInfo:
    """The prefix's OpenCV as its CMake config describes it."""

    cmake_dir: Path
    version: str | None
    #: Installed modules without the ``opencv_`` prefix (``OpenCV_LIB_COMPONENTS``).
    modules: tuple[str, ...]

    @property
    def cuda(self) -> bool:
        """Built with CUDA: it has CUDA modules (``cudev``, ``cudaarithm``, ...)."""
        return any(m == "cudev" or m.startswith("cuda") for m in self.modules)

    @property
    def pipeline_modules(self) -> bool:
        """Has what the check tool's pipeline needs (cudafilters + cudaimgproc)."""
        return {"cudafilters", "cudaimgproc"} <= set(self.modules)


@dataclass(frozen=True)
class CudaRuntime:
    """Where the CUDA runtime headers and library are, and how CMake is told."""

    include_dir: Path
    #: ``libcudart.so*`` given to CMake directly (pip wheel layout); None: FindCUDAToolkit finds it.
    library: Path | None
    #: The toolkit root for ``CUDAToolkit_ROOT`` (None for the wheel layout).
    root: Path | None
    #: ``"nvcc (PATH)"``, ``"CUDA_HOME"``, ``"/usr/local/cuda"``, ``"pip nvidia wheel"``...
    origin: str

    def cmake_options(self) -> list[tuple[str, str]]:
        if self.library is not None:
            return [
                ("CVZC_CUDART_LIBRARY", str(self.library)),
                ("CVZC_CUDA_INCLUDE_DIR", str(self.include_dir)),
            ]
        assert self.root is not None
        return [("CUDAToolkit_ROOT", str(self.root))]


@dataclass(frozen=True)
class TargetPython:
    """The interpreter the Python module is built for."""

    executable: Path
    version: str
    site_dirs: tuple[Path, ...]
    has_pip: bool
    has_skbuild: bool
    has_numpy: bool

    @property
    def short_version(self) -> str:
        return ".".join(self.version.split(".")[:2])


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


_SET_RE = re.compile(
    r"^\s*set\(\s*(OpenCV_VERSION|OpenCV_LIB_COMPONENTS)\s+([^)]*)\)", re.IGNORECASE | re.MULTILINE
)


def read_opencv_config(cmake_dir: Path) -> OpenCVInfo:
    """Version and modules from ``OpenCVConfig.cmake`` (what ``find_package(OpenCV)`` will see)."""
    text = (cmake_dir / "OpenCVConfig.cmake").read_text(encoding="utf-8", errors="replace")
    version = None
    modules: tuple[str, ...] = ()
    for match in _SET_RE.finditer(text):
        name, value = match.group(1).lower(), match.group(2).strip().strip('"')
        if name == "opencv_version" and version is None:
            version = value
        elif name == "opencv_lib_components" and not modules:
            items = [v for v in re.split(r"[;\s]+", value) if v]
            modules = tuple(v.removeprefix("opencv_") for v in items)
    return OpenCVInfo(cmake_dir=cmake_dir, version=version, modules=modules)


def find_opencv(prefix: Path) -> OpenCVInfo:
    """The prefix's OpenCV CMake package (``lib/cmake/opencv5`` before ``opencv4``); else ``UsageError``."""
    if not prefix.is_dir():
        raise UsageError(
            f"--prefix {prefix} does not exist",
            hint=f"build OpenCV into it first: cvcuda-setup build --prefix {prefix}",
        )
    for lib in ("lib", "lib64"):
        for name in ("opencv5", "opencv4"):
            cmake_dir = prefix / lib / "cmake" / name
            if (cmake_dir / "OpenCVConfig.cmake").is_file():
                return read_opencv_config(cmake_dir)
    raise UsageError(
        f"no OpenCV in prefix {prefix} (no lib/cmake/opencv5/OpenCVConfig.cmake, "
        "nor lib/cmake/opencv4/OpenCVConfig.cmake)",
        hint=f"build one first: cvcuda-setup build --prefix {prefix}",
    )


def _include_dir(root: Path) -> Path | None:
    for inc in (root / "include", *sorted(root.glob("targets/*/include"))):
        if (inc / "cuda_runtime.h").is_file():
            return inc
    return None


def _wheel_runtime(site: Path) -> CudaRuntime | None:
    """pip's NVIDIA wheels: ``nvidia/cu13/{include,lib}`` (CUDA 13) or ``nvidia/cuda_runtime`` (CUDA 12)."""
    nvidia = site / "nvidia"
    if not nvidia.is_dir():
        return None
    roots = [*sorted(nvidia.glob("cu[0-9]*"), reverse=True), nvidia / "cuda_runtime"]
    for root in roots:
        inc, lib = root / "include", root / "lib"
        if not (inc / "cuda_runtime.h").is_file() or not lib.is_dir():
            continue
        libs = sorted(p for p in lib.iterdir() if re.match(r"^libcudart\.so(\.\d+)*$", p.name))
        if libs:
            return CudaRuntime(include_dir=inc, library=libs[-1], root=None, origin="pip nvidia wheel")
    return None


def find_cuda_runtime(
    env: Mapping[str, str] | None = None, site_dirs: Sequence[Path] = (), *, use_nvcc: bool = True
) -> CudaRuntime:
    """The CUDA runtime headers + library (order in the module docstring); ``ToolchainError`` without."""
    env = os.environ if env is None else env
    searched: list[str] = []
    if use_nvcc:
        from cvcuda_setup.probe.toolkit import find_nvcc

        nvcc = find_nvcc(env)
        if nvcc is not None:
            searched.append(f"nvcc {nvcc.path} (root {nvcc.root})")
            inc = _include_dir(nvcc.root)
            if inc is not None:
                return CudaRuntime(
                    include_dir=inc, library=None, root=nvcc.root, origin=f"nvcc ({nvcc.origin})"
                )
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if env.get(var):
            root = Path(env[var])
            searched.append(f"{var}={root}")
            inc = _include_dir(root)
            if inc is not None:
                return CudaRuntime(include_dir=inc, library=None, root=root, origin=var)
    from cvcuda_setup.probe.toolkit import DEFAULT_TOOLKIT

    searched.append(str(DEFAULT_TOOLKIT))
    inc = _include_dir(DEFAULT_TOOLKIT)
    if inc is not None:
        return CudaRuntime(include_dir=inc, library=None, root=DEFAULT_TOOLKIT, origin=str(DEFAULT_TOOLKIT))
    for site in dict.fromkeys(site_dirs):
        searched.append(f"{site}/nvidia")
        found = _wheel_runtime(site)
        if found is not None:
            return found
    raise ToolchainError(
        "no CUDA toolkit: no cuda_runtime.h found (looked at " + ", ".join(searched) + ")",
        hint="install the CUDA toolkit or set CUDA_HOME (pip's nvidia-cuda-runtime wheel also works)",
    )


_PY_SCRIPT = r"""
import importlib.util, json, site, sys, sysconfig
dirs = [sysconfig.get_paths().get("purelib"), sysconfig.get_paths().get("platlib")]
try:
    dirs += site.getsitepackages()
except AttributeError:
    pass
if hasattr(site, "getusersitepackages"):
    dirs.append(site.getusersitepackages())
print(json.dumps({
    "executable": sys.executable,
    "version": "%d.%d.%d" % sys.version_info[:3],
    "site_dirs": [d for d in dict.fromkeys(dirs) if d],
    "pip": importlib.util.find_spec("pip") is not None,
    "skbuild": importlib.util.find_spec("scikit_build_core") is not None,
    "numpy": importlib.util.find_spec("numpy") is not None,
}))
"""


def probe_target_python(executable: Path | str | None) -> TargetPython:
    """Ask the interpreter for its version, site directories and whether pip/scikit-build-core/numpy exist."""
    exe = str(executable) if executable else sys.executable
    try:
        proc = subprocess.run(
            [exe, "-c", _PY_SCRIPT], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise UsageError(
            f"--python {exe} does not exist", hint="give the path of a Python 3 interpreter"
        ) from None
    except PermissionError:
        raise UsageError(
            f"--python {exe} is not executable", hint="give the path of a Python 3 interpreter"
        ) from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolchainError(f"the interpreter {exe} failed to describe itself: {tail}")
    data = json.loads(proc.stdout)
    return TargetPython(
        executable=Path(data["executable"]),
        version=str(data["version"]),
        site_dirs=tuple(Path(d) for d in data["site_dirs"]),
        has_pip=bool(data["pip"]),
        has_skbuild=bool(data["skbuild"]),
        has_numpy=bool(data["numpy"]),
    )


def python_target_dir(prefix: Path, python_version: str) -> tuple[Path, str | None]:
    """Where the Python module goes: next to the prefix's cv2 (manifest, then a search), else
    ``<prefix>/lib/pythonX.Y/site-packages``; plus a warning when that directory is for another Python."""
    from cvcuda_setup.errors import CvCudaSetupError
    from cvcuda_setup.manifest import find_module_dir, read_manifest

    short = ".".join(python_version.split(".")[:2])
    module_dir: Path | None = None
    try:
        manifest = read_manifest(prefix)
    except CvCudaSetupError:
        manifest = None
    named = manifest.module_dir if manifest is not None else None
    # a manifest copied along with its prefix names the original's cv2: only trust one inside this prefix
    if named is not None and named.is_dir() and named.resolve().is_relative_to(prefix.resolve()):
        module_dir = named
    if module_dir is None:
        module_dir = find_module_dir(prefix)
    if module_dir is None:
        return prefix / "lib" / f"python{short}" / "site-packages", None
    target = module_dir.parent
    match = re.search(r"python(\d+\.\d+)", str(target))
    if match and match.group(1) != short:
        return target, (
            f"the prefix's cv2 is in {target} (Python {match.group(1)}), but the module is built for Python "
            f"{short}: pass --python with the interpreter cv2 was built for"
        )
    return target, None


def _configured_source(build_dir: Path) -> Path | None:
    cache = build_dir / "CMakeCache.txt"
    if not cache.is_file():
        return None
    for line in cache.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("CMAKE_HOME_DIRECTORY:"):
            return Path(line.split("=", 1)[1].strip())
    return None


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
) -> PluginPlan:
    """Locate everything and compute the commands; raises the first problem as one clear error."""
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
    target_python: TargetPython | None = None
    target_dir: Path | None = None
    if install_python:
        target_python = probe_target_python(python)
        if not target_python.has_pip:
            raise ToolchainError(
                f"pip is not installed for {target_python.executable}",
                hint=f"run {target_python.executable} -m ensurepip, or pass {skip_python_flag}",
            )
        if not target_python.has_skbuild:
            raise ToolchainError(
                f"scikit-build-core (which builds the Python module) is not installed for "
                f"{target_python.executable}",
                hint=f"run {target_python.executable} -m pip install scikit-build-core, "
                f"or pass {skip_python_flag}",
            )
        if not target_python.has_numpy:
            warnings.append(
                f"numpy is not installed for {target_python.executable}: cvcuda_zerocopy needs it"
            )
        target_dir, mismatch = python_target_dir(prefix, target_python.version)
        if mismatch:
            warnings.append(mismatch)
    site_dirs = list(target_python.site_dirs) if target_python else []
    site_dirs += [Path(p) for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    cuda = find_cuda_runtime(env, site_dirs)
    configured = _configured_source(build_dir)
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
    proc = subprocess.run(
        [str(plan.python.executable), "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
        cwd=plan.build_dir,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(
            f"the installed Python module does not import in {plan.python.executable}: {tail}",
            hint=f"PYTHONPATH={plan.python_target}",
        )
    return Path(json.loads(proc.stdout.strip().splitlines()[-1])["file"]).parent


def _check_tool(tool: Path) -> None:
    try:
        proc = subprocess.run(
            [str(tool), "--help"], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
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
    _step(plan, "configure", plan.configure_command(), durations)
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
    )
    return run_plan(plan)
