"""spec_from_cli: every --source form, the version forms and the errors; cache dir; expected_tree offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_sources_fakes import fake_opencv, fake_sdist

from cvcuda_setup.errors import SourceError
from cvcuda_setup.model import SourceSpec
from cvcuda_setup.sources import (
    default_cache_dir,
    expected_tree,
    make_bundle,
    spec_from_cli,
    split_version,
    tree_key,
)
from cvcuda_setup.sources.providers import fetch

SHA = "ab" * 32


@pytest.fixture(autouse=True)
def _no_index_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CVCUDA_SETUP_INDEX_URL", raising=False)


def test_default_cache_dir_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CVCUDA_SETUP_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("CVCUDA_SETUP_CACHE")
    assert default_cache_dir() == tmp_path / "xdg" / "cvcuda-setup"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "cvcuda-setup"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5.1.0", ("5.1.0", None)), ("5.1.0.95", ("5.1.0", "5.1.0.95")), (" 4.10.0 ", ("4.10.0", None))],
)
def test_split_version(text: str, expected: tuple[str, str | None]) -> None:
    assert split_version(text) == expected


@pytest.mark.parametrize("bad", ["5.1", "five", "5.1.0-rc", "5.1.0.95.1", ""])
def test_bad_version_is_refused_with_the_value(bad: str) -> None:
    with pytest.raises(SourceError, match=r"is not X\.Y\.Z") as err:
        split_version(bad)
    assert repr(bad.strip()) in str(err.value)


@pytest.mark.parametrize("source", [None, "sdist"])
def test_sdist_is_the_default(source: str | None) -> None:
    spec = spec_from_cli(source, "5.1.0")
    assert spec == SourceSpec("sdist", "", "5.1.0", None, "https://pypi.org/simple")


def test_sdist_version_pins_the_package_and_maps_to_opencv_version() -> None:
    spec = spec_from_cli("sdist", "5.1.0.95", sha256=SHA.upper())
    assert spec.kind == "sdist"
    assert spec.opencv_version == "5.1.0"
    assert spec.location == "opencv-contrib-python==5.1.0.95"
    assert spec.sha256 == SHA
    assert tree_key(spec) == "sdist-5.1.0.95-" + SHA[:12]


def test_sdist_index_from_flag_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVCUDA_SETUP_INDEX_URL", "https://mirror.example/simple/")
    assert spec_from_cli(None, "5.1.0").base_url == "https://mirror.example/simple"
    assert spec_from_cli(None, "5.1.0", base_url="https://other/simple").base_url == "https://other/simple"


def test_git_spec_with_default_and_mirror_base() -> None:
    spec = spec_from_cli("git", "5.1.0.95")
    assert spec == SourceSpec("git", "", "5.1.0", None, "https://github.com/opencv")
    assert tree_key(spec) == "git-5.1.0"
    mirror = spec_from_cli("git", "5.1.0", base_url="https://git.example/opencv/")
    assert mirror.base_url == "https://git.example/opencv"
    assert tree_key(mirror).startswith("git-5.1.0-") and tree_key(mirror) != "git-5.1.0"


def test_git_refuses_sha256() -> None:
    with pytest.raises(SourceError, match="--sha256 does not apply to --source git"):
        spec_from_cli("git", "5.1.0", sha256=SHA)


def test_url_needs_sha256() -> None:
    url = "https://github.com/opencv/opencv/archive/refs/tags/5.1.0.tar.gz"
    with pytest.raises(SourceError, match="pass --sha256") as err:
        spec_from_cli(url, "5.1.0")
    assert url in str(err.value)
    spec = spec_from_cli(url, "5.1.0", sha256=SHA)
    assert spec == SourceSpec("tarball", url, "5.1.0", SHA, None)
    assert tree_key(spec) == "tarball-" + SHA[:16]


def test_malformed_sha256_is_refused() -> None:
    with pytest.raises(SourceError, match="'xyz' is not a sha256"):
        spec_from_cli("https://example.org/o.tar.gz", "5.1.0", sha256="xyz")


def test_local_tarball_file(tmp_path: Path) -> None:
    archive, sha = fake_sdist(tmp_path)
    spec = spec_from_cli(str(archive), "5.1.0")
    assert spec.kind == "tarball"
    assert spec.location == str(archive.resolve())
    assert spec.sha256 is None
    assert tree_key(spec) == "tarball-" + sha[:16]  # keyed by the file's own sha256


def test_bundle_file_is_detected_by_its_bundle_json(tmp_path: Path) -> None:
    fake_opencv(tmp_path / "src", (5, 0, 2))
    tree = fetch(spec_from_cli(str(tmp_path / "src"), "5.1.0"), tmp_path / "cache")
    bundle = make_bundle(tree, ["core"], [], tmp_path / "b.tar.xz")
    spec = spec_from_cli(str(bundle), "5.1.0")
    assert spec.kind == "bundle"
    assert spec.opencv_version == "5.0.2"  # the bundle's own version wins
    assert spec.location == str(bundle.resolve())


def test_local_directory_with_opencv_and_contrib(tmp_path: Path) -> None:
    fake_opencv(tmp_path, (5, 0, 1))
    spec = spec_from_cli(str(tmp_path), "5.1.0")
    assert spec == SourceSpec("local", str(tmp_path.resolve()), "5.0.1", None, None)
    assert expected_tree(spec, tmp_path / "cache") == (tmp_path / "opencv", tmp_path / "opencv_contrib")


def test_local_opencv_tree_with_contrib_sibling(tmp_path: Path) -> None:
    fake_opencv(tmp_path)
    spec = spec_from_cli(str(tmp_path / "opencv"), "5.1.0")
    assert spec.kind == "local"
    assert expected_tree(spec, tmp_path / "cache") == (tmp_path / "opencv", tmp_path / "opencv_contrib")


def test_local_without_contrib(tmp_path: Path) -> None:
    fake_opencv(tmp_path, contrib=False)
    spec = spec_from_cli(str(tmp_path), "5.1.0")
    assert expected_tree(spec, tmp_path / "c", need_contrib=False) == (tmp_path / "opencv", None)
    with pytest.raises(SourceError, match="has no opencv_contrib tree"):
        expected_tree(spec, tmp_path / "c")


def test_directory_without_opencv_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    with pytest.raises(SourceError, match="holds no OpenCV tree") as err:
        spec_from_cli(str(tmp_path / "stuff"), "5.1.0")
    assert "opencv_contrib" in str(err.value)  # names the accepted layouts


def test_missing_file_and_unknown_words_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        spec_from_cli(str(tmp_path / "missing.tar.gz"), "5.1.0")
    with pytest.raises(SourceError, match="'svn' is not a source I know") as err:
        spec_from_cli("svn", "5.1.0")
    for form in ("'sdist'", "'git'", "URL", "bundle", "directory"):
        assert form in str(err.value)


def test_a_file_that_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("x")
    with pytest.raises(SourceError, match="is a file but not an archive"):
        spec_from_cli(str(text), "5.1.0")


def test_expected_tree_is_offline_and_under_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    opencv, contrib = expected_tree(spec_from_cli(None, "5.1.0"), cache)
    assert opencv == cache / "trees" / "sdist-5.1.0" / "opencv"
    assert contrib == cache / "trees" / "sdist-5.1.0" / "opencv_contrib"
    assert expected_tree(spec_from_cli("git", "5.1.0"), cache, need_contrib=False)[1] is None
    assert not cache.exists()  # planning writes nothing


def test_spec_parsing_leaves_local_sources_untouched(tmp_path: Path) -> None:
    fake_opencv(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    spec_from_cli(str(tmp_path), "5.1.0")
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_an_opencv_version_given_for_a_bundle_or_tree_of_another_version_is_refused(tmp_path: Path) -> None:
    fake_opencv(tmp_path / "src", (5, 0, 2))
    tree = fetch(spec_from_cli(str(tmp_path / "src"), "5.1.0"), tmp_path / "cache")
    bundle = make_bundle(tree, ["core"], [], tmp_path / "b.tar.xz")
    for source in (str(bundle), str(tmp_path / "src")):
        with pytest.raises(SourceError) as exc:
            spec_from_cli(source, "4.12.0", version_given=True)
        assert "OpenCV 5.0.2" in str(exc.value) and "--opencv-version 4.12.0" in str(exc.value)
        assert exc.value.return_code == 2
        # the same version, or none given (the recipe's default): accepted, the source's version wins
        assert spec_from_cli(source, "5.0.2", version_given=True).opencv_version == "5.0.2"
        assert spec_from_cli(source, "4.12.0").opencv_version == "5.0.2"
