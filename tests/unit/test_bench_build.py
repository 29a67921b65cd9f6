"""``bench build``: command counting on ``ninja -t commands`` output, scratch directories, launcher set-up.

The command lines are real ones from OpenCV 5.1 configures (shortened), in the forms CMake's Ninja generator
writes: C/C++ compiles (plain and behind ccache), FindCUDA's per-file ``cmake -P`` scripts (OpenCV's
default CUDA support), first-class CUDA compiles through nvcc, static and shared links, helper commands.
``ninja`` itself is a fake script at the process boundary.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cvcuda_setup.bench import build as bb
from cvcuda_setup.errors import BuildError, ToolchainError, UsageError

CMAKE = "/opt/cmake/bin/cmake"

CXX_COMPILE = (
    "/usr/bin/c++ -DCVAPI_EXPORTS -D__OPENCV_BUILD=1 -I/src/opencv/modules/core/include -O3 -DNDEBUG -fPIC "
    "-std=c++17 -MD -MT modules/core/CMakeFiles/opencv_core.dir/src/matrix.cpp.o "
    "-MF modules/core/CMakeFiles/opencv_core.dir/src/matrix.cpp.o.d "
    "-o modules/core/CMakeFiles/opencv_core.dir/src/matrix.cpp.o -c /src/opencv/modules/core/src/matrix.cpp"
)
C_COMPILE_CCACHE = (
    "/usr/bin/ccache /usr/bin/cc -I/src/3rdparty/libspng -O3 -fPIC "
    "-o 3rdparty/libspng/CMakeFiles/libspng.dir/spng.c.o -c /src/3rdparty/libspng/spng.c"
)
FINDCUDA_COMPILE = (
    "cd /b/modules/core/CMakeFiles/cuda_compile_1.dir/src/cuda && "
    f"{CMAKE} -E make_directory /b/modules/core/CMakeFiles/cuda_compile_1.dir/src/cuda/. && "
    f"{CMAKE} -D verbose:BOOL=OFF -D build_configuration:STRING=Release "
    "-D generated_file:STRING=/b/modules/core/CMakeFiles/cuda_compile_1.dir/src/cuda/./"
    "cuda_compile_1_generated_gpu_mat.cu.o "
    "-D generated_cubin_file:STRING=/b/modules/core/CMakeFiles/cuda_compile_1.dir/src/cuda/./"
    "cuda_compile_1_generated_gpu_mat.cu.o.cubin.txt "
    "-P /b/modules/core/CMakeFiles/cuda_compile_1.dir/src/cuda/"
    "cuda_compile_1_generated_gpu_mat.cu.o.Release.cmake"
)
NVCC_COMPILE = (
    "/usr/local/cuda/bin/nvcc -forward-unknown-to-host-compiler -DCVAPI_EXPORTS -I/src/include -O3 -DNDEBUG "
    '"--generate-code=arch=compute_90,code=[compute_90,sm_90]" -Xcompiler=-fPIC -MD '
    "-MT modules/cudaarithm/CMakeFiles/opencv_cudaarithm.dir/src/cuda/add_mat.cu.o "
    "-MF modules/cudaarithm/CMakeFiles/opencv_cudaarithm.dir/src/cuda/add_mat.cu.o.d -x cu "
    "-c /src/contrib/modules/cudaarithm/src/cuda/add_mat.cu "
    "-o modules/cudaarithm/CMakeFiles/opencv_cudaarithm.dir/src/cuda/add_mat.cu.o"
)
NVCC_COMPILE_SCCACHE = "/usr/bin/sccache " + NVCC_COMPILE
SHARED_LINK = (
    ": && /usr/bin/c++ -fPIC -O3 -DNDEBUG -shared -Wl,-soname,libopencv_cudaarithm.so.501 "
    "-o lib/libopencv_cudaarithm.so.5.1.0 "
    "modules/core/CMakeFiles/cuda_compile_1.dir/src/cuda/./cuda_compile_1_generated_gpu_mat.cu.o "
    "modules/cudaarithm/CMakeFiles/opencv_cudaarithm.dir/src/arithm.cpp.o -lcudart && :"
)
STATIC_LINK = (
    f": && {CMAKE} -E rm -f 3rdparty/lib/liblibspng.a && /usr/bin/ar qc 3rdparty/lib/liblibspng.a "
    "3rdparty/libspng/CMakeFiles/libspng.dir/spng.c.o && /usr/bin/ranlib 3rdparty/lib/liblibspng.a && :"
)
EXE_LINK = (
    ": && /usr/bin/c++ -O3 modules/ts/a.cpp.o -o bin/opencv_test_core -Wl,-rpath,/b/lib "
    "lib/libopencv_core.so && :"
)
SYMLINK = (
    f"{CMAKE} -E cmake_symlink_library lib/libopencv_core.so.5.1.0  lib/libopencv_core.so.501 "
    "lib/libopencv_core.so && :"
)
CODEGEN = (
    "cd /b/modules/python_bindings_generator && /usr/bin/python3 /src/opencv/modules/python/src2/gen2.py "
    "--config /b/modules/python_bindings_generator/gen_python_config.json"
)
OPENCL_KERNELS = (
    f"cd /b/modules/core && {CMAKE} -DMODULE_NAME=core -DCL_DIR=/src/opencv/modules/core/src/opencl "
    "-DOUTPUT=/b/modules/core/opencl_kernels_core.cpp -P /src/opencv/cmake/cl2cpp.cmake"
)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (CXX_COMPILE, "compile"),
        (C_COMPILE_CCACHE, "compile"),
        (FINDCUDA_COMPILE, "cuda_compile"),
        (NVCC_COMPILE, "cuda_compile"),
        (NVCC_COMPILE_SCCACHE, "cuda_compile"),
        (SHARED_LINK, "link"),
        (STATIC_LINK, "link"),
        (EXE_LINK, "link"),
        (SYMLINK, "other"),
        (CODEGEN, "other"),
        (OPENCL_KERNELS, "other"),
        ("CCACHE_SLOPPINESS=time_macros /usr/bin/ccache /usr/bin/g++-12 -c a.cpp -o a.cpp.o", "compile"),
        ("/usr/bin/c++ -c 'unbalanced.cpp -o x.o", "compile"),
    ],
)
def test_classify(line: str, kind: str) -> None:
    assert bb.classify(line) == kind


def test_count_commands_on_fake_ninja_output() -> None:
    output = "\n".join(
        [CXX_COMPILE] * 5
        + [C_COMPILE_CCACHE]
        + [FINDCUDA_COMPILE] * 3
        + [NVCC_COMPILE] * 2
        + [SHARED_LINK, STATIC_LINK, EXE_LINK, SYMLINK, CODEGEN, OPENCL_KERNELS, "", "   "]
    )
    counts = bb.count_commands(output.splitlines())
    assert counts == bb.CommandCounts(total=17, compile=11, cuda_compile=5, link=3)
    assert counts.cpp_compile == 6


def _fake_ninja(tmp_path: Path, stdout: str, rc: int = 0) -> str:
    data = tmp_path / "ninja-output.txt"
    data.write_text(stdout, encoding="utf-8")
    script = tmp_path / "ninja"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import sys\n"
        f"assert sys.argv[1:] == ['-C', {str(tmp_path / 'build')!r}, '-t', 'commands'], sys.argv\n"
        f"sys.stdout.write(open({str(data)!r}).read())\n"
        f"sys.stderr.write('ninja: error: loading build.ninja\\n' if {rc} else '')\n"
        f"sys.exit({rc})\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_ninja_commands_through_a_fake_ninja(tmp_path: Path) -> None:
    ninja = _fake_ninja(tmp_path, f"{FINDCUDA_COMPILE}\n{CXX_COMPILE}\n{SHARED_LINK}\n")
    counts = bb.count_commands(bb.ninja_commands(ninja, tmp_path / "build"))
    assert (counts.total, counts.compile, counts.cuda_compile, counts.link) == (3, 2, 1, 1)


def test_ninja_failure_is_a_build_error(tmp_path: Path) -> None:
    ninja = _fake_ninja(tmp_path, "", rc=1)
    with pytest.raises(BuildError, match=r"loading build\.ninja"):
        bb.ninja_commands(ninja, tmp_path / "build")


def test_missing_ninja_is_a_toolchain_error(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="not found"):
        bb.ninja_commands(str(tmp_path / "no-ninja"), tmp_path)


def test_fresh_dir_wipes_only_its_own(tmp_path: Path) -> None:
    ours = bb.fresh_dir(tmp_path / "run")
    (ours / "build").mkdir()
    (ours / "build" / "CMakeCache.txt").write_text("x")
    again = bb.fresh_dir(tmp_path / "run")
    assert sorted(p.name for p in again.iterdir()) == [bb.MARKER]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep")
    with pytest.raises(UsageError, match="was not created by"):
        bb.fresh_dir(foreign)
    assert (foreign / "precious.txt").read_text() == "keep"


def test_launcher_env_isolates_the_cache(tmp_path: Path) -> None:
    env = bb.launcher_env(Path("/usr/bin/ccache"), tmp_path / "cc", base={"PATH": "/usr/bin"})
    assert env["CCACHE_DIR"] == str(tmp_path / "cc") and env["PATH"] == "/usr/bin"
    env = bb.launcher_env(Path("/usr/local/bin/sccache"), tmp_path / "sc", base={})
    assert env["SCCACHE_DIR"] == str(tmp_path / "sc")
    assert 0 < int(env["SCCACHE_SERVER_PORT"]) < 65536


def test_resolve_launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ccache = bin_dir / "ccache"
    ccache.write_text("#!/bin/sh\n")
    ccache.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    # sccache is searched like the build searches it (PATH, then this Python's scripts directory): none there
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(tmp_path / "no-scripts"))
    assert bb.resolve_launcher("auto") == ccache  # no sccache on PATH: ccache
    assert bb.resolve_launcher(str(ccache)) == ccache
    with pytest.raises(ToolchainError, match="'sccache' was not found"):
        bb.resolve_launcher("sccache")
    with pytest.raises(UsageError, match="--launcher is none"):
        bb.resolve_launcher("none")


def test_table_and_document() -> None:
    from rich.console import Console

    costs = [
        bb.RecipeCost(
            recipe="minimal",
            opencv_version="5.1.0",
            cuda_arch_bin="9.0",
            modules=("core", "imgproc", "cudev"),
            build_dir=Path("/w/minimal/build"),
            counts=bb.CommandCounts(total=441, compile=417, cuda_compile=83, link=11),
            configure_s=18.1,
        ),
        bb.RecipeCost(
            recipe="seed",
            opencv_version="5.1.0",
            cuda_arch_bin="9.0",
            modules=(),
            build_dir=Path("/w/seed/build"),
            counts=bb.CommandCounts(total=2814, compile=2551, cuda_compile=146, link=177),
            configure_s=34.4,
            cold_build_s=3900.0,
            warm_build_s=1500.0,
            launcher="/usr/bin/ccache",
        ),
    ]
    doc = bb.document(costs)
    assert doc["schema"] == bb.SCHEMA
    assert doc["recipes"][0]["counts"] == {
        "total": 441,
        "compile": 417,
        "cuda_compile": 83,
        "link": 11,
        "cpp_compile": 334,
    }
    assert doc["recipes"][1]["build_dir"] == "/w/seed/build"
    console = Console(record=True, width=160)
    console.print(bb.table(costs))
    text = console.export_text()
    for expected in ("441", "2551", "146", "all", "65.0 min", "25.0 min", "ccache", "18.1 s"):
        assert expected in text, expected


def test_no_env_leak_into_os_environ(tmp_path: Path) -> None:
    before = dict(os.environ)
    bb.launcher_env(Path("/usr/bin/ccache"), tmp_path)
    assert dict(os.environ) == before


def _local_source() -> Path | None:
    explicit = os.environ.get("CVCUDA_TEST_OPENCV_SOURCE")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(
        Path(__file__).resolve().parents[2] / ".cache" / "src" / "opencv_contrib_python-5.1.0.95"
    )
    return next((c for c in candidates if (c / "opencv" / "CMakeLists.txt").is_file()), None)


@pytest.mark.integration
def test_real_configure_of_cpu_test_recipe(tmp_path: Path) -> None:
    """A real CMake configure of the cpu-test recipe (seconds), then its commands counted."""
    import json

    from typer.testing import CliRunner

    from cvcuda_setup.cli.app import app

    source = _local_source()
    if source is None:
        pytest.skip("no OpenCV source tree (set CVCUDA_TEST_OPENCV_SOURCE to a directory with opencv/)")
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "build",
            "--recipe",
            "cpu-test",
            "--source",
            str(source),
            "--work-dir",
            str(tmp_path / "w"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--json",
            "-",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout[result.stdout.index("{\n") :])
    (cost,) = doc["recipes"]
    assert cost["recipe"] == "cpu-test" and cost["cuda_arch_bin"] == ""
    counts = cost["counts"]
    assert counts["cuda_compile"] == 0
    assert 100 < counts["compile"] < counts["total"]
    assert counts["link"] >= 4  # core, imgproc, geometry, flann at least
    build_dir = Path(cost["build_dir"])
    assert (build_dir / "build.ninja").is_file() and (build_dir.parent / bb.MARKER).is_file()
