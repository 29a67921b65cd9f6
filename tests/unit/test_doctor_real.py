"""The real probes on the machine running the tests: nothing faked.

On the CPU development host (no GPU, nvcc 13.0 at /usr/local/cuda, no NPP) the GPU finding must be an error
for ``--arch auto`` and a warning for an explicit arch; on a GPU host every visible device must be reported.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cvcuda_setup.doctor import Finding, run_doctor
from cvcuda_setup.probe import gpu, toolkit
from cvcuda_setup.recipes import load_recipe

REAL_NVCC = Path("/usr/local/cuda/bin/nvcc")


def by_code(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def test_real_gpu_finding_for_auto_and_explicit_arch(tmp_path: Path) -> None:
    probe = gpu.probe_gpus()
    recipe = load_recipe("minimal")
    auto = run_doctor(recipe, "auto", "5.1.0", build_dir=tmp_path)
    explicit = run_doctor(recipe, "9.0", "5.1.0", build_dir=tmp_path)
    if probe.devices:
        assert len(by_code(auto, "gpu.device")) == len(probe.devices)
        assert by_code(auto, "gpu.none") == []
    else:
        assert probe.error  # never silent about why
        [none_auto] = by_code(auto, "gpu.none")
        [none_explicit] = by_code(explicit, "gpu.none")
        assert (none_auto.level, none_explicit.level) == ("error", "warn")
        assert by_code(auto, "arch.ok") == [] and by_code(explicit, "arch.ok")[0].data["bin"] == ["9.0"]


@pytest.mark.skipif(not REAL_NVCC.exists(), reason="no CUDA toolkit at /usr/local/cuda on this machine")
def test_real_nvcc_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("CUDACXX", "CUDA_HOME", "CUDA_PATH"):
        monkeypatch.delenv(var, raising=False)
    info = toolkit.find_nvcc()
    assert info is not None
    assert (info.root / "include" / "cuda_runtime.h").is_file()  # nvcc's own TOP, even through a wrapper
    assert "sm_90" in info.gpu_codes and "compute_90" in info.gpu_archs
    # with nothing on PATH the default location is used, and says so
    no_path = {"PATH": str(tmp_path), "HOME": os.environ.get("HOME", "")}
    default = toolkit.find_nvcc(no_path)
    assert default is not None and default.origin == "/usr/local/cuda" and default.path == REAL_NVCC
    assert default.version == "13.0" and default.root == Path("/usr/local/cuda").resolve()


@pytest.mark.skipif(not REAL_NVCC.exists(), reason="no CUDA toolkit at /usr/local/cuda on this machine")
def test_real_toolkit_libraries_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CUDACXX", "CUDA_HOME", "CUDA_PATH"):
        monkeypatch.delenv(var, raising=False)
    findings = run_doctor(load_recipe("minimal"), "9.0", "5.1.0", build_dir=tmp_path)
    [npp] = by_code(findings, "cuda-libs.npp")
    root = toolkit.find_nvcc().root  # type: ignore[union-attr]
    expected = "ok" if not toolkit.missing_npp(root) else "error"
    assert npp.level == expected
    [nvcc] = by_code(findings, "toolkit.nvcc")
    assert nvcc.data["root"] == root
