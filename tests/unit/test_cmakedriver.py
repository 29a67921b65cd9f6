"""The one configure-if-changed rule (``cmakedriver.decide``): command lists and files only, no CMake run."""

from __future__ import annotations

from pathlib import Path

from cvcuda_setup import cmakedriver as cd


def configure(source: Path, build: Path, *options: str) -> list[str]:
    return ["/usr/bin/cmake", "-S", str(source), "-B", str(build), "-G", "Ninja", *options]


def configured(build: Path, source: Path) -> None:
    """What a finished configure leaves: CMake's cache naming the source dir, and build.ninja."""
    build.mkdir(parents=True, exist_ok=True)
    (build / "CMakeCache.txt").write_text(f"# cache\nCMAKE_HOME_DIRECTORY:INTERNAL={source}\n")
    (build / "build.ninja").write_text("# ninja\n")


def test_options_are_read_from_the_command() -> None:
    cmd = ["cmake", "-S", "s", "-DA=1", "-DB:BOOL=ON", "-DC=x=y", "-G", "Ninja"]
    assert cd.cmake_options(cmd) == {"A": "1", "B": "ON", "C": "x=y"}


def test_the_hash_is_of_the_exact_command_and_the_source_dir(tmp_path: Path) -> None:
    cmd = configure(tmp_path / "s", tmp_path / "b", "-DA=1")
    assert cd.configure_hash(cmd, tmp_path / "s") == cd.configure_hash(list(cmd), tmp_path / "s")
    assert cd.configure_hash(cmd, tmp_path / "s") != cd.configure_hash([*cmd, "-DB=2"], tmp_path / "s")
    assert cd.configure_hash(cmd, tmp_path / "s") != cd.configure_hash(cmd, tmp_path / "t")


def test_first_configure_then_unchanged(tmp_path: Path) -> None:
    src, build = tmp_path / "s", tmp_path / "b"
    cmd = configure(src, build, "-DA=1")
    assert cd.decide(build, cmd, src, None) == cd.ConfigureDecision(True, False, "first configure")
    configured(build, src)
    record = cd.ConfigureRecord.of(cmd, src)
    assert cd.decide(build, cmd, src, record) == cd.ConfigureDecision(
        False, False, "the configure command is unchanged"
    )
    assert cd.decide(build, cmd, src, record, subject="the plan").reason == "the plan is unchanged"


def test_a_changed_option_reconfigures_in_place(tmp_path: Path) -> None:
    src, build = tmp_path / "s", tmp_path / "b"
    configured(build, src)
    record = cd.ConfigureRecord.of(configure(src, build, "-DA=1", "-DB=2"), src)
    got = cd.decide(build, configure(src, build, "-DA=1", "-DB=3"), src, record)
    assert got == cd.ConfigureDecision(True, False, "options changed: B")
    got = cd.decide(build, [*configure(src, build, "-DA=1", "-DB=2"), "--log-level=DEBUG"], src, record)
    assert got == cd.ConfigureDecision(True, False, "the configure command changed")


def test_a_removed_option_or_another_source_dir_needs_a_fresh_cache(tmp_path: Path) -> None:
    src, build = tmp_path / "s", tmp_path / "b"
    configured(build, src)
    record = cd.ConfigureRecord.of(configure(src, build, "-DA=1", "-DWITH_PNG=ON"), src)
    got = cd.decide(build, configure(src, build, "-DA=1"), src, record)
    assert got == cd.ConfigureDecision(True, True, "options removed: WITH_PNG")
    other = tmp_path / "other"
    got = cd.decide(build, configure(other, build, "-DA=1"), other, record)
    assert got.needed and got.fresh and f"from {src} to {other}" in got.reason


def test_an_unfinished_configure_or_a_missing_generated_file_reconfigures(tmp_path: Path) -> None:
    src, build = tmp_path / "s", tmp_path / "b"
    cmd = configure(src, build)
    configured(build, src)
    assert cd.decide(build, cmd, src, None) == cd.ConfigureDecision(
        True, False, "the last configure did not finish"
    )
    record = cd.ConfigureRecord.of(cmd, src)
    (build / "build.ninja").unlink()
    assert cd.decide(build, cmd, src, record) == cd.ConfigureDecision(True, False, "build.ninja is missing")
    (build / "build.ninja").write_text("")
    got = cd.decide(build, cmd, src, record, required=("build.ninja", "logs/configure.log"))
    assert got == cd.ConfigureDecision(True, False, "logs/configure.log is missing")


def test_with_fresh_goes_after_the_executable_once() -> None:
    assert cd.with_fresh(["cmake", "-S", "s"]) == ["cmake", "--fresh", "-S", "s"]
    assert cd.with_fresh(["cmake", "--fresh", "-S", "s"]) == ["cmake", "--fresh", "-S", "s"]


def test_the_stamp_round_trips_and_is_forgotten(tmp_path: Path) -> None:
    assert cd.read_stamp(tmp_path) is None
    record = cd.ConfigureRecord.of(configure(tmp_path / "s", tmp_path, "-DA=1"), tmp_path / "s")
    cd.write_stamp(tmp_path, record)
    assert cd.read_stamp(tmp_path) == record
    cd.forget_stamp(tmp_path)
    cd.forget_stamp(tmp_path)
    assert cd.read_stamp(tmp_path) is None
    (tmp_path / cd.STAMP).write_text("{not json")
    assert cd.read_stamp(tmp_path) is None


def test_configured_source_reads_cmakes_cache(tmp_path: Path) -> None:
    assert cd.configured_source(tmp_path) is None
    configured(tmp_path, Path("/src/opencv"))
    assert cd.configured_source(tmp_path) == Path("/src/opencv")
