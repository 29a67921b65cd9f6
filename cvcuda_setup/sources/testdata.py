"""opencv_extra's ``testdata`` files that OpenCV's accuracy tests read, fetched file by file and cached.

Which files: the string literals the test sources of the built test modules pass to ``readImage``,
``readImageType``, ``findDataFile`` or append to ``get_data_path()``, resolved against the suite's resource
folder (``CV_CUDA_TEST_MAIN("gpu")``: ``testdata/gpu/``). Names built at run time (``GET_PARAM``) are not
found. From where: ``<base>/<path>`` with base ``DEFAULT_BASE`` (opencv_extra at the tag of the OpenCV
version, or its ``<major>.x`` branch for a git commit), or a mirror. Cached under
``<cache>/opencv_extra/<ref>/testdata`` (``OPENCV_TEST_DATA_PATH``), each file renamed into place whole, its
sha256 recorded on first fetch in ``sha256.json`` beside it; a later fetch that differs is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cvcuda_setup.atomicio import write_json
from cvcuda_setup.errors import SourceError
from cvcuda_setup.hashing import sha256_file
from cvcuda_setup.model import SourceSpec, SourceTree
from cvcuda_setup.sources.download import HttpStatusError, open_url

DEFAULT_BASE = "https://raw.githubusercontent.com/opencv/opencv_extra/{ref}/testdata/"
RECORD = "sha256.json"
MAX_FILE_BYTES = 256 << 20
_LITERAL = re.compile(
    r"(?:\breadImage(?:Type)?\s*\(\s*|\bfindDataFile\s*\(\s*|get_data_path\(\)\s*\)?\s*\+\s*)\"([^\"]+)\""
)
_MAIN = re.compile(r"CV_(?:CUDA_)?TEST_MAIN(?:_EX)?\s*\(\s*\"([^\"]*)\"")
_FILE = re.compile(r"^[A-Za-z0-9_.+/-]+\.[A-Za-z0-9]+$")
_RELEASE = re.compile(r"^\d+\.\d+\.\d+$")
_BRANCH = re.compile(r"^\d+\.x$")


def testdata_ref(spec: SourceSpec, tree_version: str) -> str:
    """opencv_extra's ref for a source: the release tag, the ``N.x`` branch, or ``<major>.x`` for a commit."""
    asked = spec.opencv_version if spec.kind == "git" else tree_version
    if _RELEASE.match(asked) or _BRANCH.match(asked):
        return asked
    major = tree_version.split(".")[0] if tree_version[:1].isdigit() else "5"
    return f"{major}.x"


def cache_root(cache_dir: Path, ref: str) -> Path:
    """``OPENCV_TEST_DATA_PATH`` for ``ref`` in the cache."""
    return cache_dir / "opencv_extra" / ref / "testdata"


def scan_test_dir(test_dir: Path) -> set[str]:
    """The testdata paths (relative to ``testdata/``) one module's ``test/`` sources name literally."""
    subdir = ""
    main = test_dir / "test_main.cpp"
    if main.is_file():
        found = _MAIN.search(main.read_text(encoding="utf-8", errors="replace"))
        subdir = found.group(1) if found else ""
    paths: set[str] = set()
    for source in sorted(test_dir.rglob("*")):
        if source.suffix not in (".cpp", ".hpp", ".h", ".cu") or not source.is_file():
            continue
        for literal in _LITERAL.findall(source.read_text(encoding="utf-8", errors="replace")):
            if not _FILE.match(literal):
                continue
            rel = posixpath.normpath(posixpath.join(subdir, literal))
            if not rel.startswith("..") and not rel.startswith("/"):
                paths.add(rel)
    return paths


def testdata_paths(tree: SourceTree, modules: Iterable[str]) -> tuple[str, ...]:
    """Every testdata path the test sources of ``modules`` (in either tree) name, sorted."""
    paths: set[str] = set()
    roots = [r for r in (tree.opencv_dir, tree.contrib_dir) if r is not None]
    for module in modules:
        for root in roots:
            test_dir = root / "modules" / module / "test"
            if test_dir.is_dir():
                paths |= scan_test_dir(test_dir)
    return tuple(sorted(paths))


@dataclass(frozen=True)
class TestData:
    """What ``fetch_testdata`` left in ``root`` (the folder for ``OPENCV_TEST_DATA_PATH``)."""

    root: Path
    ref: str
    present: tuple[str, ...]
    #: Paths the mirror does not have (HTTP 404) or that could not be fetched (``error`` says why).
    missing: tuple[str, ...]
    fetched: int
    error: str | None = None


def _checked(rel: str) -> str:
    parts = rel.split("/")
    if rel.startswith("/") or ".." in parts or "" in parts or not _FILE.match(rel):
        raise SourceError(f"testdata path {rel!r} is not a plain relative file name")
    return rel


def _read_record(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _download(url: str, dest: Path) -> str:
    """``url`` to ``dest`` through a temp file beside it, renamed into place whole; its sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, open_url(url) as response:
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise SourceError(f"{url} is larger than {MAX_FILE_BYTES >> 20} MiB")
                out.write(chunk)
                digest.update(chunk)
        os.replace(tmp, dest)
    except OSError as exc:
        raise SourceError(f"cannot write {dest}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return digest.hexdigest()


def fetch_testdata(
    paths: Iterable[str], ref: str, cache_dir: Path, *, base_url: str | None = None
) -> TestData:
    """Fetch each path not yet cached from ``base_url`` (``{ref}`` filled in; default ``DEFAULT_BASE``).

    A cached file whose sha256 matches its record is kept; a file the mirror lacks is listed missing; the
    first network failure stops the fetching (the rest are missing, ``error`` says why). A fetched file
    whose sha256 differs from the one recorded before is refused (SourceError): the mirror changed.
    """
    base = (base_url or DEFAULT_BASE).replace("{ref}", ref)
    base = base if base.endswith("/") else base + "/"
    root = cache_root(cache_dir, ref)
    record_path = root.parent / RECORD
    record = _read_record(record_path)
    present: list[str] = []
    missing: list[str] = []
    fetched = 0
    error: str | None = None
    try:
        for rel in sorted(set(paths)):
            rel = _checked(rel)
            dest = root / rel
            if dest.is_file() and record.get(rel) == sha256_file(dest):
                present.append(rel)
                continue
            if error is not None:
                missing.append(rel)
                continue
            try:
                got = _download(base + rel, dest)
            except HttpStatusError:
                missing.append(rel)
                continue
            except SourceError as exc:
                missing.append(rel)
                if not base.startswith("file:"):  # a local mirror lacks the one file; a network fails whole
                    error = str(exc)
                continue
            if rel in record and record[rel] != got:
                dest.unlink(missing_ok=True)
                raise SourceError(
                    f"testdata {rel} from {base} has sha256 {got}, not the {record[rel]} recorded first",
                    hint=f"the mirror changed the file; remove {record_path} to accept the new one",
                )
            record[rel] = got
            present.append(rel)
            fetched += 1
    finally:
        if record:
            write_json(record_path, {"ref": ref, "base_url": base, "files": dict(sorted(record.items()))})
    return TestData(root, ref, tuple(present), tuple(missing), fetched, error)
