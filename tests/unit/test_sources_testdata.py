"""opencv_extra testdata: which files the test sources name, fetched from a fake mirror (file:// and a local
http.server), cached with a sha256 record, refused when the mirror changes, and carried by a tests bundle."""

from __future__ import annotations

import functools
import http.server
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sources_fakes import fake_opencv, write_files

from cvcuda_setup.errors import SourceError
from cvcuda_setup.model import SourceSpec
from cvcuda_setup.sources import fetch, make_bundle, read_bundle_info, spec_from_cli
from cvcuda_setup.sources import testdata as td
from cvcuda_setup.sources.bundle import Pruning
from cvcuda_setup.sources.testdata import cache_root, fetch_testdata, scan_test_dir

TEST_CPP = """
CV_CUDA_TEST_MAIN("gpu")
cv::Mat a = readImage("stereobm/aloe-L.png");
cv::Mat b = readImageType("opticalflow/frame0.png", CV_8UC1);
std::string c = std::string(cvtest::TS::ptr()->get_data_path()) + "../cv/shared/lena.png";
std::string d = cvtest::TS::ptr()->get_data_path() + "meanshift/spmap.yaml";
std::string e = std::string(cvtest::TS::ptr()->get_data_path()) + "video/" + GET_PARAM(1);
std::string f = std::string(cvtest::TS::ptr()->get_data_path()) + "../../../etc/passwd.txt";
"""


def test_scan_finds_the_literal_paths_against_the_suites_folder(tmp_path: Path) -> None:
    write_files(tmp_path / "test", {"test_main.cpp": TEST_CPP.splitlines()[1] + "\n", "test_x.cpp": TEST_CPP})
    assert scan_test_dir(tmp_path / "test") == {
        "gpu/stereobm/aloe-L.png",
        "gpu/opticalflow/frame0.png",
        "cv/shared/lena.png",
        "gpu/meanshift/spmap.yaml",
    }


def test_ref_is_the_release_tag_or_a_branch() -> None:
    assert td.testdata_ref(SourceSpec("sdist", "", "5.1.0"), "5.1.0") == "5.1.0"
    assert td.testdata_ref(SourceSpec("git", "", "4.x"), "4.12.0") == "4.x"
    assert td.testdata_ref(SourceSpec("git", "", "4.10.0"), "4.10.0") == "4.10.0"
    assert td.testdata_ref(SourceSpec("git", "", "0123abcd"), "5.0.0") == "5.x"


def _mirror(root: Path) -> Path:
    write_files(
        root / "5.1.0" / "testdata", {"gpu/stereobm/aloe-L.png": "left\n", "cv/shared/lena.png": "lena\n"}
    )
    return root


def test_fetch_from_a_file_mirror_caches_and_records_sha256(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path / "mirror")
    base = f"file://{mirror}/{{ref}}/testdata/"
    cache = tmp_path / "cache"
    wanted = ["gpu/stereobm/aloe-L.png", "cv/shared/lena.png", "gpu/not/there.png"]
    data = fetch_testdata(wanted, "5.1.0", cache, base_url=base)
    assert data.root == cache_root(cache, "5.1.0")
    assert data.present == ("cv/shared/lena.png", "gpu/stereobm/aloe-L.png")
    assert data.missing == ("gpu/not/there.png",) and data.fetched == 2 and data.error is None
    assert (data.root / "gpu/stereobm/aloe-L.png").read_text() == "left\n"
    record = json.loads((data.root.parent / "sha256.json").read_text())
    assert set(record["files"]) == {"cv/shared/lena.png", "gpu/stereobm/aloe-L.png"}
    assert not [p for p in data.root.rglob("*.part")]
    again = fetch_testdata(wanted, "5.1.0", cache, base_url=base)
    assert again.fetched == 0 and again.present == data.present  # from the cache
    # a cached file damaged: fetched again; the mirror changing a recorded file: refused
    (data.root / "cv/shared/lena.png").write_text("damaged\n")
    assert fetch_testdata(wanted, "5.1.0", cache, base_url=base).fetched == 1
    (mirror / "5.1.0/testdata/cv/shared/lena.png").write_text("another lena\n")
    (data.root / "cv/shared/lena.png").unlink()
    with pytest.raises(SourceError, match=r"not the .* recorded first"):
        fetch_testdata(wanted, "5.1.0", cache, base_url=base)
    assert not (data.root / "cv/shared/lena.png").exists()


def test_an_unreachable_mirror_stops_at_the_first_failure(tmp_path: Path) -> None:
    data = fetch_testdata(["a/b.png", "c/d.png"], "5.1.0", tmp_path / "cache", base_url="http://127.0.0.1:9/")
    assert data.present == () and data.missing == ("a/b.png", "c/d.png") and data.error


def test_a_path_that_leaves_the_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a plain relative"):
        fetch_testdata(["../x.png"], "5.1.0", tmp_path, base_url=f"file://{tmp_path}/")


@pytest.fixture
def http_mirror(tmp_path: Path) -> Iterator[str]:
    root = _mirror(tmp_path / "served")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{{ref}}/testdata"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_over_http_and_a_404_is_missing(http_mirror: str, tmp_path: Path) -> None:
    data = fetch_testdata(
        ["gpu/stereobm/aloe-L.png", "gpu/gone.png"], "5.1.0", tmp_path, base_url=http_mirror
    )
    assert data.present == ("gpu/stereobm/aloe-L.png",) and data.missing == ("gpu/gone.png",)
    assert data.error is None


def test_a_tests_bundle_carries_the_testdata(tmp_path: Path) -> None:
    root = fake_opencv(tmp_path / "src", (5, 1, 0))
    write_files(
        root / "opencv_contrib",
        {
            "modules/cudev/test/test_main.cpp": 'CV_CUDA_TEST_MAIN("gpu")\n',
            "modules/cudev/test/t.cpp": 'readImage("stereobm/aloe-L.png");\n',
        },
    )
    tree = fetch(spec_from_cli(str(root), "5.1.0"), tmp_path / "cache")
    assert td.testdata_paths(tree, ["cudev", "core"]) == ("gpu/stereobm/aloe-L.png",)
    mirror = _mirror(tmp_path / "mirror")
    data = fetch_testdata(
        td.testdata_paths(tree, ["cudev"]),
        "5.1.0",
        tmp_path / "c2",
        base_url=f"file://{mirror}/{{ref}}/testdata/",
    )
    out = make_bundle(
        tree,
        ["core", "cudev"],
        [],
        tmp_path / "b.tar.xz",
        pruning=Pruning.for_tests({}, "cudev"),
        testdata=data,
    )
    with tarfile.open(out) as tf:
        assert tf.extractfile("opencv_extra/testdata/gpu/stereobm/aloe-L.png").read() == b"left\n"  # type: ignore[union-attr]
    info = read_bundle_info(out)
    assert info is not None and info["testdata"] == {
        "ref": "5.1.0",
        "files": ["gpu/stereobm/aloe-L.png"],
        "missing": [],
    }
    # the bundle, built from, extracts the testdata beside opencv/
    built = fetch(spec_from_cli(str(out), "5.1.0"), tmp_path / "c3")
    assert (built.opencv_dir.parent / "opencv_extra/testdata/gpu/stereobm/aloe-L.png").read_text() == "left\n"
