"""``cvcuda_setup.native``: finding OpenCV, the CUDA runtime and the interpreter; the commands; failures.

Fakes stay at the boundaries: directory layouts on disk, the interpreter probe (a subprocess) and the CUDA
discovery (nvcc subprocesses) are replaced by fixed values; a fake ``cmake`` script stands in for a failing
configure.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from cvcuda_setup import native
from cvcuda_setup.errors import BuildError, ToolchainError, UsageError
from cvcuda_setup.native import CudaRuntime, OpenCVInfo, PluginPlan, TargetPython

CONFIG = """
# comment
SET(OpenCV_VERSION 5.1.0)
set(OpenCV_LIB_COMPONENTS opencv_core;opencv_flann;opencv_imgproc{extra})
"""


def fake_prefix(root: Path, *, name: str = "opencv5", extra: str = "", lib: str = "lib") -> Path:
    cmake_dir = root / lib / "cmake" / name
    cmake_dir.mkdir(parents=True)
    (cmake_dir / "OpenCVConfig.cmake").write_text(CONFIG.format(extra=extra))
    return root


def touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_plan(tmp_path: Path, **kw: object) -> PluginPlan:
    values: dict[str, object] = {
        "prefix": Path("/opt/cv"),
        "source_dir": Path("/src/native"),
        "build_dir": Path("/b"),
        "opencv": OpenCVInfo(Path("/opt/cv/lib/cmake/opencv5"), "5.1.0", ("core", "cudev", "cudafilters")),
        "cuda": CudaRuntime(
            Path("/usr/local/cuda/include"), None, Path("/usr/local/cuda"), "/usr/local/cuda"
        ),
        "cmake": Path("/tools/cmake/bin/cmake"),
        "ninja": Path("/tools/ninja/bin/ninja"),
        "jobs": 8,
    }
    values.update(kw)
    return PluginPlan(**values)  # type: ignore[arg-type]


# -- OpenCV ----------------------------------------------------------------------------------------


def test_read_opencv_config_without_cuda(tmp_path: Path) -> None:
    prefix = fake_prefix(tmp_path)
    info = native.find_opencv(prefix)
    assert info.cmake_dir == prefix / "lib" / "cmake" / "opencv5"
    assert info.version == "5.1.0"
    assert info.modules == ("core", "flann", "imgproc")
    assert not info.cuda
    assert not info.pipeline_modules


def test_read_opencv_config_with_cuda_modules(tmp_path: Path) -> None:
    prefix = fake_prefix(tmp_path, extra=";opencv_cudev;opencv_cudafilters;opencv_cudaimgproc")
    info = native.find_opencv(prefix)
    assert info.cuda and info.pipeline_modules


def test_opencv5_is_preferred_and_opencv4_and_lib64_are_found(tmp_path: Path) -> None:
    both = fake_prefix(fake_prefix(tmp_path / "both", name="opencv4"), name="opencv5", lib="lib64")
    assert native.find_opencv(both).cmake_dir.name == "opencv4"  # lib before lib64
    only4 = fake_prefix(tmp_path / "four", name="opencv4")
    assert native.find_opencv(only4).cmake_dir == only4 / "lib" / "cmake" / "opencv4"


def test_missing_prefix_and_prefix_without_opencv_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist") as missing:
        native.find_opencv(tmp_path / "nope")
    assert missing.value.return_code == 2
    with pytest.raises(UsageError, match="no OpenCV in prefix") as empty:
        native.find_opencv(tmp_path)
    assert "cvcuda-setup build --prefix" in str(empty.value)


# -- CUDA runtime ----------------------------------------------------------------------------------


@pytest.fixture
def no_default_toolkit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cvcuda_setup.probe.toolkit.DEFAULT_TOOLKIT", tmp_path / "no-usr-local-cuda")


def test_cuda_home_layouts(tmp_path: Path, no_default_toolkit: None) -> None:
    plain = tmp_path / "cuda-a"
    touch(plain / "include" / "cuda_runtime.h")
    found = native.find_cuda_runtime({"CUDA_HOME": str(plain)}, use_nvcc=False)
    assert found == CudaRuntime(plain / "include", None, plain, "CUDA_HOME")
    assert found.cmake_options() == [("CUDAToolkit_ROOT", str(plain))]
    targets = tmp_path / "cuda-b"
    touch(targets / "targets" / "x86_64-linux" / "include" / "cuda_runtime.h")
    found = native.find_cuda_runtime({"CUDA_PATH": str(targets)}, use_nvcc=False)
    assert found.include_dir == targets / "targets" / "x86_64-linux" / "include"


def test_pip_wheel_layout(tmp_path: Path, no_default_toolkit: None) -> None:
    site = tmp_path / "site-packages"
    touch(site / "nvidia" / "cu13" / "include" / "cuda_runtime.h")
    lib = touch(site / "nvidia" / "cu13" / "lib" / "libcudart.so.13")
    touch(site / "nvidia" / "cu13" / "lib" / "libnvrtc.so.13")
    found = native.find_cuda_runtime({}, [tmp_path / "other", site], use_nvcc=False)
    assert found.origin == "pip nvidia wheel"
    assert found.library == lib
    assert found.cmake_options() == [
        ("CVZC_CUDART_LIBRARY", str(lib)),
        ("CVZC_CUDA_INCLUDE_DIR", str(site / "nvidia" / "cu13" / "include")),
    ]


def test_cuda12_wheel_layout(tmp_path: Path, no_default_toolkit: None) -> None:
    site = tmp_path / "site"
    touch(site / "nvidia" / "cuda_runtime" / "include" / "cuda_runtime.h")
    lib = touch(site / "nvidia" / "cuda_runtime" / "lib" / "libcudart.so.12")
    assert native.find_cuda_runtime({}, [site], use_nvcc=False).library == lib


def test_a_wheel_without_the_library_is_not_enough(tmp_path: Path, no_default_toolkit: None) -> None:
    site = tmp_path / "site"
    touch(site / "nvidia" / "cu13" / "include" / "cuda_runtime.h")
    (site / "nvidia" / "cu13" / "lib").mkdir(parents=True)
    with pytest.raises(ToolchainError, match="no CUDA toolkit") as err:
        native.find_cuda_runtime({"CUDA_HOME": str(tmp_path / "empty")}, [site], use_nvcc=False)
    text = str(err.value)
    assert f"CUDA_HOME={tmp_path / 'empty'}" in text and f"{site}/nvidia" in text
    assert err.value.return_code == 2


# -- where the Python module goes ------------------------------------------------------------------


def test_python_target_next_to_cv2(tmp_path: Path) -> None:
    (tmp_path / "lib" / "python3.12" / "site-packages" / "cv2").mkdir(parents=True)
    target, warning = native.python_target_dir(tmp_path, "3.12.3")
    assert target == tmp_path / "lib" / "python3.12" / "site-packages"
    assert warning is None
    target, warning = native.python_target_dir(tmp_path, "3.11.7")
    assert target == tmp_path / "lib" / "python3.12" / "site-packages"
    assert warning is not None and "Python 3.12" in warning and "--python" in warning


def test_python_target_without_cv2(tmp_path: Path) -> None:
    assert native.python_target_dir(tmp_path, "3.11.7") == (
        tmp_path / "lib" / "python3.11" / "site-packages",
        None,
    )


def _manifest(prefix: Path, module_dir: Path) -> None:
    data = {
        "schema": "cvcuda-setup/manifest/1",
        "opencv_version": "5.1.0",
        "prefix": str(prefix),
        "recipe": {"name": "minimal"},
        "python": {"executable": sys.executable, "version": "3.11.7", "module_dir": str(module_dir)},
    }
    touch(prefix / "share" / "cvcuda-setup" / "manifest.json", json.dumps(data))


def test_python_target_from_the_manifest_only_inside_the_prefix(tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    named = prefix / "lib64" / "python3.11" / "dist-packages" / "cv2"
    named.mkdir(parents=True)
    (prefix / "lib" / "python3.11" / "site-packages" / "cv2").mkdir(parents=True)
    _manifest(prefix, named)
    assert native.python_target_dir(prefix, "3.11.7")[0] == named.parent
    # a copied prefix whose manifest still names the original's cv2: the copy's own cv2 wins
    original = tmp_path / "original" / "lib" / "python3.11" / "site-packages" / "cv2"
    original.mkdir(parents=True)
    _manifest(prefix, original)
    assert native.python_target_dir(prefix, "3.11.7")[0] == prefix / "lib" / "python3.11" / "site-packages"


# -- the plan and its commands ---------------------------------------------------------------------


def test_commands_exactly(tmp_path: Path) -> None:
    py = TargetPython(Path("/usr/bin/python3.12"), "3.12.3", (), True, True, True)
    plan = make_plan(tmp_path, python=py, python_target=Path("/opt/cv/lib/python3.12/site-packages"))
    assert plan.configure_command() == [
        "/tools/cmake/bin/cmake", "-S", "/src/native", "-B", "/b", "-G", "Ninja",
        "-DCMAKE_BUILD_TYPE=Release",
        "-DCMAKE_INSTALL_PREFIX=/opt/cv",
        "-DCMAKE_MAKE_PROGRAM=/tools/ninja/bin/ninja",
        "-DOpenCV_DIR=/opt/cv/lib/cmake/opencv5",
        "-DCVZC_BUILD_TOOLS=ON",
        "-DCVZC_BUILD_TESTS=OFF",
        "-DCUDAToolkit_ROOT=/usr/local/cuda",
        "-DCUDA_TOOLKIT_ROOT_DIR=/usr/local/cuda",
    ]  # fmt: skip
    assert plan.build_command() == ["/tools/cmake/bin/cmake", "--build", "/b", "--parallel", "8"]
    assert plan.install_command() == ["/tools/cmake/bin/cmake", "--install", "/b"]
    assert plan.pip_command() == [
        "/usr/bin/python3.12", "-m", "pip", "install",
        "--no-build-isolation", "--no-deps", "--no-index", "--upgrade", "--disable-pip-version-check",
        "--target", "/opt/cv/lib/python3.12/site-packages",
        "-C", "build-dir=/b/python",
        "-C", "cmake.build-type=Release",
        "-C", "cmake.define.CMAKE_PREFIX_PATH=/opt/cv",
        "-C", "cmake.define.OpenCV_DIR=/opt/cv/lib/cmake/opencv5",
        "-C", "cmake.define.CMAKE_MAKE_PROGRAM=/tools/ninja/bin/ninja",
        "-C", "cmake.define.CUDAToolkit_ROOT=/usr/local/cuda",
        "-C", "cmake.define.CUDA_TOOLKIT_ROOT_DIR=/usr/local/cuda",
        "/src/native",
    ]  # fmt: skip
    assert len(plan.commands()) == 4
    assert plan.shell_lines()[1] == "/tools/cmake/bin/cmake --build /b --parallel 8"


def test_tests_fresh_wheel_runtime_and_no_python(tmp_path: Path) -> None:
    wheel = CudaRuntime(
        Path("/s/nvidia/cu13/include"), Path("/s/nvidia/cu13/lib/libcudart.so.13"), None, "pip"
    )
    plan = make_plan(tmp_path, tests=True, fresh=True, cuda=wheel)
    cmd = plan.configure_command()
    assert cmd[7] == "--fresh"
    assert "-DCVZC_BUILD_TESTS=ON" in cmd
    assert cmd[-2:] == [
        "-DCVZC_CUDART_LIBRARY=/s/nvidia/cu13/lib/libcudart.so.13",
        "-DCVZC_CUDA_INCLUDE_DIR=/s/nvidia/cu13/include",
    ]
    assert plan.test_command() == ["/tools/cmake/bin/ctest", "--test-dir", "/b", "--output-on-failure"]
    assert not any("CUDA_TOOLKIT_ROOT_DIR" in arg for arg in cmd)  # no toolkit root to give FindCUDA
    assert plan.pip_command() is None
    assert [c[1] for c in plan.commands()] == ["-S", "--build", "--test-dir", "--install"]


def test_a_cpu_opencv_gets_no_findcuda_hint(tmp_path: Path) -> None:
    cpu = OpenCVInfo(Path("/opt/cv/lib/cmake/opencv5"), "5.1.0", ("core", "imgproc"))
    plan = make_plan(tmp_path, opencv=cpu)
    assert plan.configure_command()[-1] == "-DCUDAToolkit_ROOT=/usr/local/cuda"


def test_env_puts_the_chosen_tools_first(tmp_path: Path) -> None:
    env = make_plan(tmp_path).env({"PATH": "/usr/bin", "HOME": "/root"})
    assert env["PATH"].split(os.pathsep) == ["/tools/cmake/bin", "/tools/ninja/bin", "/usr/bin"]
    assert env["CMAKE_BUILD_PARALLEL_LEVEL"] == "8"
    assert env["HOME"] == "/root"


def test_plan_to_json_has_commands(tmp_path: Path) -> None:
    data = make_plan(tmp_path).to_json()
    assert data["commands"][0][0] == "/tools/cmake/bin/cmake"
    assert data["opencv"]["version"] == "5.1.0"
    json.dumps(data)


@pytest.fixture
def fake_discovery(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The interpreter probe and the CUDA discovery replaced (process boundary)."""
    state: dict[str, object] = {"python": TargetPython(Path(sys.executable), "3.11.7", (), True, True, True)}
    monkeypatch.setattr(native, "probe_target_python", lambda exe: state["python"])
    runtime = CudaRuntime(Path("/cuda/include"), None, Path("/cuda"), "test")
    monkeypatch.setattr(native, "find_cuda_runtime", lambda env=None, site_dirs=(): runtime)
    return state


def test_plan_plugin(tmp_path: Path, fake_discovery: dict[str, object]) -> None:
    prefix = fake_prefix(tmp_path / "prefix")
    plan = native.plan_plugin(prefix, python=None, build_dir=tmp_path / "b", jobs=3)
    assert plan.prefix == prefix.resolve()
    assert plan.source_dir == native.native_source_dir()
    assert (plan.source_dir / "CMakeLists.txt").is_file()
    assert plan.python_target == prefix.resolve() / "lib" / "python3.11" / "site-packages"
    assert not plan.fresh
    assert any("without CUDA" in w for w in plan.warnings)
    # a build dir configured for another source tree is configured afresh
    touch(tmp_path / "b" / "CMakeCache.txt", "FOO:BOOL=ON\nCMAKE_HOME_DIRECTORY:INTERNAL=/elsewhere/native\n")
    assert native.plan_plugin(prefix, python=None, build_dir=tmp_path / "b", jobs=3).fresh
    no_py = native.plan_plugin(prefix, python=None, build_dir=tmp_path / "b", jobs=3, install_python=False)
    assert no_py.python is None and no_py.pip_command() is None


def test_plan_plugin_refuses_missing_build_tools(tmp_path: Path, fake_discovery: dict[str, object]) -> None:
    prefix = fake_prefix(tmp_path / "prefix")
    fake_discovery["python"] = TargetPython(Path("/py"), "3.12.0", (), True, False, True)
    with pytest.raises(ToolchainError, match="scikit-build-core") as err:
        native.plan_plugin(prefix, python="/py", build_dir=tmp_path / "b", jobs=1)
    assert "--no-python" in str(err.value)
    fake_discovery["python"] = TargetPython(Path("/py"), "3.12.0", (), False, True, True)
    with pytest.raises(ToolchainError, match="pip is not installed"):
        native.plan_plugin(prefix, python="/py", build_dir=tmp_path / "b", jobs=1)
    fake_discovery["python"] = TargetPython(Path("/py"), "3.12.0", (), True, True, False)
    plan = native.plan_plugin(prefix, python="/py", build_dir=tmp_path / "b", jobs=1)
    assert any("numpy" in w for w in plan.warnings)
    with pytest.raises(UsageError, match="--jobs 0"):
        native.plan_plugin(prefix, python="/py", build_dir=tmp_path / "b", jobs=0)


def test_probe_target_python_real_and_missing(tmp_path: Path) -> None:
    info = native.probe_target_python(None)
    assert info.executable == Path(sys.executable)
    assert info.short_version == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert info.has_pip
    with pytest.raises(UsageError, match="does not exist"):
        native.probe_target_python(tmp_path / "no-python")


# -- running ---------------------------------------------------------------------------------------


def test_failure_line_prefers_the_error() -> None:
    out = (
        "# header\n-- Found OpenCV\nCMake Error at CMakeLists.txt:3 (find_package):\n  details\n"
        "-- Configuring incomplete"
    )
    assert native._failure_line(out) == "CMake Error at CMakeLists.txt:3 (find_package):"
    assert native._failure_line("a\nb\n") == "b"
    assert native._failure_line("") == "no output"


def test_a_failing_configure_is_one_build_error_with_its_log(tmp_path: Path) -> None:
    cmake = tmp_path / "bin" / "cmake"
    touch(cmake, "#!/bin/sh\necho '-- probing'\necho 'CMake Error at x.cmake:1: boom' >&2\nexit 1\n")
    cmake.chmod(cmake.stat().st_mode | stat.S_IEXEC)
    plan = make_plan(tmp_path, build_dir=tmp_path / "build", cmake=cmake, ninja=cmake)
    with pytest.raises(
        BuildError, match=r"plugin configure failed \(exit status 1\): CMake Error at x.cmake:1: boom"
    ):
        native.run_plan(plan)
    log = tmp_path / "build" / "logs" / "configure.log"
    assert "boom" in log.read_text()
