"""The build pipeline, top to bottom: recipe -> plan -> doctor -> sources -> configure/build -> install ->
plugin. ``cli/build.py`` parses the options into a ``BuildRequest`` and renders; everything else is here.

    request + Host --plan_request--> BuildPlan --preflight--> (findings) --fetch--> SourceTree
        --cmake.execute--> installed prefix --native.build_plugin--> plugin in the prefix
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cvcuda_setup.console import console
from cvcuda_setup.errors import ToolchainError, UsageError
from cvcuda_setup.host import Host
from cvcuda_setup.model import ArchSelection, BuildPlan, GpuDevice, Recipe, SourceSpec, SourceTree
from cvcuda_setup.plan import PlanInputs, build_dir_name, make_plan, parse_override

if TYPE_CHECKING:
    from cvcuda_setup.cachekey import CacheKey
    from cvcuda_setup.oci.ref import OciRef
    from cvcuda_setup.sources.testdata import TestData


@dataclass(frozen=True)
class BuildRequest:
    """What ``cvcuda-setup build`` was asked for, parsed and checked for shape (not yet planned)."""

    recipe: Recipe
    spec: SourceSpec
    cache_dir: Path
    arch: str = "auto"
    prefix: Path | None = None
    build_dir: Path | None = None
    jobs: int | None = None
    launcher: str = "auto"
    defines: tuple[str, ...] = ()
    patches: tuple[Path, ...] = ()
    patch_sha256: tuple[str, ...] = ()
    dry_run: bool = False
    force: bool = False
    doctor: bool = True
    plugin: bool = True
    plugin_python: bool = True
    wait: bool = False
    #: Extraction bounds (``extract.limits_with``: the environment's and --extract-limit's); None: defaults.
    limits: dict[str, int] | None = None
    #: ``--with-tests`` (``plan.parse_test_selection``); None: the recipe's ``tests`` key decides.
    tests: tuple[str, ...] | None = None
    #: Where opencv_extra's testdata files come from (``{ref}`` filled in); None: GitHub.
    testdata_base_url: str | None = None
    #: The binary cache (``--cache`` / ``$CVCUDA_SETUP_BINARY_CACHE``): pull on a hit, push after a build.
    cache: OciRef | None = None


# -- recipe + host -> plan -------------------------------------------------------------------------------


def select_arch_and_toolkit(
    recipe: Recipe, arch_text: str, host: Host, *, require_nvcc: bool
) -> tuple[ArchSelection, Path | None]:
    """Parse ``--arch`` (asking the host's GPUs for ``auto``) and validate it against the host's nvcc; the
    selection and the root of the toolkit whose nvcc validated it."""
    from cvcuda_setup.arch import parse_arch, validate_arch

    if not recipe.cuda:
        return ArchSelection(bin=(), ptx=(), origin="none", requested=arch_text), None
    devices: tuple[GpuDevice, ...] = ()
    probe_error = None
    if arch_text.strip().lower() == "auto":
        probe = host.gpus
        devices, probe_error = probe.devices, probe.error
    selection = parse_arch(arch_text, devices, probe_error=probe_error)
    if selection.origin == "auto":
        console.info(
            "--arch auto: "
            + ", ".join(f"GPU {d.index} {d.name} (sm_{d.major}{d.minor})" for d in selection.devices)
            + f" -> CUDA_ARCH_BIN={selection.cuda_arch_bin}"
        )
    nvcc = host.nvcc
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


def select_arch(recipe: Recipe, arch_text: str, host: Host, *, require_nvcc: bool) -> ArchSelection:
    """As ``select_arch_and_toolkit``, the selection only."""
    return select_arch_and_toolkit(recipe, arch_text, host, require_nvcc=require_nvcc)[0]


def plan_build(
    *,
    recipe: Recipe,
    arch: ArchSelection,
    spec: SourceSpec,
    cache_dir: Path,
    prefix: Path,
    build_dir: Path | None,
    host: Host,
    jobs: int | None,
    launcher: str,
    defines: list[str],
    patches: list[Path],
    cuda_toolkit_root: Path | None = None,
    tests: tuple[str, ...] | None = None,
) -> BuildPlan:
    """The whole build computed up front from the recipe, the arch selection and the host's facts."""
    from cvcuda_setup.sources import expected_tree

    overrides = tuple(parse_override(d) for d in defines)
    opencv_dir, contrib_dir = expected_tree(spec, cache_dir, need_contrib=recipe.contrib)
    py = host.python if recipe.python else None
    resolved_launcher = host.launcher(launcher) if launcher != "none" else None
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs} must be at least 1")
    # a build with tests gets its own directory: switching back and forth would reconfigure every time
    dir_key = (*overrides, ("--with-tests", ",".join(tests))) if tests else overrides
    return make_plan(
        PlanInputs(
            recipe=recipe,
            arch=arch,
            source=spec,
            source_dir=opencv_dir,
            contrib_dir=contrib_dir,
            build_dir=(
                build_dir or cache_dir / "build" / build_dir_name(recipe, spec.opencv_version, arch, dir_key)
            )
            .expanduser()
            .resolve(),
            prefix=prefix.expanduser().resolve(),
            jobs=jobs or host.default_jobs(recipe.cuda),
            python=py,
            overrides=overrides,
            launcher=resolved_launcher,
            patches=tuple(p.expanduser().resolve() for p in patches),
            cmake=str(host.cmake),
            ninja=str(host.ninja),
            cuda_toolkit_root=cuda_toolkit_root,
            tests=tests,
        )
    )


def check_request(request: BuildRequest) -> None:
    """Refuse malformed options that need no probe of the host: -D, --jobs, --patch-sha256, and a
    --prefix or --build-dir below a file."""
    from cvcuda_setup.sources.checksum import normalize_sha256

    for define in request.defines:
        parse_override(define)
    if request.jobs is not None and request.jobs < 1:
        raise UsageError(f"--jobs {request.jobs} must be at least 1")
    for value in request.patch_sha256:
        normalize_sha256(value, what="--patch-sha256")
    for option, path in (("--prefix", request.prefix), ("--build-dir", request.build_dir)):
        if path is None:
            continue
        for parent in Path(path).expanduser().absolute().parents:
            if parent.exists():
                if not parent.is_dir():
                    raise UsageError(
                        f"{option} {str(path)!r} is below {parent}, which is a file",
                        hint=f"choose a {option} whose parent folders are folders",
                    )
                break


def plan_request(request: BuildRequest, host: Host) -> BuildPlan:
    """Stage 1: recipe + host -> plan. Refuses a prefix that overlaps the trees or is not the tool's own
    (before any download, also for ``--dry-run``)."""
    from cvcuda_setup.envvars import default_prefix
    from cvcuda_setup.install import check_prefix, refuse_overlap

    check_request(request)  # the user's own mistakes first, before any probe of the host can mask them
    launcher = request.launcher
    if request.dry_run:  # a dry run names no launcher it did not ask for by name
        launcher = "none" if launcher == "auto" else launcher
    selection, toolkit_root = select_arch_and_toolkit(
        request.recipe, request.arch, host, require_nvcc=not request.dry_run
    )
    plan = plan_build(
        recipe=request.recipe,
        arch=selection,
        spec=request.spec,
        cache_dir=request.cache_dir,
        prefix=request.prefix or default_prefix(),
        build_dir=request.build_dir,
        host=host,
        jobs=request.jobs,
        launcher=launcher,
        defines=list(request.defines),
        patches=list(request.patches),
        cuda_toolkit_root=toolkit_root,
        tests=request.tests,
    )
    check_bundle_has_tests(request.spec, plan)
    places = {
        "source tree": plan.source_dir,
        "contrib tree": plan.contrib_dir,
        "build directory": plan.build_dir,
    }
    refuse_overlap(plan.prefix, {**places, "cache": request.cache_dir})
    check_prefix(plan.prefix, force=request.force)
    return plan


def check_bundle_has_tests(spec: SourceSpec, plan: BuildPlan) -> None:
    """A build with tests from a bundle needs a bundle that kept those modules' ``test/`` sources (one
    written by ``build --bundle --with-tests``); an older or test-less bundle is refused before any work."""
    from cvcuda_setup.errors import SourceError
    from cvcuda_setup.sources import read_bundle_info

    wanted = plan.option("OPENCV_BUILD_TEST_MODULES_LIST")
    if spec.kind != "bundle" or wanted is None or plan.option("BUILD_TESTS") != "ON":
        return
    info = read_bundle_info(Path(spec.location).expanduser())
    if info is None:
        return  # not readable here: the source stage says why
    pruning = info.get("pruning") if isinstance(info.get("pruning"), dict) else {}
    kept = pruning.get("test_modules") if pruning else None
    needed = ["ts"] + ([] if wanted == "all" else wanted.split(";"))
    if not pruning or not pruning.get("tests"):
        lacking = needed
    elif kept is None:
        lacking = []
    elif wanted == "all":
        lacking = ["every module"]
    else:
        lacking = [m for m in needed if m not in kept]
    if lacking:
        raise SourceError(
            f"bundle {spec.location} has no test sources for {', '.join(lacking)}",
            hint=f"write one with: cvcuda-setup build --recipe {plan.recipe} --bundle FILE "
            + ("--with-tests --test-modules all" if wanted == "all" else "--with-tests"),
        )


def build_cache_key(
    request: BuildRequest, plan: BuildPlan, host: Host, tree: SourceTree | None = None
) -> CacheKey:
    """The binary cache key of this build (``cachekey``). Without ``tree`` (a dry run, nothing fetched) the
    source's sha256 is the one known without fetching (``--sha256``, a local archive's), else unknown;
    with the fetched tree, the tree's (archive sha256 or git commits). The ``--patch`` files are hashed
    (not ``--patch-sha256``, which is only checked when the patches are applied)."""
    from cvcuda_setup.cachekey import key_for_build, tree_source_sha256
    from cvcuda_setup.sources import known_sha256

    sha = tree_source_sha256(tree) if tree is not None else known_sha256(request.spec)
    return key_for_build(
        plan,
        request.recipe,
        host,
        source_sha256=sha,
        plugin=request.plugin,
        plugin_python=request.plugin_python,
    )


# -- plan -> doctor ---------------------------------------------------------------------------------------


def preflight(recipe: Recipe, plan: BuildPlan, host: Host, *, plugin: bool, plugin_python: bool) -> None:
    """Stage 2: doctor for the whole job (OpenCV, its bindings, the plugin) on the plan itself (its arch
    selection, its build dir, prefix and sources for disk), with the host's probes; an error stops."""
    from cvcuda_setup.doctor import exit_code, render
    from cvcuda_setup.doctor.runner import check_plan

    with console.step("doctor (preflight; skip with --no-doctor)"):
        findings = check_plan(recipe, plan, host, plugin=plugin, plugin_python=plugin_python)
    if exit_code(findings) >= 2:
        render(findings, console)
        errors = [f for f in findings if f.level == "error"]
        raise ToolchainError(
            f"doctor found {len(errors)} error(s) before the build: {errors[0].message}",
            hint=errors[0].fix or "see the table above; --no-doctor skips these checks",
        )


# -- plan -> installed prefix + plugin --------------------------------------------------------------------


def run_build(request: BuildRequest, plan: BuildPlan, host: Host) -> None:
    """Stages 2-6 under the prefix lock: doctor -> sources -> configure/build/install -> plugin; with a
    binary cache, a hit installs the cached prefix instead and a finished build is pushed."""
    from cvcuda_setup.cmake import execute
    from cvcuda_setup.install import check_prefix, lock_prefix
    from cvcuda_setup.pipeline.cached import install_from_cache, push_to_cache
    from cvcuda_setup.sources import fetch

    recipe = request.recipe

    def fetch_tree() -> SourceTree:
        with console.step(f"fetch sources ({request.spec.kind})"):
            return fetch(request.spec, request.cache_dir, need_contrib=recipe.contrib, limits=request.limits)

    key = build_cache_key(request, plan, host)  # a local archive's sha256 is known before fetching
    tree: SourceTree | None = None
    if request.cache is not None and not key.complete:  # an sdist or git source: its sha256 once fetched
        tree = fetch_tree()
        key = build_cache_key(request, plan, host, tree)
    if install_from_cache(request.cache, plan, key, force=request.force):
        return
    with lock_prefix(plan.prefix, wait=request.wait):  # held from here through install and plugin
        check_prefix(plan.prefix, force=request.force)
        if request.doctor:
            preflight(recipe, plan, host, plugin=request.plugin, plugin_python=request.plugin_python)
        if tree is None:
            tree = fetch_tree()
            key = build_cache_key(request, plan, host, tree)  # now with the fetched tree's sha256 or commits
        if plan.option("BUILD_TESTS") == "ON" and plan.option("OPENCV_BUILD_TEST_MODULES_LIST"):
            fetch_test_data(tree, plan, request.cache_dir, request.testdata_base_url)
        sums = request.patch_sha256
        patch_pairs = [(p, sums[i] if sums else None) for i, p in enumerate(plan.patches)]
        execute(plan, tree, force=request.force, patches=patch_pairs, cache_key=key.to_json())
        if request.plugin:
            build_plugin_for(plan, host, install_python=request.plugin_python)
    push_to_cache(request.cache, plan, key)  # outside the lock: packing takes it


def test_modules_of(plan_list: str, modules: tuple[str, ...], tree: SourceTree) -> list[str]:
    """The modules whose test sources are scanned for testdata: the list, or every module for ``all``."""
    from cvcuda_setup.sources.bundle import all_modules

    if plan_list == "all":
        return list(modules) or all_modules(tree)
    return plan_list.split(";")


def fetch_test_data(tree: SourceTree, plan: BuildPlan, cache: Path, base_url: str | None) -> None:
    """opencv_extra's testdata files of the plan's test suites into the cache (verify points
    OPENCV_TEST_DATA_PATH at them); a bundle brings its own. Unreachable files are a warning: the tests that
    need them are counted apart by verify."""
    from cvcuda_setup.sources.testdata import fetch_testdata, testdata_paths, testdata_ref

    if tree.spec.kind == "bundle":
        return
    listed = plan.option("OPENCV_BUILD_TEST_MODULES_LIST") or "all"
    paths = testdata_paths(tree, test_modules_of(listed, plan.modules, tree))
    with console.step(f"opencv_extra testdata ({len(paths)} files)"):
        data = fetch_testdata(paths, testdata_ref(tree.spec, tree.opencv_version), cache, base_url=base_url)
    _report_testdata(data)


def _report_testdata(data: TestData) -> None:
    console.info(
        f"testdata {data.ref}: {len(data.present)} files in {data.root} ({data.fetched} fetched now)"
    )
    if data.missing:
        console.warn(
            f"{len(data.missing)} testdata files not fetched ({data.error or 'not on the mirror'}): "
            "the tests reading them fail for missing data (--testdata-base-url names a mirror)"
        )


def toolkit_root(plan: BuildPlan) -> Path | None:
    """The CUDA toolkit OpenCV is configured with (``CUDA_TOOLKIT_ROOT_DIR``); None for none."""
    root = plan.option("CUDA_TOOLKIT_ROOT_DIR")
    return Path(root) if root else None


def build_plugin_for(plan: BuildPlan, host: Host, *, install_python: bool) -> None:
    """Stage 6: the zero-copy plugin against the prefix, with the plan's toolkit and Python."""
    from cvcuda_setup.native import build_plugin

    with console.step("zero-copy plugin"):
        build_plugin(
            plan.prefix,
            python=plan.python.executable if plan.python else None,
            build_dir=plan.build_dir / "plugin",
            jobs=plan.jobs,
            install_python=install_python,
            skip_python_flag="--no-plugin-python",
            cuda_toolkit_root=toolkit_root(plan),
            target_python=host.target_python if install_python else None,
        )


# -- the offline bundle (build --bundle) ------------------------------------------------------------------


def write_bundle(
    recipe: Recipe,
    spec: SourceSpec,
    cache: Path,
    out: Path,
    defines: list[str],
    limits: dict[str, int] | None = None,
    tests: tuple[str, ...] | None = None,
    testdata_base_url: str | None = None,
) -> Path:
    """Fetch the recipe's sources and write a pruned offline bundle; its path. With tests (``tests`` or the
    recipe's key) it keeps the test sources of those modules and ``ts``."""
    from cvcuda_setup.modules import closure
    from cvcuda_setup.plan import TESTS_CUDA, test_modules_list
    from cvcuda_setup.sources import fetch, make_bundle
    from cvcuda_setup.sources.bundle import Pruning, all_modules

    options: dict[str, object] = dict(recipe.cmake)
    options.update(parse_override(d) for d in defines)
    selection = tests if tests is not None else ((TESTS_CUDA,) if recipe.tests else ())
    with console.step(f"fetch sources ({spec.kind})"):
        tree = fetch(spec, cache, need_contrib=recipe.contrib, limits=limits)
    mods = closure(recipe.modules, tree.opencv_version, python=recipe.python, tests=bool(selection))
    every = not mods
    data = None
    if selection:
        from cvcuda_setup.sources.testdata import fetch_testdata, testdata_paths, testdata_ref

        listed = test_modules_list(selection, mods, recipe.name)
        pruning = Pruning.for_tests(options, listed, all_modules=every)
        paths = testdata_paths(tree, test_modules_of(listed, mods, tree))
        with console.step(f"opencv_extra testdata ({len(paths)} files)"):
            data = fetch_testdata(
                paths, testdata_ref(spec, tree.opencv_version), cache, base_url=testdata_base_url
            )
        _report_testdata(data)
    else:
        pruning = Pruning.for_options(options, all_modules=every)
    with console.step(f"bundle for recipe {recipe.name}" + (" (every module)" if every else "")):
        return make_bundle(
            tree,
            all_modules(tree) if every else mods,
            recipe.bundle_keep,
            out.expanduser().resolve(),
            pruning=pruning,
            testdata=data,
        )
