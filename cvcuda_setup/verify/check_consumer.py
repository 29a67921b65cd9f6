"""Check ``consumer``: the documented C++ check program, built the two documented ways, then run.

The program includes ``opencv2/core.hpp`` and ``opencv2/core/cuda.hpp``, prints
``cv::cuda::getCudaEnabledDeviceCount()`` and, when it is above 0, calls ``printShortCudaDeviceInfo(0)``.
It is compiled once with ``pkg-config --cflags --libs opencv4|opencv5`` (``PKG_CONFIG_PATH`` at the prefix's
``lib/pkgconfig``) and once by a tiny CMake project with ``find_package(OpenCV REQUIRED)`` and
``OpenCV_DIR=<prefix>/lib/cmake/opencv4|opencv5``; both binaries are run with the prefix's environment. A
CPU-only build passes with a device count of 0; a CUDA build on a host with a GPU must count at least one.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

from cvcuda_setup.verify.context import Context
from cvcuda_setup.verify.procs import run_process
from cvcuda_setup.verify.result import CheckResult, Part, failed, passed, skipped

ID = "consumer"
TITLE = "C++ consumer (pkg-config, find_package)"

PROGRAM = """#include <opencv2/core.hpp>
#include <opencv2/core/cuda.hpp>
#include <iostream>

int main() {
    std::cout << "OpenCV " << CV_VERSION << std::endl;
    int count = cv::cuda::getCudaEnabledDeviceCount();
    std::cout << "CUDA devices: " << count << std::endl;
    if (count > 0) cv::cuda::printShortCudaDeviceInfo(0);
    return 0;
}
"""
CMAKELISTS = """cmake_minimum_required(VERSION 3.16)
project(cvcuda_consumer CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(OpenCV REQUIRED)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE ${OpenCV_LIBS})
"""
_COUNT = re.compile(r"^CUDA devices: (-?\d+)$", re.MULTILINE)
TIMEOUT_S = 300.0


def _found(prefix: Path, pattern: str) -> Path | None:
    hits = sorted(prefix.glob(pattern), reverse=True)  # opencv5 before opencv4
    return hits[0] if hits else None


def _run_binary(ctx: Context, name: str, exe: Path, how: str, gpu: bool) -> Part:
    proc = run_process([str(exe)], ctx.prefix_env, 60.0, None)
    if proc.returncode != 0:
        return failed(name, f"the program built with {how} failed to run: {proc.describe_failure()}")
    match = _COUNT.search(proc.stdout)
    if match is None:
        return failed(name, f"the program built with {how} printed no device count: {proc.stdout[-300:]!r}")
    count = int(match.group(1))
    intended, _ = ctx.manifest.cuda_intended()
    if count < 0 or (count == 0 and intended and gpu):
        return failed(name, f"built with {how}, it counts {count} CUDA devices on a host with a GPU")
    return passed(name, f"built with {how}; ran: {count} CUDA device(s)", devices=count, output=proc.stdout)


def _pkg_config(ctx: Context, work: Path, cxx: str, gpu: bool) -> Part:
    pc = _found(ctx.prefix, "lib*/pkgconfig/opencv*.pc")
    if pc is None:
        return failed(
            "pkg-config",
            f"no opencv4.pc / opencv5.pc under {ctx.prefix}/lib*/pkgconfig: rebuild with "
            "-D OPENCV_GENERATE_PKGCONFIG=ON (every recipe sets it)",
        )
    tool = shutil.which("pkg-config") or shutil.which("pkgconf")
    if tool is None:
        return skipped("pkg-config", "pkg-config is not on PATH (apt install pkg-config)")
    env = {
        **ctx.prefix_env,
        "PKG_CONFIG_PATH": os.pathsep.join([str(pc.parent), ctx.prefix_env.get("PKG_CONFIG_PATH", "")]),
    }
    flags = run_process([tool, "--cflags", "--libs", pc.stem], env, 30.0, None)
    if flags.returncode != 0:
        return failed("pkg-config", f"pkg-config --cflags --libs {pc.stem}: {flags.describe_failure()}")
    exe = work / "consumer-pkgconfig"
    cmd = [cxx, "-std=c++17", str(work / "main.cpp"), "-o", str(exe), *shlex.split(flags.stdout)]
    built = run_process(cmd, env, TIMEOUT_S, work)
    if built.returncode != 0:
        return failed("pkg-config", f"{shlex.join(cmd[:4])} ... failed: {built.describe_failure()}")
    return _run_binary(ctx, "pkg-config", exe, f"pkg-config --cflags --libs {pc.stem}", gpu)


def _find_package(ctx: Context, work: Path, cxx: str, gpu: bool) -> Part:
    config = _found(ctx.prefix, "lib*/cmake/opencv*/OpenCVConfig.cmake")
    if config is None:
        return failed("find_package", f"no lib*/cmake/opencv*/OpenCVConfig.cmake under {ctx.prefix}")
    cmake = shutil.which("cmake")
    if cmake is None:
        return skipped("find_package", "cmake is not on PATH")
    build = work / "cmake-build"
    configure = [
        cmake, "-S", str(work), "-B", str(build), f"-DOpenCV_DIR={config.parent}",
        f"-DCMAKE_CXX_COMPILER={cxx}", "-DCMAKE_BUILD_TYPE=Release",
    ]  # fmt: skip
    done = run_process(configure, ctx.prefix_env, TIMEOUT_S, work)
    if done.returncode == 0:
        done = run_process([cmake, "--build", str(build)], ctx.prefix_env, TIMEOUT_S, work)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        why = " | ".join(tail)
        return failed("find_package", f"find_package(OpenCV) with OpenCV_DIR={config.parent}: {why}")
    how = f"find_package(OpenCV), OpenCV_DIR={config.parent}"
    return _run_binary(ctx, "find_package", build / "consumer", how, gpu)


def run(ctx: Context, *, gpu_available: bool) -> CheckResult:
    """``gpu_available``: the gpu check found a usable device (a CUDA build must then count one)."""
    cxx = ctx.prefix_env.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        return CheckResult.skip(ID, TITLE, "no C++ compiler (c++, g++ or $CXX) on PATH")
    work = ctx.work / "consumer"
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.cpp").write_text(PROGRAM)
    (work / "CMakeLists.txt").write_text(CMAKELISTS)
    return CheckResult.from_parts(
        ID, TITLE, [_pkg_config(ctx, work, cxx, gpu_available), _find_package(ctx, work, cxx, gpu_available)]
    )
