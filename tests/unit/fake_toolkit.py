"""A fake CUDA toolkit for unit tests: a shell script named nvcc that prints what a given nvcc prints.

Shared by the probe, host and CLI tests (imported as ``fake_toolkit``: pytest puts this folder on sys.path).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CODES_124 = [
    "sm_50",
    "sm_52",
    "sm_53",
    "sm_60",
    "sm_61",
    "sm_70",
    "sm_75",
    "sm_80",
    "sm_86",
    "sm_89",
    "sm_90",
]


def write_nvcc(
    root: Path,
    version: str = "12.4",
    patch: str = "131",
    codes: list[str] | None = None,
    top: Path | None = None,
    lists: bool = True,
) -> Path:
    """A shell script answering like nvcc ``version`` (``--version``, ``--list-gpu-*``, ``--dryrun``)."""
    codes = CODES_124 if codes is None else codes
    archs = [c.replace("sm_", "compute_") for c in codes]
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    nvcc = bin_dir / "nvcc"
    code_lines = "\\n".join(codes)
    arch_lines = "\\n".join(archs)
    list_code = f"printf '{code_lines}\\n'" if lists else "echo 'nvcc fatal : Unknown option' >&2; exit 1"
    list_arch = f"printf '{arch_lines}\\n'" if lists else "echo 'nvcc fatal : Unknown option' >&2; exit 1"
    top_line = f"echo '#$ TOP={top}/bin/..' >&2" if top else "true"
    nvcc.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f"  --version) echo 'nvcc: NVIDIA (R) Cuda compiler driver'; "
        f"echo 'Cuda compilation tools, release {version}, V{version}.{patch}';;\n"
        f"  --list-gpu-code) {list_code};;\n"
        f"  --list-gpu-arch) {list_arch};;\n"
        f"  --dryrun) {top_line};;\n"
        "  *) exit 1;;\n"
        "esac\n"
    )
    nvcc.chmod(0o755)
    return nvcc


def install_fake_toolkit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codes: list[str], *, runtime_header: bool = False
) -> Path:
    """An nvcc 13.0 listing ``codes`` under ``tmp_path/cuda``, first on PATH and as CUDA_HOME, with the
    tool's cache in ``tmp_path/cache``; ``runtime_header`` adds ``include/cuda_runtime.h``. Returns nvcc."""
    root = tmp_path / "cuda"
    if runtime_header:
        (root / "include").mkdir(parents=True)
        (root / "include" / "cuda_runtime.h").write_text("// fake\n")
    nvcc = write_nvcc(root, version="13.0", patch="88", codes=codes)
    monkeypatch.setenv("PATH", f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CUDA_HOME", str(root))
    monkeypatch.setenv("CVCUDA_SETUP_CACHE", str(tmp_path / "cache"))
    return nvcc
