"""The binary cache with a real OpenCV prefix (the session's cpu-test build) and a real registry (Debian's
docker-registry on localhost): ``cache push``, ``cache ls``, the same ``build`` command with ``--cache``
installing from the registry instead of building, and a pull into another prefix (relocated, or refused
naming the library that embeds the build's prefix). Timings are printed (``-s``), not asserted beyond
"faster than building"."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cvcuda_setup.manifest import read_manifest
from tests.integration.conftest import _run, complete_install
from tests.unit.oci_registry import Registry, start_registry

pytestmark = [pytest.mark.integration, pytest.mark.registry]


@pytest.fixture()
def registry(tmp_path: Path) -> Iterator[Registry]:
    with start_registry(tmp_path / "registry") as reg:
        yield reg


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cvcuda_setup", *args]


def test_push_then_build_with_cache_installs_instead_of_building(
    cpu_build: Any, registry: Registry, build_env: dict[str, str], tmp_path: Path
) -> None:
    if cpu_build.command is None:
        pytest.skip("CVCUDA_TEST_PREFIX was used as it is: no build command to repeat with --cache")
    prefix: Path = cpu_build.prefix
    manifest = read_manifest(prefix)
    assert manifest is not None and manifest.cache_key is not None and manifest.cache_key["complete"]
    key = str(manifest.cache_key["digest"])
    repo = f"oci://{registry.address}/cvcuda/opencv-cpu-test"

    code, err, pushed_s = _run(_cli("cache", "push", "--prefix", str(prefix), repo), build_env)
    assert code == 0, err[-3000:]
    code, _, _ = _run(_cli("cache", "ls", repo, "--json"), build_env)
    assert code == 0
    # `cache ls --json` prints on stdout; _run keeps stderr only, so read the registry instead
    from cvcuda_setup.binarycache import cache_ref, list_entries

    entries = list_entries(cache_ref(repo))
    assert [e.key for e in entries] == [key]
    assert entries[0].parts["recipe"]["name"] == "cpu-test"

    start = time.monotonic()
    code, err, _ = _run([*cpu_build.command, "--cache", repo], build_env)
    warm_s = time.monotonic() - start
    assert code == 0, err[-3000:]
    assert "install from the binary cache" in err and f"ck-{key}" in err
    assert "==> configure" not in err and "==> build" not in err
    assert complete_install(prefix) is None
    cold_s = sum(seconds for _, _, seconds in cpu_build.runs[:1])
    print(
        json.dumps(
            {
                "cold_build_s": round(cold_s, 1),
                "push_s": round(pushed_s, 1),
                "warm_install_s": round(warm_s, 1),
            }
        )
    )
    assert warm_s < cold_s


def test_a_pull_into_another_prefix_relocates_or_names_the_library(
    cpu_build: Any, registry: Registry, build_env: dict[str, str], tmp_path: Path
) -> None:
    prefix: Path = cpu_build.prefix
    manifest = read_manifest(prefix)
    assert manifest is not None and manifest.cache_key is not None
    key = str(manifest.cache_key["digest"])
    repo = f"oci://{registry.address}/cvcuda/opencv-cpu-test"
    code, err, _ = _run(_cli("cache", "push", "--prefix", str(prefix), repo), build_env)
    assert code == 0, err[-3000:]
    other = tmp_path / "other" / "opencv"
    embeds = [
        lib.name
        for lib in sorted((prefix / "lib").glob("libopencv_*.so.*"))
        if not lib.is_symlink() and str(prefix).encode() in lib.read_bytes()
    ]
    code, err, _ = _run(_cli("cache", "pull", repo, "--key", key, "--prefix", str(other)), build_env)
    if embeds:  # OpenCV compiles its install prefix into libopencv_core: relocation must be refused
        assert code == 2, err[-3000:]
        assert any(name in err for name in embeds) and "rebuild" in err
        assert not other.exists() or not any(other.iterdir())
    else:
        assert code == 0, err[-3000:]
        assert complete_install(other) is None
