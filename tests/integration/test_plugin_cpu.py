"""The zero-copy plugin built for real against a CPU-only OpenCV prefix, through ``native.build_plugin``.

The prefix is the session's ``cpu_prefix`` (conftest: ``$CVCUDA_TEST_PREFIX`` when it holds a complete
install, else the ``cpu-test`` recipe built by ``cvcuda-setup build``). The prefix is copied first, so the
plugin is installed into the copy and the shared prefix stays as it was. On this machine there is no GPU:
the C++ CPU tests must pass, the GPU tests must report "skipped" (exit 77), and every entry point must fail
with a clear error (never a crash). About a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from cvcuda_setup import native

pytestmark = pytest.mark.integration


@dataclass
class Built:
    prefix: Path
    build_dir: Path
    result: native.PluginResult


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, cpu_prefix: Path) -> Built:
    src = cpu_prefix
    assert any(src.glob("lib*/cmake/opencv*/OpenCVConfig.cmake")), f"{src} holds no OpenCVConfig.cmake"
    root = tmp_path_factory.mktemp("plugin")
    prefix = root / "prefix"
    shutil.copytree(src, prefix, symlinks=True)
    build_dir = root / "build"
    result = native.build_plugin(prefix, python=Path(sys.executable), build_dir=build_dir, jobs=2, tests=True)
    return Built(prefix, build_dir, result)


def _tool(built: Built, *args: str) -> tuple[int, dict[str, object]]:
    proc = subprocess.run(
        [str(built.result.tool), *args], capture_output=True, text=True, timeout=120, env=_no_ld_env()
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no JSON on stdout (stderr: {proc.stderr[-500:]})"
    return proc.returncode, json.loads(lines[-1])


def _no_ld_env() -> dict[str, str]:
    """This environment without LD_LIBRARY_PATH: the installed RUNPATHs must find every library."""
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    return env


def test_installed_layout(built: Built) -> None:
    r = built.result
    assert r.library.is_file() and r.library.parent == built.prefix / "lib"
    assert (built.prefix / "lib" / "libcvcuda_zerocopy.so").exists()
    assert r.tool == built.prefix / "bin" / "cvcuda-zerocopy-check"
    headers = {p.name for p in r.include_dir.glob("*.hpp")}
    assert {
        "allocator.hpp",
        "pool.hpp",
        "device.hpp",
        "view.hpp",
        "registration.hpp",
        "zerocopy.hpp",
    } <= headers
    assert (r.cmake_dir / "cvcuda_zerocopyConfig.cmake").is_file()
    assert (r.cmake_dir / "cvcuda_zerocopyConfigVersion.cmake").is_file()
    assert r.python_module is not None and (r.python_module / "__init__.py").is_file()
    assert r.python_module.is_relative_to(built.prefix)
    assert any(r.python_module.glob("_native*.so"))
    assert not r.opencv.cuda
    assert any("without CUDA" in w for w in r.warnings)
    assert set(r.durations) == {"configure", "build", "test", "install", "python"}


def test_ctest_cpu_tests_pass_and_gpu_tests_skip(built: Built) -> None:
    log = (built.build_dir / "logs" / "test.log").read_text()
    for name in ("test_layout", "test_user_data", "test_no_device", "test_json"):
        assert any(name in line and "Passed" in line for line in log.splitlines()), name
    for name in ("test_gpu_alloc", "test_gpu_stress", "test_gpu_view", "test_gpu_register"):
        assert any(name in line and "Skipped" in line for line in log.splitlines()), name


def test_check_tool_without_a_device(built: Built) -> None:
    code, info = _tool(built, "device-info")
    assert code == 3
    assert info["cuda_device_count"] == 0
    assert "no CUDA device" in str(info["error"])
    assert info["opencv_cuda"] is False
    assert info["opencv_version"] == built.result.opencv.version
    for sub in ("kernel", "mapped"):
        code, info = _tool(built, sub, "--device", "0")
        assert code == 3 and info["ok"] is False and "no CUDA device" in str(info["error"])
    out = built.prefix / "out"
    code, info = _tool(
        built, "pipeline", "--device", "0", "--pattern", "discs", "--size", "64x48",
        "--out-blur", str(out / "b.png"), "--out-edges", str(out / "e.png"),
    )  # fmt: skip
    assert code == 4 and "cudafilters" in str(info["error"])
    code, info = _tool(built, "pipeline", "--device", "0")
    assert code == 2 and "usage" in str(info["error"])


PY_NO_DEVICE = textwrap.dedent(
    """
    import json, numpy as np, cvcuda_zerocopy as z
    out = {"file": z.__file__, "stats": z.pool_stats(), "count": z.device_count(), "describe": z.describe()}
    def err(fn):
        try:
            fn()
        except Exception as exc:
            return [type(exc).__name__, str(exc)]
        return None
    out["setup"] = err(lambda: z.setup_device(0))
    out["alloc"] = err(lambda: z.mapped_empty((16, 16), np.uint8))
    out["attrs"] = err(lambda: z.pointer_attributes(np.zeros(4)))
    out["register"] = err(lambda: z.register(np.zeros(4)))
    out["shape"] = err(lambda: z.mapped_empty((2, -3)))
    out["bad_alignment"] = err(lambda: z.mapped_empty((16, 16), np.uint8, row_alignment=24))
    out["ndim"] = err(lambda: z.gpumat(np.zeros((2, 2, 2, 2), np.uint8)))
    out["empty_shape"] = list(z.mapped_empty((0, 7), np.float32).shape)
    out["is_mapped"] = z.is_mapped(np.zeros(4))
    out["cuda_error_is_runtime_error"] = issubclass(z.CudaError, RuntimeError)
    out["stats_after"] = z.pool_stats()
    print(json.dumps(out))
    """
)


def test_python_module_without_a_device(built: Built) -> None:
    assert built.result.python_module is not None
    env = _no_ld_env()
    env["PYTHONPATH"] = str(built.result.python_module.parent)
    proc = subprocess.run(
        [sys.executable, "-c", PY_NO_DEVICE],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=built.prefix,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(data["file"]).is_relative_to(built.prefix)
    assert data["count"] == 0
    assert data["stats"]["bytes_in_use"] == 0 and "hits" in data["stats"] and "misses" in data["stats"]
    for key in ("setup", "alloc", "attrs", "register"):
        kind, message = data[key]
        assert kind == "CudaError", (key, data[key])
        assert "cudaError" in message and ".cpp:" in message
    assert "no usable CUDA device" in data["setup"][1]
    assert data["shape"][0] == "ValueError"
    assert data["bad_alignment"][0] == "ValueError" and "row_alignment=24" in data["bad_alignment"][1]
    assert data["ndim"][0] == "ValueError"
    assert data["empty_shape"] == [0, 7]
    assert data["is_mapped"] is False
    assert data["cuda_error_is_runtime_error"] is True
    assert data["stats_after"]["host_allocs"] == 0
    assert data["describe"]["library"].startswith("cvcuda_zerocopy 0.1.0")


CONSUMER_CMAKE = """
cmake_minimum_required(VERSION 3.18)
project(consumer CXX)
find_package(cvcuda_zerocopy 0.1 CONFIG REQUIRED)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE cvcuda_zerocopy::cvcuda_zerocopy)
"""

CONSUMER_MAIN = """
#include <cvcuda_zerocopy/zerocopy.hpp>
#include <cstdio>
int main() {
    std::printf("%s\\n", cvcuda_zerocopy::describe());
    cv::Mat m;
    try {
        cvcuda_zerocopy::DefaultAllocatorGuard guard;
        m.create(4, 4, CV_8UC1);
    } catch (const cv::Exception& e) {
        std::printf("refused: %s\\n", e.err.c_str());
        return 3;
    }
    return 0;
}
"""


def test_find_package_for_cpp_users(built: Built, tmp_path: Path) -> None:
    (tmp_path / "CMakeLists.txt").write_text(CONSUMER_CMAKE)
    (tmp_path / "main.cpp").write_text(CONSUMER_MAIN)
    from cvcuda_setup.tools import find_cmake, find_ninja

    cmake, ninja = str(find_cmake()), str(find_ninja())
    cmd = [cmake, "-S", str(tmp_path), "-B", str(tmp_path / "b"), "-G", "Ninja"]
    cmd += [f"-DCMAKE_MAKE_PROGRAM={ninja}", f"-DCMAKE_PREFIX_PATH={built.prefix}"]
    configure = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert configure.returncode == 0, configure.stdout[-2000:] + configure.stderr[-2000:]
    build = subprocess.run(
        [cmake, "--build", str(tmp_path / "b")], capture_output=True, text=True, timeout=300
    )
    assert build.returncode == 0, build.stdout[-2000:]
    run = subprocess.run(
        [str(tmp_path / "b" / "consumer")], capture_output=True, text=True, timeout=60, env=_no_ld_env()
    )
    assert run.returncode == 3, run.stdout + run.stderr
    assert run.stdout.startswith("cvcuda_zerocopy 0.1.0")
    assert "refused: " in run.stdout and "no usable CUDA device" in run.stdout


def test_rebuild_is_incremental(built: Built) -> None:
    again = native.build_plugin(
        built.prefix, python=Path(sys.executable), build_dir=built.build_dir, jobs=2, tests=False
    )
    assert again.library == built.result.library
    assert again.durations["build"] < 60
    log = (built.build_dir / "logs" / "build.log").read_text()
    assert "Building CXX object CMakeFiles/cvcuda_zerocopy.dir" not in log
