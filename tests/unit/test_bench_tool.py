"""The benchmark tool's builder and runner: sources found, configure arguments, exit codes -> error types."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from cvcuda_setup.bench import tool
from cvcuda_setup.bench.common import BenchError, log_excerpt
from cvcuda_setup.errors import BuildError, NoGpuError, UsageError


def test_bench_sources_are_found() -> None:
    source = tool.bench_source_dir()
    text = (source / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "add_executable(cvcuda-zerocopy-bench" in text
    assert "find_package(cvcuda_zerocopy CONFIG REQUIRED)" in text


def test_configure_args() -> None:
    args = tool.configure_args(
        Path("/src/bench"),
        Path("/c/bench/x"),
        Path("/opt/ocv"),
        cuda_arch="90",
        ninja="/bin/ninja",
        nvcc="/cuda/nvcc",
    )
    assert args[:6] == ["-S", "/src/bench", "-B", "/c/bench/x", "-G", "Ninja"]
    assert "-DCMAKE_PREFIX_PATH=/opt/ocv" in args
    assert "-DCMAKE_CUDA_ARCHITECTURES=90" in args
    assert "-DCMAKE_CUDA_COMPILER=/cuda/nvcc" in args
    assert not any(
        a.startswith("-DCMAKE_CUDA_COMPILER=")
        for a in tool.configure_args(
            Path("/s"), Path("/b"), Path("/p"), cuda_arch="90", ninja="ninja", nvcc=None
        )
    )


def test_build_dir_depends_on_prefix_and_arch(tmp_path: Path) -> None:
    a = tool.build_dir_for(tmp_path, Path("/src"), Path("/opt/a"), "90")
    assert a == tool.build_dir_for(tmp_path, Path("/src"), Path("/opt/a"), "90")
    assert a != tool.build_dir_for(tmp_path, Path("/src"), Path("/opt/b"), "90")
    assert a != tool.build_dir_for(tmp_path, Path("/src"), Path("/opt/a"), "80")
    assert a.parent == tmp_path / "bench"


def test_prefix_env_puts_the_prefix_libs_first(tmp_path: Path) -> None:
    (tmp_path / "lib64").mkdir()
    env = tool.prefix_env(tmp_path, base={"LD_LIBRARY_PATH": "/usr/lib/x", "HOME": "/root"})
    assert env["LD_LIBRARY_PATH"] == f"{tmp_path / 'lib64'}:/usr/lib/x"
    assert env["HOME"] == "/root"


def test_interpret_exit_codes() -> None:
    assert tool.interpret(0, '{"schema": "x"}', []) == {"schema": "x"}
    with pytest.raises(NoGpuError, match="no CUDA device: 0 devices"):
        tool.interpret(3, "", ["error: no CUDA device: 0 devices"])
    with pytest.raises(UsageError, match="rejected its arguments: --sizes 8x8"):
        tool.interpret(
            2, "", ["error: --sizes 8x8: expected", "usage: cvcuda-zerocopy-bench ...", "strategies: a"]
        )
    with pytest.raises(BenchError, match="exited with code 1: OpenCV: out of memory"):
        tool.interpret(1, "", ["progress", "error: OpenCV: out of memory"])
    with pytest.raises(BenchError, match="killed by signal 11: no message"):
        tool.interpret(-11, "", [])
    with pytest.raises(BenchError, match="no valid JSON"):
        tool.interpret(0, "{truncated", [])
    with pytest.raises(BenchError, match="not an object"):
        tool.interpret(0, "[1, 2]", [])


def test_run_tool_times_out(tmp_path: Path) -> None:
    script = tmp_path / "slow"
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(BenchError, match="timed out after 1 s"):
        tool.run_tool(script, ["pipeline"], env={}, timeout=1.0)


def test_build_tool_needs_an_existing_prefix(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        tool.build_tool(tmp_path / "missing", cache_dir=tmp_path, cuda_arch="90")


def test_build_failure_quotes_the_cmake_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cmake = tmp_path / "cmake"
    cmake.write_text(
        f"#!{sys.executable}\n"
        "print('-- The CXX compiler identification is GNU 13.3.0')\n"
        "print('CMake Error at CMakeLists.txt:23 (find_package):')\n"
        "print('  Could not find a package configuration file provided by \"cvcuda_zerocopy\"')\n"
        "print('')\n"
        "print('-- Configuring incomplete, errors occurred!')\n"
        "raise SystemExit(1)\n",
        encoding="utf-8",
    )
    cmake.chmod(cmake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(tool, "_tool_paths", lambda: (str(cmake), "ninja"))
    (tmp_path / "prefix").mkdir()
    with pytest.raises(BuildError) as info:
        tool.build_tool(tmp_path / "prefix", cache_dir=tmp_path / "cache", cuda_arch="90")
    text = str(info.value)
    assert "configuring the benchmark" in text
    assert 'Could not find a package configuration file provided by "cvcuda_zerocopy"' in text
    assert "Configuring incomplete" not in text  # the error block, not the tail


def test_log_excerpt_falls_back_to_the_tail(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("\n".join(f"line {i}" for i in range(30)), encoding="utf-8")
    assert log_excerpt(log, tail=2) == "line 28\nline 29"
    assert log_excerpt(tmp_path / "none") == ""
