"""A real CPU-only OpenCV 5.1 build through the CLI (``cvcuda-setup build --recipe cpu-test --source sdist``).

The build itself happens once per session in the ``cpu_build`` fixture (conftest.py); these tests check
what it left: the manifest, the atomic install, an incremental re-run, and cv2 imported through
``cvcuda-setup env --shell json`` in a fresh interpreter, running a blur.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cvcuda_setup.manifest import SCHEMA, read_manifest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def test_the_build_wrote_a_manifest_describing_it(cpu_prefix: Path) -> None:
    manifest = read_manifest(cpu_prefix)
    assert manifest is not None and manifest.schema == SCHEMA
    assert manifest.recipe_name == "cpu-test"
    assert manifest.opencv_version.startswith("5.")
    assert manifest.recipe.cuda is False and manifest.recipe.python is True
    assert manifest.cmake_options["WITH_CUDA"] == "OFF"
    assert manifest.cmake_options["CMAKE_BUILD_TYPE"] == "Debug"
    assert set(manifest.summary.modules_built) >= {"core", "imgproc", "geometry", "flann", "python3"}
    assert manifest.summary.cuda in (None, False)
    assert manifest.toolchain.cxx_compiler and manifest.toolchain.cxx_compiler_version
    assert manifest.source is not None
    assert manifest.source.spec.kind in ("sdist", "tarball", "bundle", "local", "git")
    assert manifest.module_dir is not None and manifest.module_dir.is_dir()
    assert manifest.module_dir.is_relative_to(cpu_prefix)
    assert manifest.durations["build"] is not None and manifest.durations["install"] is not None
    logs = Path(manifest.build_dir) / "cvcuda-setup-logs"
    assert all((logs / f"{step}.log").is_file() for step in ("configure", "build", "install"))


def test_a_rerun_is_incremental_and_the_install_atomic(cpu_build: Any) -> None:
    if cpu_build.command is None:
        pytest.skip("CVCUDA_TEST_PREFIX was used as it is: no build ran in this session")
    code, err, seconds = cpu_build.runs[-1]
    assert code == 0, err[-4000:]
    assert "configure: skipped (the plan is unchanged" in err
    assert not [ln for ln in err.splitlines() if ln.startswith("build: ")], "ninja had work to do on a re-run"
    assert seconds < 120, f"an incremental re-run took {seconds:.0f} s"
    parent = cpu_build.prefix.parent
    assert not [
        p.name for p in parent.iterdir() if "cvcuda-setup-staging" in p.name or "cvcuda-setup-old" in p.name
    ]
    if len(cpu_build.runs) == 2:  # this session built from scratch first
        first_code, first_err, _ = cpu_build.runs[0]
        assert first_code == 0 and "==> configure (" in first_err


def test_cv2_from_the_prefix_imports_through_env_json_and_blurs(cpu_prefix: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cvcuda_setup", "env", "--prefix", str(cpu_prefix), "--shell", "json"],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    exports = json.loads(out.stdout)
    env = {**os.environ, **exports["env"]}
    # only the prefix's modules: the checkout's PYTHONPATH entry is not in the exported value
    env["PYTHONPATH"] = os.pathsep.join(exports["prepend"]["PYTHONPATH"])
    code = (
        "import json, cv2, numpy as np\n"
        "img = np.zeros((9, 9), np.uint8); img[4, 4] = 255\n"
        "out = cv2.blur(img, (3, 3))\n"
        "rest = int(out.sum()) - int(out[3:6, 3:6].sum())\n"
        "cuda = cv2.cuda.getCudaEnabledDeviceCount() if hasattr(cv2, 'cuda') else None\n"
        "print(json.dumps({'file': cv2.__file__, 'version': cv2.__version__,\n"
        "                  'center': out[3:6, 3:6].tolist(), 'rest': rest, 'cuda': cuda}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(data["file"]).resolve().is_relative_to(cpu_prefix.resolve())
    manifest = read_manifest(cpu_prefix)
    assert manifest is not None and data["version"] == manifest.opencv_version
    assert data["center"] == [[28] * 3] * 3  # 255 / 9 rounded, the 3x3 box around the impulse
    assert data["rest"] == 0
    assert data["cuda"] in (None, 0)
