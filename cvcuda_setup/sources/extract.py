"""Safe extraction of tar and zip archives: nothing may land outside the target, nothing half-written.

Every member is checked before it is written: absolute names, ``..`` components, members reached through a
symlink of the archive, symlinks and hard links pointing outside, device files and FIFOs are refused with a
SourceError. On top of those checks tar extraction uses ``filter="data"`` where this Python has it (3.10.12+,
3.11.4+, 3.12); older interpreters rely on the checks above plus owner/mode sanitising.
Archives are extracted into a temporary directory next to the target and renamed into place; on any error
only that temporary directory is removed.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cvcuda_setup.errors import SourceError
from cvcuda_setup.sources.cache import publish_mode

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tar", ".zip")
_DRIVE = re.compile(r"^[A-Za-z]:")
_HAS_DATA_FILTER = hasattr(tarfile, "data_filter")
_FILTER_ERROR: Any = getattr(tarfile, "FilterError", ())


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def remove_tree(path: Path) -> None:
    """Remove a directory this tool created (a temp or cache dir), even where modes were read-only."""

    def _retry(func: Callable[..., Any], p: str, _exc: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p) or ".", 0o700)
            os.chmod(p, 0o700)
        func(p)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=_retry)
        else:
            shutil.rmtree(path, onerror=_retry)


@contextlib.contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """A fresh temp dir next to ``target``; removed (only it) when the block raises, kept otherwise."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    publish_mode(tmp, directory=True)
    try:
        yield tmp
    except BaseException:
        remove_tree(tmp)
        raise


class _Checker:
    """Member-by-member checks shared by tar and zip; remembers symlinks and regular files seen so far."""

    def __init__(self, archive: Path, dest: Path) -> None:
        self.archive = archive
        self.dest = dest
        self.real_dest = os.path.realpath(dest)
        self.symlinks: set[str] = set()
        self.files: set[str] = set()

    def refuse(self, name: str, why: str) -> SourceError:
        return SourceError(
            f"unsafe archive {self.archive}: member {name!r} {why}",
            hint="refusing to extract it; nothing was written outside the cache",
        )

    def name(self, raw: str) -> str | None:
        """The member's normalised relative name, None for the archive root itself."""
        if "\x00" in raw:
            raise self.refuse(raw, "has a NUL byte in its name")
        if raw.startswith(("/", "\\")) or _DRIVE.match(raw):
            raise self.refuse(raw, "has an absolute path")
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self.refuse(raw, "has a '..' component")
        if not parts:
            return None
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in self.symlinks:
                raise self.refuse(raw, f"goes through the archive's symlink {'/'.join(parts[:i])!r}")
        rel = "/".join(parts)
        self._inside(raw, os.path.join(self.dest, rel), "would be written outside the target")
        return rel

    def _inside(self, raw: str, path: str, why: str) -> None:
        real = os.path.realpath(path)
        if real != self.real_dest and not real.startswith(self.real_dest + os.sep):
            raise self.refuse(raw, why)

    def symlink(self, raw: str, rel: str, target: str) -> None:
        if not target or target.startswith(("/", "\\")) or _DRIVE.match(target):
            raise self.refuse(raw, f"is a symlink to the absolute path {target!r}")
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
        if joined == ".." or joined.startswith("../"):
            raise self.refuse(raw, f"is a symlink pointing outside the target ({target!r})")
        self._inside(raw, os.path.join(self.dest, joined), f"is a symlink pointing outside ({target!r})")
        self.symlinks.add(rel)

    def hardlink(self, raw: str, target: str) -> None:
        if not target or target.startswith(("/", "\\")) or _DRIVE.match(target):
            raise self.refuse(raw, f"is a hard link to the absolute path {target!r}")
        parts = [p for p in target.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self.refuse(raw, f"is a hard link pointing outside the target ({target!r})")
        norm = "/".join(parts)
        if norm not in self.files:
            raise self.refuse(
                raw, f"is a hard link to {target!r}, which is not an earlier file of the archive"
            )


def _tar_members(tf: tarfile.TarFile, check: _Checker) -> Iterator[tarfile.TarInfo]:
    for member in tf:
        rel = check.name(member.name)
        if member.ischr() or member.isblk() or member.isfifo():
            raise check.refuse(member.name, "is a device file or FIFO")
        if rel is None:
            continue
        if member.issym():
            check.symlink(member.name, rel, member.linkname)
        elif member.islnk():
            check.hardlink(member.name, member.linkname)
            check.files.add(rel)
        elif member.isfile():
            check.files.add(rel)
        elif not member.isdir():
            raise check.refuse(member.name, f"has an unsupported type {member.type!r}")
        if not _HAS_DATA_FILTER:  # what filter="data" would do, for interpreters without it
            member.mode &= 0o755 if member.isdir() or member.mode & 0o100 else 0o644
            member.mode |= 0o700 if member.isdir() else 0o600
            member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
        yield member


def _extract_tar(archive: Path, dest: Path) -> None:
    check = _Checker(archive, dest)
    with tarfile.open(archive, "r:*") as tf:
        if _HAS_DATA_FILTER:
            tf.extractall(dest, members=_tar_members(tf, check), filter="data")
        else:  # pragma: no cover - Python < 3.10.12
            tf.extractall(dest, members=_tar_members(tf, check))


def _extract_zip(archive: Path, dest: Path) -> None:
    check = _Checker(archive, dest)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            rel = check.name(info.filename)
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
                raise check.refuse(info.filename, "is a device file, FIFO or socket")
            if rel is None:
                continue
            path = dest / rel
            if kind == stat.S_IFLNK:
                target = zf.read(info).decode("utf-8", "surrogateescape")
                check.symlink(info.filename, rel, target)
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_symlink() or path.is_file():
                    path.unlink()
                os.symlink(target, path)
                continue
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                path.unlink()  # never write through a link
            with zf.open(info) as src, path.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            path.chmod(0o755 if mode & 0o100 else 0o644)
            check.files.add(rel)


def extract_into(archive: Path, dest: Path) -> None:
    """Extract ``archive`` (tar, tar.gz/xz/bz2 or zip) into the existing directory ``dest``, checked."""
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, dest)
        else:
            _extract_tar(archive, dest)
    except SourceError:
        raise
    except _FILTER_ERROR as exc:  # filter="data" refused a member our checks let through
        raise SourceError(f"unsafe archive {archive}: {exc}") from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, UnicodeError, ValueError) as exc:
        raise SourceError(
            f"cannot extract {archive}: {exc}", hint="is it a complete tar or zip archive?"
        ) from None


def safe_extract(archive: Path, target: Path) -> Path:
    """Extract into a temp dir next to ``target`` and rename it to ``target`` (which must not exist)."""
    if target.exists():
        raise SourceError(f"extraction target {target} already exists")
    with staging_dir(target) as tmp:
        extract_into(archive, tmp)
        os.rename(tmp, target)
    return target
