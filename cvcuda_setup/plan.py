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
}


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
    modules = opencv_modules.closure(recipe.modules, version, python=recipe.python)
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


def build_dir_name(
    recipe: Recipe, version: str, arch: ArchSelection, overrides: Sequence[tuple[str, str]]
) -> str:
    """A stable build-directory name: recipe, version, arches and a short hash of the overrides."""
    arch_tag = "-".join(a.replace(".", "") for a in arch.bin) or "cpu"
    if arch.ptx:
        arch_tag += "-ptx" + "-".join(a.replace(".", "") for a in arch.ptx)
    digest = hashlib.sha256(repr(sorted(overrides)).encode()).hexdigest()[:8] if overrides else ""
    return "-".join(part for part in (recipe.name, version, arch_tag, digest) if part)
