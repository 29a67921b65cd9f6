"""``cvcuda-setup plugin``: build and install the zero-copy plugin (C++ library, tool, Python module)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from cvcuda_setup.cli.common import guard
from cvcuda_setup.console import console

EXAMPLES = """
Installs into the prefix: lib/libcvcuda_zerocopy.so, include/cvcuda_zerocopy/, lib/cmake/cvcuda_zerocopy/
(find_package(cvcuda_zerocopy)), bin/cvcuda-zerocopy-check, and the Python module cvcuda_zerocopy next to
the prefix's cv2 (pip --target; offline), for --python (default: this interpreter).

Examples:

  cvcuda-setup plugin --prefix ~/opt/opencv-cuda

  cvcuda-setup plugin --prefix ~/opt/opencv-cuda --python /usr/bin/python3.12 --test

  cvcuda-setup plugin --prefix ~/opt/opencv-cuda --dry-run --json
"""


@guard
def plugin(
    prefix: Annotated[
        Path | None,
        typer.Option("--prefix", "-p", help="Install prefix holding OpenCV [$CVCUDA_SETUP_PREFIX]."),
    ] = None,
    python: Annotated[
        Path | None, typer.Option("--python", help="Interpreter the Python module is built for [this one].")
    ] = None,
    build_dir: Annotated[
        Path | None, typer.Option("--build-dir", help="Build directory [<cache>/build/plugin-<hash>].")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Parallel compile jobs [CPU cores].")
    ] = None,
    test: Annotated[bool, typer.Option("--test", help="Also build and run the C++ tests (ctest).")] = False,
    no_python: Annotated[bool, typer.Option("--no-python", help="Skip the Python module.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the commands only.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result (or with --dry-run the plan) as JSON.")
    ] = False,
) -> None:
    """Build the zero-copy allocator plugin against a prefix's OpenCV and install it there."""
    from cvcuda_setup.envvars import default_prefix
    from cvcuda_setup.native import default_build_dir, plan_plugin, run_plan
    from cvcuda_setup.probe.hostinfo import default_jobs

    target = (prefix or default_prefix()).expanduser().resolve()
    plan = plan_plugin(
        target,
        python=python,
        build_dir=build_dir or default_build_dir(target),
        jobs=jobs if jobs is not None else default_jobs(False),
        tests=test,
        install_python=not no_python,
    )
    if dry_run:
        if json_out:
            console.json(plan.to_json())
        else:
            for warning in plan.warnings:
                console.warn(warning)
            for line in plan.shell_lines():
                console.print(line)
        return
    from cvcuda_setup.install import lock_prefix

    with lock_prefix(target):
        result = run_plan(plan)
    if json_out:
        console.json(result.to_json())
        return
    console.print(f"library:       {result.library}")
    console.print(f"headers:       {result.include_dir}")
    console.print(f"CMake package: {result.cmake_dir}  (find_package(cvcuda_zerocopy))")
    console.print(f"check tool:    {result.tool}")
    if result.python_module is not None:
        console.print(f"Python module: {result.python_module}  (for {result.python})")
    console.print(f"OpenCV:        {result.opencv.version} ({'CUDA' if result.opencv.cuda else 'no CUDA'})")
    console.print(f"CUDA runtime:  {result.cuda.include_dir} ({result.cuda.origin})")
    console.info(f"next: cvcuda-setup verify --prefix {shlex.quote(str(result.prefix))}")


def register(app: typer.Typer) -> None:
    app.command("plugin", help=(plugin.__doc__ or "") + "\n" + EXAMPLES)(plugin)
