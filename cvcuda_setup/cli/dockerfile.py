"""``cvcuda-setup dockerfile``: write a multi-stage Dockerfile (CUDA devel builder, CUDA runtime image)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cvcuda_setup.cli.common import OpenCvVersionOption, guard
from cvcuda_setup.console import console
from cvcuda_setup.dockerfile import DEFAULT_BASE, DEFAULT_PREFIX

HELP = f"""Write a multi-stage Dockerfile: a builder stage on an NVIDIA CUDA devel image that installs
cvcuda-setup and builds the recipe for the named GPU architectures, and a slim stage on the matching CUDA
runtime image with the prefix, the plugin and `cvcuda-setup verify --require-gpu` as its HEALTHCHECK.

docker build sees no GPU (and compiling needs none), so --arch must name the targets: `auto` is refused.
Without --output the file is printed. docs/ci-images.md shows the whole image workflow.

Default base: {DEFAULT_BASE}

Examples:

\b
  cvcuda-setup dockerfile --recipe minimal --arch 8.9 --output Dockerfile.cuda
  cvcuda-setup dockerfile --recipe full --arch 8.6,9.0+PTX --opencv-version 5.1.0 --output Dockerfile.cuda
  cvcuda-setup dockerfile --arch 9.0 --sccache --output Dockerfile.cuda
  docker build -f Dockerfile.cuda -t opencv-cuda:minimal .
"""


@guard
def dockerfile(
    base: Annotated[
        str, typer.Option("--base", help="Builder image: an NVIDIA CUDA devel image.")
    ] = DEFAULT_BASE,
    runtime_base: Annotated[
        str | None,
        typer.Option("--runtime-base", help="Runtime image [the --base tag with devel -> runtime]."),
    ] = None,
    recipe: Annotated[
        str, typer.Option("--recipe", "-r", help="Recipe name, or a .toml path inside the build context.")
    ] = "minimal",
    arch: Annotated[
        str | None, typer.Option("--arch", "-a", help="Target GPUs: 8.9, 8.6,9.0, 9.0+PTX, sm_90 (not auto).")
    ] = None,
    opencv_version: OpenCvVersionOption = None,
    prefix: Annotated[
        str, typer.Option("--prefix", "-p", help="Install prefix inside the image.")
    ] = DEFAULT_PREFIX,
    install: Annotated[
        str,
        typer.Option("--install", help="'context' (pip install the build context) or a pip requirement."),
    ] = "context",
    sccache: Annotated[
        bool,
        typer.Option(
            "--sccache", help="Compile through sccache (build-arg SCCACHE_REDIS_ENDPOINT shares it)."
        ),
    ] = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Parallel jobs in the builder.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to FILE [print it].")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an --output file this command did not write.")
    ] = False,
) -> None:
    import shlex

    from cvcuda_setup.dockerfile import DockerfileOptions, docker_build_command, render, resolve, write

    options = DockerfileOptions(
        recipe=recipe,
        arch=arch,
        base=base,
        runtime_base=runtime_base,
        opencv_version=opencv_version,
        prefix=prefix,
        install=install,
        sccache=sccache,
        jobs=jobs,
        output=str(output) if output is not None else "Dockerfile",
    )
    text = render(options)
    if output is None:
        sys.stdout.write(text)
        return
    write(text, output, force=force)
    line = shlex.join(docker_build_command(str(output), resolve(options).recipe_name))
    console.info(f"wrote {output}; build it with: {line}")


def register(app: typer.Typer) -> None:
    app.command("dockerfile", help=HELP)(dockerfile)
