"""Small fake OpenCV trees, archives and a bounded local HTTP index for the sources tests.

Imported by the other ``test_sources_*`` modules; its own tests check the fakes look like what they fake.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cvcuda_setup.sources import layout

VERSION_HPP = (
    "#define CV_VERSION_MAJOR    {0}\n#define CV_VERSION_MINOR    {1}\n"
    '#define CV_VERSION_REVISION {2}\n#define CV_VERSION_STATUS   ""\n'
)

#: opencv/ files of the fake tree: kept by a minimal bundle or not (see test_sources_bundle).
OPENCV_FILES = {
    "CMakeLists.txt": "project(OpenCV)\n",
    "LICENSE": "Apache-2.0\n",
    "modules/CMakeLists.txt": "# modules\n",
    "modules/core/CMakeLists.txt": "ocv_define_module(core)\n",
    "modules/core/src/matrix.cpp": "int core;\n",
    "modules/imgproc/CMakeLists.txt": "ocv_define_module(imgproc)\n",
    "modules/python/CMakeLists.txt": "# python\n",
    "modules/python/src2/gen2.py": "print('gen')\n",
    "modules/dnn/CMakeLists.txt": "ocv_define_module(dnn)\n",
    "cmake/OpenCVUtils.cmake": "# utils\n",
    "include/CMakeLists.txt": "# include\n",
    "hal/CMakeLists.txt": "# hal\n",
    "platforms/linux/gcc.toolchain.cmake": "# tc\n",
    "3rdparty/zlib/zlib.h": "/* zlib */\n",
    "3rdparty/libpng/png.h": "/* png */\n",
    "3rdparty/libjpeg-turbo/jpeglib.h": "/* jpeg */\n",
    "3rdparty/ippicv/ippicv.cmake": "# ipp\n",
    "doc/CMakeLists.txt": "# doc\n",
    "doc/tutorials/intro.md": "# intro\n",
    "docs_sphinx/CMakeLists.txt": "# sphinx\n",
    "apps/CMakeLists.txt": "# apps\n",
    "samples/cpp/edge.cpp": "int main() {}\n",
    "samples/data/notes.txt": "not an image\n",
}
CONTRIB_FILES = {
    "README.md": "contrib\n",
    "modules/README.md": "modules\n",
    "modules/cudev/CMakeLists.txt": "ocv_define_module(cudev)\n",
    "modules/cudaarithm/CMakeLists.txt": "ocv_define_module(cudaarithm)\n",
    "modules/xfeatures2d/CMakeLists.txt": "ocv_define_module(xfeatures2d)\n",
}
SMALL_IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
BIG_IMAGE_SIZE = 320 * 1024


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def fake_opencv(root: Path, version: tuple[int, int, int] = (5, 1, 0), *, contrib: bool = True) -> Path:
    """``root/opencv`` (+ ``root/opencv_contrib``): a few files per place a bundle keeps or drops."""
    opencv = root / "opencv"
    write_files(opencv, OPENCV_FILES)
    write_files(opencv, {"modules/core/include/opencv2/core/version.hpp": VERSION_HPP.format(*version)})
    (opencv / "samples/data/lena.png").write_bytes(SMALL_IMAGE)
    (opencv / "samples/data/big.jpg").write_bytes(b"\xff\xd8" + b"\0" * BIG_IMAGE_SIZE)
    if contrib:
        write_files(root / "opencv_contrib", CONTRIB_FILES)
    return root


def tar_gz_of(src: Path, out: Path, top: str) -> str:
    """Pack the contents of ``src`` under ``top/`` into ``out`` (tar.gz); returns its sha256."""
    with tarfile.open(out, "w:gz") as tf:
        tf.add(src, arcname=top)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def fake_sdist(tmp: Path, version: str = "5.1.0.7") -> tuple[Path, str]:
    """An opencv-contrib-python-like sdist: ``opencv_contrib_python-<v>/{opencv,opencv_contrib,setup.py}``."""
    major, minor, patch = (int(p) for p in version.split(".")[:3])
    src = tmp / f"sdist-src-{version}"
    fake_opencv(src, (major, minor, patch))
    (src / "setup.py").write_text("# sdist\n")
    out = tmp / f"opencv_contrib_python-{version}.tar.gz"
    return out, tar_gz_of(src, out, f"opencv_contrib_python-{version}")


def tar_bytes(entries: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info in entries:
            payload = (data or {}).get(info.name)
            if payload is not None:
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
            else:
                tf.addfile(info)
    return buf.getvalue()


@dataclass
class Route:
    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    #: Answer 406 Not Acceptable when the request's Accept header contains this text.
    refuse_accept: str | None = None


@dataclass
class FakeIndex:
    """A tiny HTTP server on 127.0.0.1: routes by path, counts hits, records Accept headers."""

    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    accepts: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


def _handler(index: FakeIndex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 5

        def do_GET(self) -> None:
            index.hits[self.path] = index.hits.get(self.path, 0) + 1
            accept = self.headers.get("Accept", "")
            index.accepts.append(accept)
            route = index.routes.get(self.path)
            if route is not None and route.refuse_accept and route.refuse_accept in accept:
                route = Route(b"not acceptable", "text/plain", 406)
            if route is None:
                route = Route(b"not found", "text/plain", 404)
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    return Handler


@pytest.fixture
def fake_index(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndex]:
    """The server runs in a daemon thread for one test; client timeouts are cut to 5 s."""
    from cvcuda_setup.sources import download

    monkeypatch.setattr(download, "TIMEOUT_S", 5.0)
    index = FakeIndex()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(index))
    server.daemon_threads = True
    index.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def listing(root: Path) -> set[str]:
    """Every path under ``root`` (relative, posix), for 'nothing written / left behind' checks."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_fake_tree_is_recognised_as_opencv_and_contrib(tmp_path: Path) -> None:
    fake_opencv(tmp_path)
    assert layout.is_opencv_tree(tmp_path / "opencv")
    assert layout.is_contrib_tree(tmp_path / "opencv_contrib")
    assert not layout.is_contrib_tree(tmp_path / "opencv")
    assert layout.detect_version(tmp_path / "opencv") == "5.1.0"


def test_fake_sdist_trees_are_found_under_its_top_dir(tmp_path: Path) -> None:
    archive, _ = fake_sdist(tmp_path)
    out = tmp_path / "x"
    out.mkdir()
    with tarfile.open(archive) as tf:
        tf.extractall(out, filter="data")
    opencv, contrib = layout.find_trees(out)
    assert opencv == out / "opencv_contrib_python-5.1.0.7" / "opencv"
    assert contrib == out / "opencv_contrib_python-5.1.0.7" / "opencv_contrib"
