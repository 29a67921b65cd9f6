"""Gather the facts (every probe once), run the checks, return the findings in a fixed order."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path

from cvcuda_setup.doctor import checks, codec, sourcever
from cvcuda_setup.doctor.findings import Finding
from cvcuda_setup.errors import CvCudaSetupError
from cvcuda_setup.model import Recipe
from cvcuda_setup.probe import compiler, gpu, hostinfo, pydists, toolkit


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
    return checks.MIN_CMAKE


def _default_cache_dir() -> Path:
    try:
        from cvcuda_setup.sources.cache import default_cache_dir
    except ImportError:  # the sources package is optional to the doctor
        return Path.home() / ".cache" / "cvcuda-setup"
    return default_cache_dir()


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
) -> checks.Facts:
    env = os.environ if env is None else env
    needs = checks.Needs.of(recipe)
    gpu_probe = gpu.probe_gpus() if needs.cuda else gpu.GpuProbe(devices=(), driver_version=None, error=None)
    search = toolkit.search_nvcc(env)
    nvcc = search.chosen

    host = compiler.host_compiler(env)
    limits = replacement = None
    if nvcc is not None:
        limits = compiler.host_config_limits(nvcc.root) or compiler.nvcc_host_compiler_range(nvcc.version)
        if limits is not None and host is not None and compiler.accepts(limits, host) is False:
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

    source_path = source_dir if source_dir is not None else _default_cache_dir()
    wanted = [("source", source_path, needs.source_gib), ("build", build_dir or Path.cwd(), needs.build_gib)]
    if prefix is not None:
        wanted.append(("prefix", prefix, needs.prefix_gib))
    disks = tuple(
        checks.DiskUse(label, path, need, hostinfo.free_bytes(path), hostinfo.filesystem_id(path))
        for label, path, need in wanted
    )
    cores, memory = hostinfo.cpu_cores(), hostinfo.memory_bytes()

    python_info = python_error = None
    shadowing: tuple[pydists.ShadowingDist, ...] | None = ()
    if needs.python:
        from cvcuda_setup.probe.python import probe_python

        try:
            python_info = probe_python(python)
        except CvCudaSetupError as exc:
            python_error = str(exc)
        found = pydists.shadowing_dists(python)
        shadowing = None if found is None else tuple(found)

    target_python = target_error = None
    plugin_cuda_error = None
    if plugin:
        from cvcuda_setup.native import find_cuda_runtime

        try:  # the plugin's C++ side includes cuda_runtime.h, also for a CPU-only OpenCV
            find_cuda_runtime(env)
        except CvCudaSetupError as exc:
            plugin_cuda_error = str(exc)
    if plugin and plugin_python:
        from cvcuda_setup.native import probe_target_python

        try:
            target_python = probe_target_python(python)
        except CvCudaSetupError as exc:
            target_error = str(exc)

    facts = checks.Facts(
        recipe_name=recipe.name if recipe is not None else "(none)",
        needs=needs,
        arch_text=arch_text,
        opencv_version=effective_version,
        opencv_requested=opencv_version,
        gpu=gpu_probe,
        nvcc=search,
        compiler=host,
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
        cmake=hostinfo.find_tool("cmake", env),
        ninja=hostinfo.find_tool("ninja", env),
        caches=tuple(hostinfo.compiler_caches(env)),
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
    )
    return facts


def evaluate(facts: checks.Facts) -> list[Finding]:
    """Findings in a fixed order: GPU, driver, toolkit, arch, libraries, compiler, compat, sources, host,
    Python."""
    selection, arch_findings = checks.select_arch(facts)
    facts = dataclasses.replace(facts, arch=selection)
    return [
        *checks.check_gpu(facts),
        *checks.check_driver(facts),
        *checks.check_toolkit(facts),
        *arch_findings,
        *checks.check_libraries(facts),
        *codec.check_codec(
            facts.cudacodec, facts.nvcc.chosen.root if facts.nvcc.chosen else None, facts.codec_headers
        ),
        *checks.check_compiler(facts),
        *checks.check_compat(facts),
        *checks.check_sources(facts),
        *checks.check_host(facts),
        *checks.check_python(facts),
        *checks.check_plugin(facts),
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
) -> list[Finding]:
    """Probe this host for ``recipe`` and return every finding (ok, warn, error)."""
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
    )
    return evaluate(facts)
