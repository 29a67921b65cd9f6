"""Which release an opencv tree and an opencv_contrib tree are from.

The opencv tree says it in ``modules/core/include/opencv2/core/version.hpp``. opencv_contrib carries no
version file, so its release is read from what surrounds it: the git tag it is checked out at, a directory
named ``opencv_contrib-4.10.0``, the ``PKG-INFO`` of the opencv-python sdist it came in, or this tool's
source-cache marker. When none of those says, the release cannot be known.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cvcuda_setup.tools import capture

VERSION_HPP = Path("modules/core/include/opencv2/core/version.hpp")
_DEFINE = re.compile(r"^\s*#\s*define\s+CV_VERSION_(MAJOR|MINOR|REVISION|STATUS)\s+(\S+)", re.MULTILINE)
_DIR_VERSION = re.compile(r"^opencv_contrib-(\d+\.\d+\.\d+)$")
_TAG = re.compile(r"^v?(\d+\.\d+\.\d+)$")


@dataclass(frozen=True)
class TreeVersion:
    version: str | None
    #: How it was learnt (``"version.hpp"``, ``"git tag"``, ``"directory name"``, ``"sdist PKG-INFO"``,
    #: ``"source cache marker"``), or why it could not be.
    how: str


def find_trees(source: Path, contrib: Path | None = None) -> tuple[Path | None, Path | None]:
    """``source`` is an opencv tree, or a directory holding ``opencv/`` (and ``opencv_contrib/``)."""
    if (source / VERSION_HPP).is_file():
        opencv: Path | None = source
        sibling = source.parent / "opencv_contrib"
    elif (source / "opencv" / VERSION_HPP).is_file():
        opencv = source / "opencv"
        sibling = source / "opencv_contrib"
    else:
        opencv, sibling = None, source / "opencv_contrib"
    if contrib is None and (sibling / "modules").is_dir():
        contrib = sibling
    return opencv, contrib


def opencv_version(tree: Path) -> TreeVersion:
    header = tree / VERSION_HPP
    try:
        values = dict(_DEFINE.findall(header.read_text(errors="replace")))
    except OSError:
        return TreeVersion(None, f"{header} cannot be read")
    if not {"MAJOR", "MINOR", "REVISION"} <= set(values):
        return TreeVersion(None, f"{header} has no CV_VERSION_MAJOR/MINOR/REVISION")
    status = values.get("STATUS", '""').strip('"')
    return TreeVersion(f"{values['MAJOR']}.{values['MINOR']}.{values['REVISION']}{status}", "version.hpp")


def _git_tag(tree: Path) -> str | None:
    if not (tree / ".git").exists():
        return None
    git = shutil.which("git")
    if git is None:
        return None
    try:
        proc = capture([git, "-C", str(tree), "describe", "--tags", "--exact-match", "HEAD"], timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _TAG.match(proc.stdout.strip()) if proc.returncode == 0 else None
    return match.group(1) if match else None


def _pkg_info_version(directory: Path) -> str | None:
    try:
        text = (directory / "PKG-INFO").read_text(errors="replace")
    except OSError:
        return None
    name = re.search(r"^Name:\s*(\S+)", text, re.MULTILINE)
    version = re.search(r"^Version:\s*(\d+\.\d+\.\d+)", text, re.MULTILINE)
    if name and version and name.group(1).lower().replace("_", "-").startswith("opencv"):
        return version.group(1)
    return None


def _marker_version(directory: Path) -> str | None:
    try:
        data = json.loads((directory / ".cvcuda-setup-tree.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("opencv_version") if isinstance(data, dict) and data.get("complete") is True else None
    return value if isinstance(value, str) else None


def contrib_version(tree: Path) -> TreeVersion:
    tag = _git_tag(tree)
    if tag:
        return TreeVersion(tag, "git tag")
    match = _DIR_VERSION.match(tree.resolve().name)
    if match:
        return TreeVersion(match.group(1), "directory name")
    parent = tree.resolve().parent
    from_sdist = _pkg_info_version(parent)
    if from_sdist:
        return TreeVersion(from_sdist, f"sdist PKG-INFO in {parent}")
    from_marker = _marker_version(parent)
    if from_marker:
        return TreeVersion(from_marker, "source cache marker")
    return TreeVersion(
        None,
        "opencv_contrib has no version file, and no git tag, versioned directory name or sdist metadata "
        "says it",
    )
