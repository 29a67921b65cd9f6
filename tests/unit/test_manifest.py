# ruff: noqa: E501  (log excerpts keep their real line lengths)
"""The manifest: OpenCV's configure summary, CMake's cache and compiler files, JSON round trip, reading."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from cvcuda_setup.configlog import compiler_facts, parse_configure_summary, read_cmake_cache
from cvcuda_setup.errors import InstallError
from cvcuda_setup.manifest import (
    MANIFEST_RELPATH,
    SCHEMA,
    Manifest,
    ManifestSchemaError,
    PythonFacts,
    RecipeFacts,
    ToolchainFacts,
    find_module_dir,
    has_extension,
    load_manifest,
    read_manifest,
    summary_lines,
    write_manifest,
)
from cvcuda_setup.model import ArchSelection, SourceSpec, SourceTree

#: The summary of the measured CPU-only build (cpu-test recipe, OpenCV 5.1.0), flag lines shortened.
CPU_SUMMARY = textwrap.dedent(
    """
    -- Found 'misc' Python modules from /src/opencv/modules/python/package/extra_modules
    --
    --
    -- General configuration for OpenCV 5.1.0 =====================================
    --   Version control:               unknown
    --
    --   Platform:
    --     Timestamp:                   2026-11-25T02:01:26Z
    --     Host:                        Linux 6.18.44-fc-v669 x86_64
    --     CMake:                       3.25.1
    --     CMake generator:             Ninja
    --     CMake build tool:            /usr/bin/ninja
    --     Configuration:               Debug
    --     Algorithm Hint:              ALGO_HINT_ACCURATE
    --
    --   CPU/HW features:
    --     Baseline:                    SSE SSE2 SSE3
    --       requested:                 SSE3
    --
    --   C/C++:
    --     Built as dynamic libs?:      YES
    --     C++ standard:                17
    --     C++ Compiler:                /usr/bin/c++  (ver 12.2.0)
    --     C++ flags (Release):         -fsigned-char -W -Wall -Wreturn-type -Wnon-virtual ...
    --     C++ flags (Debug):           -fsigned-char -W -Wall -Wreturn-type -Wnon-virtual ...
    --     C Compiler:                  /usr/bin/cc
    --     C flags (Release):           -fsigned-char -W -Wall -Wreturn-type -Waddress -Ws ...
    --     C flags (Debug):             -fsigned-char -W -Wall -Wreturn-type -Waddress -Ws ...
    --     Linker flags (Release):      -Wl,--gc-sections -Wl,--as-needed -Wl,--no-undefin ...
    --     Linker flags (Debug):        -Wl,--gc-sections -Wl,--as-needed -Wl,--no-undefin ...
    --     ccache:                      NO
    --     Precompiled headers:         NO
    --     Extra dependencies:          dl m pthread rt
    --     3rdparty dependencies:
    --
    --   OpenCV modules:
    --     To be built:                 core flann geometry imgproc python3
    --     Disabled:                    world
    --     Disabled by dependency:      calib dnn features highgui imgcodecs java_bindings_generator js_bindings_generator objc_bindings_generator objdetect photo ptcloud python_tests stereo stitching vid
    --     Unavailable:                 java ts
    --     Applications:                apps
    --     Documentation:               NO
    --     Non-free algorithms:         NO
    --
    --   GUI:
    --
    --   Media I/O:
    --     ZLib:                        /usr/lib/x86_64-linux-gnu/libz.so (ver 1.2.13)
    --     GIF:                         YES
    --     HDR:                         YES
    --     SUNRASTER:                   YES
    --     PXM:                         YES
    --     PFM:                         YES
    --
    --   Video I/O:
    --     Orbbec:                      YES
    --
    --   Parallel framework:            pthreads
    --
    --   Trace:                         YES (built-in)
    --
    --   Other third-party libraries:
    --     HarfBuzz:                    NO
    --     Intel IPP:                   NO
    --     VA:                          NO
    --     Custom HAL:                  NO
    --
    --   ONNX Runtime:                  NO
    --
    --   Python 3:
    --     Interpreter:                 /root/.pyenv/versions/3.11.7/bin/python3 (ver 3.11.7)
    --     Libraries:                   /root/.pyenv/versions/3.11.7/lib/libpython3.11.so (ver 3.11.7)
    --     Limited API:                 NO
    --     numpy:                       /root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/numpy/_core/include (ver 2.4.6)
    --     install path:                lib/python3.11/site-packages/cv2/python-3.11
    --
    --   Python (for build):            /root/.pyenv/versions/3.11.7/bin/python3
    --
    --   Install to:                    /work/main/.cache/cpuprefix
    -- -----------------------------------------------------------------
    --
    -- Configuring done
    -- Generating done
    """
)

#: The CUDA part as OpenCV's CMakeLists.txt prints it (``status("  NVIDIA CUDA:" ...)``).
CUDA_PART = """\
--
--   NVIDIA CUDA:                   YES (ver 13.0, CUFFT CUBLAS)
--     NVIDIA GPU arch:             89 90
--     NVIDIA PTX archs:            90
--
--   cuDNN:                         YES (ver 9.10.2)
--
"""


def cuda_summary() -> str:
    return CPU_SUMMARY.replace("--   Python 3:", CUDA_PART + "--   Python 3:").replace(
        "core flann geometry imgproc python3",
        "core cudaarithm cudev cudafilters cudaimgproc flann geometry imgproc python3",
    )


def test_parse_the_cpu_build_summary() -> None:
    s = parse_configure_summary(CPU_SUMMARY)
    assert s.found and s.opencv_version == "5.1.0"
    assert s.modules_built == ("core", "flann", "geometry", "imgproc", "python3")
    assert s.modules_disabled == ("world",)
    assert "imgcodecs" in s.modules_disabled_by_dependency
    assert s.modules_unavailable == ("java", "ts")
    assert s.cuda is None and s.cuda_line == "" and s.gpu_arch == ()
    assert s.python_interpreter == "/root/.pyenv/versions/3.11.7/bin/python3 (ver 3.11.7)"
    assert s.python_install_path == "lib/python3.11/site-packages/cv2/python-3.11"
    assert s.install_prefix == "/work/main/.cache/cpuprefix"


def test_parse_a_cuda_summary() -> None:
    s = parse_configure_summary(cuda_summary())
    assert s.cuda is True and s.cuda_version == "13.0"
    assert s.cuda_line == "YES (ver 13.0, CUFFT CUBLAS)"
    assert s.gpu_arch == ("89", "90") and s.ptx_arch == ("90",)
    assert s.cudnn == "YES (ver 9.10.2)"
    assert "cudaimgproc" in s.modules_built


def test_cuda_off_in_the_summary_and_the_last_summary_wins() -> None:
    no = CPU_SUMMARY.replace("--   Python 3:", "-- \n--   NVIDIA CUDA:                   NO\n--   Python 3:")
    s = parse_configure_summary(cuda_summary() + no)  # a reconfigure appends a second summary
    assert s.cuda is False and s.cuda_line == "NO" and s.gpu_arch == ()


def test_a_log_without_a_summary() -> None:
    s = parse_configure_summary("CMake Error at CMakeLists.txt:1 (project):\n  boom\n")
    assert not s.found and s.modules_built == ()


def make_build_dir(tmp_path: Path) -> Path:
    build = tmp_path / "build"
    (build / "CMakeFiles" / "4.4.5").mkdir(parents=True)
    (build / "CMakeFiles" / "3.25.1").mkdir(parents=True)
    (build / "CMakeCache.txt").write_text(
        "# This is the CMakeCache file.\n"
        "//Path to a program.\n"
        "CMAKE_CXX_COMPILER:FILEPATH=/usr/bin/g++-13\n"
        "CUDA_VERSION:STRING=13.0\n"
        "CUDA_NVCC_EXECUTABLE:FILEPATH=/usr/local/cuda/bin/nvcc\n"
        "CUDA_HOST_COMPILER:FILEPATH=/usr/bin/g++-13\n"
        "CMAKE_CACHE_MAJOR_VERSION:INTERNAL=4\n"
        "CMAKE_CACHE_MINOR_VERSION:INTERNAL=4\n"
        "CMAKE_CACHE_PATCH_VERSION:INTERNAL=5\n"
        "EMPTY:STRING=\n"
        "CUDNN_LIBRARY:FILEPATH=CUDNN_LIBRARY-NOTFOUND\n"
    )
    (build / "CMakeFiles" / "4.4.5" / "CMakeCXXCompiler.cmake").write_text(
        'set(CMAKE_CXX_COMPILER "/usr/bin/g++-13")\nset(CMAKE_CXX_COMPILER_ARG1 "")\n'
        'set(CMAKE_CXX_COMPILER_ID "GNU")\nset(CMAKE_CXX_COMPILER_VERSION "13.3.0")\n'
    )
    (build / "CMakeFiles" / "3.25.1" / "CMakeCXXCompiler.cmake").write_text(
        'set(CMAKE_CXX_COMPILER_ID "GNU")\nset(CMAKE_CXX_COMPILER_VERSION "12.2.0")\n'
    )
    return build


def test_read_cmake_cache(tmp_path: Path) -> None:
    cache = read_cmake_cache(make_build_dir(tmp_path))
    assert cache["CMAKE_CXX_COMPILER"] == "/usr/bin/g++-13"
    assert cache["EMPTY"] == ""
    assert read_cmake_cache(tmp_path / "nowhere") == {}


def test_compiler_facts_use_the_cmake_version_dir_of_the_cache(tmp_path: Path) -> None:
    facts = compiler_facts(make_build_dir(tmp_path))
    assert facts == {
        "cxx_compiler": "/usr/bin/g++-13",
        "cxx_compiler_id": "GNU",
        "cxx_compiler_version": "13.3.0",
        "cmake_version": "4.4.5",
        "cuda_version": "13.0",
        "nvcc": "/usr/local/cuda/bin/nvcc",
        "cuda_host_compiler": "/usr/bin/g++-13",
        "cudnn_version": None,
    }


def manifest(prefix: Path, **changes: object) -> Manifest:
    values: dict[str, object] = dict(
        opencv_version="5.1.0",
        prefix=str(prefix),
        build_dir="/b",
        recipe=RecipeFacts(name="minimal", cuda=True),
        cmake_options={"WITH_CUDA": "ON"},
        arch=ArchSelection(bin=("9.0",), ptx=("9.0",), origin="explicit", requested="9.0+PTX"),
        toolchain=ToolchainFacts(cuda_version="13.0"),
        source=SourceTree(
            spec=SourceSpec(kind="sdist", location="", opencv_version="5.1.0"),
            opencv_dir=Path("/src/opencv"),
            contrib_dir=None,
            opencv_version="5.1.0",
        ),
        durations={"configure": 30.0, "build": 600.5, "install": None},
        patches=(),
        python=PythonFacts(
            executable=Path("/usr/bin/python3"),
            version="3.12.3",
            module_dir=prefix / "lib/python3.12/site-packages/cv2",
        ),
        summary=parse_configure_summary(cuda_summary()),
        created="2026-01-01T00:00:00+00:00",
        tool_version="0.1.0",
    )
    values.update(changes)
    return Manifest(**values)  # type: ignore[arg-type]


def test_write_then_read_round_trips_and_keeps_unknown_keys(tmp_path: Path) -> None:
    m = manifest(tmp_path, extra={"from_a_newer_version": [1, 2]})
    path = write_manifest(tmp_path, m)
    assert path == tmp_path / MANIFEST_RELPATH
    data = json.loads(path.read_text())
    assert next(iter(data)) == "schema" and data["schema"] == SCHEMA
    assert data["from_a_newer_version"] == [1, 2]
    back = read_manifest(tmp_path)
    assert back == m
    assert back is not None and back.module_dir == tmp_path / "lib/python3.12/site-packages/cv2"


def test_read_manifest_missing_and_broken(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) is None
    path = tmp_path / MANIFEST_RELPATH
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(InstallError, match="cannot be read"):
        read_manifest(tmp_path)
    path.write_text('{"schema": "something/else", "opencv_version": "5.1.0"}')
    with pytest.raises(InstallError, match="has schema 'something/else'"):
        read_manifest(tmp_path)
    path.write_text(json.dumps({"schema": SCHEMA}))
    with pytest.raises(InstallError, match="lacks opencv_version, prefix, recipe"):
        read_manifest(tmp_path)


def test_find_module_dir_and_extension(tmp_path: Path) -> None:
    assert find_module_dir(tmp_path) is None
    cv2 = tmp_path / "lib" / "python3.12" / "site-packages" / "cv2"
    (cv2 / "python-3.12").mkdir(parents=True)
    assert find_module_dir(tmp_path) == cv2
    assert not has_extension(cv2)
    (cv2 / "python-3.12" / "cv2.cpython-312-x86_64-linux-gnu.so").write_text("")
    assert has_extension(cv2)


def test_summary_lines(tmp_path: Path) -> None:
    lines = summary_lines(manifest(tmp_path))
    assert lines[0] == f"OpenCV 5.1.0 (recipe minimal) installed into {tmp_path}"
    assert "  CUDA:      YES (ver 13.0, CUFFT CUBLAS)" in lines
    assert "  GPU arch:  89 90  PTX: 90" in lines
    assert "  took:      configure 30 s, build 600 s, install skipped" in lines


#: A manifest exactly as cvcuda-setup 0.1 (schema 1) wrote it: existing prefixes must keep working.
SCHEMA_1_DOCUMENT = {
    "schema": "cvcuda-setup/manifest/1",
    "opencv_version": "5.1.0",
    "prefix": "/opt/cv",
    "build_dir": "/b",
    "recipe": {
        "name": "minimal",
        "path": "/r/minimal.toml",
        "cuda": True,
        "python": True,
        "build_type": "Release",
        "modules": ["core", "cudev"],
    },
    "cmake_options": {"WITH_CUDA": "ON", "CUDA_ARCH_BIN": "9.0"},
    "arch": {"bin": ["9.0"], "ptx": ["9.0"], "origin": "auto", "requested": ""},
    "toolchain": {
        "cmake": "cmake",
        "cxx_compiler": "/usr/bin/g++",
        "cxx_compiler_id": "GNU",
        "cxx_compiler_version": "13.3.0",
        "cmake_version": "4.4.5",
        "cuda_version": "13.0",
        "nvcc": "/usr/local/cuda/bin/nvcc",
        "cuda_host_compiler": None,
        "cudnn_version": None,
        "launcher": "sccache",
        "jobs": 16,
    },
    "source": {
        "kind": "bundle",
        "location": "/bundles/b.tar.zst",
        "sha256": "ab" * 32,
        "opencv_version": "5.1.0",
        "opencv_dir": "/cache/src/opencv",
        "contrib_dir": "/cache/src/opencv_contrib",
        "pruned": True,
        "commits": None,
    },
    "durations": {"configure": None, "build": 600.5, "install": 3.0},
    "patches": [{"name": "fix.patch", "path": "/p/fix.patch", "sha256": "cd" * 32, "tree": "opencv"}],
    "python": {
        "executable": "/usr/bin/python3",
        "version": "3.12.3",
        "module_dir": "/opt/cv/lib/python3.12/site-packages/cv2",
    },
    "summary": {
        "opencv_version": "5.1.0",
        "modules_built": ["core", "cudev"],
        "cuda": True,
        "gpu_arch": ["90"],
    },
    "created": "2026-01-01T00:00:00+00:00",
    "tool_version": "0.1.0",
}


def test_a_schema_1_manifest_reads_into_the_typed_model(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST_RELPATH
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(SCHEMA_1_DOCUMENT))
    m = read_manifest(tmp_path)
    assert m is not None and m.schema == "cvcuda-setup/manifest/1"
    assert m.recipe == RecipeFacts("minimal", "/r/minimal.toml", True, True, "Release", ("core", "cudev"))
    assert m.arch == ArchSelection(bin=("9.0",), ptx=("9.0",), origin="auto", requested="")
    assert (
        m.toolchain.jobs == 16 and m.toolchain.launcher == "sccache" and m.toolchain.cuda_toolkit_root is None
    )
    assert m.source is not None and m.source.spec.kind == "bundle" and m.source.pruned
    assert m.source.contrib_dir == Path("/cache/src/opencv_contrib")
    assert [p.name for p in m.patches] == ["fix.patch"]
    assert m.module_dir == Path("/opt/cv/lib/python3.12/site-packages/cv2")
    assert m.python is not None and m.python.numpy_version is None
    assert m.summary.modules_built == ("core", "cudev") and m.summary.cuda is True
    assert m.durations == {"configure": None, "build": 600.5, "install": 3.0}
    assert m.option("WITH_CUDA") == "ON" and m.extra == {}


def test_a_schema_1_manifest_is_written_back_as_the_current_schema(tmp_path: Path) -> None:
    m = Manifest.from_json(SCHEMA_1_DOCUMENT)
    data = m.to_json()
    assert data["schema"] == SCHEMA == "cvcuda-setup/manifest/2"
    assert data["toolchain"]["cuda_toolkit_root"] is None and data["python"]["numpy_version"] is None
    for key in ("recipe", "arch", "cmake_options", "durations", "patches"):
        assert data[key] == SCHEMA_1_DOCUMENT[key], key
    assert data["source"] == SCHEMA_1_DOCUMENT["source"]
    assert Manifest.from_json(data) == replace(m, schema=SCHEMA)


def test_the_toolkit_root_and_cv2_folder_round_trip(tmp_path: Path) -> None:
    m = manifest(
        tmp_path, toolchain=ToolchainFacts(cuda_version="13.0", cuda_toolkit_root="/usr/local/cuda-13.0")
    )
    write_manifest(tmp_path, m)
    back = read_manifest(tmp_path)
    assert back is not None and back.cuda_toolkit_root == Path("/usr/local/cuda-13.0")
    assert back.module_dir == tmp_path / "lib/python3.12/site-packages/cv2"


def test_a_manifest_of_a_future_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST_RELPATH
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**SCHEMA_1_DOCUMENT, "schema": "cvcuda-setup/manifest/3"}))
    with pytest.raises(ManifestSchemaError) as info:
        read_manifest(tmp_path)
    message = str(info.value)
    assert "\n" not in message and "'cvcuda-setup/manifest/3'" in message
    assert "cvcuda-setup/manifest/1, cvcuda-setup/manifest/2" in message
    found = load_manifest(tmp_path)
    assert found.manifest is None and found.document is not None
    assert found.error is not None and "cvcuda-setup/manifest/3" in found.error


def test_load_manifest_says_why_there_is_none(tmp_path: Path) -> None:
    found = load_manifest(tmp_path)
    assert (found.document, found.manifest) == (None, None)
    assert found.error == f"{tmp_path / MANIFEST_RELPATH} does not exist"
