"""Pruned bundles: what a bundle keeps and drops, bundle.json, and the round trip back through fetch."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from test_sources_fakes import fake_opencv, fake_sdist, listing

from cvcuda_setup import __version__
from cvcuda_setup.errors import SourceError
from cvcuda_setup.model import SourceTree
from cvcuda_setup.sources import expected_tree, fetch, make_bundle, read_bundle_info, spec_from_cli

MODULES = ["core", "imgproc", "python3", "python_bindings_generator", "cudev"]

KEPT = {
    "bundle.json",
    "opencv/CMakeLists.txt",
    "opencv/LICENSE",
    "opencv/modules/CMakeLists.txt",
    "opencv/modules/core/CMakeLists.txt",
    "opencv/modules/core/src/matrix.cpp",
    "opencv/modules/core/include/opencv2/core/version.hpp",
    "opencv/modules/imgproc/CMakeLists.txt",
    "opencv/modules/python/CMakeLists.txt",
    "opencv/modules/python/src2/gen2.py",
    "opencv/cmake/OpenCVUtils.cmake",
    "opencv/include/CMakeLists.txt",
    "opencv/hal/CMakeLists.txt",
    "opencv/platforms/linux/gcc.toolchain.cmake",
    "opencv/3rdparty/zlib/zlib.h",
    "opencv/3rdparty/libpng/png.h",
    "opencv/3rdparty/ippicv/ippicv.cmake",  # from the keep list
    "opencv/doc/CMakeLists.txt",
    "opencv/docs_sphinx/CMakeLists.txt",
    "opencv/samples/data/lena.png",
    "opencv_contrib/README.md",
    "opencv_contrib/modules/README.md",
    "opencv_contrib/modules/cudev/CMakeLists.txt",
    "opencv_contrib/modules/cudaarithm/CMakeLists.txt",  # from the keep list
}


@pytest.fixture
def local_tree(tmp_path: Path) -> SourceTree:
    fake_opencv(tmp_path / "src", (5, 1, 0))
    return fetch(spec_from_cli(str(tmp_path / "src"), "5.1.0"), tmp_path / "cache")


def _names(bundle: Path) -> list[str]:
    with tarfile.open(bundle) as tf:
        return [m.name for m in tf.getmembers() if not m.isdir()]


def test_bundle_keeps_exactly_the_recipe_files(
    local_tree: SourceTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = make_bundle(
        local_tree, MODULES, ["3rdparty/ippicv", "opencv_contrib/modules/cudaarithm"], tmp_path / "b.txz"
    )
    names = _names(out)
    assert names[0] == "bundle.json"  # first, so detection reads one member
    assert (
        set(names) == KEPT
    )  # dnn, libjpeg-turbo, apps, doc/tutorials, samples/cpp, big and non-images: gone
    assert f"wrote bundle {out}: " in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_bundle_json_describes_the_bundle(local_tree: SourceTree, tmp_path: Path) -> None:
    out = make_bundle(local_tree, MODULES, [], tmp_path / "b.tar.xz")
    info = read_bundle_info(out)
    assert info is not None
    assert info["format"] == "cvcuda-setup-bundle" and info["format_version"] == 1
    assert info["opencv_version"] == "5.1.0"
    assert info["modules"] == MODULES
    assert info["contrib"] is True
    assert info["tool_version"] == __version__
    assert info["source"]["kind"] == "local" and info["source_sha256"] is None
    assert info["files"] == len(_names(out)) - 1
    assert info["created"].endswith("+00:00")


def test_bundle_round_trip_through_fetch(local_tree: SourceTree, tmp_path: Path) -> None:
    out = make_bundle(local_tree, MODULES, [], tmp_path / "minimal.tar.xz")
    spec = spec_from_cli(str(out), "5.1.0")
    assert spec.kind == "bundle"
    cache = tmp_path / "cache2"
    tree = fetch(spec, cache)
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    assert tree.pruned and tree.sha256 == sha and tree.opencv_version == "5.1.0"
    assert (tree.opencv_dir, tree.contrib_dir) == expected_tree(spec, cache)
    assert tree.opencv_dir == cache / "trees" / f"bundle-{sha[:16]}" / "opencv"
    assert sorted(p.name for p in (tree.opencv_dir / "modules").iterdir()) == [
        "CMakeLists.txt", "core", "imgproc", "python",
    ]  # fmt: skip
    assert sorted(p.name for p in (tree.contrib_dir or Path()).joinpath("modules").iterdir()) == [
        "README.md", "cudev",
    ]  # fmt: skip
    assert json.loads((tree.opencv_dir.parent / "bundle.json").read_text())["modules"] == MODULES
    marker = tree.opencv_dir.parent / ".cvcuda-setup-tree.json"
    stamp = (tree.opencv_dir.stat().st_ino, marker.stat().st_mtime_ns)
    assert fetch(spec, cache) == tree  # reused from the cache, not extracted again
    assert (tree.opencv_dir.stat().st_ino, marker.stat().st_mtime_ns) == stamp


def test_bundle_from_an_sdist_tree_records_its_sha256(tmp_path: Path) -> None:
    archive, sha = fake_sdist(tmp_path / "build")
    tree = fetch(spec_from_cli(str(archive), "5.1.0"), tmp_path / "cache")
    info = read_bundle_info(make_bundle(tree, ["core"], [], tmp_path / "b.tar.xz"))
    assert info is not None and info["source_sha256"] == sha
    assert read_bundle_info(archive) is None  # a plain tarball is not a bundle


def test_bundle_without_contrib_cannot_serve_a_contrib_recipe(tmp_path: Path) -> None:
    fake_opencv(tmp_path / "src", contrib=False)
    tree = fetch(spec_from_cli(str(tmp_path / "src"), "5.1.0"), tmp_path / "c", need_contrib=False)
    out = make_bundle(tree, ["core", "imgproc"], [], tmp_path / "b.tar.xz")
    spec = spec_from_cli(str(out), "5.1.0")
    with pytest.raises(SourceError, match="has no opencv_contrib tree"):
        expected_tree(spec, tmp_path / "c2")
    with pytest.raises(SourceError, match="has no opencv_contrib tree"):
        fetch(spec, tmp_path / "c2")
    assert fetch(spec, tmp_path / "c2", need_contrib=False).contrib_dir is None


@pytest.mark.parametrize(
    ("modules", "keep", "message"),
    [
        (["core", "nosuchmodule"], [], "module 'nosuchmodule' is not in"),
        (["core"], ["3rdparty/nothere"], "keep path '3rdparty/nothere' is in neither"),
        (["core"], ["../etc"], "must be relative"),
        (["core"], ["/etc"], "must be relative"),
    ],
)
def test_bad_module_or_keep_is_refused_before_writing(
    local_tree: SourceTree, tmp_path: Path, modules: list[str], keep: list[str], message: str
) -> None:
    with pytest.raises(SourceError, match=message):
        make_bundle(local_tree, modules, keep, tmp_path / "out" / "b.tar.xz")
    assert not (tmp_path / "out").exists()


def test_bundle_name_must_be_tar_xz(local_tree: SourceTree, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"must end in \.tar\.xz"):
        make_bundle(local_tree, ["core"], [], tmp_path / "b.tar.gz")
    assert not [p for p in listing(tmp_path) if p.startswith("b.tar.gz") or p.startswith(".b.tar.gz")]


def test_bundle_without_sample_images_and_plain_mode(local_tree: SourceTree, tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        out = make_bundle(local_tree, ["core"], [], tmp_path / "b.tar.xz", sample_images=False)
    finally:
        os.umask(old)
    assert "opencv/samples/data/lena.png" not in _names(out)
    info = read_bundle_info(out)
    assert info is not None and info["sample_images"] is False
    assert out.stat().st_mode & 0o777 == 0o644
