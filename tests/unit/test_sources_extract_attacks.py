"""Archives built here that try to escape or to flood the cache: every one refused, nothing left behind."""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from test_sources_fakes import fake_opencv

from cvcuda_setup.errors import SourceError
from cvcuda_setup.sources import fetch, spec_from_cli
from cvcuda_setup.sources.extract import links_outside, safe_extract


def _zip_link(zf: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


def _chain_zip(out: Path) -> Path:
    """``opencv/d/e/s -> ../..``, then links through it that end at / and /etc/passwd."""
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("opencv/d/e/keep.txt", "x")
        _zip_link(zf, "opencv/d/e/s", "../..")
        _zip_link(zf, "opencv/d/e/t", "s/../../../../../../../..")
        _zip_link(zf, "opencv/root", "d/e/t")
        _zip_link(zf, "opencv/etc_passwd", "d/e/t/etc/passwd")
    return out


def test_a_chain_of_zip_links_cannot_reach_outside(tmp_path: Path) -> None:
    archive = _chain_zip(tmp_path / "a.zip")
    with pytest.raises(SourceError, match=r"unsafe archive .*symlink pointing outside"):
        safe_extract(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]


def test_a_zip_named_tar_xz_is_judged_by_its_content(tmp_path: Path) -> None:
    archive = _chain_zip(tmp_path / "opencv-5.1.0.tar.xz")
    cache = tmp_path / "cache"
    with pytest.raises(SourceError, match="unsafe archive"):
        fetch(spec_from_cli(str(archive), "5.1.0"), cache, need_contrib=False)
    assert not any(p.is_file() or p.is_symlink() for p in cache.rglob("*"))


def test_tar_links_that_escape_once_opencv_moves_up_are_refused(tmp_path: Path) -> None:
    src = fake_opencv(tmp_path / "src", contrib=False)
    link = src / "opencv" / "up"
    link.symlink_to("../../../outside")  # inside a/b/ of the archive, outside the final tree
    archive = tmp_path / "deep.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname="a/b")
    cache = tmp_path / "cache"
    with pytest.raises(SourceError, match=r"symlink\(s\) resolve outside the extracted tree.*up"):
        fetch(spec_from_cli(str(archive), "5.1.0"), cache, need_contrib=False)
    assert not any(p.is_file() or p.is_symlink() for p in cache.rglob("*"))


def test_links_outside_resolves_on_the_final_tree(tmp_path: Path) -> None:
    (tmp_path / "t" / "d").mkdir(parents=True)
    (tmp_path / "t" / "d" / "ok").symlink_to("..")
    (tmp_path / "t" / "bad").symlink_to("d/ok/..")
    assert links_outside(tmp_path / "t") == ["bad"]


def _bomb(out: Path, members: int, size: int) -> Path:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(members):
            zf.writestr(f"opencv/f{i}", b"\0" * size)
    return out


def test_the_byte_bound_stops_a_bomb_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _bomb(tmp_path / "bomb.zip", 4, 1 << 20)
    assert archive.stat().st_size < 64 << 10
    monkeypatch.setenv("CVCUDA_SETUP_MAX_EXTRACT_BYTES", str(3 << 20))
    with pytest.raises(SourceError, match=r"more than 3145728 bytes .*raise CVCUDA_SETUP_MAX_EXTRACT_BYTES"):
        safe_extract(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]
    monkeypatch.setenv("CVCUDA_SETUP_MAX_EXTRACT_BYTES", str(5 << 20))
    assert (safe_extract(archive, tmp_path / "out") / "opencv" / "f3").stat().st_size == 1 << 20


def test_the_member_bound_and_a_bad_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _bomb(tmp_path / "many.zip", 30, 1)
    monkeypatch.setenv("CVCUDA_SETUP_MAX_EXTRACT_MEMBERS", "20")
    with pytest.raises(SourceError, match="more than 20 members"):
        safe_extract(archive, tmp_path / "out")
    monkeypatch.setenv("CVCUDA_SETUP_MAX_EXTRACT_MEMBERS", "lots")
    with pytest.raises(SourceError, match="CVCUDA_SETUP_MAX_EXTRACT_MEMBERS='lots' is not a positive"):
        safe_extract(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.zip"]


def test_a_long_member_name_is_refused_and_shortened_in_the_message(tmp_path: Path) -> None:
    archive = tmp_path / "long.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("opencv/" + "x" * 5000)
        tf.addfile(info)
    with pytest.raises(SourceError) as err:
        safe_extract(archive, tmp_path / "out")
    assert "characters in its name" in str(err.value) and len(str(err.value)) < 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.tar"]
