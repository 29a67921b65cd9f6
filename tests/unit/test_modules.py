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
