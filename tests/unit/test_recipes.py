from __future__ import annotations

from pathlib import Path

import pytest

from cvcuda_setup.errors import RecipeError
from cvcuda_setup.model import cmake_value
from cvcuda_setup.recipes import build_facts, list_recipes, load_recipe

SEED_FLAGS = {
    "WITH_CUDA": "ON",
    "OPENCV_DNN_CUDA": "ON",
    "WITH_CUDNN": "ON",
    "WITH_CUBLAS": "ON",
    "ENABLE_FAST_MATH": "ON",
    "CUDA_FAST_MATH": "ON",
    "BUILD_opencv_cudacodec": "ON",
    "BUILD_EXAMPLES": "OFF",
    "OPENCV_GENERATE_PKGCONFIG": "ON",
}


def test_shipped_recipes_load() -> None:
    names = {r.name for r in list_recipes()}
    assert {"seed", "minimal", "full", "cpu-test"} <= names


def test_seed_is_the_documented_build() -> None:
    seed = load_recipe("seed")
    assert seed.modules == ()  # all modules
    assert seed.build_type == "Release" and seed.contrib and seed.cuda
    assert {k: cmake_value(v) for k, v in seed.cmake} == SEED_FLAGS
    assert seed.python  # the documented build gets cv2 whenever Python 3 and numpy are found
    facts = build_facts(seed)
    assert facts["tests"].startswith("ON (OpenCV's default") and facts["python"].startswith("yes")


def test_every_recipe_generates_the_pkg_config_file() -> None:
    for recipe in list_recipes():
        assert dict(recipe.cmake).get("OPENCV_GENERATE_PKGCONFIG") is True, recipe.name


def test_extends_merges_and_child_wins() -> None:
    cpu = load_recipe("cpu-test")
    assert cpu.extends == ("minimal",)
    options = dict(cpu.cmake)
    assert options["WITH_CUDA"] is False  # child overrides the parent's ON
    assert options["WITH_IPP"] is False  # inherited from minimal
    assert cpu.modules == ("core", "imgproc") and not cpu.cuda and cpu.python
    full = load_recipe("full")
    assert full.extends == ("seed",) and dict(full.cmake)["OPENCV_DNN_CUDA"] is True
    assert "cudacodec" in full.modules and "dnn" in full.modules


def _write(tmp_path: Path, text: str, name: str = "r.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_user_recipe_by_path_extending_a_shipped_one(tmp_path: Path) -> None:
    path = _write(tmp_path, '[recipe]\nname = "mine"\nextends = "minimal"\n[cmake]\nWITH_CUFFT = false\n')
    r = load_recipe(str(path))
    assert r.name == "mine" and r.python and dict(r.cmake)["WITH_CUFFT"] is False
    assert r.description  # inherited


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[recipe]\nname = "x"\ndescription = "d"\nmodulez = []\n', "unknown key 'recipe.modulez'"),
        ('[recipe]\nname = "x"\ndescription = "d"\ncuda = "yes"\n', "'recipe.cuda' must be a boolean"),
        ('[recipe]\nname = "x"\ndescription = "d"\n[cmake]\nX = 1.5\n', "'cmake.X' must be a bool"),
        ('[recipe]\nname = "x"\ndescription = "d"\n[options]\n', "unknown table 'options'"),
        ('[recipe]\nname = "x"\ndescription = "d"\nmodules = [1]\n', "list of strings"),
        ('[recipe]\nname = "x"\ndescription = "d"\nbuild_type = "Fast"\n', "build_type"),
        ('[recipe]\nname = "x"\n', "missing required key 'recipe.description'"),
        ("[recipe\n", "not valid TOML"),
    ],
)
def test_malformed_recipes_name_file_key_and_reason(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(RecipeError) as info:
        load_recipe(str(path))
    assert needle in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.return_code == 2


def test_unknown_recipe_suggests_a_close_name() -> None:
    with pytest.raises(RecipeError, match=r"unknown recipe 'minimall'.*perhaps you meant 'minimal'"):
        load_recipe("minimall")


def test_extends_cycle_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, '[recipe]\nname = "a"\ndescription = "d"\nextends = "./b.toml"\n', "a.toml")
    _write(tmp_path, '[recipe]\nname = "b"\ndescription = "d"\nextends = "./a.toml"\n', "b.toml")
    with pytest.raises(RecipeError, match="cycle"):
        load_recipe(str(tmp_path / "a.toml"))
