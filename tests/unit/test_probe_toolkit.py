"""probe.toolkit: nvcc discovery order, version and arch lists, toolkit root, libraries, cuDNN.

Fakes live at the process/file-system boundary: shell scripts named nvcc that print what a given nvcc
prints, and toolkit trees with (or without) the library files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fake_toolkit import CODES_124, write_nvcc

from cvcuda_setup.probe import toolkit


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No real toolkit: /usr/local/cuda and the cuDNN system dirs point into tmp; no CUDA variables."""
    monkeypatch.setattr(toolkit, "DEFAULT_TOOLKIT", tmp_path / "no-default-cuda")
    monkeypatch.setattr(toolkit, "CUDNN_SYSTEM_DIRS", (tmp_path / "no-system",))
    for var in ("CUDACXX", "CUDA_HOME", "CUDA_PATH", "CUDNN_ROOT", "CUDNN_HOME", "CUDNN_PATH"):
        monkeypatch.delenv(var, raising=False)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return tmp_path


def search(tmp_site: list[Path] | None = None) -> toolkit.NvccSearch:
    return toolkit.search_nvcc(site_dirs=tmp_site or [])


def test_version_lists_and_root_from_a_toolkit_on_path(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = isolated / "cuda-12.4"
    write_nvcc(root, top=root)
    monkeypatch.setenv("PATH", str(root / "bin"))
    info = search().chosen
    assert info is not None
    assert (info.origin, info.version, info.full_version) == ("PATH", "12.4", "12.4.131")
    assert info.root == root.resolve()
    assert info.gpu_codes == tuple(CODES_124)
    assert info.gpu_archs[0] == "compute_50"
    assert info.version_tuple == (12, 4)


def test_root_comes_from_nvcc_itself_for_a_wrapper_script(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_root = isolated / "cuda-13.0"
    real_root.mkdir()
    wrapper_dir = isolated / "usr-local"
    write_nvcc(wrapper_dir, version="13.0", top=real_root)  # like /usr/local/bin/nvcc exec'ing the real one
    monkeypatch.setenv("PATH", str(wrapper_dir / "bin"))
    info = search().chosen
    assert info is not None and info.root == real_root.resolve()


def test_cuda_home_wins_over_path(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = isolated / "path-cuda"
    write_nvcc(on_path, version="12.4")
    home = isolated / "home-cuda"
    write_nvcc(home, version="13.0")
    monkeypatch.setenv("PATH", str(on_path / "bin"))
    monkeypatch.setenv("CUDA_HOME", str(home))
    result = search()
    assert result.chosen is not None
    assert (result.chosen.origin, result.chosen.version) == ("CUDA_HOME", "13.0")
    assert [(o.origin, o.version) for o in result.others] == [("PATH", "12.4")]


def test_cudacxx_wins_over_everything(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = isolated / "home-cuda"
    write_nvcc(home, version="12.4")
    chosen = write_nvcc(isolated / "cxx-cuda", version="12.8")
    monkeypatch.setenv("CUDA_HOME", str(home))
    monkeypatch.setenv("CUDACXX", str(chosen))
    info = search().chosen
    assert info is not None and (info.origin, info.version) == ("CUDACXX", "12.8")


def test_cuda_path_is_used_without_cuda_home(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_nvcc(isolated / "cp", version="12.6")
    monkeypatch.setenv("CUDA_PATH", str(isolated / "cp"))
    info = search().chosen
    assert info is not None and (info.origin, info.version) == ("CUDA_PATH", "12.6")


def test_a_cuda_home_without_nvcc_is_rejected_and_reported(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_nvcc(isolated / "good", version="12.4")
    monkeypatch.setenv("CUDA_HOME", str(isolated / "nothing-here"))
    monkeypatch.setenv("PATH", str(isolated / "good" / "bin"))
    result = search()
    assert result.chosen is not None and result.chosen.origin == "PATH"
    assert result.rejected == (
        ("CUDA_HOME", str(isolated / "nothing-here" / "bin" / "nvcc"), "does not exist"),
    )


def test_an_nvcc_that_prints_no_release_is_rejected(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = isolated / "broken" / "bin" / "nvcc"
    broken.parent.mkdir(parents=True)
    broken.write_text("#!/bin/sh\necho 'segmentation fault' >&2\nexit 139\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CUDA_HOME", str(isolated / "broken"))
    result = search()
    assert result.chosen is None
    assert result.rejected[0][0] == "CUDA_HOME"
    assert "printed no CUDA release (segmentation fault)" in result.rejected[0][2]


def test_default_location_then_nothing(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert search().chosen is None
    assert "nvcc on PATH" in search().searched
    default = isolated / "default-cuda"
    write_nvcc(default, version="13.0")
    monkeypatch.setattr(toolkit, "DEFAULT_TOOLKIT", default)
    info = search().chosen
    assert info is not None and info.origin == "/usr/local/cuda"


@pytest.mark.parametrize("layout", ["nvidia/cu13/bin/nvcc", "nvidia/cuda_nvcc/bin/nvcc"])
def test_pip_nvidia_wheels_are_the_last_resort(isolated: Path, layout: str) -> None:
    site_dir = isolated / "site-packages"
    root = (site_dir / layout).parent.parent
    write_nvcc(root, version="13.0" if "cu13" in layout else "12.8")
    info = search([site_dir]).chosen
    assert info is not None
    assert info.origin == "pip nvidia wheel"
    assert info.path == site_dir / layout


def test_an_old_nvcc_without_list_flags_gives_empty_lists(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_nvcc(isolated / "old", version="10.2", lists=False)
    monkeypatch.setenv("CUDA_HOME", str(isolated / "old"))
    info = search().chosen
    assert info is not None and info.gpu_codes == () and info.gpu_archs == ()


def test_find_nvcc_uses_the_given_environment(isolated: Path) -> None:
    write_nvcc(isolated / "envcuda", version="12.9")
    info = toolkit.find_nvcc({"CUDA_HOME": str(isolated / "envcuda"), "PATH": ""})
    assert info is not None and info.version == "12.9"


# --- libraries ----------------------------------------------------------------------------------------------


def test_libraries_in_lib64_targets_and_missing(isolated: Path) -> None:
    root = isolated / "cuda"
    touch(root / "lib64" / "libcublas.so.13")
    touch(root / "lib64" / "libcublasLt.so.13")
    touch(root / "targets" / "x86_64-linux" / "lib" / "libcufft.so")
    assert toolkit.find_cuda_library(root, "cublas") == root / "lib64" / "libcublas.so.13"
    assert (
        toolkit.find_cuda_library(root, "cufft") == root / "targets" / "x86_64-linux" / "lib" / "libcufft.so"
    )
    assert toolkit.find_cuda_library(root, "nppc") is None
    assert toolkit.missing_npp(root) == list(toolkit.NPP_LIBRARIES)


def test_static_only_library_does_not_count(isolated: Path) -> None:
    root = isolated / "cuda"
    touch(root / "lib64" / "libnppc_static.a")
    assert toolkit.find_cuda_library(root, "nppc") is None


def test_npp_complete(isolated: Path) -> None:
    root = isolated / "cuda"
    for name in toolkit.NPP_LIBRARIES:
        touch(root / "lib64" / f"lib{name}.so.13")
    assert toolkit.missing_npp(root) == []


def test_cuda12_pip_layout_finds_sibling_packages(isolated: Path) -> None:
    nvidia = isolated / "site-packages" / "nvidia"
    root = nvidia / "cuda_nvcc"
    root.mkdir(parents=True)
    touch(nvidia / "npp" / "lib" / "libnppc.so.12")
    assert toolkit.find_cuda_library(root, "nppc") == nvidia / "npp" / "lib" / "libnppc.so.12"


def test_cudnn_version_from_header_and_library_from_cudnn_root(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = isolated / "cuda"
    root.mkdir()
    assert toolkit.cudnn_version(root) is None
    cudnn = isolated / "cudnn-9"
    header = cudnn / "include" / "cudnn_version.h"
    header.parent.mkdir(parents=True)
    header.write_text("#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 1\n#define CUDNN_PATCHLEVEL 0\n")
    touch(cudnn / "lib" / "libcudnn.so.9")
    monkeypatch.setenv("CUDNN_ROOT", str(cudnn))
    assert toolkit.cudnn_version(root) == "9.1.0"
    assert toolkit.cudnn_header(root) == header
    assert toolkit.find_cuda_library(root, "cudnn") == cudnn / "lib" / "libcudnn.so.9"


def test_cudnn_from_the_system_directories(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = isolated / "usr"
    header = system / "include" / "x86_64-linux-gnu" / "cudnn_version_v9.h"
    header.parent.mkdir(parents=True)
    header.write_text("#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 3\n#define CUDNN_PATCHLEVEL 2\n")
    touch(system / "lib" / "x86_64-linux-gnu" / "libcudnn.so.9")
    monkeypatch.setattr(toolkit, "CUDNN_SYSTEM_DIRS", (system,))
    root = isolated / "cuda"
    root.mkdir()
    assert toolkit.cudnn_version(root) == "9.3.2"
    assert toolkit.find_cuda_library(root, "cudnn") == system / "lib" / "x86_64-linux-gnu" / "libcudnn.so.9"


def test_executable_check(isolated: Path) -> None:
    not_exec = isolated / "x" / "bin" / "nvcc"
    not_exec.parent.mkdir(parents=True)
    not_exec.write_text("#!/bin/sh\n")
    os.chmod(not_exec, 0o644)
    assert toolkit.describe_nvcc(not_exec, "CUDA_HOME") == "is not an executable file"
