"""Packed prefixes: a deterministic archive of the tool's prefix, and its checked, relocating, atomic install.

Prefixes are made the way the build makes them: files written into ``install.staging_area``, the manifest by
its writer, then ``install.commit`` (which writes the install record). No file system is faked.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from cvcuda_setup import install
from cvcuda_setup.errors import InstallError, UsageError
from cvcuda_setup.install import PrefixState
from cvcuda_setup.manifest import (
    MANIFEST_RELPATH,
    Manifest,
    PythonFacts,
    RecipeFacts,
    read_manifest,
    write_manifest,
)
from cvcuda_setup.prefixpack import PACK_MEMBER, PackError, install_packed, pack_prefix, read_pack_info
from cvcuda_setup.record import RECORD_RELPATH, read_record
from cvcuda_setup.relocate import RelocationError, classify, prefix_pattern

PC = "lib/pkgconfig/opencv5.pc"
CMAKE = "lib/cmake/opencv5/OpenCVConfig.cmake"
CV2_CONFIG = "lib/python3.12/site-packages/cv2/config-3.12.py"
CV2_DIR = "lib/python3.12/site-packages/cv2"
CORE = "lib/libopencv_core.so.5.1.0"


def make_prefix(
    prefix: Path,
    *,
    elf: bool = False,
    link: tuple[str, str] | None = None,
    cache_key: dict[str, object] | None = None,
) -> Path:
    """A prefix built the way ``cmake.build`` installs one: staged, manifest written, committed."""
    p = str(prefix)
    with install.staging_area(prefix) as staging:
        root = install.staged_prefix(staging, prefix)
        files = {
            PC: f"prefix={p}\nexec_prefix=${{prefix}}\nlibdir=${{exec_prefix}}/lib\n"
            f"# another path, kept: {p}-old/lib {p}2/lib\nLibs: -L${{libdir}} -lopencv_core\n",
            CMAKE: f'set(OpenCV_INSTALL_PATH "{p}")\nset(OpenCV_INCLUDE_DIRS "{p}/include/opencv5")\n',
            CV2_CONFIG: f"PYTHON_EXTENSIONS_PATHS = [\n    '{p}/{CV2_DIR}/python-3.12'\n]\n",
            f"{CV2_DIR}/__init__.py": "# no prefix in here\n",
            "include/opencv5/opencv2/core.hpp": "#pragma once\n",
            CORE: "\x7fELF\x02\x01\x01" + (f"\x00{p}/share/opencv5\x00" if elf else "\x00no paths\x00"),
        }
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(text.encode("latin-1" if rel == CORE else "utf-8"))
        (root / CORE).chmod(0o755)
        os.symlink("libopencv_core.so.5.1.0", root / "lib" / "libopencv_core.so")
        if link is not None:
            os.symlink(link[1], root / link[0])
        manifest = Manifest(
            opencv_version="5.1.0",
            prefix=p,
            recipe=RecipeFacts(name="minimal", python=True),
            build_dir="/build/minimal",
            cmake_options={"CMAKE_INSTALL_PREFIX": p, "WITH_CUDA": "ON"},
            python=PythonFacts(Path("/usr/bin/python3"), "3.12.3", prefix / CV2_DIR),
            created="2026-01-01T00:00:00+00:00",
            tool_version="0.1.0",
            cache_key=cache_key,
        )
        write_manifest(root, manifest)
        install.commit(root, prefix, force=False)
    assert install.prefix_state(prefix) is PrefixState.OURS
    return prefix


def names(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_pack_then_install_elsewhere_rewrites_the_prefix_and_the_manifest(tmp_path: Path) -> None:
    old = make_prefix(tmp_path / "a" / "opencv")
    packed = pack_prefix(old, tmp_path / "out" / "opencv.tar.gz")
    assert packed.original_prefix == str(old) and packed.relocatable
    assert set(packed.text_files) == {PC, CMAKE, CV2_CONFIG}  # the manifest goes through its own writer
    assert packed.file_count == 8  # 6 files, the link, the manifest
    assert packed.size == packed.path.stat().st_size > 0

    new = tmp_path / "b" / "cv"
    result = install_packed(packed.path, new, force=False, expected_sha256=packed.sha256)
    assert result.relocated and result.previous is PrefixState.MISSING
    assert set(result.rewritten) == {PC, CMAKE, CV2_CONFIG, str(MANIFEST_RELPATH)}
    pc = (new / PC).read_text()
    assert f"prefix={new}\n" in pc
    assert f"{old}-old/lib {old}2/lib" in pc  # other paths that merely start with the prefix stay
    assert str(old) not in (new / CMAKE).read_text()
    assert f'"{new}/include/opencv5"' in (new / CMAKE).read_text()
    assert f"'{new}/{CV2_DIR}/python-3.12'" in (new / CV2_CONFIG).read_text()
    assert os.readlink(new / "lib" / "libopencv_core.so") == "libopencv_core.so.5.1.0"
    assert os.access(new / CORE, os.X_OK)
    assert not (new / PACK_MEMBER).exists()

    manifest = read_manifest(new)
    assert manifest is not None and manifest == result.manifest
    assert manifest.prefix == str(new) and manifest.module_dir == new / CV2_DIR
    assert manifest.option("CMAKE_INSTALL_PREFIX") == str(old)  # how it was built stays as it was
    record = read_record(new)
    assert record is not None and record.prefix == str(new) and record.created_prefix
    assert install.prefix_state(new) is PrefixState.OURS  # later builds and uninstalls know it
    assert names(new.parent) == [".cv.cvcuda-setup.lock", "cv"]  # no staging left; the lock stays
    assert install.prefix_state(old) is PrefixState.OURS  # the packed prefix was not touched


def test_the_archive_is_deterministic_and_its_members_normalised(tmp_path: Path) -> None:
    prefix = make_prefix(tmp_path / "p")
    first = pack_prefix(prefix, tmp_path / "one.tar.gz")
    os.utime(prefix / PC, (12345, 12345))  # mtimes never reach the archive
    second = pack_prefix(prefix, tmp_path / "two.tar.gz")
    assert first.sha256 == second.sha256 and first.path.read_bytes() == second.path.read_bytes()
    with tarfile.open(first.path) as tf:
        members = tf.getmembers()
    assert members[0].name == PACK_MEMBER
    rest = [m.name.rstrip("/") for m in members[1:]]
    assert rest == sorted(rest) and str(RECORD_RELPATH) not in rest and str(MANIFEST_RELPATH) in rest
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and not m.uname for m in members)
    assert not any(m.name.startswith("/") or ".." in m.name.split("/") for m in members)
    info = read_pack_info(first.path)
    assert info.original_prefix == str(prefix) and set(info.text_files) == set(first.text_files)
    assert info.binaries == () and info.file_count == first.file_count


def test_a_wrong_sha256_installs_nothing(tmp_path: Path) -> None:
    packed = pack_prefix(make_prefix(tmp_path / "p"), tmp_path / "p.tar.gz")
    corrupt = tmp_path / "corrupt.tar.gz"
    data = bytearray(packed.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    target = tmp_path / "t" / "cv"
    with pytest.raises(PackError, match="expected " + packed.sha256) as err:
        install_packed(corrupt, target, force=False, expected_sha256=packed.sha256)
    assert err.value.return_code == 2 and "\n" not in str(err.value)
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("escape", ["../escaped.txt", "ABSOLUTE"])
def test_a_member_escaping_the_prefix_is_refused_and_nothing_is_written(tmp_path: Path, escape: str) -> None:
    good = pack_prefix(make_prefix(tmp_path / "p"), tmp_path / "good.tar.gz")
    name = str(tmp_path / "absolute.txt") if escape == "ABSOLUTE" else escape
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(good.path) as src, tarfile.open(evil, "w:gz") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        bad = tarfile.TarInfo(name)
        bad.size = 4
        dst.addfile(bad, io.BytesIO(b"evil"))
    target = tmp_path / "t" / "cv"
    with pytest.raises(PackError, match="unsafe archive") as err:
        install_packed(evil, target, force=False, expected_sha256=None)
    assert err.value.return_code == 2
    assert "was not touched" in str(err.value)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "absolute.txt").exists()
    assert not target.exists() and names(target.parent) == [".cv.cvcuda-setup.lock"]


def test_a_non_empty_prefix_that_is_not_the_tools_is_refused_and_untouched(tmp_path: Path) -> None:
    packed = pack_prefix(make_prefix(tmp_path / "p"), tmp_path / "p.tar.gz")
    target = tmp_path / "users"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(InstallError, match="not empty") as err:
        install_packed(packed.path, target, force=False, expected_sha256=packed.sha256)
    assert err.value.return_code == 2
    assert names(target) == ["notes.txt"] and (target / "notes.txt").read_text() == "mine"


def test_a_binary_embedding_the_prefix_refuses_relocation_but_installs_in_place(tmp_path: Path) -> None:
    prefix = make_prefix(tmp_path / "p", elf=True)
    packed = pack_prefix(prefix, tmp_path / "p.tar.gz")
    assert packed.binaries == (CORE,) and not packed.relocatable
    target = tmp_path / "elsewhere"
    with pytest.raises(RelocationError, match=CORE.replace(".", r"\.") + r" \(an ELF file\)") as err:
        install_packed(packed.path, target, force=False, expected_sha256=packed.sha256)
    assert f"install at {prefix} or rebuild" in str(err.value) and err.value.return_code == 2
    assert not target.exists()

    before = (prefix / CORE).read_bytes()
    shutil.rmtree(prefix)
    result = install_packed(packed.path, prefix, force=False, expected_sha256=packed.sha256)
    assert not result.relocated and result.rewritten == () and result.previous is PrefixState.MISSING
    assert (prefix / CORE).read_bytes() == before and install.prefix_state(prefix) is PrefixState.OURS
    again = install_packed(packed.path, prefix, force=False, expected_sha256=None)  # over its own install
    assert again.previous is PrefixState.OURS and install.prefix_state(prefix) is PrefixState.OURS


def test_a_binary_the_pack_did_not_list_is_still_found_at_install(tmp_path: Path) -> None:
    prefix = make_prefix(tmp_path / "p", elf=True)
    packed = pack_prefix(prefix, tmp_path / "p.tar.gz")
    forged = tmp_path / "forged.tar.gz"  # a pack member that hides the binary
    with tarfile.open(packed.path) as src, tarfile.open(forged, "w:gz") as dst:
        for member in src.getmembers():
            body = src.extractfile(member) if member.isfile() else None
            if member.name == PACK_MEMBER and body is not None:
                info = json.loads(body.read())
                info["binaries"] = []
                data = json.dumps(info).encode()
                member.size = len(data)
                body = io.BytesIO(data)
            dst.addfile(member, body)
    target = make_prefix(tmp_path / "elsewhere")  # an install of the tool's that a failure must keep
    before = {p: p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file() and not p.is_symlink()}
    with pytest.raises(RelocationError, match="an ELF file"):
        install_packed(forged, target, force=False, expected_sha256=None)
    after = {p: p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file() and not p.is_symlink()}
    assert after == before and install.prefix_state(target) is PrefixState.OURS
    left = names(tmp_path)
    assert left == [
        ".elsewhere.cvcuda-setup.lock",
        ".p.cvcuda-setup.lock",
        "elsewhere",
        "forged.tar.gz",
        "p",
        "p.tar.gz",
    ]


def test_only_the_tools_own_prefixes_are_packed(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "lib").mkdir(parents=True)
    (plain / "lib" / "libx.so").write_text("x")
    with pytest.raises(PackError, match="no cvcuda-setup install record") as err:
        pack_prefix(plain, tmp_path / "x.tar.gz")
    assert err.value.return_code == 2 and "\n" not in str(err.value)
    ours = make_prefix(tmp_path / "ours")
    (ours / "lib" / "added-by-hand.txt").write_text("x")
    with pytest.raises(PackError, match=r"added-by-hand\.txt"):
        pack_prefix(ours, tmp_path / "x.tar.gz")
    with pytest.raises(PackError, match="does not exist"):
        pack_prefix(tmp_path / "nowhere", tmp_path / "x.tar.gz")
    assert not (tmp_path / "x.tar.gz").exists()


@pytest.mark.parametrize("target", ["../../outside", "ABSOLUTE"])
def test_a_symlink_leaving_the_prefix_is_refused(tmp_path: Path, target: str) -> None:
    (tmp_path / "outside").write_text("x")
    dest = str(tmp_path / "outside") if target == "ABSOLUTE" else target
    prefix = make_prefix(tmp_path / "p", link=("lib/escape", dest))
    with pytest.raises(PackError, match=r"lib/escape -> .* points outside the prefix"):
        pack_prefix(prefix, tmp_path / "x.tar.gz")
    assert names(tmp_path) == [".p.cvcuda-setup.lock", "outside", "p"]


def test_an_archive_that_is_not_a_pack_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar.gz"
    with tarfile.open(plain, "w:gz") as tf:
        info = tarfile.TarInfo("lib/libx.so")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(PackError, match="not a cvcuda-setup packed prefix"):
        install_packed(plain, tmp_path / "t", force=False, expected_sha256=None)
    with pytest.raises(UsageError, match="not 64 hex digits"):
        install_packed(plain, tmp_path / "t", force=False, expected_sha256="abc")
    assert not (tmp_path / "t").exists()


def test_the_prefix_is_found_across_read_chunks_and_only_as_a_whole_path(tmp_path: Path) -> None:
    prefix = "/opt/cv"
    pattern = prefix_pattern(prefix)
    chunk = 1 << 20
    split = tmp_path / "split.txt"  # the prefix straddles the first 1 MiB read
    split.write_bytes(b"a" * (chunk - 3) + b" /opt/cv/lib\n")
    assert classify(split, pattern) == "text"
    longer = tmp_path / "longer.txt"  # the match ends exactly at the chunk end; the next byte continues it
    longer.write_bytes(b"a" * (chunk - len(prefix)) + b"/opt/cv" + b"2/lib\n")
    assert classify(longer, pattern) == "none"
    elf = tmp_path / "elf"
    elf.write_bytes(b"\x7fELF" + b"\x00" * chunk + b"/opt/cv\x00")
    assert classify(elf, pattern) == "elf"
    blob = tmp_path / "blob"
    blob.write_bytes(b"\xff\xfe/opt/cv/x")
    assert classify(blob, pattern) == "binary"
