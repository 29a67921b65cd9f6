"""Checks of the build host: cmake/ninja, compiler caches, free disk, cores and memory."""

from __future__ import annotations

from cvcuda_setup.doctor import compat
from cvcuda_setup.doctor.facts import DiskUse, Facts, gib
from cvcuda_setup.doctor.findings import Finding
from cvcuda_setup.probe.hostinfo import GIB, GIB_PER_JOB_CUDA


def check_host(f: Facts) -> list[Finding]:
    out: list[Finding] = []
    if f.cmake is None:
        out.append(
            Finding(
                "error",
                "host",
                "cmake not found (PyPI package or PATH)",
                "python -m pip install cmake",
                code="host.cmake",
            )
        )
    elif not f.cmake.version or compat.parse_version(f.cmake.version) < compat.parse_version(f.min_cmake):
        out.append(
            Finding(
                "error",
                "host",
                f"cmake {f.cmake.version or '(unknown version)'} at {f.cmake.path} is older than OpenCV "
                "needs "
                f"({f.min_cmake})",
                "python -m pip install -U cmake",
                {"path": f.cmake.path, "version": f.cmake.version, "minimum": f.min_cmake},
                code="host.cmake",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "host",
                f"cmake {f.cmake.version} at {f.cmake.path} ({f.cmake.origin})",
                data={"path": f.cmake.path, "version": f.cmake.version, "origin": f.cmake.origin},
                code="host.cmake",
            )
        )
    if f.ninja is None:
        out.append(
            Finding(
                "error",
                "host",
                "ninja not found (PyPI package or PATH); builds use -G Ninja",
                "python -m pip install ninja",
                code="host.ninja",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "host",
                f"ninja {f.ninja.version} at {f.ninja.path} ({f.ninja.origin})",
                data={"path": f.ninja.path, "version": f.ninja.version, "origin": f.ninja.origin},
                code="host.ninja",
            )
        )
    by_fs: dict[int, list[DiskUse]] = {}
    for use in f.disks:
        by_fs.setdefault(use.filesystem, []).append(use)
    for uses in by_fs.values():
        need = sum(u.need_gib for u in uses)
        free = uses[0].free
        what = " + ".join(f"{u.label} {u.path} {u.need_gib:g} GiB" for u in uses)
        data = {"free": free, "need_gib": need, "paths": {u.label: u.path for u in uses}}
        if free < need * GIB:
            out.append(
                Finding(
                    "error",
                    "host",
                    f"{gib(free)} free where {what} need {need:g} GiB",
                    "free space there, or point --build-dir/--prefix/the source cache (CVCUDA_SETUP_CACHE) "
                    "elsewhere",
                    data,
                    code="host.disk",
                )
            )
        else:
            out.append(Finding("ok", "host", f"{gib(free)} free for {what}", data=data, code="host.disk"))
    per_job = "2.5 GiB per job for nvcc" if f.needs.cuda else "1 GiB per job"
    resources = {"cores": f.cores, "memory": f.memory, "jobs": f.jobs}
    if f.needs.cuda and f.memory and f.memory < GIB_PER_JOB_CUDA * GIB:
        out.append(
            Finding(
                "warn",
                "host",
                f"{gib(f.memory)} of memory: a single nvcc job on OpenCV's CUDA sources may need more",
                "add swap or memory, or build the minimal recipe",
                resources,
                code="host.resources",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "host",
                f"{f.cores} cores, {gib(f.memory)} memory: build will use -j {f.jobs} ({per_job})",
                data=resources,
                code="host.resources",
            )
        )
    if f.caches:
        names = ", ".join(f"{c.name} {c.version}".strip() for c in f.caches)
        out.append(
            Finding(
                "ok",
                "host",
                f"compiler cache found: {names} (use --launcher {f.caches[0].name})",
                data={"caches": [{"name": c.name, "path": c.path, "version": c.version} for c in f.caches]},
                code="host.compiler-cache",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "host",
                "no compiler cache (ccache/sccache) found; rebuilds start from scratch",
                data={"caches": []},
                code="host.compiler-cache",
            )
        )
    return out
