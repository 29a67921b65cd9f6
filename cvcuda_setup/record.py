"""``<prefix>/share/cvcuda-setup/files.json``: what the tool installed: the proof a prefix is ours.

Format (``schema`` = ``cvcuda-setup/files/1``)::

    schema, prefix, created_prefix (the tool created the prefix directory itself)
    entries {relpath: {type: "file", size, sha256, mtime_ns} | {type: "link", target} | {type: "dir"}}

The record itself is not listed. A prefix is the tool's only when every entry in it is listed with the same
type, size and sha256 (size + mtime_ns equal: the hash is not recomputed). Python's byte-code caches
(``__pycache__/<stem>.*.pyc`` next to a listed ``<stem>.py``) are derived from listed files and count as ours.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvcuda_setup.atomicio import write_json
from cvcuda_setup.errors import InstallError
from cvcuda_setup.hashing import sha256_file

SCHEMA = "cvcuda-setup/files/1"
RECORD_RELPATH = Path("share") / "cvcuda-setup" / "files.json"

Entry = dict[str, Any]


def scan(root: Path, *, hashes: bool = True) -> dict[str, Entry]:
    """Every entry under ``root`` (links not followed); files with their size, mtime and sha256."""
    out: dict[str, Entry] = {}
    for here, dirs, files in os.walk(root):
        base = Path(here)
        for name in [*dirs, *files]:
            path = base / name
            rel = str(path.relative_to(root))
            if rel == str(RECORD_RELPATH):
                continue
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = {"type": "link", "target": os.readlink(path)}
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = {"type": "dir"}
            elif stat.S_ISREG(st.st_mode):
                entry: Entry = {"type": "file", "size": st.st_size, "mtime_ns": st.st_mtime_ns}
                if hashes:
                    entry["sha256"] = sha256_file(path)
                out[rel] = entry
            else:
                out[rel] = {"type": "other"}
        dirs[:] = [d for d in dirs if not (base / d).is_symlink()]
    return out


@dataclass(frozen=True)
class Record:
    prefix: str
    created_prefix: bool
    entries: dict[str, Entry]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "prefix": self.prefix,
            "created_prefix": self.created_prefix,
            "entries": self.entries,
        }


def write_record(root: Path, record: Record) -> Path:
    return write_json(root / RECORD_RELPATH, record.to_json(), indent=1)


def read_record(prefix: Path) -> Record | None:
    """The prefix's install record; None when absent or not this tool's (then it is not ours)."""
    path = prefix / RECORD_RELPATH
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("schema") != SCHEMA
        or not isinstance(data.get("entries"), dict)
    ):
        return None
    entries = {str(k): v for k, v in data["entries"].items() if isinstance(v, dict)}
    return Record(str(data.get("prefix") or ""), data.get("created_prefix") is True, entries)


def _derived(rel: str, entries: dict[str, Entry]) -> bool:
    """A byte-code cache of a listed module: ``d/__pycache__/m.cpython-312.pyc`` next to ``d/m.py``."""
    path = Path(rel)
    if path.parent.name != "__pycache__":
        return False
    if path.suffix != ".pyc":
        return False
    stem = path.name.split(".", 1)[0]
    return str(path.parent.parent / f"{stem}.py") in entries


def _matches(root: Path, rel: str, have: Entry, want: Entry | None) -> bool:
    if want is None or want.get("type") != have["type"]:
        return False
    if have["type"] == "link":
        return bool(want.get("target") == have["target"])
    if have["type"] == "file":
        if want.get("size") != have["size"]:
            return False
        if want.get("mtime_ns") == have["mtime_ns"]:
            return True
        try:
            return bool(want.get("sha256") == sha256_file(root / rel))
        except OSError:
            return False
    return bool(have["type"] == "dir")


def foreign_entries(root: Path, record: Record | None) -> list[str]:
    """Entries under ``root`` that the record does not list with the same content (sorted)."""
    try:
        found = scan(root, hashes=False)
    except OSError as exc:
        raise InstallError(f"cannot read {exc.filename or root}: {exc.strerror}") from None
    if record is None:
        return sorted(found)
    return foreign_entries_from(root, record, found)


def adopt_changes(prefix: Path, before: dict[str, Entry]) -> int:
    """After the tool itself installed into ``prefix`` in place (the plugin), list what it added or changed.

    ``before`` is ``scan(prefix, hashes=False)`` taken just before. Only entries that were new, or listed
    and unchanged before, are adopted: a foreign file the step overwrote stays foreign (never removed later).
    Returns how many entries were adopted; nothing happens without a record.
    """
    record = read_record(prefix)
    if record is None:
        return 0
    foreign = set(foreign_entries_from(prefix, record, before))
    after = scan(prefix)
    entries = dict(record.entries)
    adopted = 0
    for rel, entry in after.items():
        if rel in foreign or entries.get(rel) == entry:
            continue
        old = before.get(rel)
        if old is not None and old.get("mtime_ns") == entry.get("mtime_ns") and rel in entries:
            continue
        entries[rel] = entry
        adopted += 1
    write_record(prefix, Record(record.prefix, record.created_prefix, entries))
    return adopted


def foreign_entries_from(root: Path, record: Record, found: dict[str, Entry]) -> list[str]:
    """As :func:`foreign_entries`, for a scan already taken."""
    return sorted(
        rel
        for rel, have in found.items()
        if not _matches(root, rel, have, record.entries.get(rel))
        and not (have["type"] == "dir" and rel.endswith("__pycache__"))
        and not (have["type"] == "file" and _derived(rel, record.entries))
    )
