"""A built prefix as one archive (``pack_prefix``), and its atomic, relocating install (``install_packed``).

The archive is a deterministic ``tar.gz`` (see docs/cache-pack.md, "Packed prefixes"): its first member is
``.cvcuda-setup-pack.json`` (``PACK_MEMBER``), then every entry of the prefix's install record, sorted by
name, with mtime 0, uid/gid 0, no owner names, modes 0644/0755, relative names; symlinks only when they
stay inside the prefix. The install record itself is not packed: the install writes one for its prefix.
Only the tool's own prefixes are packed (``install.inspect_prefix`` says ``OURS`` and the manifest reads).

The install verifies the sha256 first (when given), extracts with ``sources.extract`` (its checks and
bounds) into the prefix's staging area, relocates when the target differs from the original prefix
(``relocate.relocate_tree``: text files rewritten, a binary naming the original refused), and puts it in
place with ``install.commit`` under the prefix lock: a failure at any point leaves the prefix as it was.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvcuda_setup import __version__
from cvcuda_setup.errors import InstallError, SourceError, UsageError
from cvcuda_setup.hashing import sha256_file
from cvcuda_setup.install import (
    PrefixState,
    check_prefix,
    commit,
    inspect_prefix,
    lock_prefix,
    name_some,
    shorten,
    staged_prefix,
    staging_area,
)
from cvcuda_setup.manifest import MANIFEST_RELPATH, Manifest, load_manifest, read_manifest
from cvcuda_setup.record import RECORD_RELPATH
from cvcuda_setup.relocate import find_embeds, refuse_binaries, relocate_tree
from cvcuda_setup.sources.extract import check_final_tree, extract_into

PACK_SCHEMA = "cvcuda-setup/pack/1"
#: The archive's first member: what was packed, from where, and which files name that prefix.
PACK_MEMBER = ".cvcuda-setup-pack.json"
#: The pack member is small; anything larger is not one of ours.
_PACK_MEMBER_MAX = 16 << 20
_COMPRESSLEVEL = 6


class PackError(InstallError):
    """A prefix cannot be packed, or an archive cannot be installed (not ours, unsafe, corrupt)."""


@dataclass(frozen=True)
class PackedPrefix:
    """An archive written by :func:`pack_prefix`."""

    path: Path
    sha256: str
    size: int
    #: Regular files and symlinks packed (directories and the pack member not counted).
    file_count: int
    original_prefix: str
    #: Text files naming the original prefix (rewritten when installed elsewhere; manifest not listed).
    text_files: tuple[str, ...] = ()
    #: Binaries naming it: non-empty means the archive installs only at ``original_prefix``.
    binaries: tuple[str, ...] = ()

    @property
    def relocatable(self) -> bool:
        return not self.binaries


@dataclass(frozen=True)
class PackInfo:
    """The archive's pack member, as read by :func:`read_pack_info`."""

    original_prefix: str
    text_files: tuple[str, ...]
    #: ``(relpath, kind)``, kind ``elf`` or ``binary``.
    binaries: tuple[tuple[str, str], ...]
    file_count: int
    tool_version: str


@dataclass(frozen=True)
class InstallResult:
    """What :func:`install_packed` did."""

    prefix: Path
    original_prefix: str
    sha256: str
    #: True when the target differed from the original prefix and files were rewritten.
    relocated: bool
    #: Files rewritten (relative to the prefix; the manifest included when relocated).
    rewritten: tuple[str, ...]
    #: What the prefix was before (missing, empty, ours, foreign with ``force``).
    previous: PrefixState
    manifest: Manifest


# --- pack -------------------------------------------------------------------------------------------------


def _refuse_not_ours(prefix: Path, state: PrefixState, foreign: list[str], has_record: bool) -> PackError:
    hint = "pack a prefix cvcuda-setup built (cvcuda-setup build --prefix ...)"
    if state is PrefixState.MISSING:
        return PackError(f"cannot pack {prefix}: it does not exist", hint=hint)
    if state is PrefixState.EMPTY:
        return PackError(f"cannot pack {prefix}: it is empty", hint=hint)
    if not has_record:
        return PackError(
            f"cannot pack {prefix}: it has no cvcuda-setup install record ({RECORD_RELPATH}), so "
            "cvcuda-setup did not create it",
            hint=hint,
        )
    return PackError(
        f"cannot pack {prefix}: {len(foreign)} entries were not installed by cvcuda-setup (or changed): "
        f"{name_some(foreign)}",
        hint="move them away or rebuild the prefix; only the tool's own files are packed",
    )


def _tarinfo(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = link
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _check_link(prefix: Path, rel: str, target: str) -> None:
    """A packed symlink stays inside the prefix: relative, and resolving (through other links) inside."""
    real_root = os.path.realpath(prefix)
    real = os.path.realpath(prefix / rel)
    lexical = os.path.normpath(os.path.join(os.path.dirname(rel), target))
    inside = real == real_root or real.startswith(real_root + os.sep)
    if os.path.isabs(target) or lexical == ".." or lexical.startswith("../") or not inside:
        raise PackError(
            f"cannot pack {prefix}: the symlink {shorten(rel)} -> {shorten(target)} points outside the prefix"
            + (" (an absolute target)" if os.path.isabs(target) else ""),
            hint="a packed prefix must be self-contained: make the link relative and inside it, or rebuild",
        )


def _members(prefix: Path, entries: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, os.stat_result]]:
    out = []
    for rel in sorted(entries):
        try:
            st = (prefix / rel).lstat()
        except OSError as exc:
            raise PackError(
                f"cannot pack {prefix}: {shorten(rel)} is listed in its install record but "
                f"{exc.strerror.lower() if exc.strerror else 'unreadable'}",
                hint="rebuild the prefix",
            ) from None
        if stat.S_ISLNK(st.st_mode):
            _check_link(prefix, rel, os.readlink(prefix / rel))
        elif not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            raise PackError(f"cannot pack {prefix}: {shorten(rel)} is not a file, directory or symlink")
        out.append((rel, st))
    return out


def pack_prefix(prefix: Path, out: Path) -> PackedPrefix:
    """Write the tool's prefix ``prefix`` as a deterministic ``tar.gz`` at ``out`` (atomically)."""
    prefix = prefix.expanduser().resolve()
    out = Path(os.path.abspath(out.expanduser()))
    if out == prefix or out.is_relative_to(prefix):
        raise UsageError(
            f"cannot write the archive {out} inside the prefix {prefix}", hint="write it outside the prefix"
        )
    if out.is_dir():
        raise UsageError(
            f"the archive path {out} is a directory", hint="give a file name, e.g. opencv.tar.gz"
        )
    with lock_prefix(prefix):
        state, record, foreign = inspect_prefix(prefix)
        if state is not PrefixState.OURS or record is None:
            raise _refuse_not_ours(prefix, state, foreign, record is not None)
        found = load_manifest(prefix)
        if found.manifest is None:
            raise PackError(f"cannot pack {prefix}: {found.error}", hint="rebuild the prefix")
        original = found.manifest.prefix
        if not os.path.isabs(original):
            raise PackError(
                f"cannot pack {prefix}: its manifest names the prefix {original!r}, not an absolute path",
                hint="rebuild the prefix",
            )
        members = _members(prefix, record.entries)
        files = [rel for rel, st in members if stat.S_ISREG(st.st_mode) and rel != str(MANIFEST_RELPATH)]
        embeds = find_embeds(prefix, files, original)
        count = sum(1 for _, st in members if not stat.S_ISDIR(st.st_mode))
        info = {
            "schema": PACK_SCHEMA,
            "tool_version": __version__,
            "original_prefix": original,
            "manifest": str(MANIFEST_RELPATH),
            "text_files": list(embeds.text),
            "binaries": [{"path": rel, "kind": kind} for rel, kind in embeds.binaries],
            "file_count": count,
        }
        try:
            _write_archive(prefix, out, members, json.dumps(info, indent=1, sort_keys=True).encode() + b"\n")
        except OSError as exc:
            raise PackError(
                f"cannot write the archive {out}: {exc.strerror or exc} ({exc.filename or out})",
                hint="check the space and permissions where it is written",
            ) from None
    return PackedPrefix(
        path=out,
        sha256=sha256_file(out),
        size=out.stat().st_size,
        file_count=count,
        original_prefix=original,
        text_files=embeds.text,
        binaries=tuple(rel for rel, _ in embeds.binaries),
    )


def _write_archive(
    prefix: Path, out: Path, members: list[tuple[str, os.stat_result]], pack_json: bytes
) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=_COMPRESSLEVEL
            ) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
                    head = _tarinfo(PACK_MEMBER, tarfile.REGTYPE, 0o644, len(pack_json))
                    tf.addfile(head, io.BytesIO(pack_json))
                    for rel, st in members:
                        _add(tf, prefix, rel, st)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _add(tf: tarfile.TarFile, prefix: Path, rel: str, st: os.stat_result) -> None:
    path = prefix / rel
    if stat.S_ISDIR(st.st_mode):
        tf.addfile(_tarinfo(rel, tarfile.DIRTYPE, 0o755))
    elif stat.S_ISLNK(st.st_mode):
        tf.addfile(_tarinfo(rel, tarfile.SYMTYPE, 0o777, link=os.readlink(path)))
    else:
        mode = 0o755 if st.st_mode & 0o111 else 0o644
        with path.open("rb") as fh:
            tf.addfile(_tarinfo(rel, tarfile.REGTYPE, mode, st.st_size), fh)


# --- install ----------------------------------------------------------------------------------------------


def _not_a_pack(archive: Path, why: str) -> PackError:
    return PackError(
        f"{shorten(str(archive))} is not a cvcuda-setup packed prefix: {why}",
        hint="give an archive written by pack_prefix",
    )


def read_pack_info(archive: Path) -> PackInfo:
    """The pack member of ``archive`` (its first member), checked; a ``PackError`` when it is not one."""
    try:
        with tarfile.open(archive, "r:*") as tf:
            first = tf.next()
            if first is None or first.name != PACK_MEMBER or not first.isfile():
                raise _not_a_pack(archive, f"its first member is not {PACK_MEMBER}")
            if first.size > _PACK_MEMBER_MAX:
                raise _not_a_pack(archive, f"{PACK_MEMBER} is {first.size} bytes")
            fh = tf.extractfile(first)
            data = json.loads(fh.read().decode("utf-8")) if fh is not None else None
    except (tarfile.TarError, OSError, EOFError, UnicodeError, ValueError) as exc:
        raise _not_a_pack(archive, f"it cannot be read ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != PACK_SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else None
        raise _not_a_pack(archive, f"{PACK_MEMBER} has schema {got!r}, this version reads {PACK_SCHEMA}")
    original = data.get("original_prefix")
    if not isinstance(original, str) or not os.path.isabs(original):
        raise _not_a_pack(archive, f"original_prefix {original!r} is not an absolute path")
    text = data.get("text_files")
    binaries = data.get("binaries")
    if not isinstance(text, list) or not isinstance(binaries, list):
        raise _not_a_pack(archive, "text_files and binaries must be lists")
    try:
        bins = tuple((str(b["path"]), str(b["kind"])) for b in binaries)
    except (TypeError, KeyError):
        raise _not_a_pack(archive, "each of binaries must be {path, kind}") from None
    count = data.get("file_count")
    return PackInfo(
        original_prefix=original,
        text_files=tuple(str(t) for t in text),
        binaries=bins,
        file_count=count if isinstance(count, int) else 0,
        tool_version=str(data.get("tool_version") or ""),
    )


def _normalized_sha(expected: str) -> str:
    value = expected.strip().lower().removeprefix("sha256:")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise UsageError(
            f"expected sha256 {shorten(expected)!r} is not 64 hex digits",
            hint="give the sha256 printed when the archive was packed",
        )
    return value


def install_packed(
    archive: Path,
    prefix: Path,
    *,
    force: bool,
    expected_sha256: str | None,
    wait: bool = False,
    limits: Mapping[str, int] | None = None,
) -> InstallResult:
    """Install the packed prefix ``archive`` at ``prefix`` (module docstring); nothing changes on failure.

    ``force``: as for a build, install beside foreign entries of a non-empty prefix (never over them).
    ``wait``: wait for another run holding the prefix lock. ``limits``: extraction bounds
    (``sources.extract.limits_with``; None: defaults and environment)."""
    if not archive.is_file():
        raise UsageError(f"packed prefix {archive} is not a file", hint="give the archive pack_prefix wrote")
    want = _normalized_sha(expected_sha256) if expected_sha256 is not None else None
    sha = sha256_file(archive)
    if want is not None and sha != want:
        raise PackError(
            f"{shorten(str(archive))} has sha256 {sha}, expected {want}: corrupt or not the archive meant",
            hint="fetch it again; nothing was installed",
        )
    info = read_pack_info(archive)
    target = prefix.expanduser().resolve()
    original = info.original_prefix
    relocating = str(target) != os.path.normpath(original)
    if relocating:  # what the packer found: refused before anything is written
        refuse_binaries(info.binaries, archive=archive, original=original, target=str(target))
    check_prefix(target, force=force)
    with lock_prefix(target, wait=wait), staging_area(target) as staging:
        check_prefix(target, force=force)
        staged = staged_prefix(staging, target)
        staged.mkdir(parents=True)
        try:
            extract_into(archive, staged, limits=limits)
            check_final_tree(staged, archive)
        except SourceError as exc:
            raise PackError(exc.message, hint=f"refusing to install it; {target} was not touched") from None
        pack_member = staged / PACK_MEMBER
        if pack_member.is_symlink() or not pack_member.is_file():
            raise _not_a_pack(archive, f"{PACK_MEMBER} is not a file")
        pack_member.unlink()
        manifest = read_manifest(staged)
        if manifest is None or os.path.normpath(manifest.prefix) != os.path.normpath(original):
            raise _not_a_pack(
                archive,
                f"its manifest {'is missing' if manifest is None else f'names the prefix {manifest.prefix}'}"
                f", the pack says {original}",
            )
        rewritten: tuple[str, ...] = ()
        if relocating:
            try:
                rewritten = relocate_tree(staged, original, str(target), archive=archive)
            except OSError as exc:
                raise PackError(
                    f"cannot relocate {shorten(str(archive))} to {target}: {exc.filename}: {exc.strerror}",
                    hint=f"{target} was not touched; check the space next to it",
                ) from None
            manifest = read_manifest(staged) or manifest
        previous = commit(staged, target, force=force)
    return InstallResult(target, original, sha, relocating, rewritten, previous, manifest)
