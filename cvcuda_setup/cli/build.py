"""``cvcuda-setup build``: recipe -> plan -> (doctor) -> fetch -> cmake -> install -> plugin."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import typer

from cvcuda_setup.cli.common import OpenCvVersionOption, guard
from cvcuda_setup.console import console
from cvcuda_setup.errors import ToolchainError, UsageError
from cvcuda_setup.model import ArchSelection, BuildPlan, GpuDevice, Recipe, SourceSpec
from cvcuda_setup.plan import PlanInputs, build_dir_name, make_plan, parse_override
from cvcuda_setup.recipes import load_recipe

EXAMPLES = """
Examples (--arch auto, the default, asks this host's GPUs; without one name the targets):

  cvcuda-setup build --recipe minimal --arch 9.0 --dry-run

  cvcuda-setup build --recipe seed --arch 8.9 --dry-run

  cvcuda-setup build --recipe minimal --arch 9.0+PTX --dry-run --json

  cvcuda-setup build --recipe minimal --prefix ~/opt/opencv-cuda

  cvcuda-setup build --recipe minimal --bundle minimal-5.1.0.tar.xz   (write an offline source bundle)

  cvcuda-setup build --recipe minimal --source minimal-5.1.0.tar.xz   (build from it, no network)
"""


def select_arch(recipe: Recipe, arch_text: str, *, require_nvcc: bool) -> ArchSelection:
    """Parse ``--arch`` (asking the GPUs for ``auto``) and validate it against the chosen nvcc."""
    return select_arch_and_toolkit(recipe, arch_text, require_nvcc=require_nvcc)[0]


def select_arch_and_toolkit(
    recipe: Recipe, arch_text: str, *, require_nvcc: bool
) -> tuple[ArchSelection, Path | None]:
    """As ``select_arch``, also returning the root of the toolkit whose nvcc validated the arches."""
    from cvcuda_setup.arch import parse_arch, validate_arch
    from cvcuda_setup.probe.gpu import probe_gpus
    from cvcuda_setup.probe.toolkit import find_nvcc

    if not recipe.cuda:
        return ArchSelection(bin=(), ptx=(), origin="none", requested=arch_text), None
    devices: tuple[GpuDevice, ...] = ()
    probe_error = None
    if arch_text.strip().lower() == "auto":
        probe = probe_gpus()
        devices, probe_error = probe.devices, probe.error
    selection = parse_arch(arch_text, devices, probe_error=probe_error)
    if selection.origin == "auto":
        console.info(
            "--arch auto: "
            + ", ".join(f"GPU {d.index} {d.name} (sm_{d.major}{d.minor})" for d in selection.devices)
            + f" -> CUDA_ARCH_BIN={selection.cuda_arch_bin}"
        )
    nvcc = find_nvcc()
    if nvcc is None:
        if require_nvcc:
            raise ToolchainError(
                "no nvcc found (looked at PATH, CUDA_HOME/CUDA_PATH, /usr/local/cuda, pip's nvidia wheels)",
                hint="install the CUDA toolkit or set CUDA_HOME",
            )
        console.warn("no nvcc found: the arch values were not checked against a CUDA toolkit")
        return selection, None
    label = f"nvcc {nvcc.version} at {nvcc.path}"
    return validate_arch(selection, nvcc.gpu_codes, nvcc.gpu_archs, nvcc=label), nvcc.root


def _default_jobs(cuda: bool) -> int:
    try:
        from cvcuda_setup.probe.hostinfo import default_jobs
    except ImportError:
        return max(1, os.cpu_count() or 1)
    return default_jobs(cuda)


def _tools() -> tuple[str, str]:
    try:
        from cvcuda_setup.tools import find_cmake, find_ninja
    except ImportError:
        return "cmake", "ninja"
    return str(find_cmake()), str(find_ninja())


def _default_prefix() -> Path:
    try:
        from cvcuda_setup.envvars import DEFAULT_PREFIX
    except ImportError:
        return Path(os.environ.get("CVCUDA_SETUP_PREFIX", "~/.local/opt/cvcuda-opencv")).expanduser()
    return Path(DEFAULT_PREFIX).expanduser()


def plan_build(
    *,
    recipe: Recipe,
    arch: ArchSelection,
    spec: SourceSpec,
    cache_dir: Path,
    prefix: Path,
    build_dir: Path | None,
    python: str | None,
    jobs: int | None,
    launcher: str,
    defines: list[str],
    patches: list[Path],
    cuda_toolkit_root: Path | None = None,
) -> BuildPlan:
    from cvcuda_setup.sources import expected_tree

    overrides = tuple(parse_override(d) for d in defines)
    opencv_dir, contrib_dir = expected_tree(spec, cache_dir, need_contrib=recipe.contrib)
    py = None
    if recipe.python:
        from cvcuda_setup.probe.python import probe_python

        py = probe_python(python)
    resolved_launcher = None
    if launcher != "none":
        try:
            from cvcuda_setup.cmake import resolve_launcher
        except ImportError:
            resolved_launcher = None
        else:
            resolved_launcher = resolve_launcher(launcher)
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs} must be at least 1")
    cmake_exe, ninja_exe = _tools()
    return make_plan(
        PlanInputs(
            recipe=recipe,
            arch=arch,
            source=spec,
            source_dir=opencv_dir,
            contrib_dir=contrib_dir,
            build_dir=(
                build_dir
                or cache_dir / "build" / build_dir_name(recipe, spec.opencv_version, arch, overrides)
            )
            .expanduser()
            .resolve(),
            prefix=prefix.expanduser().resolve(),
            jobs=jobs or _default_jobs(recipe.cuda),
            python=py,
            overrides=overrides,
            launcher=resolved_launcher,
            patches=tuple(p.expanduser().resolve() for p in patches),
            cmake=cmake_exe,
            ninja=ninja_exe,
            cuda_toolkit_root=cuda_toolkit_root,
        )
    )


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
    wait: bool = typer.Option(False, "--wait", help="Wait for another build into the same prefix to end."),
) -> None:
    """Build and install OpenCV with CUDA from a recipe."""
    from cvcuda_setup.sources import default_cache_dir, fetch, spec_from_cli

    if json_out and not dry_run:
        raise UsageError("--json needs --dry-run", hint="add --dry-run to print the plan as JSON")
    if launcher not in ("auto", "ccache", "sccache", "none"):
        raise UsageError(f"--launcher {launcher!r} is not one of auto, ccache, sccache, none")
    if patch_sha256 and len(patch_sha256) != len(patch):
        raise UsageError(
            f"{len(patch_sha256)} --patch-sha256 values for {len(patch)} --patch files", hint="give one each"
        )
    for p in patch:
        if not p.is_file():
            raise UsageError(f"--patch {str(p)!r} does not exist")
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
    )

    if bundle is not None:
        _write_bundle(recipe, spec, cache, bundle, define)
        return

    selection, toolkit_root = select_arch_and_toolkit(recipe, arch, require_nvcc=not dry_run)
    plan = plan_build(
        recipe=recipe,
        arch=selection,
        spec=spec,
        cache_dir=cache,
        prefix=prefix or _default_prefix(),
        build_dir=build_dir,
        python=python,
        jobs=jobs,
        launcher=launcher if not dry_run else ("none" if launcher == "auto" else launcher),
        defines=define,
        patches=patch,
        cuda_toolkit_root=toolkit_root,
    )
    from cvcuda_setup.install import check_prefix, lock_prefix, refuse_overlap

    places = {
        "source tree": plan.source_dir,
        "contrib tree": plan.contrib_dir,
        "build directory": plan.build_dir,
    }
    refuse_overlap(plan.prefix, {**places, "cache": cache})
    check_prefix(plan.prefix, force=force)  # before any download (and in --dry-run)
    if dry_run:
        if json_out:
            console.json(plan.to_json())
        else:
            for line in plan.shell_lines():
                console.print(line)
        return

    with lock_prefix(plan.prefix, wait=wait):  # held from here through install and plugin
        check_prefix(plan.prefix, force=force)
        if not no_doctor:
            _preflight(recipe, arch, spec.opencv_version, python, plan, not no_plugin, not no_plugin_python)
        with console.step(f"fetch sources ({spec.kind})"):
            tree = fetch(spec, cache, need_contrib=recipe.contrib)
        from cvcuda_setup.cmake import execute

        patch_pairs = [(p, patch_sha256[i] if patch_sha256 else None) for i, p in enumerate(plan.patches)]
        execute(plan, tree, force=force, patches=patch_pairs)
        if not no_plugin:
            from cvcuda_setup.native import build_plugin

            with console.step("zero-copy plugin"):
                build_plugin(
                    plan.prefix,
                    python=plan.python.executable if plan.python else None,
                    build_dir=plan.build_dir / "plugin",
                    jobs=plan.jobs,
                    install_python=not no_plugin_python,
                    skip_python_flag="--no-plugin-python",
                )
    console.info(
        f"installed into {plan.prefix}; next: cvcuda-setup verify --prefix {shlex.quote(str(plan.prefix))}"
    )


def _preflight(
    recipe: Recipe,
    arch: str,
    version: str,
    python: str | None,
    plan: BuildPlan,
    plugin: bool,
    plugin_python: bool,
) -> None:
    """doctor for the whole job (OpenCV, its bindings, the plugin), on the build dir and prefix it uses."""
    from cvcuda_setup.doctor import exit_code, render, run_doctor

    with console.step("doctor (preflight; skip with --no-doctor)"):
        findings = run_doctor(
            recipe,
            arch,
            version,
            python=python,
            prefix=plan.prefix,
            build_dir=plan.build_dir,
            plugin=plugin,
            plugin_python=plugin_python,
        )
    if exit_code(findings) >= 2:
        render(findings, console)
        errors = [f for f in findings if f.level == "error"]
        raise ToolchainError(
            f"doctor found {len(errors)} error(s) before the build: {errors[0].message}",
            hint=errors[0].fix or "see the table above; --no-doctor skips these checks",
        )


def _write_bundle(recipe: Recipe, spec: SourceSpec, cache: Path, out: Path, defines: list[str]) -> None:
    from cvcuda_setup.modules import closure
    from cvcuda_setup.sources import fetch, make_bundle
    from cvcuda_setup.sources.bundle import Pruning, all_modules

    options: dict[str, object] = dict(recipe.cmake)
    options.update(parse_override(d) for d in defines)
    with console.step(f"fetch sources ({spec.kind})"):
        tree = fetch(spec, cache, need_contrib=recipe.contrib)
    mods = closure(recipe.modules, tree.opencv_version, python=recipe.python)
    every = not mods
    pruning = Pruning.for_options(options, all_modules=every)
    with console.step(f"bundle for recipe {recipe.name}" + (" (every module)" if every else "")):
        path = make_bundle(
            tree,
            all_modules(tree) if every else mods,
            recipe.bundle_keep,
            out.expanduser().resolve(),
            pruning=pruning,
        )
    console.print(str(path))


def register(app: typer.Typer) -> None:
    app.command("build", help=(build.__doc__ or "") + "\n" + EXAMPLES)(build)
