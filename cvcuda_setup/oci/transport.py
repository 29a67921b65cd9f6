"""One HTTP exchange with a registry (stdlib ``urllib``): network failures become RegistryUnavailable.

Every answer comes back as a :class:`Response`, error statuses included (the caller decides what a 401 or
a 404 means). ``Authorization`` is sent as an unredirected header, so a redirect to a blob store (S3, a
CDN) never carries the registry's credentials. Loopback hosts are spoken to without a proxy.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any, Protocol

from cvcuda_setup.oci.errors import RegistryError, RegistryUnavailable
from cvcuda_setup.oci.ref import LOOPBACK_HOSTS

#: The most of an error body or a JSON document read into memory.
MAX_DOCUMENT_BYTES = 4 << 20

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_PROXIED = urllib.request.build_opener()


@dataclass
class Response:
    status: int
    headers: Message
    #: The final URL (after redirects).
    url: str
    body: Readable

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)

    def read_document(self, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
        """The whole body (at most ``limit`` bytes, else RegistryError), then the connection is closed."""
        try:
            data = read_chunk(self, None, limit + 1)
        finally:
            self.close()
        if len(data) > limit:
            raise RegistryError(f"{self.url}: answer is larger than {limit} bytes", status=self.status)
        return data

    def close(self) -> None:
        self.body.close()


class Readable(Protocol):
    """What a request body or a response body is read through."""

    def read(self, n: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


def read_chunk(response: Response, source: Readable | None = None, n: int = 1 << 20) -> bytes:
    """Up to ``n`` bytes of the body (through ``source``, a wrapper of it, when given); a dropped
    connection or a timeout is RegistryUnavailable."""
    try:
        return (response.body if source is None else source).read(n)
    except (OSError, http.client.HTTPException) as exc:
        raise RegistryUnavailable(f"{response.url}: connection lost while reading ({exc})") from None


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or ""


def send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    authorization: str | None = None,
    body: bytes | Readable | None = None,
    timeout: float,
) -> Response:
    """Send one request; any HTTP status comes back as a Response, a network failure raises.

    ``body`` is bytes or a readable binary file (streamed; the caller sets Content-Length).
    """
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if authorization is not None:
        request.add_unredirected_header("Authorization", authorization)
    opener = _DIRECT if _host(url) in LOOPBACK_HOSTS else _PROXIED
    try:
        raw: Any = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        # an HTTPError is the answer itself (status, headers, body)
        return Response(exc.code, exc.headers, exc.url or url, exc)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLError):
            raise RegistryError(
                f"{method} {url}: TLS failed ({reason})",
                hint="a registry that speaks plain HTTP is written oci+http://HOST/REPO",
            ) from None
        raise RegistryUnavailable(f"{method} {url}: cannot connect ({reason})") from None
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, a server that hangs up
        raise RegistryUnavailable(f"{method} {url}: no answer ({exc or type(exc).__name__})") from None
    return Response(int(raw.status), raw.headers, str(raw.url or url), raw)


def error_from(response: Response, what: str, *, hint: str | None = None) -> RegistryError:
    """A one-line RegistryError for an error answer: ``what``, the HTTP status, the registry's error code."""
    code: str | None = None
    detail = ""
    try:
        text = response.read_document(64 << 10)
    except (RegistryError, RegistryUnavailable, ValueError):  # ValueError: a body already closed
        text = b""
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("errors"), list) and doc["errors"]:
        first = doc["errors"][0]
        if isinstance(first, dict):
            code = str(first.get("code") or "") or None
            detail = str(first.get("message") or "")
    reason = f"HTTP {response.status}" + (f" {code}" if code else "") + (f": {detail}" if detail else "")
    reason = " ".join(reason.split())[:300]
    if hint is None and response.status == 401:
        hint = "set CVCUDA_SETUP_OCI_TOKEN, or CVCUDA_SETUP_OCI_USERNAME and CVCUDA_SETUP_OCI_PASSWORD"
    elif hint is None and response.status == 403:
        hint = "the credentials in use have no access to this repository"
    return RegistryError(f"{what}: {reason}", hint=hint, status=response.status, code=code)
