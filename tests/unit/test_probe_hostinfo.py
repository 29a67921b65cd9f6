"""probe.hostinfo: job counts, cgroup limits, tools with versions, free disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from cvcuda_setup.probe import hostinfo

GIB = 1024**3


@pytest.mark.parametrize(
    ("cuda", "cores", "gib", "jobs"),
    [
        (True, 16, 128, 16),  # cores bound
        (True, 16, 24, 9),  # 24 // 2.5 = 9
        (True, 2, 24, 2),
        (True, 64, 2, 1),  # never below 1
        (False, 16, 8, 8),  # CPU: 1 GiB per job
        (False, 4, 24, 4),
        (False, 8, 0.5, 1),
    ],
)
def test_default_jobs(cuda: bool, cores: int, gib: float, jobs: int) -> None:
    assert hostinfo.default_jobs(cuda, cores=cores, memory=int(gib * GIB)) == jobs


def test_cgroup_v2_limits(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("8589934592\n")
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert hostinfo._cgroup_memory_limit(tmp_path) == 8 * GIB
    assert hostinfo._cgroup_cpu_limit(tmp_path) == 2
    assert hostinfo.memory_bytes(tmp_path) <= 8 * GIB
    assert 1 <= hostinfo.cpu_cores(tmp_path) <= 2


def test_cgroup_without_limits(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert hostinfo._cgroup_memory_limit(tmp_path) is None
    assert hostinfo._cgroup_cpu_limit(tmp_path) is None
    assert hostinfo.memory_bytes(tmp_path) > 0


def test_cgroup_v1_limits(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(str(4 * GIB))
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert hostinfo._cgroup_memory_limit(tmp_path) == 4 * GIB
    assert hostinfo._cgroup_cpu_limit(tmp_path) is None
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(str(2**63 - 4096))  # v1's "no limit"
    assert hostinfo._cgroup_memory_limit(tmp_path) is None


def test_tool_from_path_with_version(tmp_path: Path) -> None:
    fake = tmp_path / "ccache"
    fake.write_text("#!/bin/sh\necho 'ccache version 4.8.3'\n")
    fake.chmod(0o755)
    found = hostinfo.compiler_caches({"PATH": str(tmp_path)})
    assert found == [hostinfo.ToolInfo("ccache", fake, "4.8.3", "PATH")]
    assert hostinfo.compiler_caches({"PATH": str(tmp_path / "none")}) == []


def test_cmake_prefers_the_pypi_package(tmp_path: Path) -> None:
    pytest.importorskip("cmake")
    fake = tmp_path / "cmake"
    fake.write_text("#!/bin/sh\necho 'cmake version 3.10.0'\n")
    fake.chmod(0o755)
    info = hostinfo.find_tool("cmake", {"PATH": str(tmp_path)})
    assert info is not None and info.origin == "PyPI cmake package" and info.version
    from_path = hostinfo.find_tool("cmake", {"PATH": str(tmp_path)}, prefer_pypi=False)
    assert from_path == hostinfo.ToolInfo("cmake", fake, "3.10.0", "PATH")


def test_free_bytes_of_a_path_not_created_yet(tmp_path: Path) -> None:
    future = tmp_path / "not" / "yet" / "build"
    assert hostinfo.existing_ancestor(future) == tmp_path
    assert hostinfo.free_bytes(future) > 0
    assert hostinfo.filesystem_id(future) == tmp_path.stat().st_dev
