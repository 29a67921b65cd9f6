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
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cvcuda_setup.console import console
from cvcuda_setup.errors import SourceError, UsageError
from cvcuda_setup.install import shorten
from cvcuda_setup.leftovers import MARKER, dead_owner, write_owner
from cvcuda_setup.sources.cache import publish_mode

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tar", ".zip")
_DRIVE = re.compile(r"^[A-Za-z]:")
_HAS_DATA_FILTER = hasattr(tarfile, "data_filter")

#: Bounds on one extraction (an archive bomb stops there; a refused archive leaves nothing in the cache).
#: Raise them with these environment variables or ``build --extract-limit`` (see docs/sources.md).
LIMIT_ENV = {
    "bytes": "CVCUDA_SETUP_MAX_EXTRACT_BYTES",
    "members": "CVCUDA_SETUP_MAX_EXTRACT_MEMBERS",
    "name": "CVCUDA_SETUP_MAX_NAME_LENGTH",
}
DEFAULT_LIMITS = {"bytes": 8 << 30, "members": 200_000, "name": 1024}


def limits() -> dict[str, int]:
    """The extraction bounds: the defaults, or the environment's (a bad value is a UsageError)."""
    out = dict(DEFAULT_LIMITS)
    for key, var in LIMIT_ENV.items():
        raw = os.environ.get(var)
        if raw is None or not raw.strip():
            continue
        try:
            value = int(raw.strip())
        except ValueError:
            value = 0
        if value < 1:
            raise SourceError(
                f"{var}={shorten(raw)!r} is not a positive whole number",
                hint=f"unset it or give a count, e.g. {var}={DEFAULT_LIMITS[key]}",
            )
        out[key] = value
    return out


#: ``build --extract-limit KEY=N``: the keys, and the bound each sets.
LIMIT_OPTION = "--extract-limit"
LIMIT_KEYS = {"bytes": "bytes", "members": "members", "name-length": "name"}


def limits_with(options: Sequence[str]) -> dict[str, int]:
    """The bounds: :func:`limits` (defaults and environment), then each ``KEY=N`` of ``--extract-limit``.

    Checked before anything is fetched; a bad one is a UsageError naming it and the accepted form.
    """
    out = limits()
    keys = ", ".join(LIMIT_KEYS)
    for text in options:
        key, sep, raw = text.partition("=")
        key = key.strip().lower()
        if not sep or key not in LIMIT_KEYS:
            raise UsageError(
                f"{LIMIT_OPTION} {shorten(text)!r} is not KEY=N with KEY one of {keys}",
                hint=f"e.g. {LIMIT_OPTION} bytes={2 * DEFAULT_LIMITS['bytes']}",
            )
        try:
            value = int(raw.strip())
        except ValueError:
            value = 0
        if value < 1:
            name = LIMIT_KEYS[key]
            raise UsageError(
                f"{LIMIT_OPTION} {shorten(text)!r}: {shorten(raw)!r} is not a positive whole number",
                hint=f"give a count, e.g. {LIMIT_OPTION} {key}={2 * DEFAULT_LIMITS[name]}",
            )
        out[LIMIT_KEYS[key]] = value
    return out


_OPTION_KEY = {bound: key for key, bound in LIMIT_KEYS.items()}
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


def clean_stale_tmp(parent: Path) -> list[Path]:
    """Remove ``parent/.*.tmp`` dirs a killed run left: only those whose marker names a dead process."""
    removed: list[Path] = []
    try:
        candidates = sorted(parent.glob(".*.tmp"))
    except OSError:
        return removed
    for path in candidates:
        pid = dead_owner(path, MARKER)
        if pid is None:
            continue
        with contextlib.suppress(OSError):
            remove_tree(path)
        if not path.exists():
            console.info(f"removed {path}, left by a killed run (pid {pid})")
            removed.append(path)
    return removed


@contextlib.contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """A fresh empty dir to build ``target`` in (the caller renames it to ``target``), always cleaned up.

    It is ``<parent>/.<name>.XXXX.tmp/tree``; the ``.tmp`` dir holds this process's pid marker, so a run
    that is killed leaves a dir the next run proves ours and removes (:func:`clean_stale_tmp`, called here).
    The ``.tmp`` dir (and the tree, unless it was renamed away) is removed when the block ends.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(target.parent)
    outer = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        write_owner(outer, MARKER, target=str(target))
        tmp = outer / "tree"
        tmp.mkdir()
        publish_mode(tmp, directory=True)
        yield tmp
    finally:
        remove_tree(outer)


class _Checker:
    """Member-by-member checks shared by tar and zip; remembers symlinks and regular files seen so far."""

    def __init__(self, archive: Path, dest: Path, bounds: Mapping[str, int] | None = None) -> None:
        self.archive = archive
        self.dest = dest
        self.real_dest = os.path.realpath(dest)
        self.symlinks: set[str] = set()
        self.files: set[str] = set()
        self.limits = dict(bounds) if bounds is not None else limits()
        self.members = 0
        self.bytes = 0

    def refuse(self, name: str, why: str) -> SourceError:
        return SourceError(
            f"unsafe archive {self.archive}: member {shorten(repr(name))} {why}",
            hint="refusing to extract it; nothing was written outside the cache",
        )

    def count(self, raw: str, size: int) -> None:
        """One more member of ``size`` bytes: refused past the member, byte or name-length bounds."""
        self.members += 1
        self.bytes += max(size, 0)
        for key, value, what in (
            ("members", self.members, "members"),
            ("bytes", self.bytes, "bytes when extracted"),
            ("name", len(raw), "characters in its name"),
        ):
            if value > self.limits[key]:
                raise SourceError(
                    f"archive {self.archive} exceeds the extraction bound at member {shorten(repr(raw))}: "
                    f"more than {self.limits[key]} {what}",
                    hint=f"if trusted, raise {LIMIT_ENV[key]} or {LIMIT_OPTION} {_OPTION_KEY[key]}=N; "
                    "nothing was kept in the cache",
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
        # resolved through the links already extracted (not lexically): a chain of links cannot escape
        real_dir = os.path.realpath(os.path.join(self.dest, posixpath.dirname(rel)))
        self._inside(raw, os.path.join(real_dir, target), f"is a symlink pointing outside ({target!r})")
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
        check.count(member.name, member.size if member.isfile() else 0)
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


def _extract_tar(archive: Path, dest: Path, bounds: Mapping[str, int] | None) -> None:
    check = _Checker(archive, dest, bounds)
    with tarfile.open(archive, "r:*") as tf:
        if _HAS_DATA_FILTER:
            tf.extractall(dest, members=_tar_members(tf, check), filter="data")
        else:  # pragma: no cover - Python < 3.10.12
            tf.extractall(dest, members=_tar_members(tf, check))


def _extract_zip(archive: Path, dest: Path, bounds: Mapping[str, int] | None) -> None:
    check = _Checker(archive, dest, bounds)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            check.count(info.filename, info.file_size)
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
                written = 0
                for block in iter(lambda: src.read(1 << 20), b""):
                    written += len(block)
                    if written > info.file_size:  # more data than the header said: count it all
                        check.count(info.filename, written - info.file_size)
                        check.members -= 1
                    out.write(block)
            path.chmod(0o755 if mode & 0o100 else 0o644)
            check.files.add(rel)


def links_outside(root: Path) -> list[str]:
    """Symlinks under ``root`` whose target, fully resolved on the final tree, is not inside ``root``."""
    real_root = os.path.realpath(root)
    bad: list[str] = []
    for here, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = os.path.join(here, name)
            if os.path.islink(path):
                real = os.path.realpath(path)
                if real != real_root and not real.startswith(real_root + os.sep):
                    bad.append(os.path.relpath(path, root))
    return sorted(bad)


def check_final_tree(root: Path, archive: Path) -> None:
    """After every move: refuse the tree when a link resolves outside it (the caller removes the tree)."""
    bad = links_outside(root)
    if bad:
        raise SourceError(
            f"unsafe archive {archive}: {len(bad)} symlink(s) resolve outside the extracted tree, e.g. "
            + ", ".join(shorten(b) for b in bad[:3]),
            hint="refusing to use it; nothing was kept in the cache",
        )


def extract_into(archive: Path, dest: Path, *, limits: Mapping[str, int] | None = None) -> None:
    """Extract ``archive`` (tar, tar.gz/xz/bz2 or zip, told apart by content) into ``dest``, checked;
    ``limits``: the bounds (None: :func:`limits`, the defaults and the environment's)."""
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, dest, limits)
        else:
            _extract_tar(archive, dest, limits)
    except SourceError:
        raise
    except _FILTER_ERROR as exc:  # filter="data" refused a member our checks let through
        raise SourceError(f"unsafe archive {archive}: {exc}") from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, UnicodeError, ValueError) as exc:
        raise SourceError(
            f"cannot extract {archive}: {exc}", hint="is it a complete tar or zip archive?"
        ) from None


def safe_extract(archive: Path, target: Path, *, limits: Mapping[str, int] | None = None) -> Path:
    """Extract into a temp dir next to ``target`` and rename it to ``target`` (which must not exist)."""
    if target.exists():
        raise SourceError(f"extraction target {target} already exists")
    with staging_dir(target) as tmp:
        extract_into(archive, tmp, limits=limits)
        check_final_tree(tmp, archive)
        os.rename(tmp, target)
    return target
