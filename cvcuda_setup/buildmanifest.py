"""The manifest a finished build writes: what the plan asked for and what CMake and OpenCV recorded.

``make_manifest`` is run by ``cmake.execute`` after the install; the typed model and its file are in
``cvcuda_setup.manifest``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cvcuda_setup import __version__
from cvcuda_setup.builddir import now
from cvcuda_setup.configlog import BuildSummary, compiler_facts
from cvcuda_setup.manifest import Manifest, PythonFacts, RecipeFacts, ToolchainFacts
from cvcuda_setup.model import AppliedPatch, BuildPlan, SourceTree

_ON = ("ON", "TRUE", "1", "YES", "Y")


def _truthy(value: str | None) -> bool:
    return (value or "").upper() in _ON


def _cudnn_version(line: str | None) -> str | None:
    match = re.search(r"ver\s+([\d.]+)", line or "")
    return match.group(1) if match else None


def _toolkit_root(plan: BuildPlan, nvcc: str | None) -> str | None:
    """The CUDA toolkit the build used: the one the plan named, else the one of the nvcc CMake found."""
    named = plan.option("CUDA_TOOLKIT_ROOT_DIR")
    if named:
        return named
    return str(Path(nvcc).parent.parent) if nvcc else None


def make_manifest(
    plan: BuildPlan,
    tree: SourceTree,
    summary: BuildSummary,
    durations: dict[str, float | None],
    applied: Sequence[AppliedPatch],
    module_dir: Path | None,
    cache_key: Mapping[str, Any] | None = None,
) -> Manifest:
    """The manifest of a finished build: the plan, the source tree, OpenCV's configure summary, the facts
    CMake recorded (compilers, CUDA, cuDNN) and the toolkit the build used."""
    facts = compiler_facts(plan.build_dir)
    cuda = _truthy(plan.option("WITH_CUDA"))
    toolchain = ToolchainFacts(
        cmake=plan.cmake,
        cmake_version=facts["cmake_version"],
        cxx_compiler=facts["cxx_compiler"],
        cxx_compiler_id=facts["cxx_compiler_id"],
        cxx_compiler_version=facts["cxx_compiler_version"],
        cuda_version=facts["cuda_version"] or summary.cuda_version,
        nvcc=facts["nvcc"],
        cuda_host_compiler=facts["cuda_host_compiler"],
        cudnn_version=facts["cudnn_version"] or _cudnn_version(summary.cudnn),
        cuda_toolkit_root=_toolkit_root(plan, facts["nvcc"]) if cuda else None,
        launcher=plan.launcher,
        jobs=plan.jobs,
    )
    return Manifest(
        opencv_version=summary.opencv_version or tree.opencv_version,
        prefix=str(plan.prefix),
        build_dir=str(plan.build_dir),
        recipe=RecipeFacts(
            name=plan.recipe,
            path=str(plan.recipe_path),
            cuda=cuda,
            python=plan.python is not None,
            build_type=plan.build_type,
            modules=tuple(plan.modules),
        ),
        cmake_options=dict(plan.cmake_options),
        arch=plan.arch,
        toolchain=toolchain,
        source=tree,
        durations=dict(durations),
        patches=tuple(applied),
        python=PythonFacts.of(plan.python, module_dir) if plan.python is not None else None,
        summary=summary,
        created=now(),
        tool_version=__version__,
        cache_key=cache_key,
    )
