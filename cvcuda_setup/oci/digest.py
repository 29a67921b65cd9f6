"""sha256 digests in OCI form (``sha256:<64 hex>``): validation and hashing while streaming."""

from __future__ import annotations

import hashlib
import re
from typing import IO

from cvcuda_setup.oci.errors import RegistryError
from cvcuda_setup.oci.transport import Readable

_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
CHUNK = 1 << 20


def is_digest(value: object) -> bool:
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def check_digest(value: object, what: str) -> str:
    """``value`` when it is a sha256 digest, else RegistryError (a digest goes into URLs and paths)."""
    if not is_digest(value):
        raise RegistryError(f"{what}: {value!r} is not a sha256 digest (sha256:<64 lowercase hex>)")
    assert isinstance(value, str)
    return value


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_stream(fh: IO[bytes]) -> tuple[str, int]:
    """(digest, size) of what is left in ``fh``, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    while chunk := fh.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return "sha256:" + h.hexdigest(), size


class HashingReader:
    """A read-only file wrapper that hashes and counts what is read through it (an upload body)."""

    def __init__(self, fh: Readable) -> None:
        self._fh = fh
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self._fh.read(n)
        self._hash.update(chunk)
        self.size += len(chunk)
        return chunk

    def close(self) -> None:
        self._fh.close()

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()
