"""``cvcuda-setup verify``: run the verification suite against a prefix; table, JSON report, JUnit XML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cvcuda_setup.cli.common import guard
from cvcuda_setup.console import console
from cvcuda_setup.envvars import default_prefix
from cvcuda_setup.errors import UsageError
from cvcuda_setup.verify import VerifyOptions, parse_device, run_verify
from cvcuda_setup.verify import report as render

HELP = (
    "Verify a prefix: device info, build fits the GPU, the right cv2, mapped memory, the zero-copy "
    "blur + Canny against the CPU reference, and (with --opencv-tests) OpenCV's own CUDA tests.\n\n"
    "Exit 0 only when nothing failed. Without a CUDA device every GPU check is skipped (exit 0) unless "
    "--require-gpu is given (exit 1). Bad options exit 2.\n\n"
    "Examples:\n\n"
    "  cvcuda-setup verify --prefix ~/opt/opencv-cuda\n\n"
    "  cvcuda-setup verify --prefix ~/opt/opencv-cuda --device all --require-gpu "
    "--json verify.json --junit verify.xml --out verify-images\n\n"
    "  cvcuda-setup verify --prefix ~/opt/opencv-cuda --wheel --python ~/venv/bin/python --require-gpu"
)


@guard
def verify(
    prefix: Annotated[
        Path | None,
        typer.Option("--prefix", "-p", help="The installation to verify [$CVCUDA_SETUP_PREFIX]."),
    ] = None,
    device: Annotated[
        str, typer.Option("--device", help="A CUDA device index, or 'all' for every GPU.")
    ] = "0",
    json_file: Annotated[
        str | None,
        typer.Option("--json", help="Write the JSON report to FILE ('-' prints it instead of the table)."),
    ] = None,
    junit_file: Annotated[
        Path | None, typer.Option("--junit", help="Write a JUnit XML report to FILE (for CI).")
    ] = None,
    require_gpu: Annotated[
        bool, typer.Option("--require-gpu", help="Fail (exit 1) when no CUDA device is visible.")
    ] = False,
    images: Annotated[
        Path | None, typer.Option("--images", help="Also run the pipeline on the image files in DIR.")
    ] = None,
    opencv_tests: Annotated[
        bool,
        typer.Option(
            "--opencv-tests",
            help="Run every opencv_test_cuda* suite in full on each selected device, if built "
            "(build --with-tests).",
        ),
    ] = False,
    opencv_tests_timeout: Annotated[
        float,
        typer.Option(
            "--opencv-tests-timeout",
            metavar="SECONDS",
            help="With --opencv-tests: the bound on each suite's run, per device (a suite cut off fails).",
        ),
    ] = 1800.0,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write one pipeline case's input and output images to DIR.")
    ] = None,
    python: Annotated[
        str | None,
        typer.Option("--python", help="Interpreter whose 'import cv2' is checked (default: the manifest's)."),
    ] = None,
    wheel: Annotated[
        bool,
        typer.Option(
            "--wheel",
            help="Check the opencv-cuda wheel of --prefix installed in --python's environment "
            "(the prefix's paths are not set).",
        ),
    ] = False,
) -> None:
    if not opencv_tests_timeout > 0:
        raise UsageError(
            f"--opencv-tests-timeout {opencv_tests_timeout:g} is not a positive number of seconds",
            hint="use e.g. --opencv-tests-timeout 600",
        )
    json_to_stdout = json_file == "-"
    json_path = Path(json_file) if json_file and not json_to_stdout else None
    out_dir = out if out is not None else (json_path.parent if json_path is not None else None)
    options = VerifyOptions(
        prefix=prefix if prefix is not None else default_prefix(),
        device=parse_device(device),
        require_gpu=require_gpu,
        images_dir=images,
        opencv_tests=opencv_tests,
        opencv_tests_timeout_s=opencv_tests_timeout,
        out_dir=out_dir,
        python=python,
        wheel=wheel,
    )
    report = run_verify(options, log=console.info)
    if json_path is not None:
        render.write_json(report, json_path)
        console.info(f"JSON report: {json_path}")
    if junit_file is not None:
        render.write_junit(report, junit_file)
        console.info(f"JUnit report: {junit_file}")
    if json_to_stdout:
        console.json(render.to_json(report))
    else:
        console.table(render.table(report))
        console.print(render.summary_line(report))
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    app.command("verify", help=HELP)(verify)
