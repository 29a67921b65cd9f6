from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from cvcuda_setup.arch import parse_arch
from cvcuda_setup.errors import UsageError
from cvcuda_setup.model import ArchSelection, PythonInfo, SourceSpec
from cvcuda_setup.plan import PlanInputs, build_dir_name, make_plan, parse_override
from cvcuda_setup.recipes import list_recipes, load_recipe

PY = PythonInfo(
    executable=Path("/opt/py/bin/python3.12"),
    version="3.12.3",
    include_dir=Path("/opt/py/include/python3.12"),
    library=Path("/opt/py/lib/libpython3.12.so"),
    numpy_include=Path("/opt/py/lib/python3.12/site-packages/numpy/_core/include"),
    numpy_version="2.2.0",
    site_packages=Path("/opt/py/lib/python3.12/site-packages"),
)
SPEC = SourceSpec(kind="sdist", location="", opencv_version="5.1.0")


def _inputs(recipe: str, arch: str = "8.9", **kw: object) -> PlanInputs:
    r = load_recipe(recipe)
    sel = parse_arch(arch) if r.cuda else ArchSelection(bin=(), ptx=(), origin="none")
    base = dict(
        recipe=r,
        arch=sel,
        source=SPEC,
        source_dir=Path("/c/src/opencv"),
        contrib_dir=Path("/c/src/opencv_contrib"),
        build_dir=Path("/c/build"),
        prefix=Path("/opt/cv"),
        jobs=8,
        python=PY,
    )
    base.update(kw)
    return PlanInputs(**base)  # type: ignore[arg-type]


def test_seed_configure_carries_every_documented_flag() -> None:
    plan = make_plan(_inputs("seed"))
    line = plan.shell_lines()[0]
    args = shlex.split(line)
    for flag in (
        "-DCMAKE_BUILD_TYPE=Release",
        "-DCMAKE_INSTALL_PREFIX=/opt/cv",
        "-DWITH_CUDA=ON",
        "-DOPENCV_DNN_CUDA=ON",
        "-DWITH_CUDNN=ON",
        "-DWITH_CUBLAS=ON",
        "-DENABLE_FAST_MATH=ON",
        "-DCUDA_FAST_MATH=ON",
        "-DBUILD_opencv_cudacodec=ON",
        "-DBUILD_EXAMPLES=OFF",
        "-DOPENCV_EXTRA_MODULES_PATH=/c/src/opencv_contrib/modules",
        "-DCUDA_ARCH_BIN=8.9",
    ):
        assert flag in args, flag
    assert not any(a.startswith("-DBUILD_LIST") for a in args)  # all modules
    assert args[:7] == ["cmake", "-S", "/c/src/opencv", "-B", "/c/build", "-G", "Ninja"]


def test_minimal_with_ptx_and_python() -> None:
    plan = make_plan(_inputs("minimal", "9.0+PTX"))
    assert plan.option("CUDA_ARCH_BIN") == "9.0" and plan.option("CUDA_ARCH_PTX") == "9.0"
    assert plan.option("BUILD_LIST") == ",".join(plan.modules)
    assert {"geometry", "flann", "python3", "python_bindings_generator", "cudafilters"} <= set(plan.modules)
    assert plan.option("PYTHON3_EXECUTABLE") == "/opt/py/bin/python3.12"
    assert plan.option("PYTHON3_LIBRARY") == "/opt/py/lib/libpython3.12.so"
    assert plan.option("PYTHON3_NUMPY_INCLUDE_DIRS") == str(PY.numpy_include)
    assert plan.option("BUILD_opencv_python_bindings_generator") == "ON"
    data = plan.to_json()
    assert data["cmake_options"]["CUDA_ARCH_PTX"] == "9.0" and data["jobs"] == 8
    assert data["commands"]["build"] == ["ninja", "-C", "/c/build", "-j", "8"]


@pytest.mark.parametrize("recipe", [r.name for r in list_recipes()])
def test_every_recipe_plans(recipe: str) -> None:
    plan = make_plan(_inputs(recipe))
    assert plan.recipe == recipe
    assert ("CUDA_ARCH_BIN" in dict(plan.cmake_options)) == load_recipe(recipe).cuda
    assert len(plan.shell_lines()) == 3


def test_overrides_win_and_launcher_is_set_for_all_languages() -> None:
    plan = make_plan(
        _inputs(
            "minimal",
            overrides=(("WITH_CUFFT", "OFF"), ("CUDA_ARCH_BIN", "8.0")),
            launcher="/usr/bin/sccache",
        )
    )
    assert plan.option("WITH_CUFFT") == "OFF" and plan.option("CUDA_ARCH_BIN") == "8.0"
    assert plan.cmake_options[-1] == ("CUDA_ARCH_BIN", "8.0")
    for lang in ("C", "CXX", "CUDA"):
        assert plan.option(f"CMAKE_{lang}_COMPILER_LAUNCHER") == "/usr/bin/sccache"


def test_cpu_recipe_has_no_cuda_and_no_contrib() -> None:
    plan = make_plan(_inputs("cpu-test"))
    assert plan.option("WITH_CUDA") == "OFF" and plan.option("CUDA_ARCH_BIN") is None
    assert plan.option("OPENCV_EXTRA_MODULES_PATH") is None and plan.contrib_dir is None
    assert plan.option("CPU_DISPATCH") == "" and plan.build_type == "Debug"


def test_contrib_recipe_without_contrib_tree_is_refused() -> None:
    with pytest.raises(UsageError, match="needs opencv_contrib"):
        make_plan(_inputs("seed", contrib_dir=None))


def test_parse_override() -> None:
    assert parse_override("WITH_CUDNN=OFF") == ("WITH_CUDNN", "OFF")
    assert parse_override("WITH_PNG:BOOL=ON") == ("WITH_PNG", "ON")
    assert parse_override("CPU_DISPATCH=") == ("CPU_DISPATCH", "")
    assert parse_override("CMAKE_BUILD_TYPE=Debug") == ("CMAKE_BUILD_TYPE", "Debug")  # the plan follows it
    with pytest.raises(UsageError, match="not NAME=VALUE"):
        parse_override("WITH CUDNN")


@pytest.mark.parametrize(
    ("define", "option"),
    [
        ("CUDA_ARCH_BIN=3.5", "--arch"),
        ("CUDA_ARCH_BIN:STRING=8.9", "--arch"),
        ("CUDA_ARCH_PTX=9.0", "--arch"),
        ("CMAKE_INSTALL_PREFIX=/elsewhere", "--prefix"),
        ("OPENCV_EXTRA_MODULES_PATH=/x/modules", "--source"),
        ("PYTHON3_EXECUTABLE=/usr/bin/python3", "--python"),
        ("CMAKE_CXX_COMPILER_LAUNCHER=ccache", "--launcher"),
        ("BUILD_LIST=core", "--recipe"),
    ],
)
def test_a_define_of_what_the_plan_owns_is_refused_naming_the_option(define: str, option: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse_override(define)
    assert define.split("=")[0].split(":")[0] in str(exc.value)
    assert f"use {option}" in str(exc.value)


def test_build_dir_name_is_stable() -> None:
    r = load_recipe("minimal")
    assert build_dir_name(r, "5.1.0", parse_arch("9.0+PTX"), ()) == "minimal-5.1.0-90-ptx90"
    assert build_dir_name(r, "5.1.0", parse_arch("9.0"), (("A", "1"),)).startswith("minimal-5.1.0-90-")
