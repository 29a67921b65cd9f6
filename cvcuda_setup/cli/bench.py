"""``cvcuda-setup bench pipeline|alloc|build|plot``: zero-copy pipeline, allocator and build benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cvcuda_setup.bench import alloc as alloc_bench
from cvcuda_setup.bench import pipeline as pipeline_bench
from cvcuda_setup.bench.common import (
    BenchError,
    cuda_arch_of,
    cuda_archs_of,
    output_target,
    parse_sizes,
    require_gpu,
    require_gpus,
)
from cvcuda_setup.cli.common import OpenCvVersionOption, guard
from cvcuda_setup.console import console
from cvcuda_setup.envvars import default_prefix
from cvcuda_setup.errors import UsageError

bench_app = typer.Typer(
    name="bench",
    help=(
        "Benchmarks: the zero-copy blur + Canny pipeline per strategy, the allocators, and what a recipe "
        "costs to build. `pipeline` and `alloc` need a CUDA device (exit 2 without one).\n\n"
        "Examples:\n\n"
        "  cvcuda-setup bench pipeline --prefix ~/opt/opencv-cuda --json pipeline.json --plot p.png\n\n"
        "  cvcuda-setup bench alloc --prefix ~/opt/opencv-cuda\n\n"
        "  cvcuda-setup bench build --recipe minimal --compare seed"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

PIPELINE_HELP = """Time the blur (Gaussian 5x5, sigma 1.2) + Canny (50/150) pipeline per 8-bit gray frame.

Strategies: zerocopy (mapped memory from the plugin, GpuMat views), banded (zero-copy in bands on several
streams, one coalesced write of the result), pipelined (zero-copy with consecutive frames overlapped: time
per frame of a burst, i.e. throughput), pinned (explicit cudaMemcpyAsync), pageable (upload/download),
device (data already on the GPU: the compute floor) and cpu. GPU strategies are timed with CUDA events after
a warm-up; the table shows the median, p10-p90 and the speed-up vs pageable, plus the copy floor (bytes in and
out at the host-device bandwidth measured in the same run). Every GPU strategy's edges are compared with the
zerocopy path's; a mismatch exits 1.

Examples:

  cvcuda-setup bench pipeline --prefix ~/opt/opencv-cuda

  cvcuda-setup bench pipeline --prefix ~/opt/opencv-cuda --sizes 3840x2160 --repeat 100 --json out.json

  cvcuda-setup bench pipeline -p ~/opt/opencv-cuda --plot pipeline.png --strategies zerocopy,banded,pinned
  cvcuda-setup bench pipeline -p ~/opt/opencv-cuda --device all --json per-device.json
"""

#: The JSON document of ``--device all``: one pipeline document per device.
DEVICES_SCHEMA = "cvcuda-setup.bench-pipeline-devices/1"

ALLOC_HELP = """Allocations per second of per-frame Mats (create + release of a CV_8UC1 and a CV_8UC3 Mat).

Allocators: the plugin with its pool, the plugin without it, OpenCV's HostMem SHARED allocator, and the plain
CPU allocator. Reports whether pooled mapped allocation of a 4K frame is at least 100x faster than unpooled.

Examples:

  cvcuda-setup bench alloc --prefix ~/opt/opencv-cuda

  cvcuda-setup bench alloc --prefix ~/opt/opencv-cuda --sizes 3840x2160 --iterations 1000 --json alloc.json
"""

BUILD_HELP = """Count what a recipe builds (and optionally time it) without building it by hand.

Plans the recipe like `cvcuda-setup build`, fetches the sources, runs the real CMake configure into a scratch
directory and counts `ninja -t commands`: all commands, compile commands and CUDA compile commands. --compare
does the same for a second recipe, side by side. --time also builds cold (empty compiler cache) and again into
a fresh build directory with the cache warm, and reports both times.

Examples:

  cvcuda-setup bench build --recipe minimal --compare seed

  cvcuda-setup bench build --recipe minimal --arch 9.0 --source minimal-5.1.0.tar.xz --json build.json

  cvcuda-setup bench build --recipe minimal --time --launcher sccache
"""


# Options that the benchmark commands share.
PrefixOpt = Annotated[Path | None, typer.Option("--prefix", "-p", help="The OpenCV + plugin install prefix.")]
JsonOpt = Annotated[
    str | None,
    typer.Option("--json", help="Write the figures as JSON to FILE ('-': print instead of the table)."),
]
CacheDirOpt = Annotated[Path | None, typer.Option("--cache-dir", help="Where the tool is built [cache].")]
JobsOpt = Annotated[int | None, typer.Option("--jobs", "-j", help="Parallel jobs for building the tool.")]


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    console.info(f"wrote {path}")


def _cache(cache_dir: Path | None) -> Path:
    from cvcuda_setup.sources import default_cache_dir

    return (cache_dir or default_cache_dir()).expanduser().resolve()


def _check_int(option: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise UsageError(f"{option} {value} is out of range", hint=f"use {low}..{high}")


@guard
def pipeline(
    prefix: PrefixOpt = None,
    sizes: Annotated[
        str, typer.Option("--sizes", help="Frame sizes, WIDTHxHEIGHT, comma separated.")
    ] = "640x480,1920x1080,3840x2160,7680x4320",
    repeat: Annotated[int, typer.Option("--repeat", "-n", help="Timed runs per strategy and size.")] = 50,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed runs first.")] = 5,
    device: Annotated[
        str, typer.Option("--device", help="CUDA device index, or 'all' for one run per device.")
    ] = "0",
    bands: Annotated[int, typer.Option("--bands", help="Bands of the banded strategy.")] = 4,
    streams: Annotated[int, typer.Option("--streams", help="Compute streams of the banded strategy.")] = 2,
    copy_blocks: Annotated[
        int,
        typer.Option("--copy-blocks-per-sm", help="Grid of banded/pipelined copy kernels, blocks per SM."),
    ] = 2,
    strategies: Annotated[
        str | None, typer.Option("--strategies", help="Subset to run, comma separated [all].")
    ] = None,
    json_file: JsonOpt = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a plot (PNG/SVG/PDF) of ms/frame vs MP.")
    ] = None,
    cache_dir: CacheDirOpt = None,
    jobs: JobsOpt = None,
) -> None:
    frame_sizes = parse_sizes(sizes)
    names = pipeline_bench.parse_strategies(strategies)
    _check_int("--repeat", repeat, 1, 100000)
    _check_int("--warmup", warmup, 0, 10000)
    _check_int("--bands", bands, 1, 64)
    _check_int("--streams", streams, 1, 16)
    _check_int("--copy-blocks-per-sm", copy_blocks, 1, 32)
    to_stdout, json_path = output_target(json_file)
    if plot is not None:
        from cvcuda_setup.bench.plot import require_matplotlib

        require_matplotlib()
    gpus = require_gpus(device)
    from cvcuda_setup.bench.tool import build_tool, prefix_env, run_tool

    root = (prefix or default_prefix()).expanduser().resolve()
    exe = build_tool(root, cache_dir=_cache(cache_dir), cuda_arch=cuda_archs_of(gpus), jobs=jobs)
    docs: list[dict[str, Any]] = []
    for gpu in gpus:
        args = pipeline_bench.tool_args(
            frame_sizes,
            repeat=repeat,
            warmup=warmup,
            device=gpu.index,
            bands=bands,
            streams=streams,
            strategies=names,
            copy_blocks_per_sm=copy_blocks,
        )
        with console.step(f"pipeline benchmark on GPU {gpu.index} ({gpu.name})"):
            doc = run_tool(exe, args, env=prefix_env(root))
        pipeline_bench.validate(doc)
        doc["summary"] = pipeline_bench.summary(doc)
        docs.append(doc)
        if not to_stdout:
            if len(gpus) > 1:
                console.print(f"GPU {gpu.index}: {gpu.name}")
            console.table(pipeline_bench.table(doc))
            console.table(pipeline_bench.targets_table(pipeline_bench.targets(doc)))
    out: dict[str, Any] = docs[0] if len(docs) == 1 else {"schema": DEVICES_SCHEMA, "devices": docs}
    if to_stdout:
        console.json(out)
    if json_path is not None:
        _write_json(json_path, out)
    if plot is not None:
        from cvcuda_setup.bench.plot import plot_pipeline

        for gpu, doc in zip(gpus, docs, strict=True):
            target = plot.expanduser()
            if len(docs) > 1:
                target = target.with_name(f"{target.stem}-gpu{gpu.index}{target.suffix}")
            console.info(f"wrote {plot_pipeline(doc, target)}")
    failures = [f for doc in docs for f in doc["summary"]["mismatch_failures"]]
    if failures:
        raise BenchError(
            f"{len(failures)} output mismatch(es): {failures[0]}", hint="the figures are not comparable"
        )


@guard
def alloc(
    prefix: PrefixOpt = None,
    sizes: Annotated[str, typer.Option("--sizes", help="Frame sizes, WIDTHxHEIGHT, comma separated.")] = (
        "1920x1080,3840x2160"
    ),
    iterations: Annotated[
        int, typer.Option("--iterations", "-n", help="Create + release cycles each.")
    ] = 200,
    max_seconds: Annotated[
        float, typer.Option("--max-seconds", help="Stop one measurement after this long (at least 3 cycles).")
    ] = 3.0,
    device: Annotated[int, typer.Option("--device", help="CUDA device index.")] = 0,
    json_file: JsonOpt = None,
    cache_dir: CacheDirOpt = None,
    jobs: JobsOpt = None,
) -> None:
    frame_sizes = parse_sizes(sizes)
    _check_int("--iterations", iterations, 1, 10_000_000)
    if not 0.01 <= max_seconds <= 3600:
        raise UsageError(f"--max-seconds {max_seconds} is out of range", hint="use 0.01..3600")
    to_stdout, json_path = output_target(json_file)
    gpu = require_gpu(device)
    from cvcuda_setup.bench.tool import build_tool, prefix_env, run_tool

    root = (prefix or default_prefix()).expanduser().resolve()
    exe = build_tool(root, cache_dir=_cache(cache_dir), cuda_arch=cuda_arch_of(gpu), jobs=jobs)
    args = alloc_bench.tool_args(frame_sizes, iterations=iterations, max_seconds=max_seconds, device=device)
    with console.step(f"allocation benchmark on GPU {device} ({gpu.name})"):
        doc = run_tool(exe, args, env=prefix_env(root))
    alloc_bench.validate(doc)
    doc["summary"] = alloc_bench.summary(doc)
    if to_stdout:
        console.json(doc)
    else:
        console.table(alloc_bench.table(doc))
        checks = alloc_bench.pool_checks(doc)
        if checks:
            console.table(alloc_bench.pool_table(checks))
    if json_path is not None:
        _write_json(json_path, doc)


@guard
def build(
    recipe: Annotated[str, typer.Option("--recipe", "-r", help="Recipe name or path.")] = "minimal",
    compare: Annotated[str | None, typer.Option("--compare", help="A second recipe, side by side.")] = None,
    arch: Annotated[
        str, typer.Option("--arch", "-a", help="auto, 8.9, 9.0+PTX, ... (as for build).")
    ] = "auto",
    opencv_version: OpenCvVersionOption = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="sdist (default), git, a tarball, a bundle, or a directory."),
    ] = None,
    sha256: Annotated[
        str | None, typer.Option("--sha256", help="Expected sha256 of a tarball source.")
    ] = None,
    source_base_url: Annotated[
        str | None, typer.Option("--source-base-url", help="Mirror or index URL.")
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Source cache [cache].")] = None,
    work_dir: Annotated[
        Path | None, typer.Option("--work-dir", help="Scratch build directories [cache/bench-build].")
    ] = None,
    python: Annotated[
        str | None, typer.Option("--python", help="Interpreter for recipes with bindings.")
    ] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Parallel jobs for --time builds.")] = None,
    time_builds: Annotated[
        bool, typer.Option("--time", help="Also build cold and warm (compiler cache) and report both times.")
    ] = False,
    launcher: Annotated[
        str, typer.Option("--launcher", help="Compiler cache for --time: auto, ccache, sccache or a path.")
    ] = "auto",
    define: Annotated[
        list[str] | None, typer.Option("-D", help="Override a CMake option (repeatable).")
    ] = None,
    json_file: JsonOpt = None,
) -> None:
    from cvcuda_setup.bench.build import BuildBenchOptions, document, measure_recipe, table

    if compare is not None and compare == recipe:
        raise UsageError(
            f"--compare {compare} is the same recipe as --recipe", hint="name a different recipe"
        )
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs} must be at least 1")
    to_stdout, json_path = output_target(json_file)
    options = BuildBenchOptions(
        arch=arch,
        source=source,
        opencv_version=opencv_version,
        sha256=sha256,
        source_base_url=source_base_url,
        cache_dir=_cache(cache_dir),
        work_dir=work_dir,
        jobs=jobs,
        launcher=launcher,
        time_builds=time_builds,
        defines=tuple(define or ()),
        python=python,
    )
    costs = [measure_recipe(name, options) for name in (recipe, *([compare] if compare else []))]
    doc = document(costs)
    if to_stdout:
        console.json(doc)
    else:
        console.table(table(costs))
        for cost in costs:
            for note in cost.notes:
                console.info(f"note ({cost.recipe}): {note}")
    if json_path is not None:
        _write_json(json_path, doc)


PLOT_HELP = """Plot a saved `bench pipeline --json` document (where the benchmark host had no matplotlib).

Examples:

  cvcuda-setup bench plot pipeline.json --out pipeline.png
"""


@guard
def plot(
    document: Annotated[Path, typer.Argument(help="JSON written by `bench pipeline --json`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The plot to write (PNG/SVG/PDF).")],
) -> None:
    from cvcuda_setup.bench.plot import plot_pipeline, require_matplotlib

    require_matplotlib()
    try:
        doc = json.loads(document.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{document} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{document} is not a readable JSON document ({exc})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{document} holds no JSON object")
    pipeline_bench.validate(doc)
    console.info(f"wrote {plot_pipeline(doc, out.expanduser())}")


def register(app: typer.Typer) -> None:
    bench_app.command("pipeline", help=PIPELINE_HELP)(pipeline)
    bench_app.command("alloc", help=ALLOC_HELP)(alloc)
    bench_app.command("build", help=BUILD_HELP)(build)
    bench_app.command("plot", help=PLOT_HELP)(plot)
    app.add_typer(bench_app, name="bench")
