"""``cvcuda-setup build``: parse the options, run ``pipeline.build``, render the plan or the result."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from cvcuda_setup.cli.common import OpenCvVersionOption, guard
from cvcuda_setup.console import console
from cvcuda_setup.errors import UsageError
from cvcuda_setup.host import LAUNCHERS, Host
from cvcuda_setup.pipeline.build import (
    BuildRequest,
    build_cache_key,
    plan_request,
    run_build,
    write_bundle,
)
from cvcuda_setup.recipes import load_recipe

EXAMPLES = """
Examples (--arch auto, the default, asks this host's GPUs; without one name the targets):

  cvcuda-setup build --recipe minimal --arch 9.0 --dry-run

  cvcuda-setup build --recipe seed --arch 8.9 --dry-run

  cvcuda-setup build --recipe minimal --arch 9.0+PTX --dry-run --json

  cvcuda-setup build --recipe minimal --prefix ~/opt/opencv-cuda

  cvcuda-setup build --recipe minimal --bundle minimal-5.1.0.tar.xz   (write an offline source bundle)

  cvcuda-setup build --recipe minimal --source minimal-5.1.0.tar.xz   (build from it, no network)

  cvcuda-setup build --recipe minimal --with-tests --arch 9.0 --dry-run --json   (OpenCV's CUDA test suites)

  cvcuda-setup build --recipe minimal --with-tests --bundle minimal-5.1.0.tar.xz   (a bundle with the tests)

  cvcuda-setup build --recipe seed --source git --opencv-version 4.x --arch 9.0 --dry-run   (the 4.x branches)
"""


@guard
def build(
    recipe_name: str = typer.Option(
        "minimal", "--recipe", "-r", help="Recipe name (see `recipes list`) or a path."
    ),
    arch: str = typer.Option(
        "auto", "--arch", "-a", help="auto, 8.9, 8.6,9.0, 9.0+PTX, sm_90, compute_90, 90."
    ),
    prefix: Path | None = typer.Option(None, "--prefix", "-p", help="Install prefix [$CVCUDA_SETUP_PREFIX]."),
    opencv_version: OpenCvVersionOption = None,
    source: str | None = typer.Option(
        None, "--source", help="sdist (default), git, a tarball URL/file, a bundle file, or a directory."
    ),
    sha256: str | None = typer.Option(None, "--sha256", help="Expected sha256 of a tarball source."),
    source_base_url: str | None = typer.Option(
        None, "--source-base-url", help="Git mirror or package index URL."
    ),
    contrib_ref: str | None = typer.Option(
        None,
        "--contrib-ref",
        help="With --source git: opencv_contrib's branch, tag or commit [the --opencv-version ref].",
    ),
    bundle: Path | None = typer.Option(
        None, "--bundle", help="Write a pruned offline source bundle and stop."
    ),
    build_dir: Path | None = typer.Option(None, "--build-dir", help="Build directory [cache/build/<plan>]."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Download/source cache [$CVCUDA_SETUP_CACHE]."
    ),
    python: str | None = typer.Option(None, "--python", help="Interpreter for the bindings [this one]."),
    jobs: int | None = typer.Option(None, "--jobs", "-j", help="Parallel jobs [by cores and memory]."),
    launcher: str = typer.Option(
        "auto", "--launcher", help="Compiler launcher: auto, ccache, sccache, none."
    ),
    define: list[str] = typer.Option([], "-D", help="Override a CMake option: -D NAME=VALUE (repeatable)."),
    patch: list[Path] = typer.Option([], "--patch", help="Apply a patch to the sources first (repeatable)."),
    patch_sha256: list[str] = typer.Option([], "--patch-sha256", help="sha256 of each --patch, in order."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the configure/build/install commands only."),
    json_out: bool = typer.Option(False, "--json", help="With --dry-run: print the whole plan as JSON."),
    force: bool = typer.Option(
        False, "--force", help="Install into a non-empty prefix the tool did not create."
    ),
    no_doctor: bool = typer.Option(False, "--no-doctor", help="Skip the preflight checks."),
    no_plugin: bool = typer.Option(
        False, "--no-plugin", help="Do not build the zero-copy plugin afterwards."
    ),
    no_plugin_python: bool = typer.Option(
        False, "--no-plugin-python", help="Build the plugin's C++ side only, not its Python module."
    ),
    with_tests: bool = typer.Option(
        False,
        "--with-tests",
        help="Also build OpenCV's accuracy tests (BUILD_TESTS=ON, ts added, perf tests off) of "
        "--test-modules, for verify --opencv-tests.",
    ),
    test_modules: str | None = typer.Option(
        None,
        "--test-modules",
        help="With --with-tests: cuda (the recipe's CUDA modules), all (every built module) or a "
        "comma-separated list of modules [cuda].",
    ),
    testdata_base_url: str | None = typer.Option(
        None,
        "--testdata-base-url",
        help="With --with-tests: where opencv_extra's testdata files are fetched from ({ref} is the "
        "OpenCV version's tag) [https://raw.githubusercontent.com/opencv/opencv_extra/{ref}/testdata/].",
    ),
    binary_cache: str | None = typer.Option(
        None,
        "--cache",
        envvar="CVCUDA_SETUP_BINARY_CACHE",
        metavar="oci://HOST/REPO",
        help="Binary cache: install the prefix built for this cache key from the registry, or build and "
        "push it [$CVCUDA_SETUP_BINARY_CACHE].",
    ),
    wait: bool = typer.Option(False, "--wait", help="Wait for another build into the same prefix to end."),
    extract_limit: list[str] = typer.Option(
        [],
        "--extract-limit",
        help="Raise an archive extraction bound: KEY=N, KEY bytes, members or name-length (repeatable).",
    ),
) -> None:
    """Build and install OpenCV with CUDA from a recipe."""
    from cvcuda_setup.sources import default_cache_dir, spec_from_cli

    if json_out and not dry_run:
        raise UsageError("--json needs --dry-run", hint="add --dry-run to print the plan as JSON")
    if test_modules is not None and not with_tests:
        raise UsageError("--test-modules needs --with-tests", hint="add --with-tests")
    if testdata_base_url is not None and not (with_tests or recipe_tests(recipe_name)):
        raise UsageError("--testdata-base-url needs --with-tests", hint="add --with-tests")
    from cvcuda_setup.plan import TESTS_CUDA, parse_test_selection

    tests = parse_test_selection(test_modules or TESTS_CUDA) if with_tests else None
    if launcher not in LAUNCHERS:
        raise UsageError(f"--launcher {launcher!r} is not one of auto, ccache, sccache, none")
    if patch_sha256 and len(patch_sha256) != len(patch):
        raise UsageError(
            f"{len(patch_sha256)} --patch-sha256 values for {len(patch)} --patch files", hint="give one each"
        )
    for p in patch:
        if not p.is_file():
            raise UsageError(f"--patch {str(p)!r} does not exist")
    from cvcuda_setup.binarycache import cache_ref
    from cvcuda_setup.sources.extract import limits_with

    cache_at = cache_ref(binary_cache) if binary_cache else None  # a bad reference: named before any probe
    bounds = limits_with(extract_limit)  # the environment's and the options' bounds, checked up front
    recipe = load_recipe(recipe_name)
    cache = (cache_dir or default_cache_dir()).expanduser().resolve()
    from cvcuda_setup.sources.cache import check_cache_dir

    check_cache_dir(cache)
    spec = spec_from_cli(
        source,
        opencv_version or recipe.opencv_version,
        sha256,
        source_base_url,
        version_given=opencv_version is not None,
        contrib_ref=contrib_ref,
    )

    if bundle is not None:
        console.print(
            str(
                write_bundle(
                    recipe,
                    spec,
                    cache,
                    bundle,
                    define,
                    bounds,
                    tests=tests,
                    testdata_base_url=testdata_base_url,
                )
            )
        )
        return

    request = BuildRequest(
        recipe=recipe,
        spec=spec,
        cache_dir=cache,
        arch=arch,
        prefix=prefix,
        build_dir=build_dir,
        jobs=jobs,
        launcher=launcher,
        defines=tuple(define),
        patches=tuple(patch),
        patch_sha256=tuple(patch_sha256),
        dry_run=dry_run,
        force=force,
        doctor=not no_doctor,
        plugin=not no_plugin,
        plugin_python=not no_plugin_python,
        wait=wait,
        limits=bounds,
        tests=tests,
        testdata_base_url=testdata_base_url,
        cache=cache_at,
    )
    host = Host(python_request=python)  # probed once, lazily, for the whole command
    plan = plan_request(request, host)
    if dry_run:
        if json_out:
            data = plan.to_json()
            data["cache_key"] = build_cache_key(request, plan, host).to_json()
            console.json(data)
        else:
            for line in plan.shell_lines():
                console.print(line)
        return
    run_build(request, plan, host)
    console.info(
        f"installed into {plan.prefix}; next: cvcuda-setup verify --prefix {shlex.quote(str(plan.prefix))}"
    )


def recipe_tests(name: str) -> bool:
    """Whether a recipe asks for the tests itself (``[recipe] tests = true``)."""
    return load_recipe(name).tests


def register(app: typer.Typer) -> None:
    app.command("build", help=(build.__doc__ or "") + "\n" + EXAMPLES)(build)
