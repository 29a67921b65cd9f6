"""Credentials, challenges and the Bearer token handshake.

The handshake runs against a small HTTP server in this process standing in for a registry with a separate
token service (the network boundary; Debian's docker-registry has no token service to test against).
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from cvcuda_setup.oci.auth import Challenge, Credentials, load_credentials, parse_challenge
from cvcuda_setup.oci.client import RegistryClient
from cvcuda_setup.oci.digest import sha256_bytes
from cvcuda_setup.oci.errors import RegistryError

SECRET = "s3cr3t-f00d-never-shown"
TOKEN = "tok-9d2b-never-shown"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
            Challenge(
                "bearer",
                {
                    "realm": "https://auth.example/token",
                    "service": "registry.example",
                    "scope": "repository:a/b:pull",
                },
            ),
        ),
        (
            'Bearer realm="https://a/t", scope="repository:x:pull,push", error="insufficient_scope"',
            Challenge(
                "bearer",
                {"realm": "https://a/t", "scope": "repository:x:pull,push", "error": "insufficient_scope"},
            ),
        ),
        ('Basic realm="test-realm"', Challenge("basic", {"realm": "test-realm"})),
        ("basic realm=bare", Challenge("basic", {"realm": "bare"})),
        ('Bearer realm="with \\"quote\\""', Challenge("bearer", {"realm": 'with "quote"'})),
        ("", None),
        ("   ", None),
        ('"quoted" scheme', None),
    ],
)
def test_parse_challenge(header: str, expected: Challenge | None) -> None:
    assert parse_challenge(header) == expected


def _config(folder: Path, doc: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(doc))
    return folder


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_env_token_first_then_env_basic_then_docker_config(tmp_path: Path) -> None:
    docker = _config(tmp_path / "docker", {"auths": {"reg.example:5000": {"auth": _b64(f"carol:{SECRET}")}}})
    env = {
        "CVCUDA_SETUP_OCI_TOKEN": TOKEN,
        "CVCUDA_SETUP_OCI_USERNAME": "bob",
        "CVCUDA_SETUP_OCI_PASSWORD": SECRET,
        "DOCKER_CONFIG": str(docker),
    }
    creds = load_credentials("reg.example:5000", env=env, home=tmp_path)
    assert (creds.source, creds.token, creds.bearer_header()) == (
        "CVCUDA_SETUP_OCI_TOKEN",
        TOKEN,
        f"Bearer {TOKEN}",
    )
    del env["CVCUDA_SETUP_OCI_TOKEN"]
    creds = load_credentials("reg.example:5000", env=env, home=tmp_path)
    assert (creds.username, creds.password) == ("bob", SECRET)
    assert creds.basic_header() == "Basic " + _b64(f"bob:{SECRET}")
    del env["CVCUDA_SETUP_OCI_USERNAME"], env["CVCUDA_SETUP_OCI_PASSWORD"]
    creds = load_credentials("reg.example:5000", env=env, home=tmp_path)
    assert (creds.username, creds.password) == ("carol", SECRET)
    assert creds.source == f"docker config {docker / 'config.json'}"
    for text in (repr(creds), str(creds)):
        assert SECRET not in text and "carol" not in text


def test_docker_config_in_home_and_key_forms(tmp_path: Path) -> None:
    _config(
        tmp_path / ".docker",
        {
            "auths": {
                "https://reg.example:5000/v1/": {"auth": _b64(f"dave:{SECRET}")},
                "https://index.docker.io/v1/": {"auth": _b64("hubuser:hubpw")},
                "other.example": {"auth": _b64("x:y")},
            }
        },
    )
    creds = load_credentials("reg.example:5000", env={}, home=tmp_path)
    assert (creds.username, creds.password) == ("dave", SECRET)
    hub = load_credentials("registry-1.docker.io", env={}, home=tmp_path)
    assert (hub.username, hub.password) == ("hubuser", "hubpw")
    assert load_credentials("unknown.example", env={}, home=tmp_path) == Credentials()


def test_credential_helpers_are_noted_not_run(tmp_path: Path) -> None:
    _config(tmp_path / ".docker", {"credsStore": "desktop", "auths": {"reg.example": {}}})
    creds = load_credentials("reg.example", env={}, home=tmp_path)
    assert creds.username is None and creds.token is None
    assert len(creds.notes) == 1 and "credsStore 'desktop'" in creds.notes[0]
    assert "CVCUDA_SETUP_OCI_TOKEN" in creds.notes[0]
    _config(tmp_path / "h2" / ".docker", {"credHelpers": {"reg.example": "gcloud"}})
    helper = load_credentials("reg.example", env={}, home=tmp_path / "h2")
    assert "credential helper" in helper.notes[0]
    client = RegistryClient("reg.example", insecure_http=False, timeout=1, credentials=helper)
    assert client.notes == helper.notes


def test_unreadable_docker_config_says_so_without_content(tmp_path: Path) -> None:
    folder = tmp_path / ".docker"
    folder.mkdir()
    (folder / "config.json").write_text('{"auths": {"reg.example": {"auth": "' + _b64(f"u:{SECRET}") + '"}')
    creds = load_credentials("reg.example", env={}, home=tmp_path)
    assert creds.username is None
    assert "not readable JSON" in creds.notes[0] and _b64(f"u:{SECRET}") not in creds.notes[0]
    _config(folder, {"auths": {"reg.example": {"auth": "!!not-base64!!"}}})
    bad = load_credentials("reg.example", env={}, home=tmp_path)
    assert bad.username is None and "not base64 of user:password" in bad.notes[0]


class _FakeRegistry(BaseHTTPRequestHandler):
    """/v2/r/... wants ``Bearer TOKEN`` (a challenge naming /token otherwise); /token wants Basic bob:SECRET;
    tags come in pages of two (Link rel=next); a blob is a redirect to /storage, which records the headers."""

    seen: list[tuple[str, dict[str, str]]]
    tags: ClassVar[list[str]] = ["a", "b", "c"]
    blob = b"blob bytes"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        self.seen.append((self.path, dict(self.headers.items())))
        host = f"http://127.0.0.1:{self.server.server_port}"
        if url.path == "/token":
            if self.headers.get("Authorization") != "Basic " + _b64(f"bob:{SECRET}"):
                self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
                return
            self._send(200, json.dumps({"token": TOKEN, "expires_in": 300}).encode())
            return
        if url.path.startswith("/storage/"):
            self._send(200, self.blob)
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            challenge = f'Bearer realm="{host}/token",service="fake-registry",scope="repository:r:pull"'
            self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"WWW-Authenticate": challenge})
            return
        if url.path == "/v2/r/tags/list":
            start = self.tags.index(query["last"]) + 1 if "last" in query else 0
            page = self.tags[start : start + 2]
            headers = {}
            if start + 2 < len(self.tags):
                headers["Link"] = f'</v2/r/tags/list?n=2&last={page[-1]}>; rel="next"'
            self._send(200, json.dumps({"name": "r", "tags": page}).encode(), headers)
            return
        if url.path.startswith("/v2/r/blobs/"):
            self._send(307, headers={"Location": f"{host}/storage/{url.path.rsplit('/', 1)[1]}"})
            return
        self._send(404)


@pytest.fixture()
def fake_registry() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    seen: list[tuple[str, dict[str, str]]] = []
    handler = type("Handler", (_FakeRegistry,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_bearer_handshake_and_tag_pages(fake_registry: tuple[str, list[tuple[str, dict[str, str]]]]) -> None:
    address, seen = fake_registry
    creds = Credentials("test", username="bob", password=SECRET)
    client = RegistryClient(address, insecure_http=True, timeout=5, credentials=creds)
    assert client.list_tags("r", page_size=2) == ["a", "b", "c"]
    token_requests = [path for path, _ in seen if path.startswith("/token")]
    assert len(token_requests) == 1  # the token is reused for the next page
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(token_requests[0]).query))
    assert query == {"service": "fake-registry", "scope": "repository:r:pull"}
    for text in (repr(client), repr(creds)):
        assert SECRET not in text and TOKEN not in text


def test_redirected_blob_download_carries_no_credentials(
    fake_registry: tuple[str, list[tuple[str, dict[str, str]]]], tmp_path: Path
) -> None:
    address, seen = fake_registry
    client = RegistryClient(address, insecure_http=True, timeout=5, credentials=Credentials(token=TOKEN))
    dest = client.fetch_blob("r", sha256_bytes(_FakeRegistry.blob), tmp_path / "blob", max_bytes=1 << 20)
    assert dest.read_bytes() == _FakeRegistry.blob
    storage = [headers for path, headers in seen if path.startswith("/storage/")]
    assert len(storage) == 1 and "Authorization" not in storage[0]


def test_failed_token_request_shows_no_secret(
    fake_registry: tuple[str, list[tuple[str, dict[str, str]]]],
) -> None:
    address, _ = fake_registry
    wrong = "wrong-" + SECRET
    client = RegistryClient(
        address, insecure_http=True, timeout=5, credentials=Credentials("t", username="bob", password=wrong)
    )
    with pytest.raises(RegistryError) as info:
        client.list_tags("r")
    assert info.value.status == 401 and info.value.code == "UNAUTHORIZED"
    for text in (str(info.value), repr(info.value), repr(client)):
        assert wrong not in text and _b64(f"bob:{wrong}") not in text
