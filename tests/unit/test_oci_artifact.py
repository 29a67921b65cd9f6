from __future__ import annotations

from typing import Any

import pytest

from cvcuda_setup.errors import UsageError
from cvcuda_setup.oci.artifact import ARTIFACT_TYPE, LAYER_MEDIA_TYPE, TITLE, LayerInfo, build_manifest
from cvcuda_setup.oci.digest import sha256_bytes
from cvcuda_setup.oci.errors import RegistryError

A = LayerInfo("prefix.tar.gz", sha256_bytes(b"a"), 1)
B = LayerInfo("manifest.json", sha256_bytes(b"bb"), 2, "application/json")


def test_manifest_is_oras_layout() -> None:
    manifest = build_manifest([A, B], artifact_type=ARTIFACT_TYPE, annotations={"k": "v"})
    assert manifest == {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cvcuda-setup.prefix.v1",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "size": 2,
        },
        "layers": [
            {"mediaType": LAYER_MEDIA_TYPE, "digest": A.digest, "size": 1, "annotations": {TITLE: A.title}},
            {"mediaType": "application/json", "digest": B.digest, "size": 2, "annotations": {TITLE: B.title}},
        ],
        "annotations": {"k": "v"},
    }
    assert "annotations" not in build_manifest([A], artifact_type=ARTIFACT_TYPE, annotations={})


@pytest.mark.parametrize("annotations", [{"k": 1}, {"k": None}, {2: "v"}])
def test_annotations_must_be_strings(annotations: Any) -> None:
    with pytest.raises(UsageError, match="string"):
        build_manifest([A], artifact_type=ARTIFACT_TYPE, annotations=annotations)


@pytest.mark.parametrize("title", ["", ".", "..", "a/b", "../x", "a\\b", "tab\there"])
def test_layer_titles_must_be_plain_file_names(title: str) -> None:
    with pytest.raises(UsageError, match="plain file name"):
        build_manifest([LayerInfo(title, A.digest, 1)], artifact_type=ARTIFACT_TYPE, annotations={})


def test_duplicate_titles_and_bad_digests_are_refused() -> None:
    with pytest.raises(UsageError, match="unique"):
        build_manifest([A, A], artifact_type=ARTIFACT_TYPE, annotations={})
    with pytest.raises(RegistryError, match="sha256 digest"):
        build_manifest([LayerInfo("x", "sha256:abc", 1)], artifact_type=ARTIFACT_TYPE, annotations={})
