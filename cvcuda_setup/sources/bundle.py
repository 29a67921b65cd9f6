"""Pruned source bundles: a recipe-sized ``tar.xz`` of opencv/ + opencv_contrib/ with ``bundle.json`` first.

A bundle keeps what CMake needs to configure and build the listed modules and nothing else; it is how
sources reach a GPU host without network access (``--bundle FILE`` writes one, ``--source FILE`` reads it).
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

from cvcuda_setup import __version__
from cvcuda_setup.console import console
from cvcuda_setup.errors import SourceError
from cvcuda_setup.model import SourceTree
from cvcuda_setup.sources.cache import publish_mode
from cvcuda_setup.sources.layout import CONTRIB, OPENCV
from cvcuda_setup.sources.testdata import TestData

BUNDLE_INFO = "bundle.json"
#: Where a bundle keeps opencv_extra's testdata files (``build --bundle --with-tests``), beside opencv/.
TESTDATA_DIR = "opencv_extra/testdata"
BUNDLE_FORMAT = "cvcuda-setup-bundle"
BUNDLE_FORMAT_VERSION = 1
BUNDLE_SUFFIXES = (".tar.xz", ".txz")

#: CMake module names whose sources live in another directory.
MODULE_DIRS = {"python3": "python", "python2": "python", "python_bindings_generator": "python"}
#: Directories of opencv/ that the top CMakeLists.txt needs for any module list.
OPENCV_DIRS = ("cmake", "include", "hal", "platforms", "apps")
#: Bundled third-party code the minimal builds use (each kept when present).
THIRD_PARTY = ("zlib", "zlib-ng", "libpng", "libspng", "include", "cpufeatures", "ittnotify", "dlpack")
#: Single files below opencv/ the configure step reads (``add_subdirectory`` targets).
OPENCV_FILES = ("modules/CMakeLists.txt", "doc/CMakeLists.txt", "docs_sphinx/CMakeLists.txt")
#: Directories of opencv/ of which a bundle keeps the CMakeLists.txt only, and whose ``add_subdirectory``
#: calls are not followed: each is added only for BUILD_DOCS / BUILD_EXAMPLES (``samples`` is kept whole
#: when the recipe turns BUILD_EXAMPLES on).
CMAKELISTS_ONLY = ("doc", "docs_sphinx", "samples")
#: ``opencv/data`` (4.x) and ``modules/<m>/data`` with a CMakeLists.txt (5.x ``xobjdetect``): a bundle keeps
#: that CMakeLists.txt and the files its ``file(GLOB ...)`` patterns match (what it installs).
DATA_DIR = "data"
#: Test images for ``verify``: ``opencv/samples/data`` files with these suffixes, each under the size limit.
SAMPLE_DATA = "samples/data"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp")
SAMPLE_IMAGE_MAX = 300 * 1024
#: Directories of a module (``modules/<name>/<dir>``) a bundle drops: documentation, tutorials, samples,
#: test data; ``test`` and ``perf`` too unless the recipe builds the tests (see :class:`Pruning`). A dropped
#: directory that a kept CMakeLists.txt names in ``add_subdirectory`` is kept after all.
MODULE_DOC_DIRS = ("doc", "tutorials", "samples", "testdata")
XZ_PRESET: Final = 9

_ADD_SUBDIRECTORY = re.compile(r"^\s*add_subdirectory\s*\(\s*\"?([A-Za-z0-9_.+/-]+)\"?", re.MULTILINE)
_FILE_GLOB = re.compile(r"file\s*\(\s*GLOB(?:_RECURSE)?\s+\w+\s+([^)]*)\)", re.IGNORECASE)
_OFF = ("OFF", "0", "FALSE", "NO", "N", "")


def _cmake_bool(value: object, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().upper() not in _OFF


@dataclass(frozen=True)
class Pruning:
    """What a bundle keeps beyond the sources of its modules: each follows the recipe's CMake options."""

    #: Keep each module's ``test/`` sources (BUILD_TESTS, OpenCV's default ON).
    tests: bool = False
    #: Keep each module's ``perf/`` sources (BUILD_PERF_TESTS, OpenCV's default ON).
    perf: bool = False
    #: Keep ``opencv/samples`` whole (BUILD_EXAMPLES, default OFF).
    examples: bool = False
    #: Keep every directory of ``opencv/3rdparty`` (every all-module bundle does).
    all_third_party: bool = False
    #: With ``tests``: the module directories whose ``test/`` is kept (``build --with-tests``: its test
    #: modules and ``ts``); None keeps every module's.
    test_modules: tuple[str, ...] | None = None

    @classmethod
    def for_options(cls, options: Mapping[str, object], *, all_modules: bool = False) -> Pruning:
        """From the CMake options a build passes (recipe ``[cmake]`` merged with ``-D``), OpenCV's defaults
        for the ones left out."""
        return cls(
            tests=_cmake_bool(options.get("BUILD_TESTS"), True),
            perf=_cmake_bool(options.get("BUILD_PERF_TESTS"), True),
            examples=_cmake_bool(options.get("BUILD_EXAMPLES"), False),
            all_third_party=all_modules,
        )

    @classmethod
    def for_tests(
        cls, options: Mapping[str, object], test_modules: str, *, all_modules: bool = False
    ) -> Pruning:
        """A bundle for a ``--with-tests`` build: ``test/`` of the modules ``OPENCV_BUILD_TEST_MODULES_LIST``
        names (``test_modules``; ``all``: every module's) and of ``ts``, no ``perf/`` unless asked."""
        base = cls.for_options(options, all_modules=all_modules)
        chosen = None if test_modules == "all" else (*test_modules.split(";"), "ts")
        return cls(
            tests=True,
            perf=_cmake_bool(options.get("BUILD_PERF_TESTS"), False),
            examples=base.examples,
            all_third_party=base.all_third_party,
            test_modules=chosen,
        )

    def keeps_tests_of(self, module: str) -> bool:
        return self.tests and (self.test_modules is None or module in self.test_modules)

    def dropped_module_dirs(self) -> tuple[str, ...]:
        return MODULE_DOC_DIRS + (() if self.tests else ("test",)) + (() if self.perf else ("perf",))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.test_modules is None:  # every module's tests (or none): as bundles before --with-tests
            del data["test_modules"]
        else:
            data["test_modules"] = list(self.test_modules)
        return data


def module_dir(module: str) -> str:
    """The directory under ``modules/`` that holds a CMake module (``python3`` -> ``python``)."""
    return MODULE_DIRS.get(module, module)


def _walk(root: Path, skip: Callable[[Path], bool] = lambda _: False) -> Iterable[Path]:
    """Files and symlinks under ``root`` (symlinks are not followed), leaving out dirs ``skip`` names."""
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not skip(base / d))
        for name in sorted(filenames):
            yield base / name
        for name in dirnames:
            if (base / name).is_symlink():
                yield base / name


def _top_files(root: Path) -> Iterable[Path]:
    return sorted(p for p in root.iterdir() if p.is_file() or (p.is_symlink() and not p.is_dir()))


def _checked_rel(entry: str) -> str:
    parts = [p for p in entry.replace("\\", "/").split("/") if p not in ("", ".")]
    if entry.startswith("/") or ".." in parts or not parts:
        raise SourceError(f"bundle keep path {entry!r} must be relative to the opencv or opencv_contrib tree")
    return "/".join(parts)


def all_modules(tree: SourceTree) -> list[str]:
    """Every module directory of opencv/modules and opencv_contrib/modules (an all-module bundle)."""
    names: set[str] = set()
    for root in (tree.opencv_dir, tree.contrib_dir):
        if root is not None and (root / "modules").is_dir():
            names.update(p.name for p in (root / "modules").iterdir() if p.is_dir() and not p.is_symlink())
    return sorted(names)


def _subdirectories(cmakelists: Path) -> list[str]:
    """Literal ``add_subdirectory`` targets of a CMakeLists.txt (ones built from variables are skipped)."""
    try:
        text = cmakelists.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return _ADD_SUBDIRECTORY.findall("\n".join(lines))


def _data_globs(data: Path) -> list[Path]:
    """Files ``opencv/data/CMakeLists.txt`` installs: what its ``file(GLOB ...)`` patterns match."""
    try:
        text = (data / "CMakeLists.txt").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found: list[Path] = []
    for args in _FILE_GLOB.findall(text):
        for pattern in args.split():
            if "$" not in pattern and not pattern.startswith("/") and ".." not in pattern:
                found.extend(p for p in sorted(data.glob(pattern.strip('"'))) if p.is_file())
    return found


def bundle_members(
    tree: SourceTree,
    modules: Sequence[str],
    keep: Sequence[str],
    *,
    sample_images: bool = True,
    pruning: Pruning | None = None,
) -> list[tuple[Path, str]]:
    """(file on disk, name in the bundle) for every file a bundle of ``modules`` keeps, sorted, unique.

    Kept: opencv/'s top files and build-system directories (cmake, include, hal, platforms, apps), the
    module directories less what ``pruning`` drops, the third-party code in use, ``keep``, the files
    ``data/CMakeLists.txt`` installs, the CMakeLists.txt of doc/ and samples/; then every directory a kept
    CMakeLists.txt adds with a literal ``add_subdirectory`` that is still missing, until none is.
    """
    prune = pruning or Pruning()
    roots: dict[str, Path] = {OPENCV: tree.opencv_dir}
    if tree.contrib_dir is not None:
        roots[CONTRIB] = tree.contrib_dir
    selected: dict[str, Path] = {}
    dropped_names = set(prune.dropped_module_dirs())

    data_dirs: list[tuple[str, Path]] = []

    def pruned(path: Path) -> bool:  # modules/<m>/<dir> of a dropped kind, or a data dir with CMakeLists
        if path.parent.parent.name != "modules":
            return False
        if path.name == DATA_DIR and (path / "CMakeLists.txt").is_file():
            data_dirs.append((CONTRIB if path.is_relative_to(roots.get(CONTRIB, opencv)) else OPENCV, path))
            return True
        if path.name == "test" and prune.tests and not prune.keeps_tests_of(path.parent.name):
            return True
        return path.name in dropped_names

    def add(root_name: str, path: Path, *, whole: bool = False) -> None:
        root = roots[root_name]
        if path.is_dir() and not path.is_symlink():
            for file in _walk(path, (lambda _: False) if whole else pruned):
                selected[f"{root_name}/{file.relative_to(root).as_posix()}"] = file
        elif path.is_file() or path.is_symlink():
            selected[f"{root_name}/{path.relative_to(root).as_posix()}"] = path

    opencv = tree.opencv_dir
    for file in _top_files(opencv):
        add(OPENCV, file)
    for name in OPENCV_DIRS:
        add(OPENCV, opencv / name)
    if prune.all_third_party:
        add(OPENCV, opencv / "3rdparty")
    for name in THIRD_PARTY:
        add(OPENCV, opencv / "3rdparty" / name)
    for name in OPENCV_FILES:
        add(OPENCV, opencv / name)
    for name in CMAKELISTS_ONLY:
        add(OPENCV, opencv / name / "CMakeLists.txt")
    if prune.examples:
        add(OPENCV, opencv / "samples")
    if tree.contrib_dir is not None:
        for file in _top_files(tree.contrib_dir):
            add(CONTRIB, file)
        if (tree.contrib_dir / "modules").is_dir():
            for file in _top_files(tree.contrib_dir / "modules"):
                add(CONTRIB, file)

    for module in modules:
        found = False
        for root_name, root in roots.items():
            path = root / "modules" / module_dir(module)
            if path.is_dir():
                add(root_name, path)
                found = True
        if not found:
            where = " or ".join(str(r / "modules") for r in roots.values())
            raise SourceError(f"module {module!r} is not in {where}", hint="check the recipe's module list")

    for entry in keep:
        rel = _checked_rel(entry)
        head, _, rest = rel.partition("/")
        if head in roots and rest:
            targets = [(head, roots[head] / rest)]
        else:
            targets = [(name, root / rel) for name, root in roots.items()]
        present = [(name, path) for name, path in targets if path.exists() or path.is_symlink()]
        if not present:
            raise SourceError(
                f"bundle keep path {entry!r} is in neither source tree",
                hint="fix the recipe's bundle keep list",
            )
        for name, path in present:
            add(name, path, whole=True)

    data_dirs.append((OPENCV, opencv / DATA_DIR))
    for root_name, data in data_dirs:
        add(root_name, data / "CMakeLists.txt")
        for file in _data_globs(data):
            add(root_name, file)

    samples = opencv / SAMPLE_DATA
    if sample_images and samples.is_dir():
        for file in _walk(samples):
            if (
                file.suffix.lower() in IMAGE_SUFFIXES
                and file.is_file()
                and not file.is_symlink()
                and file.stat().st_size < SAMPLE_IMAGE_MAX
            ):
                add(OPENCV, file)
    _close_over_subdirectories(selected, roots, add, prune)
    return [(selected[name], name) for name in sorted(selected)]


def _close_over_subdirectories(
    selected: dict[str, Path],
    roots: Mapping[str, Path],
    add: Callable[..., None],
    prune: Pruning,
) -> None:
    """Add, whole, each directory a kept CMakeLists.txt names in a literal ``add_subdirectory`` but the
    bundle lacks (``data``, ``apps``, ``3rdparty/quirc``, ``modules/python/test`` ...), until none is."""
    unfollowed = {f"{OPENCV}/{name}/CMakeLists.txt" for name in CMAKELISTS_ONLY if not prune.examples}
    done: set[str] = set()
    while True:
        pending = [
            n for n in selected if n.endswith("/CMakeLists.txt") and n not in done and n not in unfollowed
        ]
        if not pending:
            return
        for name in pending:
            done.add(name)
            root_name, _, rel = name.partition("/")
            base = roots[root_name] / rel
            for sub in _subdirectories(base):
                target = (base.parent / sub).resolve()
                try:
                    target_rel = target.relative_to(roots[root_name].resolve())
                except ValueError:
                    continue
                key = f"{root_name}/{target_rel.as_posix()}/CMakeLists.txt"
                if key not in selected and (target / "CMakeLists.txt").is_file():
                    add(root_name, roots[root_name] / target_rel, whole=True)


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() or info.mode & 0o100 else 0o644
    return info


def make_bundle(
    tree: SourceTree,
    modules: Sequence[str],
    keep: Sequence[str],
    out: Path,
    *,
    sample_images: bool = True,
    pruning: Pruning | None = None,
    testdata: TestData | None = None,
) -> Path:
    """Write a pruned ``tar.xz`` of ``tree`` keeping ``modules`` and ``keep``, with ``bundle.json`` first.

    ``pruning`` says which test, perf and sample sources stay (see :func:`bundle_members`).

    ``sample_images=False`` leaves out the ``samples/data`` photos (about 5 MB of the 5.1.0 minimal bundle;
    ``verify`` then uses its generated patterns only). Written to a temp file beside ``out`` and renamed into
    place; prints the bundle's size. Returns ``out``.
    """
    if not out.name.endswith(BUNDLE_SUFFIXES):
        raise SourceError(
            f"bundle file name {out} must end in .tar.xz", hint="e.g. --bundle minimal-5.1.0.tar.xz"
        )
    if out.is_dir():
        raise SourceError(f"bundle path {out} is a directory", hint="give a file name ending in .tar.xz")
    start = time.monotonic()
    prune = pruning or Pruning()
    members = bundle_members(tree, modules, keep, sample_images=sample_images, pruning=prune)
    if testdata is not None:  # opencv_extra's files for the tests: hosts without network get them too
        members += [(testdata.root / rel, f"{TESTDATA_DIR}/{rel}") for rel in testdata.present]
    total = sum(path.lstat().st_size for path, _ in members)
    info: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "opencv_version": tree.opencv_version,
        "modules": list(modules),
        "keep": list(keep),
        "contrib": tree.contrib_dir is not None,
        "sample_images": sample_images,
        "pruning": prune.to_json(),
        "source": {"kind": tree.spec.kind, "location": tree.spec.location, "sha256": tree.sha256},
        "source_sha256": tree.sha256,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tool": "cvcuda-setup",
        "tool_version": __version__,
        "testdata": (
            None
            if testdata is None
            else {"ref": testdata.ref, "files": list(testdata.present), "missing": list(testdata.missing)}
        ),
        "files": len(members),
        "bytes": total,
    }
    payload = (json.dumps(info, indent=2) + "\n").encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with tarfile.open(tmp, "w:xz", preset=XZ_PRESET) as tf:
            head = tarfile.TarInfo(BUNDLE_INFO)
            head.size = len(payload)
            head.mtime = int(time.time())
            tf.addfile(_normalize(head), io.BytesIO(payload))
            for path, name in members:
                tf.add(path, arcname=name, recursive=False, filter=_normalize)
        publish_mode(tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise SourceError(f"cannot write bundle {out}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    size = out.stat().st_size
    console.info(
        f"wrote bundle {out}: {size / 1e6:.1f} MB ({len(members)} files, {total / 1e6:.1f} MB unpacked, "
        f"{time.monotonic() - start:.1f} s)"
    )
    return out


def read_bundle_info(path: Path) -> dict[str, Any] | None:
    """``bundle.json`` of a bundle written by :func:`make_bundle` (its first member), None for other files."""
    if not path.name.lower().endswith((".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar")):
        return None
    try:
        with tarfile.open(path, "r:*") as tf:
            first = tf.next()
            if first is None or first.name.removeprefix("./") != BUNDLE_INFO or not first.isfile():
                return None
            if first.size > 1 << 20:
                return None
            fh = tf.extractfile(first)
            if fh is None:
                return None
            data = json.loads(fh.read().decode("utf-8"))
    except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError):
        return None
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        return None
    if not isinstance(data.get("opencv_version"), str):
        return None
    return data


def is_bundle(path: Path) -> bool:
    return read_bundle_info(path) is not None
