"""``cvcuda-setup doctor``: is this host ready to build a recipe? Exit 0 all ok, 1 warnings, 2 errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from cvcuda_setup.cli.common import OpenCvVersionOption, guard
from cvcuda_setup.console import console
from cvcuda_setup.doctor import exit_code, render, run_doctor, to_document
from cvcuda_setup.errors import UsageError
from cvcuda_setup.recipes import load_recipe

HELP = """Check this host before a build: GPUs and driver, the CUDA toolkit and its libraries, the host
compiler against nvcc, the OpenCV x CUDA compatibility table, sources, disk, memory and the Python side.

Each finding is ok, warn or error, with the fix. Exit code: 0 all ok, 1 warnings only, 2 any error.
docs/doctor.md lists every finding and the --json schema.

Examples:

\b
  cvcuda-setup doctor
  cvcuda-setup doctor --recipe full --arch 8.6,9.0 --opencv-version 4.13.0
  cvcuda-setup doctor --source ~/src/opencv-5.1.0 --python /usr/bin/python3.12 --json
"""

_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:-\w+)?$")


def doctor(
    recipe: Annotated[
        str, typer.Option("--recipe", "-r", help="Recipe name or path to a recipe .toml.")
    ] = "minimal",
    arch: Annotated[
        str,
        typer.Option("--arch", "-a", help="Target GPUs: auto, 8.9, 8.6,9.0, 9.0+PTX, sm_90 or compute_90."),
    ] = "auto",
    opencv_version: OpenCvVersionOption = None,
    python: Annotated[
        str | None,
        typer.Option(
            "--python", help="Interpreter the bindings are built for (default: the one running this tool)."
        ),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--source", help="opencv source tree, or a directory holding opencv/ and opencv_contrib/."
        ),
    ] = None,
    contrib: Annotated[
        Path | None, typer.Option("--contrib", help="opencv_contrib tree (default: next to --source).")
    ] = None,
    prefix: Annotated[
        Path | None,
        typer.Option("--prefix", "-p", help="Install prefix, checked for free disk [$CVCUDA_SETUP_PREFIX]."),
    ] = None,
    build_dir: Annotated[
        Path | None,
        typer.Option(
            "--build-dir", help="Build directory, checked for free disk [the cache's build/, as for build]."
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the findings as JSON (schema cvcuda-setup.doctor/1).")
    ] = False,
    no_plugin: Annotated[
        bool, typer.Option("--no-plugin", help="Do not check what the zero-copy plugin needs (as build).")
    ] = False,
    no_plugin_python: Annotated[
        bool, typer.Option("--no-plugin-python", help="Do not check what the plugin's Python module needs.")
    ] = False,
) -> None:
    loaded = load_recipe(recipe)
    opencv_version = opencv_version or loaded.opencv_version
    if not _VERSION.match(opencv_version):
        raise UsageError(
            f"--opencv-version {opencv_version!r} is not a release number", hint="e.g. 5.1.0 or 4.13.0"
        )
    if source is not None and not source.is_dir():
        raise UsageError(f"--source {str(source)!r} is not a directory", hint="give the opencv source tree")
    if contrib is not None and not (contrib / "modules").is_dir():
        raise UsageError(f"--contrib {str(contrib)!r} is not an opencv_contrib tree (no modules/)")
    from cvcuda_setup.envvars import default_prefix
    from cvcuda_setup.sources import default_cache_dir

    # free disk is measured where build will write: its default build directory and prefix
    prefix = prefix if prefix is not None else default_prefix()
    build_dir = build_dir if build_dir is not None else default_cache_dir().expanduser() / "build"
    findings = run_doctor(
        loaded,
        arch,
        opencv_version,
        prefix=prefix,
        build_dir=build_dir,
        python=python,
        source_dir=source,
        contrib_dir=contrib,
        plugin=not no_plugin,
        plugin_python=not no_plugin_python,
    )
    if json_out:
        inputs = {
            "recipe": loaded.name,
            "arch": arch,
            "opencv_version": opencv_version,
            "python": python,
            "source": source,
            "contrib": contrib,
            "prefix": prefix,
            "build_dir": build_dir,
        }
        console.json(to_document(findings, inputs))
    else:
        render(findings, console)
    code = exit_code(findings)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("doctor", help=HELP)(guard(doctor))
