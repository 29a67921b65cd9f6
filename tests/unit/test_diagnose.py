# ruff: noqa: E501  (log excerpts keep their real line lengths)
"""Known failure patterns on log snippets shaped like the real ones (CMake's wrapping, ninja's FAILED lines)."""

from __future__ import annotations

import textwrap

import pytest

from cvcuda_setup.diagnose import Context, diagnose, first_errors


def log(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def ids(text: str, ctx: Context | None = None) -> list[str]:
    return [d.id for d in diagnose(log(text), ctx)]


HOST_COMPILER = """
[12/845] Building NVCC (Device) object modules/core/CMakeFiles/cuda_compile_1.dir/src/cuda/cuda_compile_1_generated_gpu_mat.cu.o
FAILED: modules/core/CMakeFiles/cuda_compile_1.dir/src/cuda/cuda_compile_1_generated_gpu_mat.cu.o
cd /b/modules/core/CMakeFiles/cuda_compile_1.dir/src/cuda && /usr/bin/cmake -E make_directory /b/modules/core/CMakeFiles/cuda_compile_1.dir/src/cuda/. && /usr/bin/cmake -D verbose:BOOL=OFF -D build_configuration:STRING=Release -P /b/modules/core/CMakeFiles/cuda_compile_1.dir/src/cuda/cuda_compile_1_generated_gpu_mat.cu.o.Release.cmake
In file included from /usr/local/cuda/bin/../targets/x86_64-linux/include/cuda_runtime.h:82,
                 from <command-line>:
/usr/local/cuda/bin/../targets/x86_64-linux/include/crt/host_config.h:143:2: error: #error -- unsupported GNU version! gcc versions later than 13 are not supported! The nvcc flag '-allow-unsupported-compiler' can be used to override this version check; however, using an unsupported host compiler may cause compilation failure or incorrect run time execution. Use at your own risk.
  143 | #error -- unsupported GNU version! gcc versions later than 13 are not supported! The nvcc flag '-allow-unsupported-compiler' can be used to override this version check; however, using an unsupported host compiler may cause compilation failure or incorrect run time execution. Use at your own risk.
      |  ^~~~~
CMake Error at cuda_compile_1_generated_gpu_mat.cu.o.Release.cmake:220 (message):
  Error generating
  /b/modules/core/CMakeFiles/cuda_compile_1.dir/src/cuda/./cuda_compile_1_generated_gpu_mat.cu.o
ninja: build stopped: subcommand failed.
"""


def test_unsupported_host_compiler_names_the_highest_gcc_and_the_option() -> None:
    found = diagnose(log(HOST_COMPILER))
    assert found[0].id == "host-compiler"
    assert "nvcc accepts gcc 13 at most" in found[0].hint
    assert "-D CUDA_HOST_COMPILER=/usr/bin/g++-13" in found[0].hint
    assert found[0].evidence == "unsupported GNU version! gcc versions later than 13"


def test_unsupported_clang() -> None:
    text = "host_config.h:151:2: error: -- unsupported clang version! clang version must be less than 21 and greater than 3.2 ."
    found = diagnose(text)
    assert [d.id for d in found] == ["host-compiler"] and "older than 21" in found[0].hint


@pytest.mark.parametrize(
    ("text", "arch", "cap"),
    [
        ("nvcc fatal   : Unsupported gpu architecture 'compute_35'\n", "compute_35", "3.5"),
        ("nvcc fatal   : Unsupported gpu architecture 'sm_120a'\n", "sm_120a", "12.0"),
    ],
)
def test_unsupported_gpu_architecture(text: str, arch: str, cap: str) -> None:
    found = diagnose("[3/900] Building NVCC (Device) object x.cu.o\nFAILED: x.cu.o\n" + text)
    assert found[0].id == "gpu-arch"
    assert f"cannot compile for {arch} (compute capability {cap})" in found[0].hint


def test_opencv_refusing_an_arch_at_configure() -> None:
    text = """
    CMake Error at cmake/OpenCVDetectCUDAUtils.cmake:316 (message):
      CUDA: 3.5 compute capability is not supported - exclude it from ARCH/PTX
      list and re-run CMake
    """
    found = diagnose(log(text))
    assert found[0].id == "gpu-arch" and "capability 3.5" in found[0].hint


@pytest.mark.parametrize(
    "line",
    [
        "c++: fatal error: Killed signal terminated program cc1plus",
        "/src/opencv/modules/imgproc/src/resize.cpp:4135:1: internal compiler error: Killed (program cc1plus)",
        "nvcc error   : 'cicc' died due to signal 9 (Kill signal)",
        "virtual memory exhausted: Cannot allocate memory",
    ],
)
def test_a_killed_compiler_suggests_half_the_jobs(line: str) -> None:
    text = f"[400/845] Building CXX object modules/imgproc/x.o\nFAILED: modules/imgproc/x.o\n{line}\ncompilation terminated.\n"
    found = diagnose(text, Context(jobs=16))
    assert found[0].id == "killed"
    assert "--jobs 8" in found[0].hint
    assert "fewer --jobs" in diagnose(text)[0].hint  # without the job count: a generic suggestion


NOTFOUND = """
-- Configuring done (41.2s)
CMake Error: The following variables are used in this project, but they are set to NOTFOUND.
Please set them or make sure they are set and tested correctly in the CMake files:
CUDA_nppc_LIBRARY (ADVANCED)
    linked by target "opencv_core" in directory /src/opencv/modules/core
CUDA_nppial_LIBRARY (ADVANCED)
    linked by target "opencv_cudaarithm" in directory /src/opencv_contrib/modules/cudaarithm

-- Generating done (2.1s)
CMake Generate step failed.  Build files cannot be regenerated correctly.
"""


def test_npp_not_found_at_generate_time() -> None:
    found = diagnose(log(NOTFOUND), Context(cuda_version="13.0"))
    assert [d.id for d in found] == ["missing-npp"]
    assert "install NPP for CUDA 13.0 (NVIDIA's package libnpp-dev-13-0)" in found[0].hint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "/usr/bin/ld: cannot find -lnppig: No such file or directory\ncollect2: error: ld returned 1 exit status",
            "missing-npp",
        ),
        (
            "/src/modules/cudaarithm/src/core.cpp:52:10: fatal error: npp.h: No such file or directory",
            "missing-npp",
        ),
        ("/usr/bin/ld: cannot find -lcublas: No such file or directory", "missing-cublas"),
        (
            "/src/modules/core/src/cuda/gpu_mat.cu:47:10: fatal error: cublas_v2.h: No such file or directory",
            "missing-cublas",
        ),
        (
            'CUDA_cufft_LIBRARY (ADVANCED)\n    linked by target "opencv_cudaarithm" in directory /x',
            "missing-cufft",
        ),
        ("/usr/bin/ld: cannot find -lcufft: No such file or directory", "missing-cufft"),
        (
            "CMake Error at modules/dnn/CMakeLists.txt:65 (message):\n"
            "  DNN: CUDA backend requires cuDNN (WITH_CUDNN) or the cuDNN graph API\n"
            "  (WITH_CUDNNJIT).  Please resolve dependency or disable OPENCV_DNN_CUDA=OFF",
            "missing-cudnn",
        ),
        ("fatal error: cudnn.h: No such file or directory", "missing-cudnn"),
        (
            "CMake Error at modules/dnn/CMakeLists.txt:63 (message):\n"
            "  DNN: CUDA backend requires cuBLAS. Please resolve dependency or disable\n  OPENCV_DNN_CUDA=OFF",
            "missing-cublas",
        ),
    ],
)
def test_cuda_libraries_not_found(text: str, expected: str) -> None:
    assert ids(text) == [expected]


def test_cudnn_hint_names_the_package_for_the_cuda_major() -> None:
    hint = diagnose("fatal error: cudnn.h: No such file or directory", Context(cuda_version="13.0"))[0].hint
    assert "cudnn9-cuda-13" in hint and "WITH_CUDNN=OFF" in hint


def test_missing_contrib_modules_directory() -> None:
    text = """
    CMake Error at cmake/OpenCVModule.cmake:274 (message):
      No modules has been found: /cache/trees/sdist-5.1.0/opencv_contrib/modules
    Call Stack (most recent call first):
      cmake/OpenCVModule.cmake:360 (_glob_locations)
      modules/CMakeLists.txt:7 (ocv_glob_modules)
    """
    found = diagnose(log(text))
    assert found[0].id == "missing-contrib"
    assert "/cache/trees/sdist-5.1.0/opencv_contrib/modules holds no OpenCV modules" in found[0].hint


def test_missing_3rdparty_dir_in_a_pruned_source_even_when_cmake_wraps_the_message() -> None:
    # CMake wraps its messages near 80 columns; here inside the sentence, as it really prints it
    text = """
    CMake Error at CMakeLists.txt:779 (add_subdirectory):
      add_subdirectory given source
      "/cache/trees/bundle-0123456789abcdef/opencv/3rdparty/libspng" which is not
      an existing directory.
    """
    found = diagnose(log(text))
    assert found[0].id == "missing-3rdparty"
    assert "the pruned source has no 3rdparty/libspng" in found[0].hint
    assert "bundle_keep" in found[0].hint and "-D WITH_SPNG=OFF" in found[0].hint


def test_missing_module_dir_in_a_pruned_source() -> None:
    text = """
    CMake Error at cmake/OpenCVModule.cmake:322 (add_subdirectory):
      add_subdirectory given source "/cache/trees/bundle-x/opencv/modules/imgcodecs"
      which is not an existing directory.
    """
    found = diagnose(log(text))
    assert [d.id for d in found] == ["missing-module-dir"]


def test_python_headers_missing() -> None:
    text = "/src/modules/python/src2/cv2.cpp:8:10: fatal error: Python.h: No such file or directory"
    assert ids(text) == ["python-headers"]


def test_disk_full() -> None:
    assert ids("/usr/bin/ld: final link failed: No space left on device") == ["disk-full"]


def test_nothing_known_gives_no_hint() -> None:
    assert diagnose("a.cpp:1:1: error: expected ';' before '}' token") == []


def test_first_errors_picks_the_failed_target_and_compiler_errors_not_status_or_warnings() -> None:
    text = """
    [1/231] Processing OpenCL kernels (core)
    [2/231] Generate files for Python bindings and documentation
    /src/opencv/modules/python/src2/typing_stubs_generator.py:52: UserWarning: Typing stubs generation has failed.
    typing_stubs_generation.nodes.type_node.TypeResolutionError: Failed to resolve "Feature2D" exposed as "Feature2D"
    [3/231] Building CXX object modules/core/CMakeFiles/opencv_core.dir/src/algorithm.cpp.o
    /src/opencv/modules/core/src/algorithm.cpp:10:5: warning: unused variable 'x' [-Wunused-variable]
    [4/231] Building CXX object modules/core/CMakeFiles/opencv_core.dir/src/alloc.cpp.o
    FAILED: modules/core/CMakeFiles/opencv_core.dir/src/alloc.cpp.o
    /usr/bin/c++ -DCVAPI_EXPORTS -I/src/opencv/modules/core/include -O0 -Werror=return-type -c /src/opencv/modules/core/src/alloc.cpp
    /src/opencv/modules/core/src/alloc.cpp:42:1: error: expected ';' before '}' token
       42 | }
          | ^
    ninja: build stopped: subcommand failed.
    """
    assert first_errors(log(text)) == [
        "FAILED: modules/core/CMakeFiles/opencv_core.dir/src/alloc.cpp.o",
        "/src/opencv/modules/core/src/alloc.cpp:42:1: error: expected ';' before '}' token",
    ]


def test_first_errors_keeps_a_cmake_error_block_and_limits_the_count() -> None:
    text = """
    -- Performing Test HAVE_CXX_WERROR_ADDRESS - Success
    CMake Error at cmake/OpenCVModule.cmake:274 (message):
      No modules has been found: /x/opencv_contrib/modules
    Call Stack (most recent call first):
      modules/CMakeLists.txt:7 (ocv_glob_modules)
    """
    assert first_errors(log(text)) == [
        "CMake Error at cmake/OpenCVModule.cmake:274 (message):",
        "  No modules has been found: /x/opencv_contrib/modules",
    ]
    many = "\n".join(f"a{i}.cpp:1:1: error: boom {i}" for i in range(50))
    assert len(first_errors(many, limit=5)) == 5
    assert first_errors("x.cpp:1:1: error: " + "y" * 1000)[0].endswith("...")
