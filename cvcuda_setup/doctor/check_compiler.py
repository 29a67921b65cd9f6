"""Checks of the host compiler against nvcc, and of the OpenCV x CUDA compatibility table."""

from __future__ import annotations

from typing import Any

from cvcuda_setup.doctor import compat
from cvcuda_setup.doctor.facts import Facts
from cvcuda_setup.doctor.findings import Finding, Level
from cvcuda_setup.probe.compiler import accepts


def check_compiler(f: Facts) -> list[Finding]:
    cc = f.compiler
    if cc is None:
        return [
            Finding(
                "error",
                "compiler",
                "no C/C++ compiler found (CUDAHOSTCXX, CC, CXX, cc, c++, gcc, g++)",
                "install g++ (e.g. apt install g++)",
                code="compiler.missing",
            )
        ]
    data: dict[str, Any] = {"path": cc.path, "kind": cc.kind, "version": cc.version, "origin": cc.origin}
    nvcc = f.nvcc.chosen
    if not f.needs.cuda or nvcc is None:
        return [
            Finding(
                "ok",
                "compiler",
                f"{cc.kind} {cc.version} at {cc.path} (from {cc.origin})",
                data=data,
                code="compiler.host",
            )
        ]
    limits = f.compiler_limits
    if limits is None:
        return [
            Finding(
                "warn",
                "compiler",
                f"{cc.kind} {cc.version} at {cc.path}: the host compilers nvcc {nvcc.version} accepts are "
                "unknown "
                "(no crt/host_config.h, and older than the table)",
                "check NVIDIA's installation guide for this CUDA release",
                data,
                code="compiler.range-unknown",
            )
        ]
    data.update(gcc_max=limits.gcc_max, clang_max=limits.clang_max, limits_source=limits.source)
    ok = accepts(limits, cc)
    if ok is None:
        return [
            Finding(
                "warn",
                "compiler",
                f"{cc.path} is neither gcc nor clang: cannot tell whether nvcc {nvcc.version} accepts it",
                f"use g++ <= {limits.gcc_max} as CUDA host compiler (-D CUDA_HOST_COMPILER=...)",
                data,
                code="compiler.unknown-kind",
            )
        ]
    newest = limits.gcc_max if cc.kind == "gcc" else limits.clang_max
    if ok:
        return [
            Finding(
                "ok",
                "compiler",
                f"host compiler {cc.kind} {cc.version} at {cc.path} (from {cc.origin}); nvcc {nvcc.version} "
                "accepts "
                f"{cc.kind} <= {newest} ({limits.source})",
                data=data,
                code="compiler.host",
            )
        ]
    if f.replacement_compiler is not None:
        alt = f.replacement_compiler.path
        fix = (
            f"build with -D CUDA_HOST_COMPILER={alt} (OpenCV's FindCUDA; CMAKE_CUDA_HOST_COMPILER={alt} or "
            f"CUDAHOSTCXX={alt} for CMake's CUDA language), or CC/CXX pointing at gcc/g++ "
            f"{f.replacement_compiler.major}"
        )
        data["replacement"] = alt
    else:
        newest_gxx = f"g++-{limits.gcc_max}"
        fix = f"install {newest_gxx} (or older) and build with -D CUDA_HOST_COMPILER=/usr/bin/{newest_gxx}"
    return [
        Finding(
            "error",
            "compiler",
            f"host compiler {cc.kind} {cc.version} at {cc.path} (from {cc.origin}) is newer than nvcc "
            f"{nvcc.version} "
            f"accepts ({cc.kind} <= {newest}, {limits.source}): nvcc stops with 'unsupported GNU version'",
            fix,
            data,
            code="compiler.too-new",
        )
    ]


def check_compat(f: Facts) -> list[Finding]:
    nvcc = f.nvcc.chosen
    if not f.needs.cuda or nvcc is None:
        return []
    gcc = f.compiler.version if f.compiler is not None and f.compiler.kind == "gcc" else None
    version = f.opencv_version
    verdict = compat.check(nvcc.version, version, gcc=gcc, contrib=f.needs.contrib)
    combo = f"OpenCV {version} + CUDA {nvcc.version}" + (f" + gcc {gcc}" if gcc else "")
    out: list[Finding] = []
    for rule in verdict.bad:
        level: Level = "error" if rule.checked else "warn"
        prefix = "" if rule.checked else "reported, not confirmed upstream: "
        out.append(
            Finding(
                level,
                "compat",
                f"{prefix}{combo} is known to fail: {compat.describe_rule(rule)}",
                compat.rule_fix(rule, verdict.recommended, verdict.recommended_by_major, version) or None,
                {**rule.to_json(), "recommended": verdict.recommended},
                code="compat.known-bad",
            )
        )
    if verdict.untested_cuda:
        newest = ".".join(str(p) for p in compat.load_table().newest_cuda())
        out.append(
            Finding(
                "warn",
                "compat",
                f"CUDA {nvcc.version} is newer than anything in the compatibility table (newest: {newest}): "
                f"{combo} is untested",
                "expect new CUDA releases to break OpenCV's CUDA modules; a failure here is worth an "
                "upstream issue",
                {"newest_in_table": newest},
                code="compat.untested-cuda",
            )
        )
    if not verdict.bad:
        if verdict.good:
            evidence = "; ".join(r.evidence for r in verdict.good)
            out.append(
                Finding(
                    "ok",
                    "compat",
                    f"{combo} is known to build ({evidence})",
                    data={"good": [r.to_json() for r in verdict.good]},
                    code="compat.known-good",
                )
            )
        else:
            rec = (
                f"; newest release with no known problem: {verdict.recommended}"
                if verdict.recommended
                else ""
            )
            out.append(
                Finding(
                    "ok",
                    "compat",
                    f"no known problem with {combo}{rec}",
                    data={"recommended": verdict.recommended},
                    code="compat.no-known-problem",
                )
            )
    return out
