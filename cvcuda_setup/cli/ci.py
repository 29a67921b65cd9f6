"""``cvcuda-setup ci``: doctor -> plan -> build -> plugin -> verify; one exit code, one report folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cvcuda_setup.cli.common import OpenCvVersionOption, guard
from cvcuda_setup.console import console

HELP = """Run the whole pipeline non-interactively, as a CI job would: doctor, the build plan, the build,
the zero-copy plugin and verify, each as its own child command with its own logs.

The exit code is the first failing step's (doctor fails only on errors, exit 2; warnings pass); the steps
after it are skipped. Everything lands in --report: summary.json (per-step status, exit code, duration),
doctor.json, build-plan.json, verify.json, verify.xml (JUnit), sccache.json (with --launcher sccache),
logs/<step>.stdout.log and .stderr.log, and logs/build/ (the build directory's cvcuda-setup-logs/).

Examples:

\b
  cvcuda-setup ci --recipe minimal --arch auto --prefix /opt/opencv-cuda --report ci-report
  cvcuda-setup ci --recipe cpu-test --source sdist --no-require-gpu --report ci-report
  SCCACHE_REDIS_ENDPOINT=redis://cache.internal:6379 cvcuda-setup ci --launcher sccache --arch 9.0
"""


@guard
def ci(
    recipe: Annotated[
        str, typer.Option("--recipe", "-r", help="Recipe name or path to a recipe .toml.")
    ] = "minimal",
    arch: Annotated[
        str, typer.Option("--arch", "-a", help="auto (this host's GPUs), 8.9, 8.6,9.0, 9.0+PTX, sm_90 ...")
    ] = "auto",
    prefix: Annotated[
        Path | None, typer.Option("--prefix", "-p", help="Install prefix [$CVCUDA_SETUP_PREFIX].")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source", help="sdist (default), git, a tarball URL/file, a bundle file, or a directory."
        ),
    ] = None,
    report: Annotated[
        Path,
        typer.Option("--report", help="Folder for the reports and logs (created; reused if a ci report)."),
    ] = Path("ci-report"),
    launcher: Annotated[
        str, typer.Option("--launcher", help="Compiler launcher: auto, ccache, sccache, none.")
    ] = "auto",
    require_gpu: Annotated[
        bool,
        typer.Option(
            "--require-gpu/--no-require-gpu",
            help="verify fails without a CUDA device (default), or skips the GPU checks.",
        ),
    ] = True,
    build_dir: Annotated[
        Path | None, typer.Option("--build-dir", help="Build directory [cache/build/<plan>].")
    ] = None,
    opencv_version: OpenCvVersionOption = None,
    python: Annotated[
        str | None, typer.Option("--python", help="Interpreter for the bindings [this one].")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Parallel jobs [by cores and memory].")
    ] = None,
    define: Annotated[
        list[str] | None, typer.Option("-D", help="Override a CMake option: -D NAME=VALUE (repeatable).")
    ] = None,
    opencv_tests: Annotated[
        bool,
        typer.Option(
            "--opencv-tests",
            help="Build OpenCV's CUDA test suites (build --with-tests) and run them (verify --opencv-tests).",
        ),
    ] = False,
    cache: Annotated[
        str | None,
        typer.Option(
            "--cache",
            envvar="CVCUDA_SETUP_BINARY_CACHE",
            metavar="oci://HOST/REPO",
            help="Binary cache for the build step: install on a hit, build and push on a miss "
            "[$CVCUDA_SETUP_BINARY_CACHE].",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Install into a non-empty prefix the tool did not create.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print summary.json to stdout instead of the summary lines.")
    ] = False,
) -> None:
    from cvcuda_setup.ci import run_ci
    from cvcuda_setup.ci_plan import CiOptions, summary_lines
    from cvcuda_setup.envvars import default_prefix

    options = CiOptions(
        recipe=recipe,
        arch=arch,
        prefix=prefix if prefix is not None else default_prefix(),
        report_dir=report,
        source=source,
        launcher=launcher,
        require_gpu=require_gpu,
        build_dir=build_dir,
        opencv_version=opencv_version,
        python=python,
        jobs=jobs,
        defines=tuple(define or ()),
        force=force,
        opencv_tests=opencv_tests,
        cache=cache or None,
    )
    result = run_ci(options, log=console.info)
    if json_out:
        console.json(result.to_json())
    else:
        for line in summary_lines(result):
            console.print(line)
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    app.command("ci", help=HELP)(ci)
