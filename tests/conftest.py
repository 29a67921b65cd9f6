"""Shared test set-up.

- GPU tests skip, with the probe's reason, on a machine without a usable CUDA device.
- Builds the tests run get compiler caches of their own (:func:`compiler_cache_env`): sccache's and ccache's
  caches in a folder the tests own and sccache's server on a free port, stopped afterwards
  (:func:`stop_sccache_server`), so nothing is written to the user's caches and no server is left running.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def gpu_skip_reason() -> str | None:
    """None when a CUDA device is usable, else why not (from the cuda-python probe)."""
    try:
        from cvcuda_setup.probe.gpu import probe_gpus
    except ImportError as exc:  # probe module missing: never pretend a GPU is there
        return f"no CUDA device: GPU probe unavailable ({exc})"
    result = probe_gpus()
    if result.devices:
        return None
    return f"no CUDA device: {result.error or 'cuda-python reports 0 devices'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    newcomer_selected = "newcomer" in (config.getoption("markexpr", "") or "")
    for item in items:
        if item.get_closest_marker("newcomer") is not None and not newcomer_selected:
            item.add_marker(
                pytest.mark.skip(reason="a fresh clone and a full OpenCV build: run by nox -s newcomer")
            )
        if item.get_closest_marker("gpu") is None:
            continue
        if reason is None:
            reason = gpu_skip_reason() or ""
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def compiler_cache_env(base: Mapping[str, str], root: Path) -> dict[str, str]:
    """``base`` with the compiler caches a build may use (``--launcher auto``) kept under ``root``.

    sccache: its cache in ``root/sccache`` and its server on a free port (not the user's server on 4226, whose
    cache is the user's); the caller's SCCACHE_* (a Redis endpoint...) are dropped. ccache: ``root/ccache``.
    """
    env = {k: v for k, v in base.items() if not k.startswith("SCCACHE_")}
    env["SCCACHE_DIR"] = str(root / "sccache")
    env["SCCACHE_SERVER_PORT"] = str(free_port())
    env["CCACHE_DIR"] = str(root / "ccache")
    return env


def stop_sccache_server(env: Mapping[str, str]) -> None:
    """``sccache --stop-server`` with the build's environment (so its port): no server outlives the tests.

    A no-op without sccache on that PATH; sccache exits non-zero when no server was running, which is fine.
    """
    exe = shutil.which("sccache", path=env.get("PATH", os.defpath))
    if exe is not None:
        subprocess.run([exe, "--stop-server"], env=dict(env), capture_output=True, timeout=60, check=False)
