"""OpenCV module dependencies that BUILD_LIST must name explicitly (OpenCV does not add them itself).

``closure`` turns a recipe's module list into the BUILD_LIST for a given OpenCV major version.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Dependencies common to 4.x and 5.x (only the ones BUILD_LIST needs spelled out).
_COMMON: dict[str, tuple[str, ...]] = {
    "imgcodecs": ("imgproc",),
    "cudev": (),
    "cudaarithm": ("core", "cudev"),
    "cudafilters": ("imgproc", "cudaarithm"),
    "cudaimgproc": ("imgproc", "cudev"),
    "cudawarping": ("imgproc", "cudev"),
    "python3": ("python_bindings_generator",),
    # OpenCV's test framework: modules/ts/CMakeLists.txt ``ocv_add_module(ts INTERNAL opencv_core
    # opencv_imgproc opencv_imgcodecs opencv_videoio opencv_highgui)``; every accuracy test binary also links
    # imgcodecs and videoio (``ocv_add_accuracy_tests`` in cmake/OpenCVModule.cmake).
    "ts": ("core", "imgproc", "imgcodecs", "videoio", "highgui"),
    "videoio": ("imgproc", "imgcodecs"),
    "highgui": ("imgproc", "imgcodecs", "videoio"),
}
#: 5.x moved parts of imgproc into geometry, which needs flann (measured on 5.1.0).
_BY_MAJOR: dict[int, dict[str, tuple[str, ...]]] = {
    4: {"imgproc": ("core",)},
    5: {"imgproc": ("core", "geometry", "flann"), "geometry": ("core", "flann"), "flann": ("core",)},
}
#: 5.x names of modules that 4.x calls otherwise or has not split out (their code is in the 4.x module named):
#: a recipe written with 5.x names (``full``) builds the same code on 4.x. Measured on the 4.14.0 and 5.1.0
#: trees: 4.x has features2d and calib3d (stereo inside calib3d), no geometry (its code is in imgproc and
#: calib3d) and no ptcloud.
_NAMES_IN_4: dict[str, str | None] = {
    "features": "features2d",
    "calib": "calib3d",
    "stereo": "calib3d",
    "geometry": None,
    "ptcloud": None,
}
_NAMES_IN_5: dict[str, str | None] = {"features2d": "features", "calib3d": "calib"}
PYTHON_MODULES = ("python3", "python_bindings_generator")
#: What a build with OpenCV's accuracy tests adds to BUILD_LIST (its dependencies follow from the closure).
TEST_MODULES = ("ts",)
#: opencv_contrib's CUDA modules with an accuracy test suite (``opencv_test_<name>``), for a recipe that
#: builds every module (an empty module list).
CUDA_TEST_MODULES = (
    "cudaarithm",
    "cudabgsegm",
    "cudacodec",
    "cudafeatures2d",
    "cudafilters",
    "cudaimgproc",
    "cudalegacy",
    "cudaobjdetect",
    "cudaoptflow",
    "cudastereo",
    "cudawarping",
)


def major_of(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 5


def names_for(modules: Iterable[str], opencv_version: str) -> list[str]:
    """The recipe's module names as ``opencv_version``'s line spells them (``features`` is ``features2d`` on
    4.x, ``calib3d`` is ``calib`` on 5.x); a module the line does not have separately is dropped."""
    table = _NAMES_IN_4 if major_of(opencv_version) == 4 else _NAMES_IN_5
    result: list[str] = []
    for module in modules:
        name = table.get(module, module)
        if name is not None and name not in result:
            result.append(name)
    return result


def closure(
    modules: Iterable[str], opencv_version: str, *, python: bool, tests: bool = False
) -> tuple[str, ...]:
    """The BUILD_LIST: the recipe's modules, their dependencies, the Python modules and (``tests``) the test
    framework ``ts`` with what it needs, when asked.

    An empty module list means "every module" and stays empty.
    """
    asked = list(modules)
    if not asked:
        return ()
    wanted = names_for(asked, opencv_version)
    if not wanted:  # an empty BUILD_LIST would mean every module
        from cvcuda_setup.errors import RecipeError

        raise RecipeError(
            f"none of the modules {', '.join(asked)} exists separately in OpenCV {opencv_version}",
            hint="add the modules this OpenCV line has (e.g. core, imgproc)",
        )
    if python:
        wanted += list(PYTHON_MODULES)
    if tests:
        wanted += list(TEST_MODULES)
    deps = {**_COMMON, **_BY_MAJOR.get(major_of(opencv_version), {})}
    result: list[str] = []
    stack = list(reversed(wanted))
    while stack:
        module = stack.pop()
        if module in result:
            continue
        result.append(module)
        stack.extend(reversed(deps.get(module, ())))
    return tuple(result)


def cuda_test_modules(modules: Iterable[str]) -> tuple[str, ...]:
    """The CUDA modules among a BUILD_LIST whose accuracy tests a ``--with-tests`` build compiles
    (``cuda*``, not ``cudev``); for an empty BUILD_LIST (every module) all of ``CUDA_TEST_MODULES``."""
    names = list(modules)
    if not names:
        return CUDA_TEST_MODULES
    return tuple(m for m in names if m.startswith("cuda"))
