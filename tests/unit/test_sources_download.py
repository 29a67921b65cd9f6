"""The sdist provider against a local index (PEP 691 JSON and PEP 503 HTML), downloads, checksums, cache."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_sources_fakes import FakeIndex, Route, fake_index, fake_sdist

from cvcuda_setup.errors import SourceError
from cvcuda_setup.sources import fetch, resolve_sdist, spec_from_cli
from cvcuda_setup.sources.index import parse_html_page

__all__ = ["fake_index"]  # the fixture, imported for pytest

PAGE = "/simple/opencv-contrib-python/"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def _entry(filename: str, sha: str | None, *, url: str | None = None, yanked: bool = False) -> dict[str, Any]:
    return {
        "filename": filename,
        "url": url or f"../../files/{filename}",
        "hashes": {"sha256": sha} if sha else {},
        "yanked": yanked,
    }


def _json_page(entries: list[dict[str, Any]]) -> Route:
    body = json.dumps({"meta": {"api-version": "1.1"}, "name": "opencv-contrib-python", "files": entries})
    return Route(body.encode(), JSON_TYPE)


def _html_page(entries: list[dict[str, Any]]) -> Route:
    links = []
    for e in entries:
        sha = e["hashes"].get("sha256") if isinstance(e["hashes"], dict) else None
        frag = f"#sha256={sha}" if sha else ""
        yanked = ' data-yanked=""' if e["yanked"] else ""
        links.append(f'<a href="{e["url"]}{frag}"{yanked}>{e["filename"]}</a><br/>')
    html = "<!DOCTYPE html><html><body><h1>Links</h1>" + "\n".join(links) + "</body></html>"
    return Route(html.encode(), "text/html")


def _listing(sha: str) -> list[dict[str, Any]]:
    other = "cd" * 32
    return [
        _entry("opencv_contrib_python-5.0.0.9.tar.gz", other),
        _entry("opencv-contrib-python-5.1.0.3.tar.gz", other),
        _entry("opencv_contrib_python-5.1.0.7.tar.gz", sha),
        _entry("opencv_contrib_python-5.1.0.8.tar.gz", other, yanked=True),
        _entry("opencv_contrib_python-5.1.0.12-cp37-abi3-manylinux_2_28_x86_64.whl", other),
    ]


@pytest.fixture
def served_sdist(fake_index: FakeIndex, tmp_path: Path) -> tuple[FakeIndex, str]:
    archive, sha = fake_sdist(tmp_path / "build")
    fake_index.routes["/files/opencv_contrib_python-5.1.0.7.tar.gz"] = Route(archive.read_bytes())
    fake_index.routes[PAGE] = _json_page(_listing(sha))
    return fake_index, sha


def test_json_page_maps_opencv_version_to_the_highest_sdist(served_sdist: tuple[FakeIndex, str]) -> None:
    index, sha = served_sdist
    release = resolve_sdist("5.1.0", index=index.url("/simple"))
    assert release.version == "5.1.0.7"  # 5.1.0.8 is yanked, 5.1.0.12 only a wheel
    assert release.sha256 == sha
    assert release.file.url == index.url("/files/opencv_contrib_python-5.1.0.7.tar.gz")
    assert JSON_TYPE in index.accepts[0]


def test_sdist_numbers_compare_as_numbers(fake_index: FakeIndex) -> None:
    fake_index.routes[PAGE] = _json_page(
        [_entry(f"opencv_contrib_python-5.1.0.{n}.tar.gz", f"{n:02d}" * 32) for n in (9, 10, 2)]
    )
    assert resolve_sdist("5.1.0", index=fake_index.url("/simple")).version == "5.1.0.10"


def test_html_page_is_used_when_the_index_serves_html(fake_index: FakeIndex) -> None:
    sha = "ef" * 32
    fake_index.routes[PAGE] = _html_page(_listing(sha))
    release = resolve_sdist("5.1.0", index=fake_index.url("/simple/"))
    assert release.version == "5.1.0.7"
    assert release.sha256 == sha
    assert release.file.url == fake_index.url("/files/opencv_contrib_python-5.1.0.7.tar.gz")


def test_406_for_json_falls_back_to_asking_for_html(fake_index: FakeIndex) -> None:
    route = _html_page(_listing("ef" * 32))
    route.refuse_accept = "json"
    fake_index.routes[PAGE] = route
    assert resolve_sdist("5.1.0", index=fake_index.url("/simple")).version == "5.1.0.7"
    assert fake_index.hits[PAGE] == 2
    assert "json" not in fake_index.accepts[1]


def test_html_parser_reads_fragments_yanked_and_relative_links() -> None:
    files = parse_html_page(
        '<a href="/f/a-1.0.tar.gz#sha256=' + "AB" * 32 + '" data-yanked="bad">a-1.0.tar.gz</a>'
        '<a href="https://cdn.example/b.tar.gz">b.tar.gz</a>',
        "https://index.example/simple/a/",
    )
    assert [(f.filename, f.url, f.sha256, f.yanked) for f in files] == [
        ("a-1.0.tar.gz", "https://index.example/f/a-1.0.tar.gz", "ab" * 32, True),
        ("b.tar.gz", "https://cdn.example/b.tar.gz", None, False),
    ]


def test_pinned_sdist_version_is_used_even_if_yanked(served_sdist: tuple[FakeIndex, str]) -> None:
    index, _ = served_sdist
    assert resolve_sdist("5.1.0", index=index.url("/simple"), pin="5.1.0.3").version == "5.1.0.3"
    assert resolve_sdist("5.1.0", index=index.url("/simple"), pin="5.1.0.8").version == "5.1.0.8"


def test_unknown_version_lists_what_the_index_has(served_sdist: tuple[FakeIndex, str]) -> None:
    index, _ = served_sdist
    with pytest.raises(SourceError, match=r"no opencv-contrib-python sdist for OpenCV 5\.2\.0") as err:
        resolve_sdist("5.2.0", index=index.url("/simple"))
    assert "5.0.0.9, 5.1.0.3, 5.1.0.7, 5.1.0.8" in str(err.value)


def test_missing_project_is_a_clear_error(fake_index: FakeIndex) -> None:
    with pytest.raises(SourceError, match="has no project 'opencv-contrib-python'"):
        resolve_sdist("5.1.0", index=fake_index.url("/simple"))


def test_sha256_must_come_from_the_index_or_the_flag(fake_index: FakeIndex) -> None:
    fake_index.routes[PAGE] = _json_page([_entry("opencv_contrib_python-5.1.0.7.tar.gz", None)])
    with pytest.raises(SourceError, match="gives no sha256"):
        resolve_sdist("5.1.0", index=fake_index.url("/simple"))
    assert resolve_sdist("5.1.0", index=fake_index.url("/simple"), sha256="aa" * 32).sha256 == "aa" * 32


def test_flag_sha256_disagreeing_with_the_index_is_refused(served_sdist: tuple[FakeIndex, str]) -> None:
    index, _ = served_sdist
    with pytest.raises(SourceError, match="does not match the index"):
        resolve_sdist("5.1.0", index=index.url("/simple"), sha256="aa" * 32)


def test_fetch_sdist_then_reuse_the_cache_without_network(
    served_sdist: tuple[FakeIndex, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index, sha = served_sdist
    cache = tmp_path / "cache"
    spec = spec_from_cli(None, "5.1.0", base_url=index.url("/simple"))
    tree = fetch(spec, cache)
    root = cache / "trees" / "sdist-5.1.0"
    assert (tree.opencv_dir, tree.contrib_dir) == (root / "opencv", root / "opencv_contrib")
    assert (tree.opencv_version, tree.sha256, tree.pruned) == ("5.1.0", sha, False)
    assert (root / "opencv" / "modules" / "core" / "CMakeLists.txt").is_file()
    assert (root / "opencv_contrib" / "modules" / "cudev" / "CMakeLists.txt").is_file()
    assert sorted(p.name for p in root.iterdir()) == [".cvcuda-setup-tree.json", "opencv", "opencv_contrib"]
    download = cache / "downloads" / sha / "opencv_contrib_python-5.1.0.7.tar.gz"
    assert hashlib.sha256(download.read_bytes()).hexdigest() == sha
    err = capsys.readouterr().err
    assert "downloading opencv_contrib_python-5.1.0.7.tar.gz" in err and "downloaded" in err
    first_hits = dict(index.hits)
    assert first_hits == {PAGE: 1, "/files/opencv_contrib_python-5.1.0.7.tar.gz": 1}

    assert fetch(spec, cache) == tree
    assert index.hits == first_hits  # a complete tree is reused: no request at all

    shutil.rmtree(root)  # the tree goes, the verified download stays
    assert fetch(spec, cache) == tree
    assert index.hits == {PAGE: 2, "/files/opencv_contrib_python-5.1.0.7.tar.gz": 1}


def test_need_contrib_false_gives_no_contrib_dir(served_sdist: tuple[FakeIndex, str], tmp_path: Path) -> None:
    index, _ = served_sdist
    spec = spec_from_cli(None, "5.1.0", base_url=index.url("/simple"))
    assert fetch(spec, tmp_path / "c", need_contrib=False).contrib_dir is None


def test_checksum_mismatch_removes_the_download_and_extracts_nothing(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    archive, real_sha = fake_sdist(tmp_path / "build")
    wrong = "0" * 64
    fake_index.routes["/files/opencv_contrib_python-5.1.0.7.tar.gz"] = Route(archive.read_bytes())
    fake_index.routes[PAGE] = _json_page([_entry("opencv_contrib_python-5.1.0.7.tar.gz", wrong)])
    cache = tmp_path / "cache"
    spec = spec_from_cli(None, "5.1.0", base_url=fake_index.url("/simple"))
    with pytest.raises(SourceError, match="sha256 mismatch") as err:
        fetch(spec, cache)
    message = str(err.value)
    assert f"expected {wrong}" in message and f"got {real_sha}" in message
    assert fake_index.url("/files/opencv_contrib_python-5.1.0.7.tar.gz") in message
    assert not cache.exists()  # the cache as before: no file, no .part, not even the keyed dir left


def test_tarball_url_with_sha256_is_downloaded_and_verified(fake_index: FakeIndex, tmp_path: Path) -> None:
    archive, sha = fake_sdist(tmp_path / "build")
    fake_index.routes["/archive/5.1.0.tar.gz"] = Route(archive.read_bytes())
    spec = spec_from_cli(fake_index.url("/archive/5.1.0.tar.gz"), "5.1.0", sha256=sha)
    tree = fetch(spec, tmp_path / "cache")
    assert tree.opencv_dir == tmp_path / "cache" / "trees" / f"tarball-{sha[:16]}" / "opencv"
    assert (tmp_path / "cache" / "downloads" / sha / "5.1.0.tar.gz").is_file()
    bad = spec_from_cli(fake_index.url("/archive/5.1.0.tar.gz"), "5.1.0", sha256="1" * 64)
    with pytest.raises(SourceError, match="sha256 mismatch"):
        fetch(bad, tmp_path / "cache2")
    assert not (tmp_path / "cache2").exists()  # the cache as before: not even the keyed dir left


def test_http_error_names_the_url(fake_index: FakeIndex, tmp_path: Path) -> None:
    spec = spec_from_cli(fake_index.url("/archive/missing.tar.gz"), "5.1.0", sha256="1" * 64)
    with pytest.raises(SourceError, match="HTTP 404") as err:
        fetch(spec, tmp_path / "cache")
    assert "/archive/missing.tar.gz" in str(err.value)


def test_progress_on_a_terminal_is_a_transient_bar(
    served_sdist: tuple[FakeIndex, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cvcuda_setup.console import Output

    monkeypatch.setattr(Output, "interactive", property(lambda self: True))
    index, sha = served_sdist
    tree = fetch(spec_from_cli(None, "5.1.0", base_url=index.url("/simple")), tmp_path / "cache")
    assert tree.sha256 == sha
    assert (tmp_path / "cache" / "downloads" / sha / "opencv_contrib_python-5.1.0.7.tar.gz").is_file()


def test_file_url_index_as_pip_mirrors_lay_it_out(tmp_path: Path) -> None:
    archive, sha = fake_sdist(tmp_path / "build")
    page_dir = tmp_path / "mirror" / "simple" / "opencv-contrib-python"
    page_dir.mkdir(parents=True)
    shutil.copy(archive, page_dir / archive.name)
    (page_dir / "index.html").write_text(f'<a href="{archive.name}#sha256={sha}">{archive.name}</a>')
    index = (tmp_path / "mirror" / "simple").as_uri()
    tree = fetch(spec_from_cli(None, "5.1.0", base_url=index), tmp_path / "cache")
    assert tree.sha256 == sha and (tree.opencv_dir / "CMakeLists.txt").is_file()
