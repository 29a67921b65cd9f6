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
}
#: 5.x moved parts of imgproc into geometry, which needs flann (measured on 5.1.0).
_BY_MAJOR: dict[int, dict[str, tuple[str, ...]]] = {
    4: {"imgproc": ("core",)},
    5: {"imgproc": ("core", "geometry", "flann"), "geometry": ("core", "flann"), "flann": ("core",)},
}
PYTHON_MODULES = ("python3", "python_bindings_generator")


def major_of(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 5


def closure(modules: Iterable[str], opencv_version: str, *, python: bool) -> tuple[str, ...]:
    """The BUILD_LIST: the recipe's modules, their dependencies, and the Python modules when asked.

    An empty module list means "every module" and stays empty.
    """
    wanted = list(modules)
    if not wanted:
        return ()
    if python:
        wanted += list(PYTHON_MODULES)
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
