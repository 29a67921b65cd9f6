"""sha256 of files and streams, and the check that compares them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from cvcuda_setup.errors import SourceError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def normalize_sha256(value: str, *, what: str = "--sha256") -> str:
    """Lower-case a sha256 given by a user or an index; a malformed one is a SourceError naming it."""
    text = value.strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:") :]
    if not _SHA256.match(text):
        raise SourceError(f"{what} value {value!r} is not a sha256 (64 hex digits)")
    return text
