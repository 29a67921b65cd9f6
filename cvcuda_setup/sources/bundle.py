"""Pruned source bundles: a recipe-sized ``tar.xz`` of opencv/ + opencv_contrib/ with ``bundle.json`` first.

A bundle keeps what CMake needs to configure and build the listed modules and nothing else; it is how
sources reach a GPU host without network access (``--bundle FILE`` writes one, ``--source FILE`` reads it).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

from cvcuda_setup import __version__
from cvcuda_setup.console import console
from cvcuda_setup.errors import SourceError
from cvcuda_setup.model import SourceTree
from cvcuda_setup.sources.cache import publish_mode
from cvcuda_setup.sources.layout import CONTRIB, OPENCV

BUNDLE_INFO = "bundle.json"
BUNDLE_FORMAT = "cvcuda-setup-bundle"
BUNDLE_FORMAT_VERSION = 1
BUNDLE_SUFFIXES = (".tar.xz", ".txz")

#: CMake module names whose sources live in another directory.
MODULE_DIRS = {"python3": "python", "python2": "python", "python_bindings_generator": "python"}
#: Directories of opencv/ that the top CMakeLists.txt needs for any module list.
OPENCV_DIRS = ("cmake", "include", "hal", "platforms")
#: Bundled third-party code the minimal builds use (each kept when present).
THIRD_PARTY = ("zlib", "zlib-ng", "libpng", "libspng", "include", "cpufeatures", "ittnotify", "dlpack")
#: Single files below opencv/ the configure step reads (``add_subdirectory`` targets).
OPENCV_FILES = ("modules/CMakeLists.txt", "doc/CMakeLists.txt", "docs_sphinx/CMakeLists.txt")
#: Test images for ``verify``: ``opencv/samples/data`` files with these suffixes, each under the size limit.
SAMPLE_DATA = "samples/data"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp")
SAMPLE_IMAGE_MAX = 300 * 1024
XZ_PRESET: Final = 9


def module_dir(module: str) -> str:
    """The directory under ``modules/`` that holds a CMake module (``python3`` -> ``python``)."""
    return MODULE_DIRS.get(module, module)


def _walk(root: Path) -> Iterable[Path]:
    """Files and symlinks under ``root`` (symlinks are not followed)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
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


def bundle_members(
    tree: SourceTree, modules: Sequence[str], keep: Sequence[str], *, sample_images: bool = True
) -> list[tuple[Path, str]]:
    """(file on disk, name in the bundle) for every file a bundle of ``modules`` keeps, sorted, unique."""
    roots: dict[str, Path] = {OPENCV: tree.opencv_dir}
    if tree.contrib_dir is not None:
        roots[CONTRIB] = tree.contrib_dir
    selected: dict[str, Path] = {}

    def add(root_name: str, path: Path) -> None:
        root = roots[root_name]
        if path.is_dir() and not path.is_symlink():
            for file in _walk(path):
                selected[f"{root_name}/{file.relative_to(root).as_posix()}"] = file
        elif path.is_file() or path.is_symlink():
            selected[f"{root_name}/{path.relative_to(root).as_posix()}"] = path

    opencv = tree.opencv_dir
    for file in _top_files(opencv):
        add(OPENCV, file)
    for name in OPENCV_DIRS:
        add(OPENCV, opencv / name)
    for name in THIRD_PARTY:
        add(OPENCV, opencv / "3rdparty" / name)
    for name in OPENCV_FILES:
        add(OPENCV, opencv / name)
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
            add(name, path)

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
    return [(selected[name], name) for name in sorted(selected)]


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
) -> Path:
    """Write a pruned ``tar.xz`` of ``tree`` keeping ``modules`` and ``keep``, with ``bundle.json`` first.

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
    members = bundle_members(tree, modules, keep, sample_images=sample_images)
    total = sum(path.lstat().st_size for path, _ in members)
    info: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "opencv_version": tree.opencv_version,
        "modules": list(modules),
        "keep": list(keep),
        "contrib": tree.contrib_dir is not None,
        "sample_images": sample_images,
        "source": {"kind": tree.spec.kind, "location": tree.spec.location, "sha256": tree.sha256},
        "source_sha256": tree.sha256,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tool": "cvcuda-setup",
        "tool_version": __version__,
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
