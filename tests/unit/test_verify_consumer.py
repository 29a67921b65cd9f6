"""verify's C++ consumer check against a tiny fake OpenCV (a real shared library, .pc and OpenCVConfig.cmake):
the documented program is compiled through pkg-config and through find_package, then run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cvcuda_setup.verify import check_consumer
from cvcuda_setup.verify.context import VerifyOptions
from cvcuda_setup.verify.runner import build_context

pytestmark = pytest.mark.skipif(
    not (shutil.which("c++") and shutil.which("cmake") and shutil.which("pkg-config")),
    reason="needs c++, cmake and pkg-config",
)

CORE = '#pragma once\n#define CV_VERSION "4.14.0"\n'
CUDA = "#pragma once\nnamespace cv { namespace cuda {\nint getCudaEnabledDeviceCount();\n"
CUDA += "void printShortCudaDeviceInfo(int device);\n} }\n"
LIB = '#include "opencv2/core/cuda.hpp"\nint cv::cuda::getCudaEnabledDeviceCount() { return 0; }\n'
LIB += "void cv::cuda::printShortCudaDeviceInfo(int) {}\n"
PC = """prefix={prefix}
Name: OpenCV
Description: fake
Version: 4.14.0
Libs: -L${{prefix}}/lib -lopencv_core
Cflags: -I${{prefix}}/include/opencv4
"""
CONFIG = """add_library(opencv_core SHARED IMPORTED)
set_target_properties(opencv_core PROPERTIES IMPORTED_LOCATION "{prefix}/lib/libopencv_core.so"
  INTERFACE_INCLUDE_DIRECTORIES "{prefix}/include/opencv4")
set(OpenCV_LIBS opencv_core)
set(OpenCV_FOUND TRUE)
"""


def _fake_prefix(root: Path, *, pc: bool = True) -> Path:
    inc = root / "include" / "opencv4" / "opencv2"
    (inc / "core").mkdir(parents=True)
    (inc / "core.hpp").write_text(CORE)
    (inc / "core" / "cuda.hpp").write_text(CUDA)
    (root / "lib" / "cmake" / "opencv4").mkdir(parents=True)
    src = root / "core.cpp"
    src.write_text(LIB)
    subprocess.run(
        ["c++", "-shared", "-fPIC", f"-I{root / 'include' / 'opencv4'}", str(src), "-o",
         str(root / "lib" / "libopencv_core.so")],
        check=True,
    )  # fmt: skip
    if pc:
        (root / "lib" / "pkgconfig").mkdir()
        (root / "lib" / "pkgconfig" / "opencv4.pc").write_text(PC.format(prefix=root))
    (root / "lib" / "cmake" / "opencv4" / "OpenCVConfig.cmake").write_text(CONFIG.format(prefix=root))
    return root


def test_both_ways_build_and_run_and_a_cpu_build_counts_zero(tmp_path: Path) -> None:
    prefix = _fake_prefix(tmp_path / "prefix")
    ctx = build_context(VerifyOptions(prefix=prefix), tmp_path / "work")
    result = check_consumer.run(ctx, gpu_available=False)
    parts = {p.name: p for p in result.parts}
    assert result.status == "pass", [p.reason for p in result.parts]
    assert parts["pkg-config"].figures["devices"] == 0
    assert "pkg-config --cflags --libs opencv4" in parts["pkg-config"].reason
    assert "OpenCV_DIR=" in parts["find_package"].reason and parts["find_package"].figures["devices"] == 0


def test_with_wheel_the_consumers_still_run_with_the_prefix_libraries(tmp_path: Path) -> None:
    # --wheel keeps the prefix off the cv2 check's environment; the C++ consumers link the prefix and need its
    # library folder (CI found `libopencv_core.so.501: cannot open shared object file` there)
    prefix = _fake_prefix(tmp_path / "prefix")
    ctx = build_context(VerifyOptions(prefix=prefix, wheel=True), tmp_path / "work")
    assert str(prefix.resolve() / "lib") not in ctx.env.get("LD_LIBRARY_PATH", "").split(os.pathsep)
    result = check_consumer.run(ctx, gpu_available=False)
    assert result.status == "pass", [p.reason for p in result.parts]


def test_a_prefix_without_the_pc_file_fails_naming_the_option(tmp_path: Path) -> None:
    prefix = _fake_prefix(tmp_path / "prefix", pc=False)
    ctx = build_context(VerifyOptions(prefix=prefix), tmp_path / "work")
    result = check_consumer.run(ctx, gpu_available=False)
    parts = {p.name: p for p in result.parts}
    assert result.status == "fail"
    assert (
        parts["pkg-config"].status == "fail" and "OPENCV_GENERATE_PKGCONFIG=ON" in parts["pkg-config"].reason
    )
    assert parts["find_package"].status == "pass"
