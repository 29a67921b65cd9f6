"""``cvcuda-setup verify`` against a real CPU-only OpenCV prefix (no GPU on CI).

Uses the session fixture ``cpu_prefix`` (tests/integration/conftest.py: a prefix built by the tool with the
cpu-test recipe, so with a manifest saying cuda=false). Where that fixture is not defined, a local stand-in
is used: a copy of /work/main/.cache/cpuprefix (the developer machine's CPU build) with a cpu-test manifest
added; without either the tests skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from cvcuda_setup.cli.app import app
from cvcuda_setup.manifest import MANIFEST_RELPATH
from cvcuda_setup.verify import images
from cvcuda_setup.verify.context import VerifyOptions
from cvcuda_setup.verify.runner import build_context
from tests.conftest import gpu_skip_reason

pytestmark = pytest.mark.integration

LOCAL_CPU_PREFIX = Path("/work/main/.cache/cpuprefix")
runner = CliRunner()


@pytest.fixture(scope="module")
def prefix(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        path = Path(request.getfixturevalue("cpu_prefix"))
    except pytest.FixtureLookupError:
        if not (LOCAL_CPU_PREFIX / "lib").is_dir():
            pytest.skip("no cpu_prefix fixture and no local CPU build at /work/main/.cache/cpuprefix")
        path = tmp_path_factory.mktemp("verify") / "cpuprefix"
        shutil.copytree(LOCAL_CPU_PREFIX, path, symlinks=True)
        manifest = {  # the keys manifest.py writes that verify reads; the rest left out
            "schema": "cvcuda-setup/manifest/1",
            "prefix": str(path),
            "opencv_version": "5.1.0",
            "recipe": {"name": "cpu-test", "cuda": False, "python": True, "build_type": "Debug"},
            "cmake_options": {"WITH_CUDA": "OFF", "BUILD_TESTS": "OFF"},
            "arch": {"bin": [], "ptx": [], "origin": "none", "requested": ""},
            "python": {
                "executable": sys.executable,
                "version": "3.11.7",
                "module_dir": str(path / "lib" / "python3.11" / "site-packages" / "cv2"),
            },
        }
        (path / MANIFEST_RELPATH).parent.mkdir(parents=True, exist_ok=True)
        (path / MANIFEST_RELPATH).write_text(json.dumps(manifest))
    return path


@pytest.fixture
def no_gpu() -> None:
    if gpu_skip_reason() is None:
        pytest.skip("this host has a GPU: the no-GPU expectations do not apply (see tests/gpu)")


def _verify(args: list[str], tmp_path: Path) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["verify", *args, "--json", str(out)])
    assert out.exists(), result.output
    return result.exit_code, json.loads(out.read_text())


def _checks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["label"]: c for c in data["checks"]}


def _parts(check: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in check["parts"]}


def test_cpu_prefix_passes_with_gpu_checks_skipped(prefix: Path, tmp_path: Path, no_gpu: None) -> None:
    junit = tmp_path / "verify.xml"
    code, data = _verify(["--prefix", str(prefix), "--junit", str(junit)], tmp_path)
    checks = _checks(data)
    assert checks["prefix"]["status"] == "pass"
    cv2 = checks["cv2"]
    assert cv2["status"] == "pass", cv2["reason"]
    parts = _parts(cv2)
    assert "env: cvcuda-setup env" in parts["interpreter"]["reason"]  # the env users get, not a guess
    assert parts["import"]["status"] == "pass"
    assert parts["import"]["figures"]["cv2_file"].startswith(str(prefix.resolve()))
    assert parts["version"]["status"] == "pass"
    assert parts["cuda"]["status"] == "skip"
    assert "built without CUDA, as intended" in parts["cuda"]["reason"]
    assert "cpu-test" in parts["cuda"]["reason"]
    assert checks["gpu"]["status"] == "skip" and checks["gpu"]["reason"].startswith("no CUDA device")
    for label in ("device_info", "arch", "mapped", "pipeline"):
        assert checks[label]["status"] == "skip"
        assert checks[label]["reason"].startswith("no CUDA device")
    assert code == 0 and data["summary"]["ok"] is True
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"


def test_require_gpu_exits_1(prefix: Path, tmp_path: Path, no_gpu: None) -> None:
    code, data = _verify(["--prefix", str(prefix), "--require-gpu"], tmp_path)
    assert code == 1
    assert _checks(data)["gpu"]["status"] == "fail"


def test_missing_manifest_is_a_clear_finding(prefix: Path, tmp_path: Path, no_gpu: None) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(prefix, bare, symlinks=True)
    (bare / MANIFEST_RELPATH).unlink()
    code, data = _verify(["--prefix", str(bare)], tmp_path)
    checks = _checks(data)
    assert checks["prefix"]["status"] == "fail"
    assert "no usable manifest" in checks["prefix"]["reason"]
    cuda = _parts(checks["cv2"])["cuda"]
    assert cuda["status"] == "fail" and "built without CUDA" in cuda["reason"]
    assert code == 1


def _fake_wheel(site: Path) -> None:
    """What ``pip install opencv-python-headless`` leaves in site-packages (its cv2 reduced to a stub)."""
    (site / "cv2").mkdir(parents=True)
    (site / "cv2" / "__init__.py").write_text("__version__ = '5.0.0'\n")
    info = site / "opencv_python_headless-5.0.0.80.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: opencv-python-headless\nVersion: 5.0.0.80\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("cv2/__init__.py,,\n")


def _venv(tmp_path: Path) -> tuple[Path, Path]:
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True
    )
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return python, Path(site)


def test_pip_wheel_that_loses_is_a_warning(prefix: Path, tmp_path: Path) -> None:
    python, site = _venv(tmp_path)
    _fake_wheel(site)
    _, data = _verify(["--prefix", str(prefix), "--python", str(python)], tmp_path)
    cv2 = _checks(data)["cv2"]
    assert _parts(cv2)["import"]["status"] == "pass"
    assert _parts(cv2)["shadowing"]["status"] == "pass"
    assert len(cv2["warnings"]) == 1
    warning = cv2["warnings"][0]
    assert "opencv-python-headless 5.0.0.80" in warning
    assert f"{python} -m pip uninstall -y opencv-python-headless" in warning


def test_pip_wheel_that_wins_fails(prefix: Path, tmp_path: Path) -> None:
    python, site = _venv(tmp_path)
    wheel_site = tmp_path / "wheel-site"
    _fake_wheel(wheel_site)
    # a .pth that puts its directory first, as some installers do: it beats PYTHONPATH
    (site / "zz-first.pth").write_text(f"import sys; sys.path.insert(0, {str(wheel_site)!r})\n")
    code, data = _verify(["--prefix", str(prefix), "--python", str(python)], tmp_path)
    imp = _parts(_checks(data)["cv2"])["import"]
    assert imp["status"] == "fail"
    assert "installed by pip as opencv-python-headless 5.0.0.80" in imp["reason"]
    # sys.path[0] is the current directory ('' for python -c); the .pth entry comes right after it
    assert "sys.path[1], added at startup (.pth or sitecustomize)" in imp["reason"]
    assert f"{python} -m pip uninstall -y opencv-python-headless" in imp["reason"]
    assert code == 1


def _gaussian_5x5_reference(img: np.ndarray, sigma: float = 1.2) -> np.ndarray:
    """Separable 5x5 Gaussian with OpenCV's default border (reflect 101), in float, rounded."""
    x = np.arange(-2, 3, dtype=np.float64)
    k = np.exp(-(x**2) / (2 * sigma**2))
    k /= k.sum()
    padded = np.pad(img.astype(np.float64), 2, mode="reflect")  # numpy 'reflect' is OpenCV's REFLECT_101
    rows = sum(k[i] * padded[:, i : i + img.shape[1]] for i in range(5))
    out = sum(k[i] * rows[i : i + img.shape[0], :] for i in range(5))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def test_cpu_reference_is_computed_in_the_prefix_interpreter(prefix: Path, tmp_path: Path) -> None:
    from cvcuda_setup.verify import check_pipeline

    photo_dir = tmp_path / "photos"
    images.write_png(photo_dir / "one.png", images.discs(64, 48))
    options = VerifyOptions(prefix=prefix, sizes=((160, 120),), images_dir=photo_dir, sample_photos=False)
    ctx = build_context(options, tmp_path / "work")
    prep = check_pipeline.prepare(ctx)
    assert prep.error is None
    generated = [pc for pc in prep.cases if pc.case.kind == "generated"]
    assert len(generated) == len(images.PATTERNS) and all(pc.ok for pc in generated)
    for pc in generated:
        src = np.load(pc.input_npy)
        blur, edges = np.load(pc.ref_blur_npy), np.load(pc.ref_edges_npy)
        assert np.array_equal(src, images.generate(pc.case.source, 160, 120))
        # OpenCV's fixed-point CPU blur vs a float reference: within one grey level, as the CUDA one must be
        assert np.abs(blur.astype(int) - _gaussian_5x5_reference(src).astype(int)).max() <= 1
        assert set(np.unique(edges)) <= {0, 255}
        assert pc.input_png.read_bytes().startswith(b"\x89PNG")
    checker = next(pc for pc in generated if pc.case.source == "checkerboard")
    assert np.count_nonzero(np.load(checker.ref_edges_npy)) > 100  # Canny found the squares
    photo = next(pc for pc in prep.cases if pc.case.kind == "file")
    if not photo.ok:  # a build without imgcodecs cannot read files: listed, with the reason
        assert "imgcodecs" in (photo.error or "") or "decode" in (photo.error or "")
        assert prep.warnings and "image file(s) skipped" in prep.warnings[0]


def test_python_gpu_parts_fail_on_a_cpu_build(prefix: Path, tmp_path: Path) -> None:
    """The worker's device and kernel commands against a CPU-only cv2: reported failures, not crashes."""
    from cvcuda_setup.verify import check_arch, check_device

    ctx = build_context(VerifyOptions(prefix=prefix), tmp_path / "work")
    res = ctx.device_worker(0)
    assert res.error is None, res.describe_failure()
    part = check_device.python_part(res.data, res.stdout, 0)
    assert part.status == "fail" and "cannot use the GPU" in part.reason
    kres = ctx.run_worker("kernel", {"device": 0})
    assert kres.error is None
    kpart = check_arch.python_kernel_part(kres.data, None, 9, 0)
    assert kpart.status == "fail"
    assert "CUDA" in kpart.reason or "setDevice" in kpart.reason
    assert os.environ.get("PYTHONPATH", "") not in ("", None) or "PYTHONPATH" in ctx.env
