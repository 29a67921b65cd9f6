"""Registry credentials and the token handshake.

Credentials, first found wins: ``$CVCUDA_SETUP_OCI_TOKEN`` (sent as a bearer token),
``$CVCUDA_SETUP_OCI_USERNAME`` + ``$CVCUDA_SETUP_OCI_PASSWORD``, then the docker config
(``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``: ``auths[HOST].auth``, base64 of
``user:password``). Credential helpers (``credsStore``, ``credHelpers``) are not run; a note says so.

A 401 answer's ``WWW-Authenticate`` challenge says what to send: ``Basic`` -> the username and password;
``Bearer realm=...,service=...,scope=...`` -> a token from the realm (asked with the username and password
when there are any, anonymously otherwise). Secrets never appear in a repr, a message or a log line.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cvcuda_setup.oci.errors import RegistryError
from cvcuda_setup.oci.transport import error_from, send

ENV_TOKEN = "CVCUDA_SETUP_OCI_TOKEN"
ENV_USERNAME = "CVCUDA_SETUP_OCI_USERNAME"
ENV_PASSWORD = "CVCUDA_SETUP_OCI_PASSWORD"

# Docker Hub's credentials are stored under its v1 index URL.
_DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True)
class Credentials:
    #: Where they came from (``"CVCUDA_SETUP_OCI_TOKEN"``, ``"docker config /path"``, ``"none"``).
    source: str = "none"
    token: str | None = field(default=None, repr=False)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    #: Things the user may want to know (a credential helper that was not used).
    notes: tuple[str, ...] = ()

    @property
    def has_basic(self) -> bool:
        return self.username is not None and self.password is not None

    def basic_header(self) -> str | None:
        if not self.has_basic:
            return None
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def bearer_header(self) -> str | None:
        return None if self.token is None else f"Bearer {self.token}"


def _docker_config_path(env: Mapping[str, str], home: Path) -> Path:
    explicit = env.get("DOCKER_CONFIG")
    return (Path(explicit) if explicit else home / ".docker") / "config.json"


def _auth_key_host(key: str) -> str:
    """``https://host:port/v1/`` -> ``host:port`` (docker config keys come with and without scheme)."""
    text = key.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    return text.split("/", 1)[0].lower()


def _from_docker_config(registry: str, path: Path) -> Credentials | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        # the exception text of a JSON error quotes no content, but say only the position to be safe
        where = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        return Credentials(notes=(f"docker config {path} is not readable JSON ({where}); not used",))
    if not isinstance(doc, dict):
        return Credentials(notes=(f"docker config {path} is not a JSON object; not used",))
    notes: list[str] = []
    wanted = {registry.lower()} | ({"index.docker.io"} if registry.lower() in _DOCKER_HUB else set())
    helpers = doc.get("credHelpers")
    if isinstance(helpers, dict) and any(_auth_key_host(k) in wanted for k in helpers):
        notes.append(
            f"docker config {path} names a credential helper for {registry}; helpers are not run "
            f"(set {ENV_TOKEN}, or {ENV_USERNAME} and {ENV_PASSWORD})"
        )
    elif isinstance(doc.get("credsStore"), str):
        notes.append(
            f"docker config {path} uses credsStore {doc['credsStore']!r}; credential stores are not run "
            f"(set {ENV_TOKEN}, or {ENV_USERNAME} and {ENV_PASSWORD})"
        )
    auths = doc.get("auths")
    entry = None
    if isinstance(auths, dict):
        entry = next((v for k, v in auths.items() if _auth_key_host(k) in wanted), None)
    if isinstance(entry, dict):
        source = f"docker config {path}"
        auth = entry.get("auth")
        if isinstance(auth, str) and auth:
            try:
                user, sep, password = base64.b64decode(auth, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, sep, password = "", "", ""
            if sep and user:
                return Credentials(source, username=user, password=password, notes=tuple(notes))
            notes.append(f"docker config {path}: auths entry for {registry} is not base64 of user:password")
        elif isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
            return Credentials(
                source, username=entry["username"], password=entry["password"], notes=tuple(notes)
            )
        elif isinstance(entry.get("registrytoken"), str):
            return Credentials(source, token=entry["registrytoken"], notes=tuple(notes))
    return Credentials(notes=tuple(notes)) if notes else None


def load_credentials(
    registry: str, *, env: Mapping[str, str] | None = None, home: Path | None = None
) -> Credentials:
    """The credentials for ``registry`` (``host[:port]``); ``Credentials()`` (anonymous) when none."""
    env = os.environ if env is None else env
    token = env.get(ENV_TOKEN)
    if token:
        return Credentials(ENV_TOKEN, token=token)
    user, password = env.get(ENV_USERNAME), env.get(ENV_PASSWORD)
    if user and password is not None:
        return Credentials(f"{ENV_USERNAME}/{ENV_PASSWORD}", username=user, password=password)
    found = _from_docker_config(registry, _docker_config_path(env, Path.home() if home is None else home))
    return found if found is not None else Credentials()


@dataclass(frozen=True)
class Challenge:
    #: ``"basic"`` or ``"bearer"`` (lowercase), or another scheme as sent.
    scheme: str
    params: Mapping[str, str]


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)')


def parse_challenge(header: str) -> Challenge | None:
    """``Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"`` -> Challenge.

    Only the first challenge of the header is read; None when the header is empty or malformed.
    """
    text = header.strip()
    scheme, _, rest = text.partition(" ")
    if not scheme or not re.fullmatch(r"[A-Za-z0-9_-]+", scheme):
        return None
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if match is None:
            break
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[match.group(1).lower()] = value
        pos = match.end()
    return Challenge(scheme.lower(), params)


def fetch_token(challenge: Challenge, credentials: Credentials, *, timeout: float) -> str:
    """Ask a Bearer challenge's realm for a token (with basic credentials when there are any)."""
    realm = challenge.params.get("realm")
    if not realm or urllib.parse.urlsplit(realm).scheme not in ("http", "https"):
        raise RegistryError(f"registry sent a Bearer challenge without a usable realm ({realm!r})")
    query = [(k, challenge.params[k]) for k in ("service", "scope") if challenge.params.get(k)]
    url = realm + (("&" if "?" in realm else "?") + urllib.parse.urlencode(query) if query else "")
    response = send("GET", url, authorization=credentials.basic_header(), timeout=timeout)
    if response.status != 200:
        raise error_from(response, f"token from {realm}")
    try:
        doc = json.loads(response.read_document())
    except ValueError:
        doc = None
    token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistryError(f"token from {realm}: the answer has no token")
    return token


def authorization_for(challenge: Challenge, credentials: Credentials, *, timeout: float) -> str | None:
    """The Authorization header that answers ``challenge``; None when there is nothing to send."""
    if challenge.scheme == "basic":
        return credentials.basic_header()
    if challenge.scheme == "bearer":
        if credentials.token is not None:
            return credentials.bearer_header()
        return f"Bearer {fetch_token(challenge, credentials, timeout=timeout)}"
    return None
