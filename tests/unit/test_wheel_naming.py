"""wheel.naming: the distribution's version label, the facts behind it, and the tags from the interpreter."""

from __future__ import annotations

import json
import sys
import sysconfig
from pathlib import Path

import pytest

from cvcuda_setup.errors import ToolchainError, UsageError
from cvcuda_setup.manifest import MANIFEST_RELPATH
from cvcuda_setup.wheel import naming
from cvcuda_setup.wheel.naming import BuildFacts, InterpreterFacts


def facts(**kw: object) -> BuildFacts:
    base: dict[str, object] = {"opencv_version": "5.1.0", "cuda": True, "cuda_version": "13.0"}
    base.update(kw)
    return BuildFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("token", "number"),
    [
        ("9.0", "90"),
        ("90", "90"),
        ("sm_90", "90"),
        ("compute_86", "86"),
        ("12.0", "120"),
        ("120", "120"),
        ("9.0a", "90a"),
        ("100f", "100f"),
        ("90-real", "90"),
        ("8.6-virtual", "86"),
        ("x", None),
        ("9", None),
    ],
)
def test_arch_number(token: str, number: str | None) -> None:
    assert naming.arch_number(token) == number


def test_label_carries_cuda_version_sass_and_ptx() -> None:
    built = facts(arch_bin=("86", "90"), arch_ptx=("90",))
    assert naming.local_label(built) == "cu130.sm86.sm90.ptx90"
    assert naming.dist_version(built) == "5.1.0+cu130.sm86.sm90.ptx90"
    assert naming.dist_version(facts(cuda_version="12.8", arch_bin=("120",))) == "5.1.0+cu128.sm120"


def test_cpu_only_build_is_labelled_cpu() -> None:
    assert naming.dist_version(facts(cuda=False, cuda_version=None)) == "5.1.0+cpu"


@pytest.mark.parametrize(
    ("opencv", "pep440"),
    [
        ("5.1.0", "5.1.0"),
        ("4.13.0-dev", "4.13.0.dev0"),
        ("5.0.0-alpha", "5.0.0a0"),
        ("4.10.0.84", "4.10.0.84"),
        ("5.0.0-rc1", "5.0.0rc1"),
    ],
)
def test_public_version(opencv: str, pep440: str) -> None:
    assert naming.public_version(opencv) == pep440


def test_unusable_version_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"'5\.x' cannot be written"):
        naming.public_version("5.x")


def test_summary_says_what_is_inside() -> None:
    text = naming.summary(facts(arch_bin=("90",), arch_ptx=("90",)))
    assert "CUDA 13.0" in text and "sm_90" in text and "compute_90 PTX" in text
    assert "CPU-only" in naming.summary(facts(cuda=False, cuda_version=None))


@pytest.mark.parametrize(
    ("value", "bins", "ptxs"),
    [
        ("86-real;90", ["86", "90"], ["90"]),
        ("90-virtual", [], ["90"]),
        ("-gencode;arch=compute_90,code=sm_90;-gencode;arch=compute_90,code=compute_90", ["90"], ["90"]),
        ("-gencode;arch=compute_86,code=[sm_86,compute_86]", ["86"], ["86"]),
        ("", [], []),
    ],
)
def test_compute_capabilities_of_opencv_config(value: str, bins: list[str], ptxs: list[str]) -> None:
    assert naming.parse_compute_capabilities(value) == (bins, ptxs)


def write_prefix(
    root: Path, manifest: object | None = None, *, cuda_cmake: str = "", cvconfig: str = ""
) -> Path:
    headers = root / "include" / "opencv5" / "opencv2"
    (headers / "core").mkdir(parents=True)
    (headers / "core" / "version.hpp").write_text(
        "#define CV_VERSION_MAJOR    5\n#define CV_VERSION_MINOR    1\n"
        '#define CV_VERSION_REVISION 0\n#define CV_VERSION_STATUS   "-dev"\n'
    )
    (headers / "cvconfig.h").write_text(cvconfig or '#define CUDA_ARCH_BIN ""\n/* #undef HAVE_CUDA */\n')
    cmake = root / "lib" / "cmake" / "opencv5"
    cmake.mkdir(parents=True)
    (cmake / "OpenCVConfig.cmake").write_text(f"SET(OpenCV_VERSION 5.1.0)\n{cuda_cmake}")
    if manifest is not None:
        path = root / MANIFEST_RELPATH
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(manifest) if not isinstance(manifest, str) else manifest)
    return root


def test_facts_from_the_manifest(tmp_path: Path) -> None:
    prefix = write_prefix(
        tmp_path,
        {
            "schema": "cvcuda-setup/manifest/1",
            "prefix": str(tmp_path),
            "opencv_version": "5.1.0",
            "recipe": {"name": "minimal", "cuda": True},
            "arch": {"bin": ["8.6", "9.0"], "ptx": ["9.0"]},
            "toolchain": {"cuda_version": "13.0.88"},
        },
    )
    got = naming.read_build_facts(prefix)
    assert (got.opencv_version, got.cuda, got.cuda_version) == ("5.1.0", True, "13.0")
    assert (got.arch_bin, got.arch_ptx) == (("86", "90"), ("90",))
    assert got.origin == {
        "opencv_version": "manifest",
        "cuda": "manifest",
        "cuda_version": "manifest",
        "arch": "manifest",
    }
    assert naming.dist_version(got) == "5.1.0+cu130.sm86.sm90.ptx90"


def test_manifest_of_a_cpu_recipe_wins_over_a_recorded_toolkit(tmp_path: Path) -> None:
    prefix = write_prefix(
        tmp_path,
        {
            "schema": "cvcuda-setup/manifest/1",
            "prefix": str(tmp_path),
            "opencv_version": "5.1.0",
            "recipe": {"name": "cpu-test"},
            "cmake_options": {"WITH_CUDA": "OFF"},
            "toolchain": {"cuda_version": "13.0"},
            "arch": {"bin": [], "ptx": []},
        },
    )
    got = naming.read_build_facts(prefix)
    assert not got.cuda and got.cuda_version is None
    assert naming.dist_version(got) == "5.1.0+cpu"


@pytest.mark.parametrize(
    "where",
    [
        {"toolchain": {"cuda_version": "13.0"}},
        {"toolchain": {"cuda_version": "V13.0.88"}},
        {"summary": {"cuda_version": "13.0"}},
    ],
)
def test_cuda_version_is_read_where_the_manifest_records_it(tmp_path: Path, where: dict[str, object]) -> None:
    manifest = {
        "schema": "cvcuda-setup/manifest/1",
        "prefix": str(tmp_path),
        "recipe": {"name": "minimal"},
        "opencv_version": "5.1.0",
        "cmake_options": {"WITH_CUDA": "ON"},
        "arch": {"bin": ["9.0"]},
        **where,
    }
    got = naming.read_build_facts(write_prefix(tmp_path, manifest))
    assert got.cuda and got.cuda_version == "13.0"


def test_without_manifest_the_installed_files_are_read(tmp_path: Path) -> None:
    prefix = write_prefix(
        tmp_path,
        cuda_cmake='set(OpenCV_CUDA_VERSION "13.0.88")\nset(OpenCV_COMPUTE_CAPABILITIES "86-real;90")\n',
        cvconfig='#define CUDA_ARCH_BIN " 86 90"\n#define CUDA_ARCH_PTX " 90"\n#define HAVE_CUDA\n',
    )
    got = naming.read_build_facts(prefix)
    assert got.manifest is None
    assert got.opencv_version == "5.1.0-dev"  # CV_VERSION_STATUS counts
    assert (got.cuda, got.cuda_version, got.arch_bin, got.arch_ptx) == (True, "13.0", ("86", "90"), ("90",))
    assert got.origin["cuda"] == "opencv2/cvconfig.h"
    assert got.origin["arch"] == "opencv2/cvconfig.h"
    assert got.origin["cuda_version"] == "OpenCVConfig.cmake"
    assert naming.dist_version(got) == "5.1.0.dev0+cu130.sm86.sm90.ptx90"


def test_arch_falls_back_to_opencv_config_when_cvconfig_has_none(tmp_path: Path) -> None:
    prefix = write_prefix(
        tmp_path,
        cuda_cmake='set(OpenCV_CUDA_VERSION "13.0")\nset(OpenCV_COMPUTE_CAPABILITIES "90-real")\n',
        cvconfig='#define CUDA_ARCH_BIN ""\n#define HAVE_CUDA\n',
    )
    got = naming.read_build_facts(prefix)
    assert (got.arch_bin, got.arch_ptx, got.origin["arch"]) == (("90",), (), "OpenCVConfig.cmake")


def test_a_cuda_build_without_a_cuda_version_is_refused(tmp_path: Path) -> None:
    prefix = write_prefix(tmp_path, cvconfig="#define HAVE_CUDA\n")
    with pytest.raises(UsageError, match="names its CUDA"):
        naming.read_build_facts(prefix)


def test_unreadable_manifest_falls_back(tmp_path: Path) -> None:
    prefix = write_prefix(tmp_path, "{not json")
    got = naming.read_build_facts(prefix)
    assert got.manifest is None and not got.cuda
    assert got.origin["opencv_version"] == "opencv2/core/version.hpp"


def test_a_directory_without_opencv_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot tell the OpenCV version"):
        naming.read_build_facts(tmp_path)


def interp(**kw: object) -> InterpreterFacts:
    base: dict[str, object] = {
        "executable": "/usr/bin/python3.12",
        "implementation": "cpython",
        "version": (3, 12),
        "ext_suffix": ".cpython-312-x86_64-linux-gnu.so",
        "platform": "linux-x86_64",
    }
    base.update(kw)
    return InterpreterFacts(**base)  # type: ignore[arg-type]


def test_tag_comes_from_the_interpreter() -> None:
    tag = naming.wheel_tag(interp(), Path("cv2/python-3.12/cv2.cpython-312-x86_64-linux-gnu.so"))
    assert str(tag) == "cp312-cp312-linux_x86_64"
    abi3 = naming.wheel_tag(interp(), Path("cv2/python-3/cv2.abi3.so"))
    assert str(abi3) == "cp312-abi3-linux_x86_64"
    ft = interp(version=(3, 13), ext_suffix=".cpython-313t-x86_64-linux-gnu.so", gil_disabled=True)
    assert (
        str(naming.wheel_tag(ft, Path("cv2.cpython-313t-x86_64-linux-gnu.so"))) == "cp313-cp313t-linux_x86_64"
    )


def test_extension_built_for_another_python_is_refused() -> None:
    with pytest.raises(UsageError, match=r"was not built for /usr/bin/python3\.12") as err:
        naming.wheel_tag(interp(), Path("cv2.cpython-311-x86_64-linux-gnu.so"))
    assert "--python" in str(err.value)
    with pytest.raises(UsageError, match="not CPython"):
        naming.wheel_tag(interp(implementation="pypy"), Path("cv2.abi3.so"))


def test_this_interpreter_is_probed_for_real() -> None:
    got = naming.probe_interpreter(None)
    assert got.version == sys.version_info[:2]
    assert got.ext_suffix == sysconfig.get_config_var("EXT_SUFFIX")
    assert got.platform == sysconfig.get_platform()


def test_a_missing_or_broken_interpreter_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        naming.probe_interpreter(str(tmp_path / "python9"))
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(ToolchainError, match="failed to describe itself: boom"):
        naming.probe_interpreter(str(broken))


def test_file_names() -> None:
    tag = naming.WheelTag("cp312", "cp312", "linux_x86_64")
    name = naming.wheel_filename("opencv-cuda", "5.1.0+cu130.sm90", tag)
    assert name == "opencv_cuda-5.1.0+cu130.sm90-cp312-cp312-linux_x86_64.whl"
    assert naming.dist_info_dir("opencv-cuda", "5.1.0+cpu") == "opencv_cuda-5.1.0+cpu.dist-info"
