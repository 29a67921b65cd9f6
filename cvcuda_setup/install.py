"""Atomic install into the prefix: ``cmake --install`` into a staging dir (``DESTDIR``), then swap it in.

The staging dir is created next to the prefix (``<parent>/.<name>.cvcuda-setup-staging-XXXX``, so the same
file system and renames are atomic) and is always removed afterwards. The staged prefix is checked (nothing
installed outside the prefix), the manifest is written into it, then:

- the prefix does not exist: one rename puts the staged tree there;
- the prefix is ours (it holds ``share/cvcuda-setup/manifest.json``): it is renamed aside, the staged tree
  renamed in, and the old one removed only after that succeeded (a failure renames it back). The whole
  prefix is replaced: files put there by hand are removed with the old install;
- the prefix is an empty directory: the staged entries are moved into it (the directory itself, which the
  tool did not create, is kept);
- the prefix is a non-empty directory the tool did not create: refused unless ``force``; with ``force`` the
  staged entries are moved over it like ``cmake --install`` would write them; nothing else there is removed,
  and this one case is not atomic.

A failure before the swap leaves the previous install untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from enum import Enum
from pathlib import Path

from cvcuda_setup.console import console
from cvcuda_setup.errors import InstallError
from cvcuda_setup.locking import hold_lock
from cvcuda_setup.manifest import MANIFEST_RELPATH


class PrefixState(Enum):
    MISSING = "missing"
    EMPTY = "empty"
    OURS = "ours"
    FOREIGN = "foreign"


def prefix_state(prefix: Path) -> PrefixState:
    if not prefix.exists() and not prefix.is_symlink():
        return PrefixState.MISSING
    if not prefix.is_dir():
        raise InstallError(f"--prefix {prefix} exists and is not a directory", hint="choose another --prefix")
    if (prefix / MANIFEST_RELPATH).is_file():
        return PrefixState.OURS
    try:
        empty = not any(prefix.iterdir())
    except OSError as exc:
        raise InstallError(f"cannot read --prefix {prefix}: {exc.strerror}") from None
    return PrefixState.EMPTY if empty else PrefixState.FOREIGN


def check_prefix(prefix: Path, *, force: bool) -> PrefixState:
    """Refuse a prefix the install must not touch (run before the build, again before the swap)."""
    state = prefix_state(prefix)
    if state is PrefixState.FOREIGN and not force:
        raise InstallError(
            f"--prefix {prefix} is not empty and was not created by cvcuda-setup (no {MANIFEST_RELPATH})",
            hint="choose an empty or new --prefix, or pass --force to install over it (nothing is removed)",
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


def lock_prefix(prefix: Path) -> AbstractContextManager[None]:
    """Hold the prefix's install lock (a file next to it) for the ``with`` block."""
    return hold_lock(
        prefix.parent / f".{prefix.name}.cvcuda-setup.lock",
        what=f"prefix {prefix}",
        error=InstallError,
        hint="wait for the other install to finish",
    )


@contextmanager
def staging_area(prefix: Path) -> Iterator[Path]:
    """A fresh dir next to the prefix for ``DESTDIR``; removed (it is ours) whatever happens."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{prefix.name}.cvcuda-setup-staging-", dir=prefix.parent))
    try:
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
        stray += ["/" + str((here / name).relative_to(staging)) for name in [*files, *links]]
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


def commit(staged: Path, prefix: Path, *, force: bool) -> PrefixState:
    """Put the staged prefix in place (see the module docstring); returns what the prefix was before."""
    state = check_prefix(prefix, force=force)
    if state is PrefixState.MISSING:
        prefix.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staged, prefix)
    elif state is PrefixState.OURS:
        aside = Path(tempfile.mkdtemp(prefix=f".{prefix.name}.cvcuda-setup-old-", dir=prefix.parent))
        os.rmdir(aside)  # a unique name: rename needs the target absent (or an empty dir)
        os.rename(prefix, aside)
        try:
            os.rename(staged, prefix)
        except OSError:
            os.rename(aside, prefix)
            raise
        try:
            shutil.rmtree(aside)
        except OSError as exc:
            console.warn(
                f"the previous install was replaced but {aside} could not be removed: {exc.strerror}"
            )
    else:
        if state is PrefixState.FOREIGN:
            console.warn(f"--force: installing over {prefix}, which cvcuda-setup did not create (not atomic)")
        _merge(staged, prefix)
    return state
