"""probe.compiler: which host compiler, gcc vs clang, the nvcc range (host_config.h, the table), older g++."""

from __future__ import annotations

from pathlib import Path

import pytest

from cvcuda_setup.probe import compiler


def fake_gcc(directory: Path, name: str, version: str) -> Path:
    """A script answering ``--version`` and ``-dumpfullversion`` like gcc ``version``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f"  -dumpfullversion) echo '{version}';;\n"
        f"  --version) echo '{name} (GCC) {version}'; echo 'Copyright (C) 2024 Free Software Foundation, "
        "Inc.';;\n"
        "  *) exit 1;;\n"
        "esac\n"
    )
    path.chmod(0o755)
    return path


def fake_clang(directory: Path, name: str, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(
        f"#!/bin/sh\necho 'Ubuntu clang version {version} (1ubuntu1)'\necho 'Target: x86_64-pc-linux-gnu'\n"
    )
    path.chmod(0o755)
    return path


def host_config(root: Path, gcc_max: int, clang_refused: int) -> Path:
    """The two checks nvcc's crt/host_config.h makes, as NVIDIA writes them."""
    header = root / "include" / "crt" / "host_config.h"
    header.parent.mkdir(parents=True)
    header.write_text(
        "#if defined(__GNUC__)\n"
        f"#if __GNUC__ > {gcc_max}\n"
        f"#error -- unsupported GNU version! gcc versions later than {gcc_max} are not supported!\n"
        "#endif\n"
        "#if defined(__clang__) && !defined(__ibmxl_vrm__) && !defined(__ICC) && !defined(__HORIZON__)\n"
        f"#if (__clang_major__ >= {clang_refused}) || (__clang_major__ < 3)\n"
        "#error -- unsupported clang version!\n"
        "#endif\n"
        "#endif\n"
        "#endif\n"
    )
    return header


def test_gcc_is_identified_with_its_full_version(tmp_path: Path) -> None:
    path = fake_gcc(tmp_path, "g++", "14.2.1")
    info = compiler.identify(path, "CXX")
    assert info == compiler.CompilerInfo(path=path, kind="gcc", version="14.2.1", origin="CXX")
    assert info.major == 14


def test_clang_is_identified(tmp_path: Path) -> None:
    info = compiler.identify(fake_clang(tmp_path, "clang++", "18.1.3"), "CXX")
    assert info is not None and (info.kind, info.version, info.major) == ("clang", "18.1.3", 18)


def test_an_unknown_compiler(tmp_path: Path) -> None:
    path = tmp_path / "icpx"
    path.write_text("#!/bin/sh\necho 'Intel(R) oneAPI DPC++/C++ Compiler 2024.1.0'\n")
    path.chmod(0o755)
    info = compiler.identify(path, "CXX")
    assert info is not None and (info.kind, info.version) == ("unknown", "2024.1.0")


def test_order_cudahostcxx_then_cc_then_cxx_then_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_gcc(bin_dir, "cc", "12.2.0")
    fake_gcc(bin_dir, "g++-11", "11.4.0")
    fake_gcc(bin_dir, "gcc-13", "13.3.0")
    clang = fake_clang(bin_dir, "clang++-17", "17.0.6")
    env = {"PATH": str(bin_dir)}
    assert compiler.host_compiler(env).origin == "PATH (cc)"  # type: ignore[union-attr]
    env["CXX"] = "ccache clang++-17"  # a launcher in CXX is skipped
    info = compiler.host_compiler(env)
    assert info is not None and (info.origin, info.path, info.kind) == ("CXX", clang, "clang")
    env["CC"] = "gcc-13"
    assert compiler.host_compiler(env).version == "13.3.0"  # type: ignore[union-attr]
    env["CUDAHOSTCXX"] = str(bin_dir / "g++-11")
    info = compiler.host_compiler(env)
    assert info is not None and (info.origin, info.version) == ("CUDAHOSTCXX", "11.4.0")


def test_no_compiler_at_all(tmp_path: Path) -> None:
    assert compiler.host_compiler({"PATH": str(tmp_path)}) is None


def test_a_cxx_naming_a_missing_program_falls_through(tmp_path: Path) -> None:
    fake_gcc(tmp_path, "g++", "12.2.0")
    info = compiler.host_compiler({"PATH": str(tmp_path), "CXX": "g++-99"})
    assert info is not None and info.origin == "PATH (g++)"


def test_host_config_limits_are_read_from_the_toolkit(tmp_path: Path) -> None:
    header = host_config(tmp_path, gcc_max=15, clang_refused=21)
    limits = compiler.host_config_limits(tmp_path)
    assert limits == compiler.CompilerLimits(gcc_max=15, clang_max=20, source=str(header))
    assert compiler.host_config_limits(tmp_path / "nothing") is None


@pytest.mark.parametrize(
    ("nvcc", "gcc_max", "clang_max", "checked"),
    [
        ("12.0", 12, 14, True),
        ("12.3", 12, 16, True),
        ("12.4", 13, 17, True),
        ("12.6", 13, 18, True),
        ("12.7", 13, 18, True),  # no 12.7 release: the 12.6 row holds until 12.8
        ("12.8", 14, 19, True),
        ("12.9", 14, 19, True),
        ("13.0", 15, 20, True),
        ("13.2", 15, 20, False),  # newer than the table: assumed, and said so
    ],
)
def test_documented_table(nvcc: str, gcc_max: int, clang_max: int, checked: bool) -> None:
    limits = compiler.nvcc_host_compiler_range(nvcc)
    assert limits is not None
    assert (limits.gcc_max, limits.clang_max, limits.checked) == (gcc_max, clang_max, checked)
    assert limits.source.startswith("table: ")


def test_table_has_no_row_for_old_nvcc() -> None:
    assert compiler.nvcc_host_compiler_range("10.2") is None


def test_table_rows_are_ordered_and_never_narrow() -> None:
    rows = compiler.NVCC_HOST_COMPILERS
    versions = [tuple(int(p) for p in r[0].split(".")) for r in rows]
    assert versions == sorted(versions)
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    assert [r[2] for r in rows] == sorted(r[2] for r in rows)


def test_older_gcc_candidates_newest_first_and_pick_checks_real_version(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    fake_gcc(a, "g++-14", "14.2.0")
    fake_gcc(a, "g++-12", "12.3.0")
    fake_gcc(b, "g++-13", "14.1.0")  # a g++-13 that is really 14: the name is not trusted
    fake_gcc(b, "g++-12", "12.9.9")  # shadowed by a/g++-12 (PATH order)
    env = {"PATH": f"{a}:{b}"}
    assert compiler.older_gcc_candidates(env) == [a / "g++-14", b / "g++-13", a / "g++-12"]
    limits = compiler.CompilerLimits(gcc_max=13, clang_max=17, source="test")
    picked = compiler.pick_host_compiler(limits, env)
    assert picked is not None and (picked.path, picked.version) == (a / "g++-12", "12.3.0")
    assert compiler.pick_host_compiler(compiler.CompilerLimits(11, 14, "test"), env) is None


def test_accepts() -> None:
    limits = compiler.CompilerLimits(gcc_max=13, clang_max=17, source="test")
    gcc = compiler.CompilerInfo(Path("g++"), "gcc", "13.3.0", "PATH")
    assert compiler.accepts(limits, gcc) is True
    assert compiler.accepts(limits, compiler.CompilerInfo(Path("g++"), "gcc", "14.1.0", "PATH")) is False
    assert compiler.accepts(limits, compiler.CompilerInfo(Path("clang"), "clang", "18.1.0", "PATH")) is False
    assert compiler.accepts(limits, compiler.CompilerInfo(Path("icpx"), "unknown", "2024.1", "PATH")) is None
