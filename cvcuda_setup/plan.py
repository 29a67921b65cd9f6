"""Pure planning: (Recipe, arch, source, paths, interpreter, overrides) -> BuildPlan. No I/O here."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cvcuda_setup import modules as opencv_modules
from cvcuda_setup.errors import UsageError
from cvcuda_setup.model import ArchSelection, BuildPlan, PythonInfo, Recipe, SourceSpec, cmake_value
from cvcuda_setup.probe.python import cmake_python_options

_OVERRIDE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::[A-Z]+)?=(.*)$")


#: CMake variables the plan sets from an option (checked there): ``-D`` may not set them behind its back.
PLAN_OWNED = {
    "CMAKE_INSTALL_PREFIX": "--prefix",
    "CUDA_ARCH_BIN": "--arch",
    "CUDA_ARCH_PTX": "--arch (e.g. 9.0+PTX)",
    "CUDA_TOOLKIT_ROOT_DIR": "CUDA_HOME or the nvcc on PATH",
    "OPENCV_EXTRA_MODULES_PATH": "--source (a tree or bundle holding opencv_contrib)",
    "BUILD_LIST": "--recipe (its modules list)",
    "PYTHON3_EXECUTABLE": "--python",
    "PYTHON3_INCLUDE_DIR": "--python",
    "PYTHON3_LIBRARY": "--python",
    "PYTHON3_NUMPY_INCLUDE_DIRS": "--python",
    "CMAKE_C_COMPILER_LAUNCHER": "--launcher",
    "CMAKE_CXX_COMPILER_LAUNCHER": "--launcher",
    "CMAKE_CUDA_COMPILER_LAUNCHER": "--launcher",
    "OPENCV_BUILD_TEST_MODULES_LIST": "--with-tests --test-modules (cuda, all or a list of modules)",
}

#: ``--with-tests`` values: the recipe's CUDA modules, every built module, or a comma-separated list.
TESTS_CUDA = "cuda"
TESTS_ALL = "all"
_TEST_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_test_selection(text: str) -> tuple[str, ...]:
    """``--with-tests`` text -> ``("cuda",)``, ``("all",)`` or the module names, in order, unique."""
    value = text.strip().lower()
    if value in (TESTS_CUDA, TESTS_ALL):
        return (value,)
    names = [part.strip() for part in value.split(",")]
    if not value or any(not _TEST_NAME.match(n) for n in names):
        raise UsageError(
            f"--test-modules {text!r} is not 'cuda', 'all' or a comma-separated list of module names",
            hint="e.g. --test-modules cuda, --test-modules all or --test-modules cudafilters,cudaimgproc",
        )
    if TESTS_CUDA in names or TESTS_ALL in names:
        raise UsageError(
            f"--test-modules {text!r} mixes 'cuda'/'all' with module names", hint="give one form"
        )
    return tuple(dict.fromkeys(names))


def test_modules_list(selection: tuple[str, ...], modules: tuple[str, ...], recipe: str) -> str:
    """``OPENCV_BUILD_TEST_MODULES_LIST`` for a selection and the BUILD_LIST (empty: every module)."""
    if selection == (TESTS_ALL,):
        return TESTS_ALL
    if selection == (TESTS_CUDA,):
        chosen = opencv_modules.cuda_test_modules(modules)
        if not chosen:
            raise UsageError(
                f"recipe {recipe!r} builds no CUDA module, so --with-tests has no CUDA test to build",
                hint="add --test-modules all, or name the modules (--test-modules core,imgproc)",
            )
        return ";".join(chosen)
    missing = [m for m in selection if modules and m not in modules]
    if missing:
        raise UsageError(
            f"--test-modules names {missing[0]!r}, which recipe {recipe!r} does not build",
            hint=f"its modules: {', '.join(modules)}",
        )
    return ";".join(selection)


def parse_override(text: str) -> tuple[str, str]:
    """``-D NAME=VALUE`` (``NAME:TYPE=VALUE`` accepted, type dropped) -> (NAME, VALUE).

    A variable the plan sets from an option (``PLAN_OWNED``) is refused, naming that option.
    """
    match = _OVERRIDE.match(text.strip())
    if not match:
        raise UsageError(f"-D {text!r} is not NAME=VALUE", hint="e.g. -D WITH_CUDNN=OFF")
    name = match.group(1)
    if name.upper() in PLAN_OWNED:
        raise UsageError(
            f"-D {name} is set by the build plan, not by -D",
            hint=f"use {PLAN_OWNED[name.upper()]} instead",
        )
    return name, match.group(2)


@dataclass(frozen=True)
class PlanInputs:
    """What the command line and the probes decided, gathered for ``make_plan``."""

    recipe: Recipe
    arch: ArchSelection
    source: SourceSpec
    source_dir: Path
    contrib_dir: Path | None
    build_dir: Path
    prefix: Path
    jobs: int
    python: PythonInfo | None = None
    overrides: tuple[tuple[str, str], ...] = ()
    launcher: str | None = None
    patches: tuple[Path, ...] = ()
    cmake: str = "cmake"
    ninja: str = "ninja"
    #: The toolkit the arches were validated against; CMake is pinned to it.
    cuda_toolkit_root: Path | None = None
    #: ``--with-tests`` (``parse_test_selection``); None: the recipe's ``tests`` key decides (cuda or none).
    tests: tuple[str, ...] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def make_plan(inputs: PlanInputs) -> BuildPlan:
    recipe = inputs.recipe
    version = inputs.source.opencv_version
    if recipe.python and inputs.python is None:
        raise UsageError(f"recipe {recipe.name!r} builds Python bindings but no interpreter was given")
    if recipe.contrib and inputs.contrib_dir is None:
        raise UsageError(
            f"recipe {recipe.name!r} needs opencv_contrib but the source has none",
            hint="use a source that holds opencv_contrib (sdist, git, or a directory with opencv_contrib/)",
        )
    tests = inputs.tests if inputs.tests is not None else ((TESTS_CUDA,) if recipe.tests else ())
    modules = opencv_modules.closure(recipe.modules, version, python=recipe.python, tests=bool(tests))
    options: dict[str, str] = {}

    def put(name: str, value: str) -> None:
        options.pop(name, None)  # a later setting moves to the end: the order shows who decided
        options[name] = value

    put("CMAKE_BUILD_TYPE", recipe.build_type)
    put("CMAKE_INSTALL_PREFIX", str(inputs.prefix))
    if modules:
        put("BUILD_LIST", ",".join(modules))
    if recipe.contrib and inputs.contrib_dir is not None:
        put("OPENCV_EXTRA_MODULES_PATH", str(inputs.contrib_dir / "modules"))
    if recipe.cuda:
        if not inputs.arch.bin and not inputs.arch.ptx:
            raise UsageError(f"recipe {recipe.name!r} builds CUDA code but no CUDA architecture was selected")
        if inputs.cuda_toolkit_root is not None:
            put("CUDA_TOOLKIT_ROOT_DIR", str(inputs.cuda_toolkit_root))
        put("CUDA_ARCH_BIN", inputs.arch.cuda_arch_bin)
        put("CUDA_ARCH_PTX", inputs.arch.cuda_arch_ptx)
    for name, value in recipe.cmake:
        put(name, cmake_value(value))
    if recipe.python and inputs.python is not None:
        put("BUILD_opencv_python3", "ON")
        put("BUILD_opencv_python2", "OFF")
        put("BUILD_opencv_python_bindings_generator", "ON")
        for name, value in cmake_python_options(inputs.python):
            put(name, value)
    if tests:
        refused = [n for n, v in inputs.overrides if n.upper() == "BUILD_TESTS" and cmake_value_off(v)]
        if refused:
            raise UsageError(
                f"-D {refused[0]}=OFF contradicts the tests this build is asked for",
                hint="drop --with-tests (or the recipe's tests = true), or the -D",
            )
        put("BUILD_TESTS", "ON")
        # the test binaries go to <prefix>/bin: verify --opencv-tests finds them once the build dir is gone
        # (a CI image's runtime stage copies the prefix only)
        put("INSTALL_TESTS", "ON")
        put("BUILD_PERF_TESTS", "OFF")
        put("OPENCV_BUILD_TEST_MODULES_LIST", test_modules_list(tests, modules, recipe.name))
    if inputs.launcher:
        for lang in ("C", "CXX", "CUDA"):
            put(f"CMAKE_{lang}_COMPILER_LAUNCHER", inputs.launcher)
    for name, value in inputs.overrides:
        put(name, value)
    return BuildPlan(
        recipe=recipe.name,
        recipe_path=recipe.path,
        opencv_version=version,
        source=inputs.source,
        source_dir=inputs.source_dir,
        contrib_dir=inputs.contrib_dir if recipe.contrib else None,
        build_dir=inputs.build_dir,
        prefix=inputs.prefix,
        arch=inputs.arch,
        build_type=options["CMAKE_BUILD_TYPE"],
        modules=modules,
        cmake_options=tuple(options.items()),
        jobs=inputs.jobs,
        cmake=inputs.cmake,
        ninja=inputs.ninja,
        python=inputs.python if recipe.python else None,
        launcher=inputs.launcher,
        patches=inputs.patches,
        notes=inputs.notes,
    )


def cmake_value_off(value: str) -> bool:
    """True for CMake's false constants (OFF, 0, FALSE, NO, N, IGNORE, NOTFOUND, the empty string)."""
    text = value.strip().upper()
    return text in ("OFF", "0", "FALSE", "NO", "N", "IGNORE", "NOTFOUND", "") or text.endswith("-NOTFOUND")


def build_dir_name(
    recipe: Recipe, version: str, arch: ArchSelection, overrides: Sequence[tuple[str, str]]
) -> str:
    """A stable build-directory name: recipe, version, arches and a short hash of the overrides."""
    arch_tag = "-".join(a.replace(".", "") for a in arch.bin) or "cpu"
    if arch.ptx:
        arch_tag += "-ptx" + "-".join(a.replace(".", "") for a in arch.ptx)
    digest = hashlib.sha256(repr(sorted(overrides)).encode()).hexdigest()[:8] if overrides else ""
    return "-".join(part for part in (recipe.name, version, arch_tag, digest) if part)
