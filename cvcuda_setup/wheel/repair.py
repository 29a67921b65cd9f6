"""``auditwheel repair``: a manylinux platform tag, and grafting of non-CUDA libraries outside the prefix.

The wheel cvcuda-setup writes is already relocatable (the prefix's libraries are bundled, RUNPATH
``$ORIGIN``). auditwheel adds two things: it checks the symbol versions against the manylinux policies and
retags the wheel (``manylinux_2_35_x86_64``, ...), and it copies any other external library (not glibc,
libstdc++ or the excluded CUDA ones) into ``opencv_cuda.libs``. The system CUDA libraries are excluded with
``--exclude`` (auditwheel >= 6.1 matches the values as globs on the SONAME). auditwheel needs ``patchelf``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cvcuda_setup.tools import capture
from cvcuda_setup.wheel.deps import auditwheel_excludes, cuda_provider


def auditwheel_command() -> list[str] | None:
    """How to run auditwheel: ``python -m auditwheel`` for this interpreter, else ``auditwheel`` on PATH."""
    if importlib.util.find_spec("auditwheel") is not None:
        return [sys.executable, "-m", "auditwheel"]
    found = shutil.which("auditwheel")
    return [found] if found else None


def repair_command(base: list[str], wheel: Path, out_dir: Path) -> list[str]:
    cmd = [*base, "repair", "--wheel-dir", str(out_dir)]
    for pattern in auditwheel_excludes():
        cmd += ["--exclude", pattern]
    return [*cmd, str(wheel)]


@dataclass(frozen=True)
class RepairOutcome:
    command: list[str]
    #: The repaired wheel; None when auditwheel did not write one.
    wheel: Path | None
    #: auditwheel's last lines (why it failed, or what it did).
    message: str


def _tail(text: str, lines: int = 4) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def run_repair(base: list[str], wheel: Path, out_dir: Path, patchelf: str | None) -> RepairOutcome:
    """Run auditwheel on ``wheel`` into the empty directory ``out_dir``."""
    cmd = repair_command(base, wheel, out_dir)
    env = dict(os.environ)
    if patchelf:
        env["PATH"] = os.pathsep.join([str(Path(patchelf).parent), env.get("PATH", "")])
    proc = capture(cmd, env=env)
    wheels = sorted(out_dir.glob("*.whl"))
    output = proc.stderr + "\n" + proc.stdout
    if proc.returncode != 0 or len(wheels) != 1:
        return RepairOutcome(cmd, None, _tail(output) or f"exit status {proc.returncode}")
    return RepairOutcome(cmd, wheels[0], _tail(output, 2))


def grafted_libraries(wheel: Path) -> list[str]:
    """Files auditwheel copied into ``<name>.libs/`` (with its hash suffix, ``libz-1a2b3c4d.so.1``)."""
    with zipfile.ZipFile(wheel) as zf:
        return sorted(
            Path(n).name
            for n in zf.namelist()
            if len(Path(n).parts) == 2 and Path(n).parts[0].endswith(".libs")
        )


def grafted_cuda(names: list[str]) -> list[str]:
    """The grafted files that are system CUDA libraries (an auditwheel that took ``--exclude`` literally)."""
    return [n for n in names if cuda_provider(re.sub(r"-[0-9a-f]{8}(?=\.so)", "", n)) is not None]
