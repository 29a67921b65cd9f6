"""Built prefixes as OCI artifacts, laid out as ``oras`` does (``oras pull`` reads them, and we read theirs).

The manifest: ``schemaVersion`` 2, ``mediaType`` OCI image manifest, ``artifactType``, the OCI empty
descriptor as ``config`` (``{}``, 2 bytes), one layer per file titled with its file name
(``org.opencontainers.image.title``), and the caller's annotations (strings).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvcuda_setup.errors import UsageError
from cvcuda_setup.oci.client import OCI_MANIFEST, RegistryClient
from cvcuda_setup.oci.digest import check_digest, sha256_bytes
from cvcuda_setup.oci.errors import RegistryError
from cvcuda_setup.oci.ref import OciRef

ARTIFACT_TYPE = "application/vnd.cvcuda-setup.prefix.v1"
LAYER_MEDIA_TYPE = "application/vnd.cvcuda-setup.prefix.layer.v1.tar+gzip"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_BLOB = b"{}"
TITLE = "org.opencontainers.image.title"


@dataclass(frozen=True)
class LayerInfo:
    #: The file name the layer is pulled as (its ``org.opencontainers.image.title``).
    title: str
    digest: str
    size: int
    media_type: str = LAYER_MEDIA_TYPE

    def descriptor(self) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
            "annotations": {TITLE: self.title},
        }


def empty_descriptor() -> dict[str, Any]:
    return {"mediaType": EMPTY_MEDIA_TYPE, "digest": sha256_bytes(EMPTY_BLOB), "size": len(EMPTY_BLOB)}


def _plain_file_name(title: object) -> bool:
    return (
        isinstance(title, str)
        and title not in ("", ".", "..")
        and not any(c in title for c in "/\\")
        and all(c.isprintable() for c in title)
    )


def build_manifest(
    layers: list[LayerInfo], *, artifact_type: str, annotations: Mapping[str, str]
) -> dict[str, Any]:
    """The oras-compatible manifest of ``layers``; annotations must be str -> str (UsageError otherwise)."""
    bad = [k for k, v in annotations.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise UsageError(
            f"annotation {bad[0]!r} is not a string key with a string value",
            hint="convert annotation values with str()",
        )
    names = [layer.title for layer in layers]
    for layer in layers:
        if not _plain_file_name(layer.title) or names.count(layer.title) > 1:
            raise UsageError(f"layer title {layer.title!r} is not a unique plain file name")
        check_digest(layer.digest, f"layer {layer.title}")
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty_descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    return manifest


def push_artifact(
    client: RegistryClient,
    ref: OciRef,
    files: list[Path],
    annotations: Mapping[str, str],
    *,
    artifact_type: str = ARTIFACT_TYPE,
    layer_media_type: str = LAYER_MEDIA_TYPE,
) -> str:
    """Push ``files`` (one layer each, titled with the file name) and tag the manifest; its digest."""
    names = [f.name for f in files]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise UsageError(f"two files are named {dup!r}; an artifact's layers are pulled by file name")
    client.push_blob(ref.repository, EMPTY_BLOB)
    layers = []
    for path in files:
        digest, size = client.push_blob(ref.repository, path)
        layers.append(LayerInfo(path.name, digest, size, layer_media_type))
    manifest = build_manifest(layers, artifact_type=artifact_type, annotations=annotations)
    return client.push_manifest(ref.repository, ref.tag, manifest)


def _layers_of(manifest: Mapping[str, Any], name: str) -> list[LayerInfo]:
    raw = manifest.get("layers")
    if not isinstance(raw, list):
        raise RegistryError(f"manifest {name} has no list of layers")
    layers: list[LayerInfo] = []
    for item in raw:
        notes = item.get("annotations") if isinstance(item, dict) else None
        title = notes.get(TITLE) if isinstance(notes, dict) else None
        if not _plain_file_name(title):
            raise RegistryError(f"manifest {name}: layer title {title!r} is not a plain file name; refused")
        assert isinstance(title, str) and isinstance(item, dict)
        if any(layer.title == title for layer in layers):
            raise RegistryError(f"manifest {name}: two layers are titled {title!r}; refused")
        size = item.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RegistryError(f"manifest {name}: layer {title!r} has no valid size ({size!r})")
        digest = check_digest(item.get("digest"), f"manifest {name}: layer {title!r}")
        layers.append(LayerInfo(title, digest, size, str(item.get("mediaType", ""))))
    return layers


def pull_artifact(
    client: RegistryClient,
    ref: OciRef,
    dest_dir: Path,
    *,
    max_bytes: int,
    artifact_type: str = ARTIFACT_TYPE,
) -> tuple[dict[str, Any], list[Path]]:
    """Fetch ``ref``'s manifest and every layer into ``dest_dir`` (as their titles), each checked by digest.

    ``max_bytes`` bounds the layers' total size. All or nothing: on any error the files this call wrote
    are removed again.
    """
    manifest, _digest = client.get_manifest(ref.repository, ref.tag)
    name = str(ref)
    if manifest.get("artifactType") != artifact_type:
        raise RegistryError(
            f"{name} is not a {artifact_type} artifact (artifactType {manifest.get('artifactType')!r})"
        )
    layers = _layers_of(manifest, name)
    total = sum(layer.size for layer in layers)
    if total > max_bytes:
        raise RegistryError(f"{name}: its layers are {total} bytes, more than the limit of {max_bytes}")
    written: list[Path] = []
    try:
        for layer in layers:
            dest = dest_dir / layer.title
            client.fetch_blob(ref.repository, layer.digest, dest, max_bytes=max_bytes, size=layer.size)
            written.append(dest)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return manifest, written
