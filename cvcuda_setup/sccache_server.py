"""The sccache server a build compiles through: start it, stop it, read its stats, and make sure it serves
the cache the environment asks for (a server reads its configuration only when it starts)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from cvcuda_setup import sccache as locate
from cvcuda_setup.errors import ToolchainError
from cvcuda_setup.sccache import DEFAULT_PORT, CacheConfig
from cvcuda_setup.sccache_stats import Stats, parse_stats
from cvcuda_setup.tools import capture

#: Seconds any one sccache client command may take (server start included).
COMMAND_TIMEOUT_S = 120.0


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
    return Sccache(locate.require_sccache(env), CacheConfig.from_env(env), env)
