"""``cvcuda-setup plugin``: help, one-line errors with exit codes, the dry run (discovery faked)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cvcuda_setup import native
from cvcuda_setup.cli.app import app
from cvcuda_setup.native import CudaRuntime, TargetPython

runner = CliRunner()


def fake_prefix(root: Path) -> Path:
    cmake_dir = root / "lib" / "cmake" / "opencv5"
    cmake_dir.mkdir(parents=True)
    (cmake_dir / "OpenCVConfig.cmake").write_text(
        "set(OpenCV_VERSION 5.1.0)\nset(OpenCV_LIB_COMPONENTS opencv_core;opencv_imgproc;opencv_cudev)\n"
    )
    return root


@pytest.fixture
def fake_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    py = TargetPython(Path(sys.executable), "3.11.7", (), True, True, True)
    monkeypatch.setattr(native, "probe_target_python", lambda exe: py)
    runtime = CudaRuntime(Path("/cuda/include"), None, Path("/cuda"), "test")
    monkeypatch.setattr(native, "find_cuda_runtime", lambda env=None, site_dirs=(): runtime)


def test_help_has_an_example() -> None:
    result = runner.invoke(app, ["plugin", "--help"])
    assert result.exit_code == 0
    assert "cvcuda-setup plugin --prefix" in result.output
    assert "--python" in result.output and "--json" in result.output


def test_missing_prefix_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plugin", "--prefix", str(tmp_path / "nope"), "--dry-run"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --prefix") and "does not exist" in lines[0]


def test_prefix_without_opencv(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plugin", "--prefix", str(tmp_path), "--dry-run"])
    assert result.exit_code == 2
    assert "no OpenCV in prefix" in result.output
    assert "Traceback" not in result.output


def test_dry_run_prints_the_commands(tmp_path: Path, fake_discovery: None) -> None:
    prefix = fake_prefix(tmp_path / "p")
    build = tmp_path / "b"
    result = runner.invoke(
        app, ["plugin", "--prefix", str(prefix), "--build-dir", str(build), "--dry-run", "-j", "5"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("/") or " -m pip " in line]
    assert len(lines) == 4
    assert f"-DCMAKE_INSTALL_PREFIX={prefix.resolve()}" in lines[0]
    assert lines[1].endswith("--parallel 5")
    assert f"--target {prefix.resolve() / 'lib' / 'python3.11' / 'site-packages'}" in lines[3]


def test_dry_run_json(tmp_path: Path, fake_discovery: None) -> None:
    prefix = fake_prefix(tmp_path / "p")
    result = runner.invoke(
        app,
        [
            "plugin",
            "--prefix",
            str(prefix),
            "--build-dir",
            str(tmp_path / "b"),
            "--dry-run",
            "--json",
            "--test",
            "--no-python",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["tests"] is True and data["python"] is None
    assert [c[1] for c in data["commands"]] == ["-S", "--build", "--test-dir", "--install"]
    assert data["opencv"]["modules"] == ["core", "imgproc", "cudev"]


def _record_toolkit(prefix: Path, root: str | None) -> None:
    from cvcuda_setup.manifest import Manifest, RecipeFacts, ToolchainFacts, write_manifest

    toolchain = ToolchainFacts(cuda_version="13.0", cuda_toolkit_root=root)
    write_manifest(prefix, Manifest("5.1.0", str(prefix), RecipeFacts("minimal"), toolchain=toolchain))


def test_the_manifests_toolkit_reaches_the_configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = fake_prefix(tmp_path / "p")
    root = tmp_path / "cuda-13.0"
    (root / "targets" / "x86_64-linux" / "include").mkdir(parents=True)
    (root / "targets" / "x86_64-linux" / "include" / "cuda_runtime.h").write_text("// fake\n")
    _record_toolkit(prefix, str(root))

    def must_not_search(*args: object, **kwargs: object) -> None:
        raise AssertionError("the plugin searched for CUDA although the manifest records the toolkit")

    monkeypatch.setattr(native, "find_cuda_runtime", must_not_search)
    args = ["plugin", "--prefix", str(prefix), "--build-dir", str(tmp_path / "b"), "--no-python", "--dry-run"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    configure = data["commands"][0]
    assert f"-DCUDAToolkit_ROOT={root}" in configure
    assert f"-DCUDA_TOOLKIT_ROOT_DIR={root}" in configure  # the CUDA OpenCV's FindCUDA: the same toolkit
    assert data["cuda"]["include_dir"] == str(root / "targets" / "x86_64-linux" / "include")
    assert "manifest.json" in data["cuda"]["origin"]
    assert not any("search" in w for w in data["warnings"])
    # a recorded toolkit that is not on this machine is one clear error, not a search for another
    _record_toolkit(prefix, str(tmp_path / "gone"))
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and "has no cuda_runtime.h" in result.output
    assert "Traceback" not in result.output


def test_without_a_recorded_toolkit_the_plugin_searches_and_says_so(
    tmp_path: Path, fake_discovery: None
) -> None:
    prefix = fake_prefix(tmp_path / "p")
    args = ["plugin", "--prefix", str(prefix), "--build-dir", str(tmp_path / "b"), "--no-python", "--dry-run"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert "-DCUDAToolkit_ROOT=/cuda" in data["commands"][0]
    assert any("no readable manifest" in w and "searching" in w for w in data["warnings"])
    _record_toolkit(prefix, None)  # a manifest of a CPU-only build records no toolkit
    data = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert any("records no CUDA toolkit" in w and "searching" in w for w in data["warnings"])
