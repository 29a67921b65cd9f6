"""The OCI client against a real registry (Debian's docker-registry, started per test on a free port)."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from cvcuda_setup.oci.artifact import ARTIFACT_TYPE, EMPTY_BLOB, TITLE, pull_artifact, push_artifact
from cvcuda_setup.oci.auth import Credentials
from cvcuda_setup.oci.client import RegistryClient
from cvcuda_setup.oci.digest import sha256_bytes
from cvcuda_setup.oci.errors import DigestMismatch, RegistryError, RegistryUnavailable
from cvcuda_setup.oci.ref import OciRef, parse_ref
from tests.conftest import free_port
from tests.unit.oci_registry import Registry, registry_exe, start_registry

pytestmark = pytest.mark.registry

REPO = "cvcuda-setup/prefix"
ANNOTATIONS = {"org.cvcuda-setup.recipe": "minimal", "org.cvcuda-setup.cuda": "13.0", "empty": ""}


@pytest.fixture()
def registry(tmp_path: Path) -> Iterator[Registry]:
    with start_registry(tmp_path / "registry") as reg:
        yield reg


def _client(reg: Registry, credentials: Credentials | None = None) -> RegistryClient:
    return RegistryClient(
        reg.address, insecure_http=True, timeout=10, credentials=credentials or Credentials()
    )


def _ref(reg: Registry, tag: str) -> OciRef:
    return parse_ref(f"oci://{reg.address}/{REPO}:{tag}")


def _files(folder: Path) -> list[Path]:
    folder.mkdir()
    big = folder / "prefix.tar.gz"
    big.write_bytes(bytes(range(256)) * 12289)  # 3 MiB and a bit: several upload/download chunks
    small = folder / "manifest.json"
    small.write_bytes(b'{"recipe": "minimal"}\n')
    return [big, small]


def test_round_trip_two_layers_with_annotations(registry: Registry, tmp_path: Path) -> None:
    client = _client(registry)
    files = _files(tmp_path / "src")
    ref = _ref(registry, "v1")
    digest = push_artifact(client, ref, files, ANNOTATIONS)

    manifest, pulled = pull_artifact(client, ref, tmp_path / "dest", max_bytes=16 << 20)
    assert [p.name for p in pulled] == ["prefix.tar.gz", "manifest.json"]
    for src, got in zip(files, pulled, strict=True):
        assert got.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["manifest.json", "prefix.tar.gz"]
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["annotations"] == ANNOTATIONS
    assert manifest["config"] == {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": sha256_bytes(b"{}"),
        "size": 2,
    }
    assert [layer["annotations"][TITLE] for layer in manifest["layers"]] == ["prefix.tar.gz", "manifest.json"]
    assert [layer["size"] for layer in manifest["layers"]] == [f.stat().st_size for f in files]
    # the empty config blob is on the registry, and the manifest is addressable by the digest push returned
    assert client.blob_exists(REPO, sha256_bytes(EMPTY_BLOB))
    by_digest, same = client.get_manifest(REPO, digest)
    assert (by_digest, same) == (manifest, digest)
    # a second push uploads nothing: HEAD finds every blob (the registry's access log counts the uploads)
    uploads = len(registry.access_lines("POST /v2/cvcuda-setup/prefix/blobs/uploads/"))
    assert uploads == 3
    assert push_artifact(client, _ref(registry, "v1-again"), files, ANNOTATIONS) == digest
    assert len(registry.access_lines("POST /v2/cvcuda-setup/prefix/blobs/uploads/")) == uploads


def test_list_tags(registry: Registry, tmp_path: Path) -> None:
    client = RegistryClient.for_ref(_ref(registry, "x"), timeout=10, credentials=Credentials())
    assert client.base == f"http://{registry.address}"
    files = _files(tmp_path / "src")
    for tag in ("b", "a", "c-1.0"):
        push_artifact(client, _ref(registry, tag), files, {"tag": tag})
    assert sorted(client.list_tags(REPO)) == ["a", "b", "c-1.0"]
    assert client.list_tags("no/such-repo") == []


def test_missing_tag_names_the_tag(registry: Registry, tmp_path: Path) -> None:
    client = _client(registry)
    push_artifact(client, _ref(registry, "present"), _files(tmp_path / "src"), {})
    with pytest.raises(RegistryError) as info:
        pull_artifact(client, _ref(registry, "absent-tag"), tmp_path / "dest", max_bytes=1 << 30)
    err = info.value
    assert f"{REPO}:absent-tag" in str(err)
    assert (err.status, err.code) == (404, "MANIFEST_UNKNOWN")
    assert "\n" not in str(err)
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").iterdir())


def test_corrupted_blob_is_refused_and_leaves_nothing(registry: Registry, tmp_path: Path) -> None:
    client = _client(registry)
    files = _files(tmp_path / "src")
    ref = _ref(registry, "v1")
    push_artifact(client, ref, files, {})
    manifest, _ = client.get_manifest(REPO, "v1")
    second = manifest["layers"][1]["digest"]  # the first layer is fetched fine, then removed again
    data = registry.blob_file(second)
    original = data.read_bytes()
    data.write_bytes(b"X" * len(original))  # same size, other bytes

    dest = tmp_path / "dest"
    with pytest.raises(DigestMismatch) as info:
        pull_artifact(client, ref, dest, max_bytes=1 << 30)
    assert second in str(info.value)
    assert "digest" in str(info.value)
    assert list(dest.iterdir()) == []  # neither manifest.json, nor a .part file, nor the good first layer

    with pytest.raises(DigestMismatch):
        client.fetch_blob(REPO, second, dest / "one", max_bytes=1 << 30)
    assert list(dest.iterdir()) == []


def test_max_bytes_is_enforced_before_download(registry: Registry, tmp_path: Path) -> None:
    client = _client(registry)
    ref = _ref(registry, "v1")
    files = _files(tmp_path / "src")
    push_artifact(client, ref, files, {})
    with pytest.raises(RegistryError, match="limit"):
        pull_artifact(client, ref, tmp_path / "dest", max_bytes=1000)
    assert not (tmp_path / "dest").exists()


def test_other_artifact_type_is_refused(registry: Registry, tmp_path: Path) -> None:
    client = _client(registry)
    ref = _ref(registry, "other")
    push_artifact(client, ref, _files(tmp_path / "src"), {}, artifact_type="application/vnd.example.v1")
    with pytest.raises(RegistryError, match=r"application/vnd\.example\.v1"):
        pull_artifact(client, ref, tmp_path / "dest", max_bytes=1 << 30)


def test_unsafe_layer_title_is_refused(registry: Registry, tmp_path: Path) -> None:
    client = _client(registry)
    digest, size = client.push_blob(REPO, b"payload")
    client.push_blob(REPO, EMPTY_BLOB)
    for title in ("../escape", "/abs", "a/b", ".."):
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": ARTIFACT_TYPE,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": sha256_bytes(b"{}"),
                "size": 2,
            },
            "layers": [
                {"mediaType": "x", "digest": digest, "size": size, "annotations": {TITLE: title}},
            ],
        }
        client.push_manifest(REPO, "evil", manifest)
        with pytest.raises(RegistryError, match="not a plain file name"):
            pull_artifact(client, _ref(registry, "evil"), tmp_path / "dest", max_bytes=1 << 30)
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "dest").exists()


def test_registry_down_is_unavailable(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    client = RegistryClient(address, insecure_http=True, timeout=5, credentials=Credentials())
    with pytest.raises(RegistryUnavailable, match=address):
        client.list_tags(REPO)
    with pytest.raises(RegistryUnavailable):
        pull_artifact(client, parse_ref(f"oci://{address}/{REPO}:v1"), tmp_path / "dest", max_bytes=1)
    assert RegistryUnavailable("x").return_code == 2


def test_registry_that_never_answers_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (the kernel does) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        client = RegistryClient(address, insecure_http=True, timeout=0.5, credentials=Credentials())
        with pytest.raises(RegistryUnavailable):
            client.blob_exists(REPO, sha256_bytes(b""))


def _htpasswd(path: Path, user: str, password: str) -> None:
    """bcrypt (the only scheme the registry takes) through the C library's crypt, where Python has it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # removed in Python 3.13
    except ImportError:
        pytest.skip("writing a bcrypt htpasswd needs Python's crypt module (Python < 3.13)")
    if crypt.METHOD_BLOWFISH not in crypt.methods:
        pytest.skip("the C library's crypt has no bcrypt here")
    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    path.write_text(f"{user}:{hashed}\n")


def test_basic_auth_against_htpasswd_registry(tmp_path: Path) -> None:
    registry_exe()
    password = "pw-4f1e9c-never-printed"
    htpasswd = tmp_path / "htpasswd"
    _htpasswd(htpasswd, "alice", password)
    with start_registry(tmp_path / "registry", htpasswd=htpasswd) as reg:
        good = Credentials("test", username="alice", password=password)
        client = _client(reg, good)
        ref = _ref(reg, "v1")
        files = _files(tmp_path / "src")
        push_artifact(client, ref, files, {"a": "b"})
        _, pulled = pull_artifact(client, ref, tmp_path / "dest", max_bytes=1 << 30)
        assert [p.read_bytes() for p in pulled] == [f.read_bytes() for f in files]
        assert password not in repr(client) and password not in repr(good)

        for creds in (Credentials(), Credentials("test", username="alice", password="wrong-" + password)):
            with pytest.raises(RegistryError) as info:
                _client(reg, creds).list_tags(REPO)
            assert info.value.status == 401
            assert password not in str(info.value) and password not in repr(info.value)
            assert "CVCUDA_SETUP_OCI_USERNAME" in str(info.value)
        with pytest.raises(RegistryError) as info:  # a push without credentials stops at the first HEAD
            push_artifact(_client(reg), _ref(reg, "anon"), files, {})
        assert info.value.status == 401
