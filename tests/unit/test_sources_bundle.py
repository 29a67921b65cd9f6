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
    "opencv/apps/CMakeLists.txt",  # BUILD_opencv_apps is ON by default
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


def _pruning_tree(tmp_path: Path) -> SourceTree:
    """The fake tree plus tests, perf, docs, a 4.x data/ dir and an unconditional add_subdirectory(test)."""
    from test_sources_fakes import write_files

    root = fake_opencv(tmp_path / "src", (4, 14, 0))
    write_files(
        root / "opencv",
        {
            "CMakeLists.txt": "project(OpenCV)\nadd_subdirectory(include)\nadd_subdirectory(data)\n"
            "add_subdirectory(3rdparty/quirc)\n# add_subdirectory(commented)\nadd_subdirectory(samples)\n",
            "samples/CMakeLists.txt": "add_subdirectory(cpp)\n",
            "samples/cpp/CMakeLists.txt": "add_executable(edge edge.cpp)\n",
            "data/CMakeLists.txt": "file(GLOB HAAR haarcascades/*.xml)\ninstall(FILES ${HAAR})\n",
            "data/haarcascades/face.xml": "<xml/>\n",
            "data/vec_files/big.vec": "not installed\n",
            "3rdparty/quirc/CMakeLists.txt": "add_library(quirc quirc.c)\n",
            "3rdparty/quirc/quirc.c": "int q;\n",
            "commented/CMakeLists.txt": "# never added\n",
            "modules/core/test/test_mat.cpp": "int t;\n",
            "modules/core/perf/perf_mat.cpp": "int p;\n",
            "modules/core/doc/core.bib": "@doc\n",
            "modules/core/misc/python/shadow.py": "# misc\n",
            "modules/python/CMakeLists.txt": "add_subdirectory(test)\n",
            "modules/python/test/CMakeLists.txt": "# python tests\n",
            "modules/python/test/test_cv.py": "# t\n",
        },
    )
    write_files(
        root / "opencv_contrib",
        {
            "modules/cudev/test/test_ptr.cu": "int c;\n",
            "modules/cudev/samples/demo.cpp": "int d;\n",
            "modules/xobjdetect/CMakeLists.txt": "ocv_define_module(xobjdetect)\n",
            "modules/xobjdetect/data/CMakeLists.txt": "file(GLOB LBP lbpcascades/*.xml)\n",
            "modules/xobjdetect/data/lbpcascades/lbp.xml": "<lbp/>\n",
            "modules/xobjdetect/data/vec_files/v.vec": "vec\n",
        },
    )
    return fetch(spec_from_cli(str(root), "4.14.0"), tmp_path / "cache")


def test_pruning_follows_the_recipe_tests_and_every_literal_subdirectory(tmp_path: Path) -> None:
    from cvcuda_setup.sources.bundle import Pruning, bundle_members

    tree = _pruning_tree(tmp_path)
    mods = ["core", "python3", "cudev", "xobjdetect"]
    off = {n for _, n in bundle_members(tree, mods, [], pruning=Pruning.for_options({"BUILD_TESTS": False}))}
    on = {n for _, n in bundle_members(tree, mods, [], pruning=Pruning.for_options({}))}
    # OpenCV's default BUILD_TESTS=ON / BUILD_PERF_TESTS=ON keeps the test sources the build compiles
    assert {"opencv/modules/core/test/test_mat.cpp", "opencv/modules/core/perf/perf_mat.cpp"} <= on
    assert "opencv_contrib/modules/cudev/test/test_ptr.cu" in on
    assert "opencv/modules/core/test/test_mat.cpp" not in off
    assert "opencv/modules/core/perf/perf_mat.cpp" in off  # BUILD_PERF_TESTS left at ON
    for names in (on, off):
        # what 4.x's top-level CMakeLists adds: data/ (CMakeLists + what its GLOB installs), 3rdparty/quirc
        assert {"opencv/data/CMakeLists.txt", "opencv/data/haarcascades/face.xml"} <= names
        assert "opencv/data/vec_files/big.vec" not in names
        assert {"opencv/3rdparty/quirc/CMakeLists.txt", "opencv/3rdparty/quirc/quirc.c"} <= names
        # an unconditional add_subdirectory(test) of a kept module survives the test pruning
        assert "opencv/modules/python/test/CMakeLists.txt" in names
        # a module's data/ with a CMakeLists (5.x xobjdetect): its GLOB matches only
        assert "opencv_contrib/modules/xobjdetect/data/lbpcascades/lbp.xml" in names
        assert "opencv_contrib/modules/xobjdetect/data/vec_files/v.vec" not in names
        # docs, samples dropped; samples/ not followed without BUILD_EXAMPLES; comments are not calls
        assert "opencv/modules/core/doc/core.bib" not in names
        assert "opencv_contrib/modules/cudev/samples/demo.cpp" not in names
        assert "opencv/samples/CMakeLists.txt" in names
        assert "opencv/samples/cpp/edge.cpp" not in names
        assert "opencv/commented/CMakeLists.txt" not in names
        assert "opencv/modules/core/misc/python/shadow.py" in names
    examples = {
        n for _, n in bundle_members(tree, mods, [], pruning=Pruning.for_options({"BUILD_EXAMPLES": "ON"}))
    }
    assert "opencv/samples/cpp/edge.cpp" in examples


def test_all_module_bundle_keeps_every_module_and_all_of_3rdparty(tmp_path: Path) -> None:
    from cvcuda_setup.sources.bundle import Pruning, all_modules

    tree = _pruning_tree(tmp_path)
    mods = all_modules(tree)
    assert {"core", "dnn", "python", "cudev", "cudaarithm", "xfeatures2d", "xobjdetect"} <= set(mods)
    out = make_bundle(
        tree, mods, [], tmp_path / "seed.tar.xz", pruning=Pruning.for_options({}, all_modules=True)
    )
    names = set(_names(out))
    assert {"opencv/3rdparty/libjpeg-turbo/jpeglib.h", "opencv/modules/dnn/CMakeLists.txt"} <= names
    assert "opencv_contrib/modules/xfeatures2d/CMakeLists.txt" in names
    info = read_bundle_info(out)
    assert info is not None
    assert info["pruning"] == {"tests": True, "perf": True, "examples": False, "all_third_party": True}
