"""Which installed distributions ship a ``cv2``, and which of them is a wheel made by ``cvcuda-setup wheel``.

For ``doctor`` and ``verify``: an ``opencv-python*`` wheel next to ours means two packages write the same
``cv2`` directory, and whichever was installed last wins file by file. Ours is recognised by content, not
by name: its RECORD lists ``cv2/.cvcuda-setup-manifest.json``. Another interpreter's distributions are read
from its ``sys.path`` (asked with one subprocess), never by importing anything.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

from cvcuda_setup.errors import ToolchainError
from cvcuda_setup.probe.pydists import KNOWN_NAMES, interpreter_sys_path
from cvcuda_setup.wheel.builder import WHEEL_MANIFEST


class Cv2Dist(NamedTuple):
    """One distribution that installs ``cv2``: unpacks as ``(name, version, is_ours)``."""

    name: str
    version: str
    is_ours: bool


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _files(dist: metadata.Distribution) -> list[str]:
    return [str(f).replace("\\", "/") for f in (dist.files or [])]


def _is_ours(dist: metadata.Distribution) -> bool:
    return WHEEL_MANIFEST in _files(dist)


def _installs_cv2(dist: metadata.Distribution) -> bool:
    files = _files(dist)
    if any(f == "cv2/__init__.py" or re.fullmatch(r"cv2[^/]*\.so", f) for f in files):
        return True
    return "cv2" in (dist.read_text("top_level.txt") or "").split()


def _search_path(python: str | None, paths: Iterable[str] | None = None) -> list[str]:
    if paths is not None:
        return [p for p in paths if p]
    if python is None:
        return [p for p in sys.path if p]
    paths = interpreter_sys_path(python)
    if paths is None:
        raise ToolchainError(
            f"cannot ask {python!r} for its sys.path", hint="check that it is a working Python 3"
        )
    return paths


def _cv2_dists(paths: Iterable[str]) -> list[metadata.Distribution]:
    seen: set[str] = set()
    out = []
    for dist in metadata.distributions(path=list(paths)):
        name = _canonical(dist.metadata["Name"] or "")
        if not name or name in seen:
            continue
        seen.add(name)
        if name in KNOWN_NAMES or _is_ours(dist) or _installs_cv2(dist):
            out.append(dist)
    return out


def find_cv2_distributions(python: str | None = None, *, paths: Iterable[str] | None = None) -> list[Cv2Dist]:
    """Distributions on ``python``'s sys.path (default: this interpreter's) that install ``cv2``, by name.

    ``is_ours`` is True for a wheel written by ``cvcuda-setup wheel``. More than one entry means the
    ``cv2`` directory is shared by several wheels and may be a mix of them. ``paths`` replaces the
    interpreter's sys.path (directories to scan).
    """
    found = [
        Cv2Dist(_canonical(d.metadata["Name"] or ""), d.version or "", _is_ours(d))
        for d in _cv2_dists(_search_path(python, paths))
    ]
    return sorted(found, key=lambda d: d.name)


def installed_wheel_manifest(
    python: str | None = None, *, paths: Iterable[str] | None = None
) -> tuple[Path, dict[str, Any]] | None:
    """The manifest of an installed ``cvcuda-setup wheel`` (path, content), None when there is none.

    Read from the file the wheel's RECORD lists, so it works without importing ``cv2`` (which needs the
    system CUDA libraries) and without any prefix.
    """
    for dist in _cv2_dists(_search_path(python, paths)):
        if not _is_ours(dist):
            continue
        path = Path(str(dist.locate_file(WHEEL_MANIFEST)))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(data, dict):
            return path, data
    return None
