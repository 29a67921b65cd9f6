"""A refused archive leaves the cache as it was; what a killed fetch left in it is cleaned by the next one."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from test_sources_fakes import FakeIndex, Route, fake_index, fake_opencv, fake_sdist, listing

from cvcuda_setup.errors import SourceError
from cvcuda_setup.leftovers import MARKER
from cvcuda_setup.sources import fetch, spec_from_cli

__all__ = ["fake_index"]  # the fixture, imported for pytest


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _used_cache(tmp_path: Path, index: FakeIndex) -> Path:
    """A cache a good earlier fetch filled (a download and a tree): what a refusal must leave as it is."""
    archive, sha = fake_sdist(tmp_path / "good")
    index.routes["/good.tar.gz"] = Route(archive.read_bytes())
    cache = tmp_path / "cache"
    fetch(spec_from_cli(index.url("/good.tar.gz"), "5.1.0", sha256=sha), cache)
    return cache


def _unsafe_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in ("opencv/CMakeLists.txt", "../escaped.txt"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tf.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


def _link_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("opencv/CMakeLists.txt", "x")
        info = zipfile.ZipInfo("opencv/passwd")
        info.external_attr = (0o120777) << 16
        zf.writestr(info, "../../../../etc/passwd")
    return buf.getvalue()


def _bomb_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(4):
            zf.writestr(f"opencv/f{i}", b"\0" * (1 << 20))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "why"),
    [
        ("evil.tar.gz", _unsafe_tar, "unsafe archive .*'\\.\\.' component"),
        ("links.zip", _link_zip, "unsafe archive .*symlink"),
        ("bomb.zip", _bomb_zip, "exceeds the extraction bound"),
        ("bomb-as.tar.xz", _bomb_zip, "exceeds the extraction bound"),  # a zip by content
    ],
)
def test_a_refused_download_leaves_the_cache_as_it_was(
    fake_index: FakeIndex, tmp_path: Path, name: str, make: object, why: str
) -> None:
    cache = _used_cache(tmp_path, fake_index)
    before = listing(cache)
    body = make()  # type: ignore[operator]
    fake_index.routes[f"/{name}"] = Route(body)
    spec = spec_from_cli(fake_index.url(f"/{name}"), "5.1.0", sha256=_sha(body))
    with pytest.raises(SourceError, match=why):
        fetch(spec, cache, limits={"bytes": 2 << 20, "members": 100, "name": 200})
    assert fake_index.hits[f"/{name}"] == 1  # it was downloaded, then refused
    assert listing(cache) == before  # no download, no trees/*.tmp, no partial tree, no empty dir


def test_a_refused_download_into_a_new_cache_leaves_no_cache(fake_index: FakeIndex, tmp_path: Path) -> None:
    body = _unsafe_tar()
    fake_index.routes["/evil.tar.gz"] = Route(body)
    cache = tmp_path / "new" / "cache"
    with pytest.raises(SourceError, match="unsafe archive"):
        fetch(spec_from_cli(fake_index.url("/evil.tar.gz"), "5.1.0", sha256=_sha(body)), cache)
    assert not (tmp_path / "new").exists()


def test_a_refused_local_archive_leaves_the_cache_and_the_users_file(tmp_path: Path) -> None:
    archive = tmp_path / "links.zip"
    archive.write_bytes(_link_zip())
    cache = tmp_path / "cache"
    (cache / "trees").mkdir(parents=True)
    (cache / "notes.txt").write_text("mine")
    before = listing(cache)
    with pytest.raises(SourceError, match="unsafe archive"):
        fetch(spec_from_cli(str(archive), "5.1.0"), cache, need_contrib=False)
    assert listing(cache) == before and archive.read_bytes() == _link_zip()  # the user's archive is kept


def test_a_download_cached_earlier_and_refused_now_is_removed(fake_index: FakeIndex, tmp_path: Path) -> None:
    body = _bomb_zip()
    sha = _sha(body)
    fake_index.routes["/bomb.zip"] = Route(body)
    spec = spec_from_cli(fake_index.url("/bomb.zip"), "5.1.0", sha256=sha)
    cache = tmp_path / "cache"
    kept = cache / "downloads" / sha / "bomb.zip"  # as an older cvcuda-setup left it
    kept.parent.mkdir(parents=True)
    kept.write_bytes(body)
    with pytest.raises(SourceError, match="exceeds the extraction bound"):
        fetch(spec, cache, limits={"bytes": 1 << 20, "members": 100, "name": 200})
    assert fake_index.hits.get("/bomb.zip") is None and not kept.exists()


KILLED_FETCH = """
import os, signal, sys
from pathlib import Path
from cvcuda_setup.sources import fetch, providers, spec_from_cli

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # mid-extraction: the tree is half built in trees/*.tmp

providers.check_final_tree = killed
fetch(spec_from_cli(sys.argv[1], "5.1.0"), Path(sys.argv[2]), need_contrib=False)
"""


def test_a_killed_extraction_is_cleaned_by_the_next_fetch_and_nothing_else(tmp_path: Path) -> None:
    fake_opencv(tmp_path / "src", contrib=False)
    archive = tmp_path / "opencv-5.1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(tmp_path / "src" / "opencv", arcname="opencv-5.1.0")
    cache = tmp_path / "cache"
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_FETCH, str(archive), str(cache)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    trees = cache / "trees"
    left = [p for p in trees.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and any(p.name == "CMakeLists.txt" for p in left[0].rglob("*"))
    users = trees / ".mine.tmp"  # a folder of that shape without a marker: not provably the tool's
    (users / "data").mkdir(parents=True)
    live = trees / ".live.tmp"  # a marker naming a live process (a fetch still running)
    live.mkdir()
    (live / MARKER).write_text(f'{{"pid": {os.getppid()}}}')
    tree = fetch(spec_from_cli(str(archive), "5.1.0"), cache, need_contrib=False)  # the next run
    assert tree.opencv_dir.is_dir()
    expected = [tree.opencv_dir.parent.name, users.name, live.name]
    assert sorted(p.name for p in trees.iterdir()) == sorted(expected)
    assert (users / "data").is_dir() and (live / MARKER).is_file()
