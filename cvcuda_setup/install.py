"""Installing into a prefix without losing anything of the user's: checks, lock, staging, swap, cleanup.

- ``refuse_system_prefix`` / ``check_prefix``: ``/``, ``$HOME`` (and its ancestors), system folders and
  symlinks to them are refused; a non-empty prefix is the tool's only when every entry is listed, unchanged,
  in its install record (``share/cvcuda-setup/files.json``, see :mod:`cvcuda_setup.record`); anything else
  is refused naming the foreign entries (``--force`` installs beside them, never over them).
  ``refuse_overlap``: a prefix inside or around the sources, build dir or cache is refused.
- ``lock_prefix``: one run per prefix (a lock file next to it, held by the build from start to end; a second
  run waits with ``--wait`` or is refused naming the holder). Taking it cleans what killed runs left.
- ``staging_area``: ``cmake --install`` goes to ``<parent>/.<name>.cvcuda-setup-staging-XXXX``
  (``DESTDIR``, same file system) holding a pid marker; removed afterwards whatever happens.
- ``commit``: the staged tree (checked by ``outside_prefix``, then recorded) is put in place:
  a missing prefix by one rename; the tool's own prefix it created by renaming the old one aside into
  ``.<name>.cvcuda-setup-old-XXXX/old`` (pid marker beside it), renaming the new one in and removing the
  old; an existing directory (empty, the tool's but not created by it, or foreign with ``--force``) by
  moving the staged entries in, removing only old files the record proves ours.
- ``clean_leftovers``: staging and ``-old-`` dirs whose marker names a dead process of this host are the
  tool's and are removed (an old install whose prefix is missing, a kill between the two renames, is put
  back instead); anything without such a marker is left alone.

A failure before the swap leaves the previous install untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

from cvcuda_setup.console import console
from cvcuda_setup.errors import InstallError
from cvcuda_setup.leftovers import MARKER, dead_owner, write_owner
from cvcuda_setup.locking import hold_lock
from cvcuda_setup.manifest import MANIFEST_RELPATH
from cvcuda_setup.record import RECORD_RELPATH, Record, foreign_entries, read_record, scan, write_record


class PrefixState(Enum):
    MISSING = "missing"
    EMPTY = "empty"
    OURS = "ours"
    FOREIGN = "foreign"


#: Never an install prefix: replacing one of these would wreck the system (checked resolved and as given).
SYSTEM_DIRS = frozenset(
    Path(p)
    for p in (
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/snap",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/bin",
        "/usr/include",
        "/usr/lib",
        "/usr/lib32",
        "/usr/lib64",
        "/usr/libexec",
        "/usr/local",
        "/usr/local/bin",
        "/usr/local/include",
        "/usr/local/lib",
        "/usr/local/lib64",
        "/usr/local/share",
        "/usr/sbin",
        "/usr/share",
        "/usr/src",
        "/var",
        "/var/lib",
        "/var/tmp",
    )
)
#: How many foreign entries a refusal names before it gives a count.
NAMED = 5


def shorten(text: str, limit: int = 120) -> str:
    """``head…tail`` for names longer than ``limit`` (messages stay one readable line)."""
    if len(text) <= limit:
        return text
    keep = (limit - 1) // 2
    return f"{text[:keep]}…{text[-keep:]}"


def name_some(items: list[str]) -> str:
    named = ", ".join(shorten(i) for i in items[:NAMED])
    return named + (f" and {len(items) - NAMED} more" if len(items) > NAMED else "")


def refuse_system_prefix(prefix: Path) -> None:
    """``/``, ``$HOME`` (and its ancestors), a system folder, or a symlink to one: refused."""
    given = Path(os.path.abspath(prefix.expanduser()))
    home = Path.home().resolve()
    for path in (given, Path(os.path.realpath(given))):
        if path in SYSTEM_DIRS or path == home or path in home.parents:
            raise InstallError(
                f"--prefix {prefix} is {'a system folder' if path != home else 'your home directory'} "
                f"({path}): installing there could replace files that are not cvcuda-setup's",
                hint="choose a dedicated folder, e.g. --prefix ~/.local/opt/cvcuda-opencv",
            )


def prefix_state(prefix: Path) -> PrefixState:
    return inspect_prefix(prefix)[0]


def inspect_prefix(prefix: Path) -> tuple[PrefixState, Record | None, list[str]]:
    """The prefix's state, its install record, and its entries that record does not prove ours."""
    if not prefix.exists() and not prefix.is_symlink():
        return PrefixState.MISSING, None, []
    if not prefix.is_dir():
        raise InstallError(f"--prefix {prefix} exists and is not a directory", hint="choose another --prefix")
    try:
        empty = not any(prefix.iterdir())
    except OSError as exc:
        raise InstallError(
            f"cannot read --prefix {prefix}: {exc.strerror}", hint="check its permissions"
        ) from None
    if empty:
        return PrefixState.EMPTY, None, []
    record = read_record(prefix)
    foreign = foreign_entries(prefix, record)
    return (PrefixState.OURS if record is not None and not foreign else PrefixState.FOREIGN), record, foreign


def _refusal(prefix: Path, record: Record | None, foreign: list[str]) -> str:
    if record is None:
        why = f"has no cvcuda-setup install record ({RECORD_RELPATH})"
        if (prefix / MANIFEST_RELPATH).exists():
            why += " (its manifest alone proves nothing: an older cvcuda-setup or not this tool)"
        return f"--prefix {prefix} is not empty and {why}; {len(foreign)} entries, e.g. {name_some(foreign)}"
    return (
        f"--prefix {prefix} holds {len(foreign)} entries cvcuda-setup did not install (or changed): "
        f"{name_some(foreign)}"
    )


def check_prefix(prefix: Path, *, force: bool) -> PrefixState:
    """Refuse a prefix the install must not touch (run before the build, again before the swap)."""
    refuse_system_prefix(prefix)
    state, record, foreign = inspect_prefix(prefix)
    if state is PrefixState.FOREIGN and not force:
        raise InstallError(
            _refusal(prefix, record, foreign),
            hint="choose an empty or new --prefix, or move those files away; --force installs beside them "
            "and never overwrites or removes them",
        )
    parent = _existing_ancestor(prefix.parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InstallError(
            f"cannot install into {prefix}: {parent} is not writable (staging happens next to the prefix)",
            hint="choose a --prefix under a directory you can write to",
        )
    return state


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


@contextmanager
def lock_prefix(prefix: Path, *, wait: bool = False) -> Iterator[None]:
    """Hold the prefix's lock (a file next to it) for the ``with`` block (a build: start to end); once it is
    held, what killed runs left next to the prefix is cleaned (:func:`clean_leftovers`)."""
    with hold_lock(
        prefix.parent / f".{prefix.name}.cvcuda-setup.lock",
        what=f"prefix {prefix}",
        error=InstallError,
        hint="wait for the other build to finish (or pass --wait), or choose another --prefix",
        wait=wait,
    ):
        clean_leftovers(prefix)
        yield


def refuse_overlap(prefix: Path, others: dict[str, Path | None]) -> None:
    """A prefix inside (or holding) the source tree, the build dir or the cache is refused."""
    real = Path(os.path.realpath(prefix))
    for what, other in others.items():
        if other is None:
            continue
        there = Path(os.path.realpath(other))
        if real == there or real.is_relative_to(there) or there.is_relative_to(real):
            raise InstallError(
                f"--prefix {prefix} overlaps the {what} {other}: an install there would mix with it",
                hint="choose a --prefix outside the sources, the build directory and the cache",
            )


#: Written at the top of every staging and ``-old-`` dir: whose it is (a later run removes it once that pid
#: is dead).
STAGING_MARKER = MARKER
#: Inside an ``-old-`` dir: the previous install, renamed aside during a replacement.
OLD_TREE = "old"


def _leftovers(prefix: Path, kind: str) -> list[tuple[Path, int]]:
    """``(dir, dead pid)`` of this prefix's ``kind`` dirs (staging, old) whose marker proves them ours."""
    try:
        candidates = sorted(prefix.parent.glob(f".{prefix.name}.cvcuda-setup-{kind}-*"))
    except OSError:
        return []
    found = []
    for path in candidates:
        pid = dead_owner(path, STAGING_MARKER)
        if pid is not None:
            found.append((path, pid))
    return found


def clean_stale_staging(prefix: Path) -> list[Path]:
    """Remove staging dirs next to the prefix left by a killed install: only ones holding our marker whose
    pid is dead (run under the prefix lock). Returns what was removed."""
    removed: list[Path] = []
    for path, pid in _leftovers(prefix, "staging"):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            console.info(f"removed {path}, left by a killed install (pid {pid})")
            removed.append(path)
    return removed


def clean_stale_old(prefix: Path) -> list[Path]:
    """``-old-`` dirs left by a replacement that was killed: the old install is put back when the prefix is
    missing (killed between the two renames), else removed (killed before it was removed). Only dirs with
    our marker and a dead pid; returns what was removed or restored."""
    done: list[Path] = []
    for path, pid in _leftovers(prefix, "old"):
        old = path / OLD_TREE
        if not prefix.exists() and not prefix.is_symlink() and old.is_dir() and not old.is_symlink():
            try:
                os.rename(old, prefix)
            except OSError as exc:
                console.warn(f"could not put the previous install in {path} back at {prefix}: {exc.strerror}")
                continue  # kept: it is the only copy
            console.info(f"restored the previous install into {prefix} from {path} (pid {pid} was killed)")
        if old.exists() or old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        if not old.exists():
            shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            console.info(f"removed {path}, left by a killed install (pid {pid})")
            done.append(path)
    return done


def clean_leftovers(prefix: Path) -> list[Path]:
    """Everything killed runs left next to the prefix that is provably the tool's (staging, old)."""
    return [*clean_stale_old(prefix), *clean_stale_staging(prefix)]


@contextmanager
def staging_area(prefix: Path) -> Iterator[Path]:
    """A fresh dir next to the prefix for ``DESTDIR``; removed (it is ours) whatever happens."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(prefix)
    staging = Path(tempfile.mkdtemp(prefix=f".{prefix.name}.cvcuda-setup-staging-", dir=prefix.parent))
    try:
        write_owner(staging, STAGING_MARKER, prefix=str(prefix))
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def staged_prefix(staging: Path, prefix: Path) -> Path:
    """Where ``cmake --install`` with ``DESTDIR=staging`` put the prefix: ``staging/<prefix without />``."""
    return staging / prefix.relative_to(prefix.anchor)


def outside_prefix(staging: Path, prefix: Path) -> list[str]:
    """Files the install wrote outside the prefix (absolute install paths), as the paths meant for them."""
    inside = staged_prefix(staging, prefix)
    stray: list[str] = []
    for root, dirs, files in os.walk(staging):
        here = Path(root)
        dirs[:] = [d for d in dirs if here / d != inside]
        links = [d for d in dirs if (here / d).is_symlink()]
        names = [n for n in [*files, *links] if not (here == staging and n == STAGING_MARKER)]
        stray += ["/" + str((here / name).relative_to(staging)) for name in names]
    return sorted(stray)


def _merge(src: Path, dst: Path) -> None:
    """Move every entry of ``src`` into ``dst`` (replacing files, merging directories)."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                raise InstallError(f"cannot install {target}: a file is in the way of a directory")
            if target.exists():
                _merge(entry, target)
            else:
                os.rename(entry, target)
        else:
            if target.is_dir() and not target.is_symlink():
                raise InstallError(f"cannot install {target}: a directory is in the way of a file")
            os.replace(entry, target)


def _collisions(staged: Path, prefix: Path, foreign: list[str]) -> list[str]:
    """Foreign entries of the prefix the staged tree would overwrite (a dir over a dir is no collision)."""
    bad: list[str] = []
    mine = scan(staged, hashes=False)
    for rel in foreign:
        entry = mine.get(rel)
        if entry is None:
            continue
        if entry["type"] == "dir" and (prefix / rel).is_dir() and not (prefix / rel).is_symlink():
            continue
        bad.append(rel)
    return bad


def _remove_old(prefix: Path, old: Record, keep: dict[str, object], foreign: set[str]) -> None:
    """Remove the previous install's files (proven ours) that the new one does not have; dirs if empty."""
    items = sorted(old.entries.items(), key=lambda kv: kv[0].count("/"), reverse=True)
    for rel, entry in items:
        if rel in keep or rel in foreign:
            continue
        path = prefix / rel
        try:
            if entry.get("type") == "dir":
                if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
                    path.rmdir()
            elif path.is_symlink() or path.is_file():
                path.unlink()
        except OSError:
            continue


def commit(staged: Path, prefix: Path, *, force: bool) -> PrefixState:
    """Put the staged prefix in place (see the module docstring); returns what the prefix was before."""
    refuse_system_prefix(prefix)
    state, old, foreign = inspect_prefix(prefix)
    if state is PrefixState.FOREIGN and not force:
        raise InstallError(_refusal(prefix, old, foreign), hint="choose an empty or new --prefix")
    created = state is PrefixState.MISSING or (
        state is PrefixState.OURS and old is not None and old.created_prefix
    )
    entries = scan(staged)
    write_record(staged, Record(str(prefix), created, entries))
    if state is PrefixState.MISSING:
        prefix.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staged, prefix)
    elif state is PrefixState.OURS and created:
        aside = Path(tempfile.mkdtemp(prefix=f".{prefix.name}.cvcuda-setup-old-", dir=prefix.parent))
        write_owner(aside, STAGING_MARKER, prefix=str(prefix))  # a kill from here on: ours to clean
        os.rename(prefix, aside / OLD_TREE)
        try:
            os.rename(staged, prefix)
        except OSError:
            os.rename(aside / OLD_TREE, prefix)
            shutil.rmtree(aside, ignore_errors=True)
            raise
        try:
            shutil.rmtree(aside / OLD_TREE)  # the old tree first: the marker goes last
            shutil.rmtree(aside)
        except OSError as exc:
            console.warn(
                f"the previous install was replaced but {aside} could not be removed: {exc.strerror}"
            )
    else:
        if state is PrefixState.FOREIGN:
            clash = _collisions(staged, prefix, foreign)
            if clash:
                raise InstallError(
                    f"--force: the install would overwrite {len(clash)} entries of {prefix} that "
                    f"cvcuda-setup did not install: {name_some(clash)}",
                    hint="move them away or choose another --prefix; --force never overwrites them",
                )
            console.warn(
                f"--force: installing beside {len(foreign)} entries of {prefix} that cvcuda-setup did not "
                "install (kept untouched; not atomic)"
            )
        if old is not None:
            _remove_old(prefix, old, {**entries, str(RECORD_RELPATH): None}, set(foreign))
        _merge(staged, prefix)
    return state
