"""The offline round trip for both OpenCV lines: ``build --bundle`` writes a pruned bundle from the sdist,
``build --source <bundle>`` builds ``cpu-test`` from it, and cv2 from that prefix imports and blurs; and an
all-module (``seed``) bundle configures (CPU only, configure step alone: its build takes hours).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from cvcuda_setup.manifest import read_manifest

pytestmark = [pytest.mark.integration, pytest.mark.network]

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 3600


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cvcuda_setup", *args],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def _cache() -> Path:
    from cvcuda_setup.sources import default_cache_dir

    return default_cache_dir().expanduser().resolve()


@pytest.mark.parametrize("version", ["4.14.0", "5.1.0"])
def test_cpu_test_bundle_round_trip(version: str, tmp_path: Path) -> None:
    cache = _cache()
    bundle = tmp_path / f"cpu-test-{version}.tar.xz"
    wrote = tool(
        "build", "--recipe", "cpu-test", "--opencv-version", version, "--cache-dir", str(cache),
        "--bundle", str(bundle),
    )  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr[-4000:]
    with tarfile.open(bundle) as tf:
        names = set(tf.getnames())
    assert "opencv/apps/CMakeLists.txt" in names
    if version.startswith("4."):
        assert "opencv/data/CMakeLists.txt" in names  # 4.x's top-level CMakeLists adds data/
    prefix = tmp_path / "prefix"
    built = tool(
        "build", "--recipe", "cpu-test", "--source", str(bundle), "--prefix", str(prefix),
        "--cache-dir", str(tmp_path / "cache"), "--no-plugin", "--no-doctor",
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-6000:]
    manifest = read_manifest(prefix)
    assert manifest is not None and manifest.source is not None and manifest.source.spec.kind == "bundle"
    major = version.split(".")[0]
    assert (prefix / "lib" / "pkgconfig" / f"opencv{major}.pc").is_file() or (
        prefix / "lib64" / "pkgconfig" / f"opencv{major}.pc"
    ).is_file()
    exports = json.loads(tool("env", "--prefix", str(prefix), "--shell", "json").stdout)
    env = {**os.environ, **exports["env"]}
    env["PYTHONPATH"] = os.pathsep.join(exports["prepend"]["PYTHONPATH"])
    # cpu-test is a Debug build, whose OpenCV logs INFO lines to stdout on import; the answer is the last line
    code = (
        "import cv2, numpy as np; print(cv2.__version__, cv2.blur(np.ones((8, 8), np.uint8), (3, 3)).sum())"
    )
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1].split() == [version, "64"], run.stdout


@pytest.mark.parametrize("version", ["4.14.0", "5.1.0"])
def test_seed_bundle_configures_without_cuda(version: str, tmp_path: Path) -> None:
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not on PATH")
    bundle = tmp_path / f"seed-{version}.tar.xz"
    wrote = tool(
        "build", "--recipe", "seed", "--opencv-version", version, "--cache-dir", str(_cache()),
        "--bundle", str(bundle),
    )  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr[-4000:]
    src = tmp_path / "src"
    src.mkdir()
    with tarfile.open(bundle) as tf:
        tf.extractall(src, filter="data")
    # seed's options less CUDA (no GPU toolkit needed), tests left ON as documented: configure must pass
    cmd = [
        cmake, "-S", str(src / "opencv"), "-B", str(tmp_path / "build"), "-G", "Ninja",
        f"-DOPENCV_EXTRA_MODULES_PATH={src / 'opencv_contrib' / 'modules'}",
        "-DWITH_CUDA=OFF", "-DBUILD_EXAMPLES=OFF", "-DOPENCV_GENERATE_PKGCONFIG=ON",
        "-DOPENCV_DOWNLOAD_TRIES_LIST=", "-DWITH_IPP=OFF", "-DWITH_ADE=OFF",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    assert "Cannot find source file" not in proc.stderr
