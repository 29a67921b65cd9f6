"""``build --with-tests`` / ``[recipe] tests``: the plan, the module closure, the bundle's test sources and
the refusals (issue 18)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from test_cli_build import fake_nvcc, run  # noqa: F401  (fixture)
from test_plan import _inputs
from test_sources_fakes import fake_opencv, write_files

from cvcuda_setup.errors import RecipeError, SourceError, UsageError
from cvcuda_setup.modules import CUDA_TEST_MODULES, closure, cuda_test_modules
from cvcuda_setup.plan import make_plan, parse_override, parse_test_selection
from cvcuda_setup.recipes import build_facts, load_recipe
from cvcuda_setup.sources import fetch, make_bundle, read_bundle_info, spec_from_cli
from cvcuda_setup.sources.bundle import Pruning, bundle_members


def test_closure_with_tests_adds_ts_and_what_ts_and_the_test_binaries_need() -> None:
    mods = closure(["core", "cudaarithm"], "5.1.0", python=False, tests=True)
    assert {"ts", "core", "imgproc", "imgcodecs", "videoio", "highgui", "geometry", "flann"} <= set(mods)
    assert len(mods) == len(set(mods))
    assert "ts" not in closure(["core", "cudaarithm"], "5.1.0", python=False)
    assert closure(["core"], "4.10.0", python=False, tests=True) == (
        "core",
        "ts",
        "imgproc",
        "imgcodecs",
        "videoio",
        "highgui",
    )
    assert closure([], "5.1.0", python=True, tests=True) == ()  # every module: ts comes with BUILD_TESTS


def test_cuda_test_modules_are_the_cuda_modules_not_cudev() -> None:
    assert cuda_test_modules(["core", "cudev", "cudaarithm", "cudafilters"]) == ("cudaarithm", "cudafilters")
    assert cuda_test_modules([]) == CUDA_TEST_MODULES


def test_with_tests_turns_tests_on_for_the_recipes_cuda_modules_only() -> None:
    plan = make_plan(_inputs("minimal", tests=("cuda",)))
    opts = dict(plan.cmake_options)
    assert opts["BUILD_TESTS"] == "ON" and opts["BUILD_PERF_TESTS"] == "OFF"
    assert opts["INSTALL_TESTS"] == "ON"  # into <prefix>/bin, where verify looks first
    assert opts["OPENCV_BUILD_TEST_MODULES_LIST"] == "cudaarithm;cudafilters;cudaimgproc"
    assert {"ts", "videoio", "highgui"} <= set(opts["BUILD_LIST"].split(","))
    # the recipe's own video backends stay off
    assert opts["WITH_FFMPEG"] == "OFF" and opts["WITH_GSTREAMER"] == "OFF" and opts["WITH_V4L"] == "OFF"
    assert "-DOPENCV_BUILD_TEST_MODULES_LIST=cudaarithm;cudafilters;cudaimgproc" in plan.configure_command()


def test_without_tests_the_plan_is_unchanged() -> None:
    plan = make_plan(_inputs("minimal"))
    assert plan.option("BUILD_TESTS") == "OFF" and plan.option("OPENCV_BUILD_TEST_MODULES_LIST") is None
    assert "ts" not in plan.modules


def test_all_and_a_list_of_modules() -> None:
    assert make_plan(_inputs("minimal", tests=("all",))).option("OPENCV_BUILD_TEST_MODULES_LIST") == "all"
    listed = make_plan(_inputs("minimal", tests=("cudafilters", "imgproc")))
    assert listed.option("OPENCV_BUILD_TEST_MODULES_LIST") == "cudafilters;imgproc"
    with pytest.raises(UsageError, match="'cudastereo', which recipe 'minimal' does not build"):
        make_plan(_inputs("minimal", tests=("cudastereo",)))
    # every-module recipe: the list names every CUDA test suite of opencv_contrib
    seed = make_plan(_inputs("seed", tests=("cuda",)))
    assert seed.option("OPENCV_BUILD_TEST_MODULES_LIST") == ";".join(CUDA_TEST_MODULES)
    assert seed.modules == ()


def test_a_cpu_recipe_has_no_cuda_tests_to_build() -> None:
    with pytest.raises(UsageError, match="builds no CUDA module"):
        make_plan(_inputs("cpu-test", contrib_dir=None, tests=("cuda",)))
    plan = make_plan(_inputs("cpu-test", contrib_dir=None, tests=("all",)))
    assert plan.option("BUILD_TESTS") == "ON"


def test_a_define_turning_tests_off_contradicts_with_tests() -> None:
    with pytest.raises(UsageError, match="BUILD_TESTS=OFF contradicts"):
        make_plan(_inputs("minimal", tests=("cuda",), overrides=(("BUILD_TESTS", "OFF"),)))
    on = make_plan(_inputs("minimal", tests=("cuda",), overrides=(("BUILD_PERF_TESTS", "ON"),)))
    assert on.option("BUILD_PERF_TESTS") == "ON"  # perf tests on request
    with pytest.raises(UsageError, match="--with-tests"):
        parse_override("OPENCV_BUILD_TEST_MODULES_LIST=core")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("cuda", ("cuda",)), ("ALL", ("all",)), ("cudafilters, core,core", ("cudafilters", "core"))],
)
def test_parse_test_selection(text: str, expected: tuple[str, ...]) -> None:
    assert parse_test_selection(text) == expected


@pytest.mark.parametrize("text", ["", "cuda,core", "Core!", "a,,b"])
def test_parse_test_selection_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="--test-modules"):
        parse_test_selection(text)


def test_recipe_tests_key_is_validated_inherited_and_planned(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[recipe]\nname = "t"\nextends = "minimal"\ntests = true\n')
    recipe = load_recipe(str(path))
    assert recipe.tests and not load_recipe("minimal").tests
    child = tmp_path / "c.toml"
    child.write_text('[recipe]\nname = "c"\nextends = "./t.toml"\n')
    assert load_recipe(str(child)).tests
    assert build_facts(recipe)["tests"].startswith("ON ([recipe] tests = true)")
    bad = tmp_path / "b.toml"
    bad.write_text('[recipe]\nname = "b"\ndescription = "d"\ntests = "yes"\n')
    with pytest.raises(RecipeError, match=r"'recipe\.tests' must be a boolean"):
        load_recipe(str(bad))


def test_cli_dry_run_json_shows_the_tests(fake_nvcc: Path) -> None:  # noqa: F811
    code, out, err = run(
        "build", "--recipe", "minimal", "--arch", "9.0", "--with-tests", "--dry-run", "--json"
    )
    assert code == 0, err
    plan = json.loads(out)
    assert plan["cmake_options"]["BUILD_TESTS"] == "ON"
    assert plan["cmake_options"]["OPENCV_BUILD_TEST_MODULES_LIST"] == "cudaarithm;cudafilters;cudaimgproc"
    assert "ts" in plan["modules"] and plan["build_dir"] != _plain_build_dir()
    code, out, err = run(
        "build", "--recipe", "minimal", "--arch", "9.0", "--with-tests", "--test-modules", "all", "--dry-run"
    )
    assert code == 0 and "-DOPENCV_BUILD_TEST_MODULES_LIST=all" in out, err


def _plain_build_dir() -> str:
    code, out, _ = run("build", "--recipe", "minimal", "--arch", "9.0", "--dry-run", "--json")
    assert code == 0
    return str(json.loads(out)["build_dir"])


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["--test-modules", "all"], "--test-modules needs --with-tests"),
        (["--with-tests", "--test-modules", "x;y"], "--test-modules 'x;y'"),
        (["--with-tests", "--test-modules", "cudastereo"], "'cudastereo'"),
        (["--with-tests", "-D", "BUILD_TESTS=OFF"], "BUILD_TESTS=OFF"),
        (["--with-tests", "-D", "OPENCV_BUILD_TEST_MODULES_LIST=all"], "--with-tests"),
    ],
)
def test_cli_usage_errors_are_one_line_exit_2(fake_nvcc: Path, args: list[str], word: str) -> None:  # noqa: F811
    code, out, err = run("build", "--recipe", "minimal", "--arch", "9.0", "--dry-run", *args)
    assert code == 2, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and word in lines[0], err
    assert "Traceback" not in err


def _tree_with_tests(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = fake_opencv(tmp_path / "src", (5, 1, 0))
    write_files(
        root / "opencv",
        {
            "modules/core/test/test_mat.cpp": "int t;\n",
            "modules/ts/CMakeLists.txt": "ocv_add_module(ts INTERNAL opencv_core)\n",
            "modules/ts/src/ts.cpp": "int ts;\n",
            "modules/ts/test/test_ts.cpp": "int tt;\n",
            "modules/videoio/CMakeLists.txt": "#\n",
            "modules/highgui/CMakeLists.txt": "#\n",
            "modules/imgcodecs/CMakeLists.txt": "#\n",
            "modules/geometry/CMakeLists.txt": "#\n",
            "modules/flann/CMakeLists.txt": "#\n",
        },
    )
    write_files(
        root / "opencv_contrib",
        {
            "modules/cudaarithm/test/test_arith.cpp": "int a;\n",
            "modules/cudaarithm/perf/perf_arith.cpp": "int p;\n",
            "modules/cudev/test/test_ptr.cu": "int c;\n",
        },
    )
    return fetch(spec_from_cli(str(root), "5.1.0"), tmp_path / "cache")


def test_a_tests_bundle_keeps_the_test_sources_of_the_test_modules_and_ts_only(tmp_path: Path) -> None:
    tree = _tree_with_tests(tmp_path)
    mods = ["core", "imgproc", "cudev", "cudaarithm", "ts", "videoio", "highgui", "imgcodecs"]
    pruning = Pruning.for_tests({"BUILD_TESTS": False, "BUILD_PERF_TESTS": False}, "cudaarithm")
    names = {n for _, n in bundle_members(tree, mods, [], pruning=pruning)}
    assert "opencv_contrib/modules/cudaarithm/test/test_arith.cpp" in names
    assert "opencv/modules/ts/src/ts.cpp" in names and "opencv/modules/ts/test/test_ts.cpp" in names
    assert "opencv/modules/core/test/test_mat.cpp" not in names  # core's suite is not compiled
    assert "opencv_contrib/modules/cudev/test/test_ptr.cu" not in names
    assert "opencv_contrib/modules/cudaarithm/perf/perf_arith.cpp" not in names
    every = {n for _, n in bundle_members(tree, mods, [], pruning=Pruning.for_tests({}, "all"))}
    assert "opencv/modules/core/test/test_mat.cpp" in every
    out = make_bundle(tree, mods, [], tmp_path / "t.tar.xz", pruning=pruning)
    info = read_bundle_info(out)
    assert info is not None and info["pruning"]["tests"] is True
    assert info["pruning"]["test_modules"] == ["cudaarithm", "ts"]


def _bundle(tmp_path: Path, pruning: Pruning) -> Path:
    tree = _tree_with_tests(tmp_path)
    mods = ["core", "imgproc", "cudev", "cudaarithm", "ts", "videoio", "highgui", "imgcodecs"]
    return make_bundle(tree, mods, [], tmp_path / "b.tar.xz", pruning=pruning)


def test_a_bundle_without_test_sources_is_refused_for_a_tests_build(fake_nvcc: Path, tmp_path: Path) -> None:  # noqa: F811
    old = _bundle(tmp_path, Pruning.for_options({"BUILD_TESTS": False}))
    code, _, err = run(
        "build", "--recipe", "minimal", "--arch", "9.0", "--with-tests", "--dry-run", "--source", str(old)
    )
    assert code == 2 and "has no test sources for ts, cudaarithm" in err, err
    assert "--bundle FILE --with-tests" in err
    code, _, err = run("build", "--recipe", "minimal", "--arch", "9.0", "--dry-run", "--source", str(old))
    assert code == 0, err  # without tests the old bundle still serves


def test_the_bundle_check_compares_the_modules(tmp_path: Path) -> None:
    from cvcuda_setup.pipeline.build import check_bundle_has_tests

    out = _bundle(tmp_path, Pruning.for_tests({}, "cudaarithm;cudafilters"))
    spec = spec_from_cli(str(out), "5.1.0")
    assert spec.kind == "bundle"
    ok = make_plan(_inputs("minimal", tests=("cudaarithm", "cudafilters"), source=spec))
    check_bundle_has_tests(spec, ok)  # what it kept is what is asked
    more = make_plan(_inputs("minimal", tests=("cuda",), source=spec))
    with pytest.raises(SourceError, match="no test sources for cudaimgproc"):
        check_bundle_has_tests(spec, more)
    every = make_plan(_inputs("minimal", tests=("all",), source=spec))
    with pytest.raises(SourceError, match="every module"):
        check_bundle_has_tests(spec, every)


def test_a_bundle_written_with_tests_through_the_cli_keeps_them(fake_nvcc: Path, tmp_path: Path) -> None:  # noqa: F811
    tree = _tree_with_tests(tmp_path)
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        '[recipe]\nname = "r"\ndescription = "d"\nmodules = ["core", "cudaarithm"]\ntests = true\n'
        "[cmake]\nBUILD_TESTS = false\n"
    )
    out = tmp_path / "r.tar.xz"
    code, _, err = run(
        "build", "--recipe", str(recipe), "--source", str(tree.opencv_dir.parent), "--bundle", str(out)
    )
    assert code == 0, err
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
    assert "opencv_contrib/modules/cudaarithm/test/test_arith.cpp" in names
    assert "opencv/modules/ts/src/ts.cpp" in names and "opencv/modules/core/test/test_mat.cpp" not in names
