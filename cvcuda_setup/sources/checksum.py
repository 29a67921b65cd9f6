"""sha256 of files and streams, and the check that compares them."""

from __future__ import annotations

import re

from cvcuda_setup.errors import SourceError
from cvcuda_setup.hashing import sha256_file

__all__ = ["normalize_sha256", "sha256_file"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def normalize_sha256(value: str, *, what: str = "--sha256") -> str:
    """Lower-case a sha256 given by a user or an index; a malformed one is a SourceError naming it."""
    text = value.strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:") :]
    if not _SHA256.match(text):
        raise SourceError(f"{what} value {value!r} is not a sha256 (64 hex digits)")
    return text
