"""``cvcuda-setup wheel``: package a prefix's cv2 and its OpenCV libraries as an installable wheel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cvcuda_setup.cli.common import guard
from cvcuda_setup.console import console
from cvcuda_setup.envvars import default_prefix
from cvcuda_setup.wheel import WheelOptions, WheelResult, build_wheel
from cvcuda_setup.wheel.builder import check_options

HELP = (
    "Package the prefix's cv2 with the OpenCV shared libraries it needs into a wheel named opencv-cuda, "
    "version OpenCV's plus what is inside (5.1.0+cu130.sm90, or 5.1.0+cpu), for the interpreter the "
    "bindings were built for. The libraries get RUNPATH $ORIGIN; the system CUDA libraries are not "
    "bundled and are checked when cv2 is imported. With auditwheel installed the wheel is also repaired "
    "to a manylinux tag (--repair).\n\n"
    "Examples:\n\n"
    "  cvcuda-setup wheel --prefix ~/opt/opencv-cuda --out dist\n\n"
    "  cvcuda-setup wheel --prefix ~/opt/opencv-cuda --python /usr/bin/python3.12 --repair none --json\n\n"
    "  python -m pip install dist/opencv_cuda-5.1.0+cu130.sm90-cp312-cp312-manylinux_2_35_x86_64.whl"
)


def _render(result: WheelResult) -> None:
    sources = ", ".join(sorted(set(result.facts.origin.values())))
    console.info(f"version {result.version} (facts from {sources})")
    console.info(f"bundled: {', '.join(result.bundled) or 'nothing'} (RUNPATH $ORIGIN, {result.relocation})")
    if result.system_cuda:
        console.info("checked at import, not bundled: " + ", ".join(s for s, _ in result.system_cuda))
    console.info(f"repair: {result.repair}")
    for note in result.notes:
        console.warn(note)
    console.print(str(result.wheel))


@guard
def wheel(
    prefix: Annotated[
        Path | None,
        typer.Option("--prefix", "-p", help="The installation to package [$CVCUDA_SETUP_PREFIX]."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory the wheel is written to.")] = Path("dist"),
    python: Annotated[
        str | None,
        typer.Option(
            "--python", help="Interpreter the bindings were built for (default: the manifest's, else this)."
        ),
    ] = None,
    repair: Annotated[
        str,
        typer.Option(
            "--repair",
            help="auto: auditwheel repair when installed, else keep the linux_x86_64 wheel; "
            "auditwheel: require it; none: skip it.",
        ),
    ] = "auto",
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (schema cvcuda-setup.wheel/1).")
    ] = False,
) -> None:
    options = WheelOptions(
        prefix=prefix if prefix is not None else default_prefix(),
        out_dir=out,
        python=python,
        repair=repair,  # type: ignore[arg-type]
    )
    check_options(options)  # a bad option is one line, before the step starts
    with console.step(f"wheel from {options.prefix}"):
        result = build_wheel(options)
    if json_out:
        console.json(result.to_json())
        return
    _render(result)


def register(app: typer.Typer) -> None:
    app.command("wheel", help=HELP)(wheel)
