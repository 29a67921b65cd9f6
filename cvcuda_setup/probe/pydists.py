"""pip-installed OpenCV distributions that would shadow the CUDA ``cv2`` this tool builds.

A wheel such as ``opencv-python-headless`` installs its own ``cv2`` package into site-packages; whichever
``cv2`` comes first on ``sys.path`` wins, so a CPU-only wheel can silently replace the CUDA build.
Found by name (``opencv-python``, ``opencv-python-headless``, ``opencv-contrib-python[-headless]``) and by
content (any distribution whose files include ``cv2/__init__.py`` or whose ``top_level.txt`` names ``cv2``).
For another interpreter (``--python``), its ``sys.path`` is asked for and read here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

from cvcuda_setup.tools import capture

KNOWN_NAMES = (
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
)


@dataclass(frozen=True)
class ShadowingDist:
    name: str
    version: str
    #: The directory holding the distribution's metadata (its site-packages).
    location: str
    #: Why it counts: ``"name"`` or ``"installs cv2"``.
    reason: str


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installs_cv2(dist: metadata.Distribution) -> bool:
    files = dist.files or []
    if any(str(f).replace("\\", "/") == "cv2/__init__.py" for f in files):
        return True
    top_level = dist.read_text("top_level.txt") or ""
    return "cv2" in top_level.split()


def _location(dist: metadata.Distribution) -> str:
    try:
        return str(dist.locate_file(""))
    except Exception:  # some finders do not support locate_file
        return ""


def find_shadowing(paths: Iterable[str] | None = None) -> list[ShadowingDist]:
    """Distributions on ``paths`` (default: this interpreter's ``sys.path``) that install a ``cv2``."""
    search = [p for p in (sys.path if paths is None else paths) if p]
    found: dict[str, ShadowingDist] = {}
    for dist in metadata.distributions(path=search):
        raw_name = dist.metadata["Name"] or ""
        name = _canonical(raw_name)
        if not name or name in found:
            continue
        reason = "name" if name in KNOWN_NAMES else ("installs cv2" if _installs_cv2(dist) else "")
        if reason:
            found[name] = ShadowingDist(name, dist.version or "", _location(dist), reason)
    return sorted(found.values(), key=lambda d: d.name)


def interpreter_sys_path(python: str) -> list[str] | None:
    """``sys.path`` of another interpreter, or None when it cannot be asked."""
    code = "import json, sys; print(json.dumps(sys.path))"
    try:
        proc = capture([python, "-c", code], timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        value = json.loads(proc.stdout)
    except ValueError:
        return None
    # '' is the current directory of that child process (``-c``), not a place anything is installed
    return [str(p) for p in value if p] if isinstance(value, list) else None


def shadowing_dists(python: str | None = None) -> list[ShadowingDist] | None:
    """The shadowing distributions for ``python`` (default: this interpreter); None if it cannot be asked."""
    if python is None:
        return find_shadowing()
    paths = interpreter_sys_path(python)
    return None if paths is None else find_shadowing(paths)
