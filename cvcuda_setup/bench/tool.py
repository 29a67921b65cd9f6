"""The C++ benchmark tool: compile ``native/bench`` against a prefix into the cache, run it, read its JSON.

``cvcuda-zerocopy-bench`` is not installed; it is built per prefix (and CUDA arch) into
``<cache>/bench/<digest>/`` and rebuilt by ninja when its sources change. Its exit codes: 0 ok, 1 failure,
2 bad arguments, 3 no CUDA device; stdout is one JSON document, stderr its progress (echoed live).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cvcuda_setup
from cvcuda_setup import cmakedriver
from cvcuda_setup.bench.common import BenchError, run_logged
from cvcuda_setup.console import console
from cvcuda_setup.envvars import layout_env
from cvcuda_setup.errors import BuildError, NoGpuError, ToolchainError, UsageError
from cvcuda_setup.tools import run_split

TOOL_NAME = "cvcuda-zerocopy-bench"
#: Exit code of the tool when it sees no usable CUDA device.
EXIT_NO_DEVICE = 3


def bench_source_dir() -> Path:
    """``native/bench`` of this checkout, or the copy shipped in the wheel (``cvcuda_setup/_data/native``)."""
    package = Path(cvcuda_setup.__file__).resolve().parent
    candidates = [package / "_data" / "native" / "bench", package.parent / "native" / "bench"]
    for candidate in candidates:
        if (candidate / "CMakeLists.txt").is_file():
            return candidate
    raise ToolchainError(
        "the benchmark sources (native/bench/CMakeLists.txt) are missing from this installation",
        hint="reinstall cvcuda-setup or run it from a source checkout",
    )


def prefix_env(prefix: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the tool runs in: ``base`` with the prefix's environment (``envvars.layout_env``)."""
    env = dict(os.environ if base is None else base)
    return {**env, **layout_env(prefix).resolved(env)}


def _tool_paths() -> tuple[str, str]:
    from cvcuda_setup.probe.hostinfo import find_tool

    cmake = find_tool("cmake")
    ninja = find_tool("ninja")
    if cmake is None:
        raise ToolchainError("cmake not found", hint="pip install cmake")
    if ninja is None:
        raise ToolchainError("ninja not found", hint="pip install ninja")
    return str(cmake.path), str(ninja.path)


def configure_args(
    source: Path, build: Path, prefix: Path, *, cuda_arch: str, ninja: str, nvcc: str | None
) -> list[str]:
    """The ``cmake`` configure arguments (without the cmake executable) for the benchmark project."""
    args = [
        "-S",
        str(source),
        "-B",
        str(build),
        "-G",
        "Ninja",
        f"-DCMAKE_MAKE_PROGRAM={ninja}",
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_PREFIX_PATH={prefix}",
        f"-DCMAKE_CUDA_ARCHITECTURES={cuda_arch}",
    ]
    if nvcc:
        args.append(f"-DCMAKE_CUDA_COMPILER={nvcc}")
    return args


def build_dir_for(cache_dir: Path, source: Path, prefix: Path, cuda_arch: str) -> Path:
    """``<cache>/bench/<digest>``: one build per (sources, prefix, arch)."""
    key = f"{source.resolve()}\n{prefix.resolve()}\n{cuda_arch}"
    return cache_dir / "bench" / hashlib.sha256(key.encode()).hexdigest()[:16]


def build_tool(prefix: Path, *, cache_dir: Path, cuda_arch: str, jobs: int | None = None) -> Path:
    """Compile the tool against ``prefix`` (configure once, then an incremental ninja build); its path."""
    if not prefix.is_dir():
        raise UsageError(
            f"--prefix {str(prefix)!r} does not exist", hint="build one with `cvcuda-setup build`"
        )
    from cvcuda_setup.probe.toolkit import find_nvcc

    source = bench_source_dir()
    cmake, ninja = _tool_paths()
    nvcc = find_nvcc()
    if nvcc is None:
        console.warn("no nvcc found by the toolkit probe; CMake will search for the CUDA compiler itself")
    build = build_dir_for(cache_dir, source, prefix, cuda_arch)
    build.mkdir(parents=True, exist_ok=True)
    log = build / "bench-build.log"
    args = configure_args(
        source,
        build,
        prefix.resolve(),
        cuda_arch=cuda_arch,
        ninja=ninja,
        nvcc=str(nvcc.path) if nvcc else None,
    )
    configure = [cmake, *args]
    decision = cmakedriver.decide(build, configure, source, cmakedriver.read_stamp(build))
    with console.step(f"build {TOOL_NAME} against {prefix}"):
        if decision.needed:
            cmakedriver.forget_stamp(build)
            run_logged(
                cmakedriver.with_fresh(configure) if decision.fresh else configure,
                log,
                "configuring the benchmark (is OpenCV with CUDA and the plugin there?)",
            )
            cmakedriver.write_stamp(build, cmakedriver.ConfigureRecord.of(configure, source))
        build_cmd = [cmake, "--build", str(build), "--target", TOOL_NAME]
        if jobs:
            build_cmd += ["--parallel", str(jobs)]
        run_logged(build_cmd, log, f"building {TOOL_NAME}")
    exe = build / TOOL_NAME
    if not exe.is_file():
        raise BuildError(f"the build finished but {exe} is missing; log: {log}")
    return exe


def run_tool(
    exe: Path, args: Sequence[str], *, env: Mapping[str, str], timeout: float = 3600.0
) -> dict[str, Any]:
    """Run the tool, echoing its stderr live; its JSON document, or a typed error by its exit code."""
    argv = [str(exe), *args]
    tail: deque[str] = deque(maxlen=40)

    def echo(line: str) -> None:
        tail.append(line)
        console.info(line)

    try:
        returncode, stdout = run_split(argv, env=env, timeout=timeout, on_stderr=echo)
    except OSError as exc:
        raise BenchError(f"cannot run {exe}: {exc}") from None
    except subprocess.TimeoutExpired:
        raise BenchError(f"{exe.name} {' '.join(args[:1])} timed out after {timeout:.0f} s") from None
    return interpret(returncode, stdout, list(tail), exe.name)


def interpret(
    returncode: int, stdout: str, stderr_tail: Sequence[str], name: str = TOOL_NAME
) -> dict[str, Any]:
    """Exit code + output -> the JSON document, or the error the exit code stands for."""
    lines = [line.strip() for line in stderr_tail if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    reason = (errors[-1] if errors else lines[-1] if lines else "").removeprefix("error: ").strip()
    if returncode == EXIT_NO_DEVICE:
        raise NoGpuError(reason or "no CUDA device: the benchmark tool found none")
    if returncode == 2:
        raise UsageError(f"{name} rejected its arguments: {reason or 'no message'}")
    if returncode != 0:
        how = f"was killed by signal {-returncode}" if returncode < 0 else f"exited with code {returncode}"
        raise BenchError(f"{name} {how}: {reason or 'no message on stderr'}")
    try:
        doc = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise BenchError(f"{name} printed no valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise BenchError(f"{name} printed JSON that is not an object")
    return doc
