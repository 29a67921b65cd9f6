"""Finding a prefix's own path inside its files, and rewriting it where that is safe (a packed prefix moved).

- ``prefix_pattern``: the original prefix as a whole path: ``/opt/cv`` matches in ``/opt/cv/lib`` and
  ``prefix=/opt/cv\\n``, never in ``/opt/cv2`` or ``/opt/cv-old`` (a path-name character after it means
  another path).
- ``find_embeds``: which files name it, split into text (no NUL byte, valid UTF-8: rewritable) and binaries
  (ELF files, by their magic, and any other non-text file: never rewritten). Files are streamed, so a large
  library costs no memory.
- ``rewrite_text``: the prefix replaced in one text file (temp file + rename, mode kept, links never
  followed).
- ``relocate_manifest``: the manifest's typed path fields (``prefix``, ``python.module_dir``) moved through
  its one reader and one writer; the build's own history (``cmake_options``, ``summary``, ``build_dir``,
  ``source``) keeps the original values: it describes how the prefix was built, and says where.
- ``relocate_tree``: all of that for a staged tree; a binary naming the original prefix is a
  ``RelocationError`` naming it (install at the original prefix or rebuild).
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from cvcuda_setup.errors import InstallError
from cvcuda_setup.install import name_some, shorten
from cvcuda_setup.manifest import MANIFEST_RELPATH, Manifest, read_manifest, write_manifest

ELF_MAGIC = b"\x7fELF"
#: After the prefix, one of these continues a path name: the match is another path, not the prefix.
_CONTINUES = rb"(?![A-Za-z0-9_.+\-\x80-\xff])"
_CHUNK = 1 << 20

Kind = Literal["none", "text", "elf", "binary"]


class RelocationError(InstallError):
    """A packed prefix cannot be installed at another prefix (a binary embeds the original one)."""


def prefix_pattern(prefix: str) -> re.Pattern[bytes]:
    """``prefix`` as a whole path (see the module docstring), on bytes."""
    return re.compile(re.escape(os.fsencode(prefix.rstrip("/") or "/")) + _CONTINUES)


def classify(path: Path, pattern: re.Pattern[bytes]) -> Kind:
    """Whether the regular file ``path`` names the prefix, and as what: ``none``, ``text``, ``elf``,
    ``binary`` (read in chunks; a match across a chunk boundary is found)."""
    overlap = max(len(pattern.pattern), 64)
    decoder = codecs.getincrementaldecoder("utf-8")()
    found = False
    text = True
    head = b""
    tail = b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            last = not chunk
            if not head:
                head = chunk[:4]
            if text and chunk:
                if b"\x00" in chunk:
                    text = False
                else:
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError:
                        text = False
            if not found:
                buf = tail + chunk
                for match in pattern.finditer(buf):
                    if last or match.end() < len(buf):  # at the very end the next byte is still unknown
                        found = True
                        break
                tail = buf[-overlap:]
            if last:
                break
    if text:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            text = False
    if not found:
        return "none"
    if head == ELF_MAGIC:
        return "elf"
    return "text" if text else "binary"


@dataclass(frozen=True)
class Embeds:
    """Files (relative paths, sorted) naming a prefix: text ones, and binaries with their kind."""

    text: tuple[str, ...] = ()
    binaries: tuple[tuple[str, Kind], ...] = ()


def find_embeds(root: Path, rels: Iterable[str], prefix: str) -> Embeds:
    """Which of the regular files ``root/rel`` name ``prefix`` (links and directories are skipped)."""
    pattern = prefix_pattern(prefix)
    text: list[str] = []
    binaries: list[tuple[str, Kind]] = []
    for rel in sorted(set(rels)):
        path = root / rel
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                continue
            kind = classify(path, pattern)
        except OSError as exc:
            raise InstallError(f"cannot read {path}: {exc.strerror}", hint="check its permissions") from None
        if kind == "text":
            text.append(rel)
        elif kind != "none":
            binaries.append((rel, kind))
    return Embeds(tuple(text), tuple(binaries))


def tree_files(root: Path) -> list[str]:
    """Every regular file under ``root`` (links not followed), relative, sorted."""
    out: list[str] = []
    for here, dirs, files in os.walk(root):
        base = Path(here)
        dirs[:] = [d for d in dirs if not (base / d).is_symlink()]
        out += [str((base / f).relative_to(root)) for f in files if stat.S_ISREG((base / f).lstat().st_mode)]
    return sorted(out)


def rewrite_text(path: Path, original: str, target: str) -> bool:
    """Replace ``original`` (a whole path) by ``target`` in the text file ``path``; True when it changed."""
    st = path.lstat()
    if not stat.S_ISREG(st.st_mode):
        raise InstallError(f"cannot relocate {path}: not a regular file")
    data = path.read_bytes()
    new_bytes = os.fsencode(target.rstrip("/") or "/")
    new = prefix_pattern(original).sub(lambda _m: new_bytes, data)
    if new == data:
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(new)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def moved(value: str, original: str, target: str) -> str:
    """``value`` with its leading ``original`` replaced by ``target`` (unchanged when not under it)."""
    if value == original:
        return target
    if value.startswith(original.rstrip("/") + "/"):
        return target.rstrip("/") + value[len(original.rstrip("/")) :]
    return value


def relocate_manifest(root: Path, original: str, target: str) -> Manifest:
    """Move the manifest under ``root`` from ``original`` to ``target`` (its one reader and writer)."""
    manifest = read_manifest(root)
    if manifest is None:
        raise InstallError(f"{root / MANIFEST_RELPATH} is missing", hint="pack the prefix again")
    python = manifest.python
    if python is not None and python.module_dir is not None:
        python = replace(python, module_dir=Path(moved(str(python.module_dir), original, target)))
    out = replace(manifest, prefix=moved(manifest.prefix, original, target), python=python)
    write_manifest(root, out)
    return out


def relocate_tree(root: Path, original: str, target: str, *, archive: Path) -> tuple[str, ...]:
    """Rewrite ``original`` to ``target`` in the staged tree ``root``: every text file naming it, and the
    manifest through its reader and writer. Refused (nothing rewritten) when a binary names it.

    Returns the rewritten files (relative, the manifest included)."""
    manifest_rel = str(MANIFEST_RELPATH)
    embeds = find_embeds(root, [r for r in tree_files(root) if r != manifest_rel], original)
    refuse_binaries(embeds.binaries, archive=archive, original=original, target=target)
    done = [rel for rel in embeds.text if rewrite_text(root / rel, original, target)]
    relocate_manifest(root, original, target)
    return tuple(sorted([*done, manifest_rel]))


def refuse_binaries(
    binaries: Iterable[tuple[str, str]], *, archive: Path, original: str, target: str
) -> None:
    """A ``RelocationError`` naming the binaries that embed ``original`` (none: nothing happens)."""
    found = [f"{rel} ({'an ELF file' if kind == 'elf' else 'a binary file'})" for rel, kind in binaries]
    if found:
        raise RelocationError(
            f"cannot install {shorten(str(archive))} at {target}: {name_some(found)} embed(s) the original "
            f"prefix {original} (a compiled-in path or RPATH/RUNPATH cannot be rewritten)",
            hint=f"install at {original} or rebuild into {target}",
        )
