"""Blobs, manifests and tags of one OCI registry (distribution spec v2 API), through :mod:`.transport`.

Authentication is answered lazily: a request goes out with what the last challenge asked for; a 401
with a ``WWW-Authenticate`` challenge is answered once (:func:`.auth.authorization_for`) and the request
sent again. Uploads are monolithic: ``POST /v2/<repo>/blobs/uploads/`` then ``PUT <location>?digest=``
with the whole blob streamed from disk. Downloads stream to a temporary file beside the destination,
checked for size and sha256 before one rename puts it in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cvcuda_setup.oci.auth import Credentials, authorization_for, load_credentials, parse_challenge
from cvcuda_setup.oci.digest import HashingReader, check_digest, sha256_bytes, sha256_stream
from cvcuda_setup.oci.errors import DigestMismatch, RegistryError
from cvcuda_setup.oci.ref import OciRef
from cvcuda_setup.oci.transport import Readable, Response, error_from, read_chunk, send

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST))
_TAGS_PAGE = 1000
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')

Body = bytes | Callable[[], Readable] | None


class RegistryClient:
    """One registry (``host[:port]``); credentials default to :func:`.auth.load_credentials`."""

    def __init__(
        self,
        ref_registry: str,
        *,
        insecure_http: bool,
        timeout: float,
        credentials: Credentials | None = None,
    ) -> None:
        self.registry = ref_registry
        self.base = f"{'http' if insecure_http else 'https'}://{ref_registry}"
        self.timeout = timeout
        self.credentials = load_credentials(ref_registry) if credentials is None else credentials
        #: Notes for the user (a docker credential helper that was not run).
        self.notes: tuple[str, ...] = self.credentials.notes
        # the Authorization header per repository ("" for requests outside one), from the last challenge
        self._authorization: dict[str, str] = {}

    @classmethod
    def for_ref(
        cls, ref: OciRef, *, timeout: float, credentials: Credentials | None = None
    ) -> RegistryClient:
        """The client of ``ref``'s registry, plain HTTP when the reference says so."""
        return cls(ref.registry, insecure_http=ref.insecure_http, timeout=timeout, credentials=credentials)

    def __repr__(self) -> str:
        return f"RegistryClient({self.base!r}, credentials from {self.credentials.source})"

    # -- one request, with the auth handshake --------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        repo: str,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
    ) -> Response:
        def once() -> Response:
            data: bytes | Readable | None = body() if callable(body) else body
            try:
                return send(
                    method,
                    url,
                    headers=headers,
                    authorization=self._authorization.get(repo),
                    body=data,
                    timeout=self.timeout,
                )
            finally:
                if data is not None and not isinstance(data, bytes):
                    data.close()

        response = once()
        if response.status != 401:
            return response
        challenge = parse_challenge(response.header("WWW-Authenticate") or "")
        if challenge is None:
            return response
        answer = authorization_for(challenge, self.credentials, timeout=self.timeout)
        if answer is None or answer == self._authorization.get(repo):
            return response  # nothing new to send: the 401 stands
        response.close()
        self._authorization[repo] = answer
        return once()

    def _url(self, path: str) -> str:
        return f"{self.base}/v2/{path}"

    # -- blobs ------------------------------------------------------------------------------------

    def blob_exists(self, repo: str, digest: str) -> bool:
        check_digest(digest, f"blob of {repo}")
        response = self._request("HEAD", self._url(f"{repo}/blobs/{digest}"), repo=repo)
        if response.status in (200, 404):
            response.close()
            return response.status == 200
        raise error_from(response, f"HEAD blob {digest} in {self.registry}/{repo}")

    def push_blob(self, repo: str, path_or_bytes: Path | bytes) -> tuple[str, int]:
        """Upload a blob unless the registry has it; (digest, size). A file is streamed from disk."""
        if isinstance(path_or_bytes, bytes):
            data = path_or_bytes
            digest, size = sha256_bytes(data), len(data)
        else:
            path = path_or_bytes
            with path.open("rb") as fh:
                digest, size = sha256_stream(fh)
        if self.blob_exists(repo, digest):
            return digest, size
        what = f"upload of {digest} to {self.registry}/{repo}"
        started = self._request("POST", self._url(f"{repo}/blobs/uploads/"), repo=repo)
        location = started.header("Location")
        if started.status != 202 or not location:
            raise error_from(started, what)
        started.close()
        target = urllib.parse.urljoin(started.url, location)
        target += ("&" if "?" in target else "?") + urllib.parse.urlencode({"digest": digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        readers: list[HashingReader] = []

        def body() -> Readable:
            reader = HashingReader(path.open("rb"))
            readers.append(reader)
            return reader

        payload: Body = data if isinstance(path_or_bytes, bytes) else body
        response = self._request("PUT", target, repo=repo, headers=headers, body=payload)
        if response.status != 201:
            raise error_from(response, what)
        response.close()
        if readers and (readers[-1].digest, readers[-1].size) != (digest, size):
            raise RegistryError(f"{path} changed while it was uploaded ({what})", hint="upload it again")
        return digest, size

    def fetch_blob(
        self, repo: str, digest: str, dest: Path, *, max_bytes: int, size: int | None = None
    ) -> Path:
        """Download a blob to ``dest``; nothing is left at ``dest`` unless digest (and size) match."""
        check_digest(digest, f"blob of {repo}")
        what = f"blob {digest} of {self.registry}/{repo}"
        limit = max_bytes if size is None else min(size, max_bytes)
        if size is not None and size > max_bytes:
            raise RegistryError(f"{what} is {size} bytes, more than the limit of {max_bytes}")
        response = self._request("GET", self._url(f"{repo}/blobs/{digest}"), repo=repo)
        if response.status != 200:
            raise error_from(response, what)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                reader = HashingReader(response.body)
                while chunk := read_chunk(response, reader):
                    out.write(chunk)
                    if reader.size > limit:
                        raise DigestMismatch(
                            f"{what}: the registry sent more than {limit} bytes"
                            + (f" (the descriptor says {size})" if size is not None else " (the limit)"),
                        )
            if size is not None and reader.size != size:
                raise DigestMismatch(f"{what}: got {reader.size} bytes, the descriptor says {size}")
            if reader.digest != digest:
                raise DigestMismatch(
                    f"{what}: content has digest {reader.digest}, not the one asked for; "
                    f"nothing written to {dest}",
                    hint="the registry's copy is corrupt: push the artifact again",
                )
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        finally:
            response.close()
        return dest

    # -- manifests --------------------------------------------------------------------------------

    def push_manifest(self, repo: str, tag: str, manifest: Mapping[str, Any]) -> str:
        """PUT an OCI image manifest under ``tag``; its digest."""
        data = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode("utf-8")
        digest = sha256_bytes(data)
        response = self._request(
            "PUT",
            self._url(f"{repo}/manifests/{tag}"),
            repo=repo,
            headers={"Content-Type": OCI_MANIFEST},
            body=data,
        )
        if response.status != 201:
            raise error_from(response, f"push of manifest {self.registry}/{repo}:{tag}")
        response.close()
        returned = response.header("Docker-Content-Digest")
        if returned and returned != digest:
            raise DigestMismatch(
                f"manifest {self.registry}/{repo}:{tag}: the registry stored {returned}, we sent {digest}"
            )
        return digest

    def get_manifest(self, repo: str, tag_or_digest: str) -> tuple[dict[str, Any], str]:
        """(manifest, digest). By digest: the content must hash to it; by tag: to Docker-Content-Digest."""
        name = f"{self.registry}/{repo}" + (
            f"@{tag_or_digest}" if tag_or_digest.startswith("sha256:") else f":{tag_or_digest}"
        )
        if tag_or_digest.startswith("sha256:"):
            check_digest(tag_or_digest, f"manifest of {repo}")
        response = self._request(
            "GET",
            self._url(f"{repo}/manifests/{tag_or_digest}"),
            repo=repo,
            headers={"Accept": MANIFEST_ACCEPT},
        )
        if response.status == 404:
            hint = "push it first, or name a tag the repository has"
            raise error_from(response, f"manifest {name} not found", hint=hint)
        if response.status != 200:
            raise error_from(response, f"manifest {name}")
        data = response.read_document()
        digest = sha256_bytes(data)
        expected = (
            tag_or_digest if tag_or_digest.startswith("sha256:") else response.header("Docker-Content-Digest")
        )
        if expected and expected != digest:
            raise DigestMismatch(f"manifest {name}: content has digest {digest}, expected {expected}")
        try:
            manifest = json.loads(data)
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict):
            raise RegistryError(f"manifest {name} is not a JSON object")
        return manifest, digest

    # -- tags -------------------------------------------------------------------------------------

    def list_tags(self, repo: str, *, page_size: int = _TAGS_PAGE) -> list[str]:
        """Every tag of ``repo`` (following ``Link: <...>; rel="next"``); [] for an unknown repository."""
        url: str | None = self._url(f"{repo}/tags/list?n={page_size}")
        tags: list[str] = []
        seen: set[str] = set()
        while url is not None and url not in seen:
            seen.add(url)
            response = self._request("GET", url, repo=repo)
            if response.status == 404:
                response.close()
                return tags
            if response.status != 200:
                raise error_from(response, f"tags of {self.registry}/{repo}")
            try:
                doc = json.loads(response.read_document())
            except ValueError:
                doc = None
            page = doc.get("tags") if isinstance(doc, dict) else None
            if page is not None and not (isinstance(page, list) and all(isinstance(t, str) for t in page)):
                raise RegistryError(f"tags of {self.registry}/{repo}: the answer is not a list of tags")
            tags.extend(page or [])
            match = _LINK_NEXT.search(response.header("Link") or "")
            url = urllib.parse.urljoin(response.url, match.group(1)) if match else None
        return tags
