"""The ``sdist`` provider's resolver: OpenCV X.Y.Z -> the newest ``opencv_contrib_python-X.Y.Z.N.tar.gz``.

The opencv-contrib-python sdist carries both trees (``<top>/opencv`` and ``<top>/opencv_contrib``); its
sha256 comes from the index (PEP 691 ``hashes`` or the PEP 503 ``#sha256=`` fragment) and is verified.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from cvcuda_setup.errors import SourceError
from cvcuda_setup.sources.index import IndexFile, project_files

PROJECT = "opencv-contrib-python"
DEFAULT_INDEX_URL = "https://pypi.org/simple"
INDEX_ENV = "CVCUDA_SETUP_INDEX_URL"
_SDIST = re.compile(r"^opencv[-_]contrib[-_]python-(\d+\.\d+\.\d+)\.(\d+)\.tar\.gz$", re.IGNORECASE)


@dataclass(frozen=True)
class SdistRelease:
    """One resolved sdist: its package version (``5.1.0.95``), file and the sha256 to verify."""

    opencv_version: str
    version: str
    file: IndexFile
    sha256: str
    index_url: str


def index_url(base_url: str | None = None) -> str:
    """``base_url``, else ``$CVCUDA_SETUP_INDEX_URL``, else PyPI's simple index."""
    return (base_url or os.environ.get(INDEX_ENV) or DEFAULT_INDEX_URL).rstrip("/")


def resolve_sdist(
    opencv_version: str, *, index: str | None = None, pin: str | None = None, sha256: str | None = None
) -> SdistRelease:
    """Find the sdist for ``opencv_version`` (``X.Y.Z``) on the index: ``pin`` (``X.Y.Z.N``) or the highest N.

    ``sha256``, when given, must agree with the index's.
    """
    url = index_url(index)
    candidates: list[tuple[int, IndexFile]] = []
    seen: set[str] = set()
    for entry in project_files(url, PROJECT):
        match = _SDIST.match(entry.filename)
        if not match:
            continue
        seen.add(f"{match.group(1)}.{match.group(2)}")
        version = f"{match.group(1)}.{match.group(2)}"
        if match.group(1) != opencv_version or (pin is not None and version != pin):
            continue
        if entry.yanked and pin is None:
            continue  # PEP 592: a yanked file is used only when pinned exactly
        candidates.append((int(match.group(2)), entry))
    if not candidates:
        wanted = pin or opencv_version
        known = ", ".join(sorted(seen, key=_version_key)[-8:]) or "none"
        raise SourceError(
            f"no {PROJECT} sdist for OpenCV {wanted} on {url} (sdists there: {known})",
            hint="pick one of those with --opencv-version, or use --source git / a tarball",
        )
    number, best = max(candidates, key=lambda c: c[0])
    expected = sha256 or best.sha256
    if expected is None:
        raise SourceError(f"the index {url} gives no sha256 for {best.filename}", hint="pass --sha256")
    if sha256 and best.sha256 and sha256 != best.sha256:
        raise SourceError(
            f"--sha256 {sha256} does not match the index's {best.sha256} for {best.filename}",
            hint="drop --sha256 or fix it",
        )
    return SdistRelease(
        opencv_version=opencv_version,
        version=f"{opencv_version}.{number}",
        file=best,
        sha256=expected,
        index_url=url,
    )


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))
