import pytest

from cvcuda_setup.errors import RecipeError
from cvcuda_setup.modules import closure


def test_minimal_on_5x_adds_geometry_flann_and_python() -> None:
    mods = closure(
        ["core", "imgproc", "imgcodecs", "cudev", "cudaarithm", "cudafilters", "cudaimgproc"],
        "5.1.0",
        python=True,
    )
    assert set(mods) == {
        "core",
        "imgproc",
        "geometry",
        "flann",
        "imgcodecs",
        "cudev",
        "cudaarithm",
        "cudafilters",
        "cudaimgproc",
        "python3",
        "python_bindings_generator",
    }
    assert len(mods) == len(set(mods))


def test_4x_imgproc_needs_no_geometry() -> None:
    assert closure(["core", "imgproc"], "4.10.0", python=False) == ("core", "imgproc")


def test_empty_means_all_modules() -> None:
    assert closure([], "5.1.0", python=True) == ()


def test_5x_names_are_spelled_as_4x_spells_them() -> None:
    """full's module list (5.x names) on 4.14.0: features2d and calib3d, geometry dropped (4.x has none)."""
    got = closure(
        ["core", "imgproc", "features", "calib", "stereo", "geometry", "cudafeatures2d"],
        "4.14.0",
        python=False,
    )
    assert got == ("core", "imgproc", "features2d", "calib3d", "cudafeatures2d")
    assert closure(["features2d", "calib3d"], "5.1.0", python=False) == ("features", "calib")


def test_a_list_whose_names_all_drop_out_still_builds_its_dependencies_only() -> None:
    """geometry drops out on 4.x; a list left empty is refused, never the empty BUILD_LIST of every module."""
    assert closure(["geometry", "core"], "4.13.0", python=False) == ("core",)
    with pytest.raises(RecipeError, match="geometry"):
        closure(["geometry"], "4.13.0", python=False)
