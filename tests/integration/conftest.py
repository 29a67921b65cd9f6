"""Session fixtures of the integration tests: one real CPU-only OpenCV build, shared by every test.

``cpu_prefix`` is a prefix holding the ``cpu-test`` recipe's OpenCV (core, imgproc, geometry, flann, Python
bindings; no CUDA), installed by ``cvcuda-setup build`` with its manifest:

- ``$CVCUDA_TEST_PREFIX``, when set and holding a complete install (manifest, libopencv_core, cv2), is used
  as it is (nothing is built);
- otherwise the build runs through the CLI into a prefix in pytest's session temporary folder. Its downloads,
  build directory and compiler caches live in the tests' cache (:func:`integration_cache`:
  ``$CVCUDA_TEST_CACHE``, else ``<repo>/.cache/integration``, git-ignored), never in the user's
  ``$CVCUDA_SETUP_CACHE`` or home: the first session builds (about 2.5 minutes on 2 cores, plus the sdist
  download), later sessions find the
  build dir and re-run the same command with only the prefix changed (a re-configure, a few objects that
  embed the prefix, re-install). When the first run had work, the command is run a second time so the tests
  see an incremental re-run either way. An sccache server the build starts (``--launcher auto`` picks
  sccache when it is on PATH) runs on a port of its own and is stopped when the session ends.

``$CVCUDA_TEST_SOURCE`` replaces ``--source sdist`` (e.g. a local copy of the sdist tarball).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import compiler_cache_env, stop_sccache_server

REPO = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 3600


@dataclass
class CpuBuild:
    prefix: Path
    #: The ``cvcuda-setup build`` command line (None for a ``$CVCUDA_TEST_PREFIX`` used as it is).
    command: list[str] | None
    #: Each run of the command: (exit status, stderr, seconds).
    runs: list[tuple[int, str, float]] = field(default_factory=list)


def integration_cache() -> Path:
    """The tests' download/build cache: ``$CVCUDA_TEST_CACHE``, else ``<repo>/.cache/integration``."""
    explicit = os.environ.get("CVCUDA_TEST_CACHE")
    return Path(explicit).expanduser().resolve() if explicit else REPO / ".cache" / "integration"


def tool_env() -> dict[str, str]:
    """This environment, with the checkout importable (the tool may or may not be pip-installed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def complete_install(prefix: Path) -> str | None:
    """None when ``prefix`` holds a usable cvcuda-setup install of the cpu-test recipe, else why not."""
    from cvcuda_setup.errors import CvCudaSetupError
    from cvcuda_setup.manifest import find_module_dir, has_extension, read_manifest

    try:
        manifest = read_manifest(prefix)
    except CvCudaSetupError as exc:
        return str(exc)
    if manifest is None:
        return f"{prefix} has no manifest"
    if not any((prefix / lib).glob("libopencv_core.so*") for lib in ("lib", "lib64")):
        return f"{prefix} has no libopencv_core"
    module = find_module_dir(prefix)
    if module is None or not has_extension(module):
        return f"{prefix} has no cv2 extension"
    return None


def _run(command: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    start = time.monotonic()
    proc = subprocess.run(
        command,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    return proc.returncode, proc.stderr, time.monotonic() - start


@pytest.fixture(scope="session")
def build_env() -> Iterator[dict[str, str]]:
    """The builds' environment: :func:`tool_env` with the compiler caches in the tests' cache.

    Teardown stops the sccache server such a build started (same environment, so the same port).
    """
    env = compiler_cache_env(tool_env(), integration_cache() / "compiler-cache")
    try:
        yield env
    finally:
        stop_sccache_server(env)


@pytest.fixture(scope="session")
def cpu_build(tmp_path_factory: pytest.TempPathFactory, build_env: dict[str, str]) -> CpuBuild:
    explicit = os.environ.get("CVCUDA_TEST_PREFIX")
    if explicit:
        why = complete_install(Path(explicit))
        if why is None:
            return CpuBuild(Path(explicit), None)
        print(f"CVCUDA_TEST_PREFIX={explicit} is not usable ({why}); building into a temporary prefix")

    cache = integration_cache()
    prefix = tmp_path_factory.mktemp("cpu-build") / "prefix"
    command = [
        sys.executable, "-m", "cvcuda_setup", "build",
        "--recipe", "cpu-test",
        "--source", os.environ.get("CVCUDA_TEST_SOURCE", "sdist"),
        "--prefix", str(prefix),
        "--cache-dir", str(cache),
        "--no-plugin", "--no-doctor",
    ]  # fmt: skip
    build = CpuBuild(prefix, command)
    build.runs.append(_run(command, build_env))
    code, err, _ = build.runs[-1]
    if code != 0:
        pytest.fail(f"cvcuda-setup build (cpu-test) failed with exit status {code}:\n{err[-6000:]}")
    # The re-run the tests judge: unless this run already was one (configure skipped, ninja idle). A warm
    # cache can still leave ninja work (an interpreter recreated at the same path re-runs CMake), so a
    # skipped configure alone does not make a run the re-run.
    had_work = "configure: skipped" not in err or any(ln.startswith("build: ") for ln in err.splitlines())
    if had_work:
        build.runs.append(_run(command, build_env))
    why = complete_install(prefix)
    if why is not None:
        pytest.fail(f"cvcuda-setup build reported success but {why}")
    return build


@pytest.fixture(scope="session")
def cpu_prefix(cpu_build: CpuBuild) -> Path:
    return cpu_build.prefix
