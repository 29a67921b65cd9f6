"""Recognising OpenCV trees: opencv and opencv_contrib, where they sit, which version they are."""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

OPENCV = "opencv"
CONTRIB = "opencv_contrib"
_VERSION_HPP = Path("modules/core/include/opencv2/core/version.hpp")


def is_opencv_tree(path: Path) -> bool:
    """The main OpenCV source tree: a top CMakeLists.txt and modules/core."""
    return (path / "CMakeLists.txt").is_file() and (path / "modules" / "core" / "CMakeLists.txt").is_file()


def is_contrib_tree(path: Path) -> bool:
    """An opencv_contrib tree: ``modules/<m>/CMakeLists.txt`` entries and no top CMakeLists.txt."""
    modules = path / "modules"
    if not modules.is_dir() or (path / "CMakeLists.txt").exists():
        return False
    return any((child / "CMakeLists.txt").is_file() for child in modules.iterdir() if child.is_dir())


def find_trees(root: Path, *, max_depth: int = 3) -> tuple[Path | None, Path | None]:
    """Find the opencv and opencv_contrib trees at most ``max_depth`` levels under ``root`` (breadth first).

    Covers an sdist (``opencv_contrib_python-X/opencv``), GitHub archives (``opencv-X/``,
    ``opencv_contrib-X/``) and plain ``opencv/`` + ``opencv_contrib/`` layouts.
    """
    opencv: Path | None = None
    contrib: Path | None = None
    queue: deque[tuple[Path, int]] = deque([(root, 0)])
    while queue and (opencv is None or contrib is None):
        path, depth = queue.popleft()
        if opencv is None and is_opencv_tree(path):
            opencv = path
            continue
        if contrib is None and is_contrib_tree(path):
            contrib = path
            continue
        if depth < max_depth:
            try:
                children = sorted(c for c in path.iterdir() if c.is_dir() and not c.is_symlink())
            except OSError:
                continue
            queue.extend((c, depth + 1) for c in children if c.name not in ("modules", ".git"))
    return opencv, contrib


def detect_version(opencv_dir: Path) -> str | None:
    """``X.Y.Z`` from ``modules/core/include/opencv2/core/version.hpp``, None when it cannot be read."""
    try:
        text = (opencv_dir / _VERSION_HPP).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    parts = []
    for field in ("MAJOR", "MINOR", "REVISION"):
        match = re.search(rf"#define\s+CV_VERSION_{field}\s+(\d+)", text)
        if not match:
            return None
        parts.append(match.group(1))
    return ".".join(parts)
