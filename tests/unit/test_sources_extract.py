"""Safe extraction: good tar and zip archives land whole; every unsafe member is refused, nothing is left."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from test_sources_fakes import listing, tar_bytes

from cvcuda_setup.errors import SourceError
from cvcuda_setup.sources.extract import safe_extract


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _dir(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _write(tmp: Path, name: str, payload: bytes) -> Path:
    path = tmp / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def test_good_tarball_is_extracted_whole(tmp_path: Path) -> None:
    archive = _write(
        tmp_path,
        "good.tar.gz",
        tar_bytes(
            [
                _dir("top"),
                _file("top/a.txt"),
                _link("top/ln", "a.txt"),
                _link("top/hard", "top/a.txt", tarfile.LNKTYPE),
            ],
            {"top/a.txt": b"hello"},
        ),
    )
    target = tmp_path / "out" / "tree"
    assert safe_extract(archive, target) == target
    assert (target / "top" / "a.txt").read_bytes() == b"hello"
    assert (target / "top" / "ln").is_symlink() and (target / "top" / "ln").read_bytes() == b"hello"
    assert (target / "top" / "hard").read_bytes() == b"hello"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tree"]  # no temp dir left


def test_good_zip_is_extracted_with_modes_and_symlinks(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("opencv-5.1.0/CMakeLists.txt", "project(OpenCV)\n")
        script = zipfile.ZipInfo("opencv-5.1.0/run.sh")
        script.external_attr = (stat.S_IFREG | 0o755) << 16
        zf.writestr(script, "#!/bin/sh\n")
        link = zipfile.ZipInfo("opencv-5.1.0/alias.txt")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "CMakeLists.txt")
    archive = _write(tmp_path, "gh.zip", buf.getvalue())
    target = safe_extract(archive, tmp_path / "out")
    assert (target / "opencv-5.1.0/CMakeLists.txt").read_text() == "project(OpenCV)\n"
    assert (target / "opencv-5.1.0/run.sh").stat().st_mode & 0o100
    assert (target / "opencv-5.1.0/alias.txt").is_symlink()


UNSAFE_TARS = {
    "dotdot": ([_file("top/../../evil.txt")], "'..' component"),
    "absolute": ([_file("/tmp/cvcuda-setup-evil-abs.txt")], "absolute path"),
    "symlink-outside": ([_link("top/esc", "../../outside")], "symlink pointing outside"),
    "symlink-absolute": ([_link("top/esc", "/etc")], "symlink to the absolute path"),
    "symlink-chain": ([_link("a", "."), _link("a/b", "..")], "goes through the archive's symlink"),
    "write-through-symlink": (
        [_link("top/d", "."), _file("top/d/x.txt")],
        "goes through the archive's symlink",
    ),
    "hardlink-outside": ([_link("top/h", "../outside.txt", tarfile.LNKTYPE)], "hard link pointing outside"),
    "hardlink-absolute": ([_link("top/h", "/etc/passwd", tarfile.LNKTYPE)], "hard link to the absolute path"),
    "hardlink-unknown": ([_link("top/h", "top/nothing", tarfile.LNKTYPE)], "not an earlier file"),
    "device": ([_link("top/null", "", tarfile.CHRTYPE)], "device file"),
    "fifo": ([_link("top/pipe", "", tarfile.FIFOTYPE)], "device file or FIFO"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE_TARS))
def test_unsafe_tar_member_is_refused_and_nothing_is_left(case: str, tmp_path: Path) -> None:
    members, why = UNSAFE_TARS[case]
    # a harmless member first, so a half-done extraction would be visible if it were kept
    entries = [_dir("top"), _file("top/ok.txt"), *members]
    archive = _write(tmp_path, f"{case}.tar.gz", tar_bytes(entries, {"top/ok.txt": b"ok"}))
    before = listing(tmp_path)
    with pytest.raises(SourceError, match="unsafe archive") as err:
        safe_extract(archive, tmp_path / "out" / "tree")
    assert why in str(err.value)
    assert listing(tmp_path) == before | {"out"}  # only the (empty) parent we were asked to fill
    assert list((tmp_path / "out").iterdir()) == []
    assert not Path("/tmp/cvcuda-setup-evil-abs.txt").exists()


def _zip(entries: list[tuple[str, int, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("top/ok.txt", "ok")
        for name, mode, data in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


UNSAFE_ZIPS = {
    "dotdot": ([("../evil.txt", stat.S_IFREG | 0o644, b"x")], "'..' component"),
    "absolute": ([("/tmp/cvcuda-setup-evil-zip.txt", stat.S_IFREG | 0o644, b"x")], "absolute path"),
    "symlink-outside": ([("top/esc", stat.S_IFLNK | 0o777, b"../../x")], "symlink pointing outside"),
    "write-through-symlink": (
        [("top/d", stat.S_IFLNK | 0o777, b"."), ("top/d/x.txt", stat.S_IFREG | 0o644, b"x")],
        "goes through the archive's symlink",
    ),
    "device": ([("top/null", stat.S_IFCHR | 0o644, b"")], "device file"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE_ZIPS))
def test_unsafe_zip_member_is_refused_and_nothing_is_left(case: str, tmp_path: Path) -> None:
    entries, why = UNSAFE_ZIPS[case]
    archive = _write(tmp_path, f"{case}.zip", _zip(entries))
    before = listing(tmp_path)
    with pytest.raises(SourceError, match="unsafe archive") as err:
        safe_extract(archive, tmp_path / "out")
    assert why in str(err.value)
    assert listing(tmp_path) == before
    assert not Path("/tmp/cvcuda-setup-evil-zip.txt").exists()


def test_truncated_archive_is_a_source_error(tmp_path: Path) -> None:
    good = tar_bytes([_file("top/a.txt")], {"top/a.txt": b"x" * 100_000})
    archive = _write(tmp_path, "cut.tar.gz", good[: len(good) // 2])
    before = listing(tmp_path)
    with pytest.raises(SourceError, match="cannot extract"):
        safe_extract(archive, tmp_path / "out")
    assert listing(tmp_path) == before


def test_existing_target_is_never_replaced(tmp_path: Path) -> None:
    archive = _write(tmp_path, "a.tar.gz", tar_bytes([_file("a.txt")], {"a.txt": b"new"}))
    target = tmp_path / "out"
    target.mkdir()
    (target / "mine.txt").write_text("mine")
    with pytest.raises(SourceError, match="already exists"):
        safe_extract(archive, target)
    assert listing(target) == {"mine.txt"}


@pytest.mark.parametrize("data_filter", [True, False], ids=["filter-data", "own-checks-only"])
def test_modes_are_sanitised_with_and_without_tarfile_data_filter(
    data_filter: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cvcuda_setup.sources import extract

    monkeypatch.setattr(extract, "_HAS_DATA_FILTER", data_filter)  # the Python < 3.10.12 path
    setuid = _file("top/tool")
    setuid.mode = 0o4777
    archive = _write(tmp_path, "m.tar.gz", tar_bytes([_dir("top"), setuid], {"top/tool": b"#!/bin/sh\n"}))
    target = safe_extract(archive, tmp_path / "out")
    mode = (target / "top" / "tool").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_IWOTH)
    escaping = _write(tmp_path, "e.tar.gz", tar_bytes([_link("top/esc", "../../x")]))
    with pytest.raises(SourceError, match="symlink pointing outside"):
        safe_extract(escaping, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()
