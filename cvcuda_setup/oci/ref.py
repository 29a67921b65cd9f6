"""``oci://HOST[:PORT]/REPO[/MORE][:TAG]`` references (``oci+http://`` for a plain-HTTP registry)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cvcuda_setup.errors import UsageError

DEFAULT_TAG = "latest"
#: Hosts spoken to over plain HTTP without ``oci+http://``.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

_FORM = "oci://HOST[:PORT]/REPO[/MORE][:TAG] (or oci+http://... for a plain-HTTP registry)"
# The distribution spec's grammar: path components of lowercase alphanumerics joined by . _ __ or dashes.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_HOSTNAME = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+")


@dataclass(frozen=True)
class OciRef:
    #: ``host`` or ``host:port`` (an IPv6 host in brackets: ``[::1]:5000``), as used in URLs.
    registry: str
    repository: str
    tag: str
    #: Plain HTTP: a loopback host, or the ``oci+http://`` scheme.
    insecure_http: bool = False

    @property
    def host(self) -> str:
        """The host without port or brackets (``::1`` for ``[::1]:5000``)."""
        if self.registry.startswith("["):
            return self.registry[1 : self.registry.index("]")]
        return self.registry.rsplit(":", 1)[0] if ":" in self.registry else self.registry

    @property
    def repository_url(self) -> str:
        """``oci://HOST[:PORT]/REPO``: the reference without its tag."""
        scheme = "oci+http" if self.insecure_http and self.host not in LOOPBACK_HOSTS else "oci"
        return f"{scheme}://{self.registry}/{self.repository}"

    def __str__(self) -> str:
        return f"{self.repository_url}:{self.tag}"


def _bad(value: str, why: str) -> UsageError:
    return UsageError(f"bad OCI reference {value!r}: {why}", hint=f"expected {_FORM}")


def _check_registry(value: str, registry: str) -> str:
    if registry.startswith("["):
        end = registry.find("]")
        if end < 0 or not _IPV6.fullmatch(registry[1:end]):
            raise _bad(value, f"registry host {registry!r} is not a bracketed IPv6 address")
        host, rest = registry[1:end], registry[end + 1 :]
        if rest and not rest.startswith(":"):
            raise _bad(value, f"unexpected {rest!r} after the IPv6 address")
        port = rest[1:] if rest else None
    else:
        host, _, port_text = registry.partition(":")
        port = port_text if ":" in registry else None
        if not _HOSTNAME.fullmatch(host):
            raise _bad(value, f"registry host {host!r} is not a host name or address")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise _bad(value, f"port {port!r} is not a number from 1 to 65535")
    return host


def parse_ref(value: str) -> OciRef:
    """Parse an ``oci://`` reference; the tag defaults to ``latest``. Raises UsageError naming the value."""
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in ("oci", "oci+http"):
        raise _bad(value, "it does not start with oci:// or oci+http://")
    registry, slash, path = rest.partition("/")
    if not registry:
        raise _bad(value, "no registry host")
    if not slash or not path:
        raise _bad(value, "no repository after the registry host")
    host = _check_registry(value, registry)
    repository, tag = path, DEFAULT_TAG
    if "@" in path:
        raise _bad(value, "digest references (@sha256:...) are not supported; use a tag")
    if ":" in path:
        repository, tag = path.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise _bad(value, f"tag {tag!r} is not 1-128 letters, digits, '.', '_', '-' (not first . or -)")
    if not _REPOSITORY.fullmatch(repository):
        raise _bad(
            value,
            f"repository {repository!r} is not lowercase path components of a-z 0-9 joined by '.', '_', '-'",
        )
    return OciRef(registry, repository, tag, insecure_http=scheme == "oci+http" or host in LOOPBACK_HOSTS)
