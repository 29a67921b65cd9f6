"""The binary cache: a built prefix as one OCI artifact in a registry, found by its cache key.

    push: prefix (its manifest holds the key) --pack_prefix--> tar.gz --oci.push_artifact--> REPO:TAG
    pull: key --tag_for--> REPO:TAG --oci.pull_artifact--> tar.gz (digest checked) --install_packed--> prefix

The tag is ``ck-`` and the key's 64 hex digits; the manifest's annotations carry the key's digest and each
part (as JSON), so ``cache ls`` and any OCI tool show what a binary was built from. Credentials come from
``oci.auth`` (environment or docker config) and are never printed or written to the manifest.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cvcuda_setup.errors import UsageError
from cvcuda_setup.oci.artifact import ARTIFACT_TYPE, TITLE, pull_artifact, push_artifact
from cvcuda_setup.oci.client import RegistryClient
from cvcuda_setup.oci.errors import RegistryError
from cvcuda_setup.oci.ref import OciRef, parse_ref

#: ``build --cache`` and ``cache`` take the registry from here when not given.
ENV_CACHE = "CVCUDA_SETUP_BINARY_CACHE"
TAG_PREFIX = "ck-"
ANNOTATION_DIGEST = "org.cvcuda-setup.cache-key"
ANNOTATION_PART = "org.cvcuda-setup.key."
ANNOTATION_PREFIX = "org.cvcuda-setup.prefix"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ARCHIVE_NAME = "prefix.tar.gz"
#: The largest prefix a pull accepts (a `full` build with tests is a few GB).
MAX_PULL_BYTES = 16 << 30
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Transfer:
    """What one push or pull moved: the reference, the manifest digest (push), bytes and seconds."""

    ref: str
    manifest_digest: str
    size: int
    seconds: float
    relocated: bool = False


def cache_ref(value: str) -> OciRef:
    """``oci://HOST[:PORT]/REPO`` (no tag: the key decides it); a tag given is refused."""
    ref = parse_ref(value)
    if ":" in value.rstrip("/").rsplit("/", 1)[-1]:
        raise UsageError(
            f"binary cache {value!r} names a tag ({ref.tag}); the cache key decides the tag",
            hint="give the repository only, e.g. oci://localhost:5000/opencv-cuda",
        )
    return ref


def arch_text(part: object) -> str:
    """The ``arch`` part as ``--arch`` writes it (``8.9,9.0+PTX``); ``-`` for none (a CPU build)."""
    if not isinstance(part, dict):
        return str(part or "-")
    bins = [str(b) for b in part.get("bin") or []]
    ptx = [str(p) for p in part.get("ptx") or []]
    text = ",".join(f"{b}+PTX" if b in ptx else b for b in bins) + "".join(
        f",{p}+PTX" for p in ptx if p not in bins
    )
    return text.lstrip(",") or "-"


def tag_for(key_digest: str) -> str:
    if len(key_digest) != 64 or any(c not in "0123456789abcdef" for c in key_digest):
        raise UsageError(f"cache key {key_digest!r} is not 64 hex digits", hint="copy it from `cache ls`")
    return TAG_PREFIX + key_digest


def _client(ref: OciRef) -> RegistryClient:
    return RegistryClient.for_ref(ref, timeout=TIMEOUT_S)


def annotations_for(key: Mapping[str, Any], prefix: str) -> dict[str, str]:
    parts = key.get("parts") or {}
    out = {ANNOTATION_DIGEST: str(key["digest"]), ANNOTATION_PREFIX: prefix}
    out[ANNOTATION_CREATED] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for name, value in sorted(parts.items()):
        out[ANNOTATION_PART + name] = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return out


def recorded_key(prefix: Path) -> Mapping[str, Any]:
    """The complete cache key the prefix's manifest records; refused when there is none."""
    from cvcuda_setup.manifest import load_manifest

    if not prefix.is_dir():
        raise UsageError(f"prefix {prefix} does not exist", hint="pass the --prefix a build installed into")
    manifest = load_manifest(prefix).manifest
    key = manifest.cache_key if manifest is not None else None
    if not key or not key.get("digest"):
        raise UsageError(
            f"{prefix} records no cache key (built before keys, or not by cvcuda-setup build)",
            hint="rebuild it with this version of cvcuda-setup build, then push",
        )
    if not key.get("complete", False):
        unknown = ", ".join(key.get("unknown") or []) or "some parts"
        raise UsageError(
            f"{prefix}'s cache key is incomplete ({unknown} unknown): it cannot name a binary",
            hint="build from a source whose sha256 is known (a bundle, a tarball, or --sha256)",
        )
    return key


def push_prefix(prefix: Path, repo: OciRef, *, key: Mapping[str, Any] | None = None) -> Transfer:
    """Pack ``prefix`` and push it as ``REPO:ck-<key>`` with the key's parts as annotations."""
    from cvcuda_setup.prefixpack import pack_prefix

    key = key or recorded_key(prefix)
    ref = replace(repo, tag=tag_for(str(key["digest"])))
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cvcuda-cache-push-") as tmp:
        packed = pack_prefix(prefix, Path(tmp) / ARCHIVE_NAME)
        digest = push_artifact(_client(ref), ref, [packed.path], annotations_for(key, packed.original_prefix))
    return Transfer(str(ref), digest, packed.size, time.monotonic() - start)


def lookup(repo: OciRef, key_digest: str) -> OciRef | None:
    """``REPO:ck-<key>`` when the registry has it, else None (a miss). Network failures raise
    ``RegistryUnavailable``."""
    ref = replace(repo, tag=tag_for(key_digest))
    try:
        manifest, _ = _client(ref).get_manifest(ref.repository, ref.tag)
    except RegistryError as exc:
        if exc.status == 404:
            return None
        raise
    if manifest.get("artifactType") != ARTIFACT_TYPE:
        return None
    return ref


def pull_prefix(ref: OciRef, prefix: Path, *, force: bool = False, key_digest: str | None = None) -> Transfer:
    """Pull ``ref``, check every digest (and that its key is ``key_digest``), install it into ``prefix``
    atomically (relocated where that can be done; refused where it cannot)."""
    from cvcuda_setup.prefixpack import install_packed

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cvcuda-cache-pull-") as tmp:
        manifest, files = pull_artifact(_client(ref), ref, Path(tmp), max_bytes=MAX_PULL_BYTES)
        annotations = manifest.get("annotations") or {}
        if key_digest is not None and annotations.get(ANNOTATION_DIGEST) != key_digest:
            raise RegistryError(
                f"{ref} holds the key {annotations.get(ANNOTATION_DIGEST)!r}, not {key_digest}",
                hint="the tag was overwritten by something else; push a fresh build",
            )
        archives = [f for f in files if f.name == ARCHIVE_NAME]
        if len(archives) != 1:
            raise RegistryError(f"{ref} is not a cvcuda-setup prefix (no single {ARCHIVE_NAME} layer)")
        layer = next(d for d in manifest["layers"] if (d.get("annotations") or {}).get(TITLE) == ARCHIVE_NAME)
        result = install_packed(
            archives[0], prefix, force=force, expected_sha256=str(layer["digest"]).removeprefix("sha256:")
        )
        size = int(layer["size"])
    return Transfer(str(ref), "", size, time.monotonic() - start, relocated=result.relocated)


@dataclass(frozen=True)
class Entry:
    """One binary in the cache, as ``cache ls`` shows it."""

    tag: str
    key: str
    created: str
    prefix: str
    parts: Mapping[str, Any]
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "key": self.key,
            "created": self.created,
            "prefix": self.prefix,
            "size": self.size,
            "parts": dict(self.parts),
        }


def list_entries(repo: OciRef) -> list[Entry]:
    """Every ``ck-`` tag of the repository with the parts its manifest annotates."""
    client = _client(repo)
    entries: list[Entry] = []
    for tag in client.list_tags(repo.repository):
        if not tag.startswith(TAG_PREFIX):
            continue
        manifest, _ = client.get_manifest(repo.repository, tag)
        notes = manifest.get("annotations") or {}
        parts: dict[str, Any] = {}
        for name, value in notes.items():
            if name.startswith(ANNOTATION_PART):
                try:
                    parts[name.removeprefix(ANNOTATION_PART)] = json.loads(value)
                except ValueError:
                    parts[name.removeprefix(ANNOTATION_PART)] = value
        size = sum(int(layer.get("size", 0)) for layer in manifest.get("layers") or [])
        entries.append(
            Entry(
                tag,
                str(notes.get(ANNOTATION_DIGEST, "")),
                str(notes.get(ANNOTATION_CREATED, "")),
                str(notes.get(ANNOTATION_PREFIX, "")),
                parts,
                size,
            )
        )
    return entries
