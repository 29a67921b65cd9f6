"""``cvcuda-setup recipes list|show``: the shipped recipes and what each sets."""

from __future__ import annotations

import typer
from rich.table import Table

from cvcuda_setup.cli.common import OpenCvVersionOption, guard
from cvcuda_setup.console import console
from cvcuda_setup.model import cmake_value
from cvcuda_setup.modules import closure
from cvcuda_setup.recipes import build_facts, list_recipes, load_recipe

recipes_app = typer.Typer(
    help="List and show build recipes.\n\nExamples:\n\n  cvcuda-setup recipes list\n\n"
    "  cvcuda-setup recipes show minimal --json",
    no_args_is_help=True,
)


@recipes_app.command("list")
@guard
def list_cmd(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the shipped recipes.

    Example: cvcuda-setup recipes list
    """
    recipes = list_recipes()
    if json_out:
        console.json([{"name": r.name, "description": r.description, "path": str(r.path)} for r in recipes])
        return
    table = Table("recipe", "CUDA", "Python", "modules", "description")
    for r in recipes:
        table.add_row(
            r.name,
            "yes" if r.cuda else "no",
            "yes" if r.python else "no",
            str(len(r.modules)) if r.modules else "all",
            r.description,
        )
    console.table(table)


@recipes_app.command("show")
@guard
def show_cmd(
    name: str = typer.Argument(..., help="Recipe name or path to a .toml file."),
    opencv_version: OpenCvVersionOption = None,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a recipe after `extends` is merged: modules (with dependencies) and CMake options.

    Example: cvcuda-setup recipes show minimal
    """
    r = load_recipe(name)
    opencv_version = opencv_version or r.opencv_version
    build_list = closure(r.modules, opencv_version, python=r.python)
    data = {
        "name": r.name,
        "description": r.description,
        "path": str(r.path),
        "extends": list(r.extends),
        "modules": list(r.modules),
        "build_list": list(build_list),
        "contrib": r.contrib,
        "cuda": r.cuda,
        "python": r.python,
        "build_type": r.build_type,
        "cmake": {k: cmake_value(v) for k, v in r.cmake},
    }
    facts = build_facts(r)
    data["builds"] = facts
    if json_out:
        console.json(data)
        return
    console.print(f"{r.name}: {r.description}")
    console.print(f"file: {r.path}" + (f" (extends {' -> '.join(r.extends)})" if r.extends else ""))
    console.print(f"BUILD_LIST ({opencv_version}): {','.join(build_list) or '(all modules)'}")
    console.print(f"contrib: {r.contrib}  cuda: {r.cuda}  python: {r.python}  build type: {r.build_type}")
    for what, text in facts.items():
        console.print(f"{what}: {text}")
    for key, raw in r.cmake:
        console.print(f"  -D{key}={cmake_value(raw)}")


def register(app: typer.Typer) -> None:
    app.add_typer(recipes_app, name="recipes")
