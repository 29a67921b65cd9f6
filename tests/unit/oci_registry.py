"""A real OCI registry for the tests: Debian's ``docker-registry`` (distribution 2.8) on a free local port.

:func:`start_registry` writes a minimal config (filesystem storage under the test's folder, deletes enabled,
``http.addr 127.0.0.1:PORT``, optionally htpasswd Basic auth), starts ``docker-registry serve CONFIG`` in a
process group of its own, waits until ``GET /v2/`` answers and stops the group afterwards. Without the
binary the tests skip with the reason; nothing is faked.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

START_S = 20.0


@dataclass(frozen=True)
class Registry:
    #: ``127.0.0.1:PORT``
    address: str
    root: Path
    log: Path

    def blob_file(self, digest: str) -> Path:
        """Where the filesystem driver keeps a blob's bytes."""
        hex_ = digest.split(":", 1)[1]
        return self.root / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"

    def access_lines(self, needle: str) -> list[str]:
        return [ln for ln in self.log.read_text(errors="replace").splitlines() if needle in ln]


def registry_exe() -> str:
    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.skip("needs Debian's docker-registry (apt-get install -y docker-registry); not installed")
    return exe


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through $http_proxy


def _answers(address: str) -> bool:
    try:
        with _DIRECT.open(f"http://{address}/v2/", timeout=1):
            return True
    except urllib.error.HTTPError:  # 401 with auth configured: it answers
        return True
    except OSError:
        return False


@contextmanager
def start_registry(folder: Path, *, htpasswd: Path | None = None) -> Iterator[Registry]:
    exe = registry_exe()
    port = free_port()
    root = folder / "storage"
    root.mkdir(parents=True)
    auth = f"auth:\n  htpasswd:\n    realm: test-realm\n    path: {htpasswd}\n" if htpasswd else ""
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: false\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: test-only-secret\n" + auth
    )
    log = folder / "registry.log"
    address = f"127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [exe, "serve", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + START_S
            while not _answers(address):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"docker-registry did not start on {address}: {log.read_text()[-2000:]}")
                time.sleep(0.05)
            yield Registry(address, root, log)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
