"""Recipes: ``recipes/*.toml`` (or a user's path) -> a validated, ``extends``-merged ``Recipe``.

A recipe file has two tables::

    [recipe]                # what to build
    name = "minimal"        # required, must match the file name for shipped recipes
    description = "..."     # required
    extends = "seed"        # optional: another recipe (name or path relative to this file)
    modules = ["core"]      # BUILD_LIST; [] means every module
    contrib = true          # needs opencv_contrib
    cuda = true             # CUDA_ARCH_BIN/PTX come from the arch selection
    python = true           # Python bindings for the chosen interpreter
    build_type = "Release"
    opencv_version = "5.1.0"
    bundle_keep = []        # extra paths a pruned source bundle keeps
    tests = false           # OpenCV's accuracy tests of the CUDA modules (BUILD_TESTS=ON, ts added)

    [cmake]                 # extra CMake cache options: bool (ON/OFF), int or string
    WITH_CUDA = true

Unknown keys, wrong types and unknown recipes are refused with the file, the key and the reason.
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvcuda_setup.errors import RecipeError
from cvcuda_setup.model import CMakeValue, Recipe, cmake_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_RECIPE_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "description": str,
    "extends": str,
    "modules": list,
    "contrib": bool,
    "cuda": bool,
    "python": bool,
    "build_type": str,
    "opencv_version": str,
    "bundle_keep": list,
    "tests": bool,
}
_REQUIRED = ("name", "description")
_BUILD_TYPES = ("Release", "Debug", "RelWithDebInfo", "MinSizeRel")
_CMAKE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODULE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def recipes_dir() -> Path:
    """The shipped recipes: ``recipes/`` in a source checkout, ``cvcuda_setup/_data/recipes`` in a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / "recipes", here.parent / "recipes"):
        if candidate.is_dir():
            return candidate
    raise RecipeError(f"no recipes directory found next to {here}", hint="reinstall cvcuda-setup")


def list_recipes() -> list[Recipe]:
    return [load_recipe(path.stem) for path in sorted(recipes_dir().glob("*.toml"))]


def load_recipe(name_or_path: str) -> Recipe:
    """Load a shipped recipe by name, or a user's recipe file by path."""
    return _load(_locate(name_or_path, base=None), chain=())


def _locate(name_or_path: str, base: Path | None) -> Path:
    looks_like_path = name_or_path.endswith(".toml") or "/" in name_or_path or name_or_path.startswith(".")
    if looks_like_path:
        path = Path(name_or_path).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        if not path.is_file():
            raise RecipeError(f"recipe file {str(path)!r} does not exist", hint="give a path to a .toml file")
        return path.resolve()
    shipped = recipes_dir() / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    names = sorted(p.stem for p in recipes_dir().glob("*.toml"))
    close = difflib.get_close_matches(name_or_path, names, n=1)
    hint = f"perhaps you meant {close[0]!r}; " if close else ""
    raise RecipeError(
        f"unknown recipe {name_or_path!r}",
        hint=f"{hint}known recipes: {', '.join(names)}; or give a path to a .toml file",
    )


@dataclass(frozen=True)
class _Raw:
    path: Path
    recipe: dict[str, Any]
    cmake: dict[str, CMakeValue]


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_plain_name(value: object, what: str) -> str:
    """A name used as a path piece (a build dir, a cache key): a plain identifier, else RecipeError."""
    text = str(value)
    if not _PLAIN_NAME.fullmatch(text) or ".." in text or len(text) > 100:
        shown = text if len(text) <= 120 else text[:59] + "…" + text[-60:]
        raise RecipeError(
            f"{what} {shown!r} is not a plain name",
            hint="use letters, digits, '.', '_' and '-' (starting with a letter or digit, no '..', no '/')",
        )
    return text


def _read(path: Path) -> _Raw:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML: {exc}", hint="fix the file's syntax") from None
    except OSError as exc:
        raise RecipeError(
            f"{path}: cannot read: {exc.strerror}", hint="check the path and its permissions"
        ) from None
    except UnicodeDecodeError as exc:
        raise RecipeError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})", hint="save the recipe as UTF-8"
        ) from None
    unknown_tables = sorted(set(data) - {"recipe", "cmake"})
    if unknown_tables:
        raise RecipeError(
            f"{path}: unknown table {unknown_tables[0]!r}", hint="a recipe has only [recipe] and [cmake]"
        )
    recipe = data.get("recipe")
    if not isinstance(recipe, dict):
        raise RecipeError(f"{path}: missing [recipe] table", hint="add [recipe] with name and description")
    for key, value in recipe.items():
        expected = _RECIPE_KEYS.get(key)
        if expected is None:
            close = difflib.get_close_matches(key, list(_RECIPE_KEYS), n=1)
            hint = f"perhaps you meant {close[0]!r}" if close else f"known keys: {', '.join(_RECIPE_KEYS)}"
            raise RecipeError(f"{path}: unknown key 'recipe.{key}'", hint=hint)
        if not isinstance(value, expected):
            raise RecipeError(
                f"{path}: key 'recipe.{key}' must be {_type_name(expected)}, got {_type_name(type(value))}"
                f" ({value!r})"
            )
    for key in ("modules", "bundle_keep"):
        for item in recipe.get(key, []):
            if not isinstance(item, str):
                raise RecipeError(f"{path}: key 'recipe.{key}' must be a list of strings, got item {item!r}")
    for module in recipe.get("modules", []):
        if not _MODULE_NAME.match(module):
            raise RecipeError(f"{path}: key 'recipe.modules' has a malformed module name {module!r}")
    if "build_type" in recipe and recipe["build_type"] not in _BUILD_TYPES:
        raise RecipeError(
            f"{path}: key 'recipe.build_type' is {recipe['build_type']!r}", hint=f"use one of {_BUILD_TYPES}"
        )
    cmake = data.get("cmake", {})
    if not isinstance(cmake, dict):
        raise RecipeError(f"{path}: [cmake] must be a table of NAME = value")
    for key, value in cmake.items():
        if not _CMAKE_NAME.match(key):
            raise RecipeError(f"{path}: key 'cmake.{key}' is not a valid CMake variable name")
        if not isinstance(value, str | bool | int) or isinstance(value, float):
            raise RecipeError(
                f"{path}: key 'cmake.{key}' must be a bool, integer or string, got {_type_name(type(value))}"
            )
    return _Raw(path=path, recipe=recipe, cmake=cmake)


def _load(path: Path, chain: tuple[Path, ...]) -> Recipe:
    if path in chain:
        cycle = " -> ".join(p.stem for p in (*chain, path))
        raise RecipeError(f"{path}: 'extends' forms a cycle ({cycle})", hint="remove one of the extends")
    raw = _read(path)
    missing = [key for key in _REQUIRED if key not in raw.recipe]
    if missing and "extends" not in raw.recipe:
        raise RecipeError(f"{path}: missing required key 'recipe.{missing[0]}'")
    if "name" not in raw.recipe:
        raise RecipeError(f"{path}: missing required key 'recipe.name'")
    check_plain_name(raw.recipe["name"], f"{path}: 'recipe.name'")
    merged: dict[str, Any] = {
        "modules": [],
        "contrib": True,
        "cuda": True,
        "python": False,
        "build_type": "Release",
        "opencv_version": "5.1.0",
        "bundle_keep": [],
        "description": "",
        "tests": False,
    }
    cmake: dict[str, CMakeValue] = {}
    extends: tuple[str, ...] = ()
    if "extends" in raw.recipe:
        parent = _load(_locate(raw.recipe["extends"], base=path.parent), chain=(*chain, path))
        merged.update(
            modules=list(parent.modules),
            contrib=parent.contrib,
            cuda=parent.cuda,
            python=parent.python,
            build_type=parent.build_type,
            opencv_version=parent.opencv_version,
            bundle_keep=list(parent.bundle_keep),
            description=parent.description,
            tests=parent.tests,
        )
        cmake.update(parent.cmake)
        extends = (parent.name, *parent.extends)
    merged.update({k: v for k, v in raw.recipe.items() if k != "extends"})
    cmake.update(raw.cmake)
    return Recipe(
        name=raw.recipe["name"],
        description=merged["description"],
        path=path,
        modules=tuple(merged["modules"]),
        contrib=merged["contrib"],
        cuda=merged["cuda"],
        python=merged["python"],
        build_type=merged["build_type"],
        cmake=tuple(cmake.items()),
        bundle_keep=tuple(merged["bundle_keep"]),
        opencv_version=merged["opencv_version"],
        extends=extends,
        tests=merged["tests"],
    )


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        bool: "a boolean",
        list: "a list",
        int: "an integer",
        float: "a float",
        dict: "a table",
    }
    if isinstance(t, tuple):
        return " or ".join(names.get(x, x.__name__) for x in t)
    return names.get(t, t.__name__)


def _option(recipe: Recipe, name: str) -> str | None:
    for key, value in recipe.cmake:
        if key == name:
            return cmake_value(value)
    return None


def build_facts(recipe: Recipe) -> dict[str, str]:
    """What a recipe's configuration builds beyond its modules, in words (``recipes show``)."""
    tests = _option(recipe, "BUILD_TESTS")
    perf = _option(recipe, "BUILD_PERF_TESTS")
    if recipe.tests:
        tests_text = (
            "ON ([recipe] tests = true): the accuracy tests of the recipe's CUDA modules and the ts module "
            "(BUILD_TESTS=ON, BUILD_PERF_TESTS=OFF, OPENCV_BUILD_TEST_MODULES_LIST); verify --opencv-tests "
            "runs them"
        )
    elif tests is None and perf is None:
        tests_text = (
            "ON (OpenCV's default, left as documented): every module's accuracy and perf test suite is "
            "compiled too; -D BUILD_TESTS=OFF -D BUILD_PERF_TESTS=OFF skips them"
        )
    else:
        tests_text = f"BUILD_TESTS={tests or 'ON (default)'} BUILD_PERF_TESTS={perf or 'ON (default)'}"
    python_text = (
        "yes: cv2 for the chosen interpreter (--python; needs numpy), as the documented build gets it "
        "whenever Python 3 and numpy are found"
        if recipe.python
        else "no"
    )
    pkgconfig = _option(recipe, "OPENCV_GENERATE_PKGCONFIG")
    return {
        "tests": tests_text,
        "python": python_text,
        "pkg-config": "yes (opencv4.pc / opencv5.pc)" if pkgconfig == "ON" else "no",
    }
