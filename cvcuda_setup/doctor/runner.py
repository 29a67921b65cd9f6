"""Gather the facts (every probe once), run the checks, return the findings in a fixed order."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path

from cvcuda_setup.doctor import codec, sourcever
from cvcuda_setup.doctor.check_compiler import check_compat, check_compiler
from cvcuda_setup.doctor.check_gpu import check_driver, check_gpu
from cvcuda_setup.doctor.check_host import check_host
from cvcuda_setup.doctor.check_python import check_plugin, check_python
from cvcuda_setup.doctor.check_sources import check_sources
from cvcuda_setup.doctor.check_toolkit import check_libraries, check_toolkit, select_arch
from cvcuda_setup.doctor.facts import MIN_CMAKE, DiskUse, Facts, Needs
from cvcuda_setup.doctor.findings import Finding
from cvcuda_setup.errors import CvCudaSetupError
from cvcuda_setup.host import Host
from cvcuda_setup.model import ArchSelection, BuildPlan, Recipe
from cvcuda_setup.probe import compiler, gpu, hostinfo, pydists, toolkit
from cvcuda_setup.sources.cache import default_cache_dir


def _min_cmake(opencv_tree: Path | None) -> str:
    """OpenCV's own minimum (cmake/OpenCVMinDepVersions.cmake) when the tree is at hand."""
    if opencv_tree is not None:
        try:
            text = (opencv_tree / "cmake" / "OpenCVMinDepVersions.cmake").read_text(errors="replace")
        except OSError:
            text = ""
        match = re.search(r"set\(MIN_VER_CMAKE\s+(\d+\.\d+(?:\.\d+)?)\)", text)
        if match:
            return match.group(1)
    return MIN_CMAKE


def gather(
    recipe: Recipe | None,
    arch_text: str,
    opencv_version: str,
    *,
    prefix: Path | None = None,
    build_dir: Path | None = None,
    python: str | None = None,
    source_dir: Path | None = None,
    contrib_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    plugin: bool = False,
    plugin_python: bool = True,
    host: Host | None = None,
    arch: ArchSelection | None = None,
    source_disk: Path | None = None,
) -> Facts:
    """The facts for the checks. ``host`` (probed once per command) is made here when not given; ``arch``
    is a build plan's selection, checked as it is instead of parsing ``arch_text`` again; ``source_disk``
    is where the plan's sources will be (for the free-space check)."""
    if host is None:
        host = Host(python_request=python, env=dict(os.environ if env is None else env))
    env = host.env
    needs = Needs.of(recipe)
    gpu_probe = host.gpus if needs.cuda else gpu.GpuProbe(devices=(), driver_version=None, error=None)
    search = host.nvcc_search
    nvcc = search.chosen

    cc = host.compiler
    limits = replacement = None
    if nvcc is not None:
        limits = compiler.host_config_limits(nvcc.root) or compiler.nvcc_host_compiler_range(nvcc.version)
        if limits is not None and cc is not None and compiler.accepts(limits, cc) is False:
            replacement = compiler.pick_host_compiler(limits, env)

    libraries: dict[str, Path | None] = {}
    npp_missing: tuple[str, ...] = ()
    cudnn_header = cudnn_version = None
    if needs.cuda and nvcc is not None:
        for name in ("nppc", "cublas", "cufft", "cudnn"):
            libraries[name] = toolkit.find_cuda_library(nvcc.root, name, env=env)
        npp_missing = tuple(toolkit.missing_npp(nvcc.root))
        cudnn_header = toolkit.cudnn_header(nvcc.root, env)
        cudnn_version = toolkit.cudnn_version(nvcc.root, env)

    opencv_tree = contrib_tree = None
    opencv_tv = contrib_tv = None
    effective_version = opencv_version
    if source_dir is not None:
        opencv_tree, contrib_tree = sourcever.find_trees(source_dir, contrib_dir)
        if opencv_tree is not None:
            opencv_tv = sourcever.opencv_version(opencv_tree)
            if opencv_tv.version:
                effective_version = opencv_tv.version
        if contrib_tree is not None:
            contrib_tv = sourcever.contrib_version(contrib_tree)

    source_path = source_disk or (source_dir if source_dir is not None else default_cache_dir())
    wanted = [("source", source_path, needs.source_gib), ("build", build_dir or Path.cwd(), needs.build_gib)]
    if prefix is not None:
        wanted.append(("prefix", prefix, needs.prefix_gib))
    disks = tuple(
        DiskUse(label, path, need, hostinfo.free_bytes(path), hostinfo.filesystem_id(path))
        for label, path, need in wanted
    )
    cores, memory = host.cores, host.memory
    python = host.python_request

    python_info = python_error = None
    shadowing: tuple[pydists.ShadowingDist, ...] | None = ()
    if needs.python:
        python_error = host.python_error
        python_info = None if python_error is not None else host.python
        shadowing = host.shadowing

    target_python = target_error = None
    plugin_cuda_error = None
    if plugin:
        from cvcuda_setup.native import find_cuda_runtime, runtime_at

        try:  # the plugin's C++ side includes cuda_runtime.h, also for a CPU-only OpenCV
            if nvcc is not None:
                runtime_at(nvcc.root)  # the toolkit the host's probe chose, as the build will use it
            else:
                find_cuda_runtime(env, use_nvcc=False)
        except CvCudaSetupError:
            try:  # the full search, for its message (and the other places it looks)
                find_cuda_runtime(env)
            except CvCudaSetupError as exc:
                plugin_cuda_error = str(exc)
    if plugin and plugin_python:
        target_error = host.target_python_error
        target_python = None if target_error is not None else host.target_python

    facts = Facts(
        recipe_name=recipe.name if recipe is not None else "(none)",
        needs=needs,
        arch_text=arch_text,
        opencv_version=effective_version,
        opencv_requested=opencv_version,
        gpu=gpu_probe,
        nvcc=search,
        compiler=cc,
        compiler_limits=limits,
        replacement_compiler=replacement,
        libraries=libraries,
        npp_missing=npp_missing,
        cudnn_header=cudnn_header,
        cudnn_version=cudnn_version,
        opencv_tree=opencv_tree,
        opencv_tree_version=opencv_tv,
        contrib_tree=contrib_tree,
        contrib_tree_version=contrib_tv,
        source_given=source_dir,
        min_cmake=_min_cmake(opencv_tree),
        cmake=host.cmake_info,
        ninja=host.ninja_info,
        caches=host.compiler_caches,
        disks=disks,
        cores=cores,
        memory=memory,
        jobs=hostinfo.default_jobs(needs.cuda, cores=cores, memory=memory),
        python=python_info,
        python_error=python_error,
        python_requested=python,
        shadowing=shadowing,
        plugin=plugin,
        plugin_python=target_python,
        plugin_python_error=target_error,
        cudacodec=codec.builds_cudacodec(recipe) and needs.cuda,
        codec_headers=codec.find_codec_headers(nvcc.root if nvcc is not None else None),
        plugin_cuda_error=plugin_cuda_error,
        arch=arch,
    )
    return facts


def evaluate(facts: Facts) -> list[Finding]:
    """Findings in a fixed order: GPU, driver, toolkit, arch, libraries, compiler, compat, sources, host,
    Python."""
    selection, arch_findings = select_arch(facts)
    facts = dataclasses.replace(facts, arch=selection)
    return [
        *check_gpu(facts),
        *check_driver(facts),
        *check_toolkit(facts),
        *arch_findings,
        *check_libraries(facts),
        *codec.check_codec(
            facts.cudacodec, facts.nvcc.chosen.root if facts.nvcc.chosen else None, facts.codec_headers
        ),
        *check_compiler(facts),
        *check_compat(facts),
        *check_sources(facts),
        *check_host(facts),
        *check_python(facts),
        *check_plugin(facts),
    ]


def run_doctor(
    recipe: Recipe | None,
    arch_text: str,
    opencv_version: str,
    *,
    prefix: Path | None = None,
    build_dir: Path | None = None,
    python: str | None = None,
    source_dir: Path | None = None,
    contrib_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    plugin: bool = False,
    plugin_python: bool = True,
    host: Host | None = None,
) -> list[Finding]:
    """Probe this host (or use ``host``'s probes) for ``recipe`` and return every finding (ok, warn,
    error)."""
    facts = gather(
        recipe,
        arch_text,
        opencv_version,
        prefix=prefix,
        build_dir=build_dir,
        python=python,
        source_dir=source_dir,
        contrib_dir=contrib_dir,
        env=env,
        plugin=plugin,
        plugin_python=plugin_python,
        host=host,
    )
    return evaluate(facts)


def check_plan(
    recipe: Recipe, plan: BuildPlan, host: Host, *, plugin: bool, plugin_python: bool
) -> list[Finding]:
    """doctor for a build plan: its arch selection, its build dir, prefix and source place for disk, on
    the host the plan was made on (nothing is probed twice)."""
    facts = gather(
        recipe,
        plan.arch.requested,
        plan.opencv_version,
        prefix=plan.prefix,
        build_dir=plan.build_dir,
        python=host.python_request,
        env=host.env,
        plugin=plugin,
        plugin_python=plugin_python,
        host=host,
        arch=plan.arch,
        source_disk=plan.source_dir,
    )
    return evaluate(facts)
