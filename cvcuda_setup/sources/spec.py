"""``--source`` text -> SourceSpec: sdist (default), git, a tarball URL or file, a bundle, a directory."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from cvcuda_setup.errors import SourceError
from cvcuda_setup.model import SourceSpec
from cvcuda_setup.sources.bundle import read_bundle_info
from cvcuda_setup.sources.checksum import normalize_sha256
from cvcuda_setup.sources.extract import ARCHIVE_SUFFIXES, is_archive_name
from cvcuda_setup.sources.git import DEFAULT_GIT_BASE
from cvcuda_setup.sources.layout import detect_version
from cvcuda_setup.sources.local import locate
from cvcuda_setup.sources.sdist import PROJECT, index_url

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:\.(\d+))?$")
#: A git ref ``--source git`` accepts besides a release tag: a branch (``4.x``, ``5.x``) or a commit.
#: (no "/": the ref names the cache tree ``git-<ref>``).
_GIT_REF = re.compile(r"^(?:\d+\.x|[0-9a-f]{7,40}|[A-Za-z0-9][A-Za-z0-9._-]{0,99})$")

ACCEPTED_FORMS = (
    "'sdist' (default: the opencv-contrib-python sdist from the package index)",
    "'git' (shallow checkouts of opencv and opencv_contrib at a tag, a branch such as 4.x, or a commit)",
    f"an http(s) URL of a tarball ({', '.join(ARCHIVE_SUFFIXES)}) with --sha256",
    "a local tarball or a bundle written by --bundle",
    "a directory holding opencv/ and opencv_contrib/",
)


def split_version(text: str) -> tuple[str, str | None]:
    """``"5.1.0"`` -> ``("5.1.0", None)``; an sdist version ``"5.1.0.95"`` -> ``("5.1.0", "5.1.0.95")``."""
    match = _VERSION.match(text.strip())
    if not match:
        raise SourceError(
            f"OpenCV version {text!r} is not X.Y.Z (or an sdist version X.Y.Z.N)",
            hint="e.g. --opencv-version 5.1.0",
        )
    base = ".".join(str(int(g)) for g in match.groups()[:3])
    if match.group(4) is None:
        return base, None
    return base, f"{base}.{int(match.group(4))}"


def _sha(sha256: str | None) -> str | None:
    return normalize_sha256(sha256) if sha256 else None


def _check_contrib_ref(source: str, contrib_ref: str) -> None:
    if source != "git":
        raise SourceError(
            f"--contrib-ref applies to --source git only (the source here is {source!r})",
            hint="drop --contrib-ref, or add --source git",
        )
    ref = contrib_ref.strip()
    if not _GIT_REF.match(ref) or ".." in ref:
        raise SourceError(
            f"--contrib-ref {contrib_ref!r} is not a branch, tag or commit of opencv_contrib",
            hint="e.g. --contrib-ref 4.x, --contrib-ref 4.13.0 or a commit hash (letters, digits, . _ -)",
        )


def _git_spec(ref: str, base_url: str | None, contrib_ref: str | None) -> SourceSpec:
    base = (base_url or DEFAULT_GIT_BASE).rstrip("/")
    return SourceSpec("git", "", ref, None, base, contrib_ref if contrib_ref not in (None, ref) else None)


def spec_from_cli(
    source: str | None,
    opencv_version: str,
    sha256: str | None = None,
    base_url: str | None = None,
    *,
    version_given: bool = False,
    contrib_ref: str | None = None,
) -> SourceSpec:
    """Parse ``--source`` (with ``--opencv-version``, ``--sha256``, ``--source-base-url``) into a SourceSpec.

    Reads nothing from the network; a bundle's ``bundle.json`` and a local tree's version header are read so
    the spec carries the version really there. ``version_given``: ``opencv_version`` is the user's
    ``--opencv-version`` (not the recipe's default), so a directory or bundle of another version is refused.
    """
    text = (source or "sdist").strip()
    ref = opencv_version.strip()
    if contrib_ref is not None:
        _check_contrib_ref(text, contrib_ref)
        contrib_ref = contrib_ref.strip()
    numeric = re.fullmatch(r"[\d.]+", ref) is not None  # "9", "4.13": a mistyped version, not a branch
    if not _VERSION.match(ref) and not numeric and _GIT_REF.match(ref) and ".." not in ref:
        if text == "git":
            if sha256:
                raise SourceError("--sha256 does not apply to --source git", hint="drop --sha256")
            return _git_spec(ref, base_url, contrib_ref)
        if text in ("sdist",) or text.startswith(("http://", "https://")):
            raise SourceError(
                f"--opencv-version {ref!r} is a branch or commit, which only git can fetch "
                f"(the {text if text == 'sdist' else 'tarball'} source has release versions X.Y.Z only)",
                hint=f"add --source git (e.g. --source git --opencv-version {ref})",
            )
    version, sdist_pin = split_version(opencv_version)
    sha = _sha(sha256)

    if text == "sdist":
        location = f"{PROJECT}=={sdist_pin}" if sdist_pin else ""
        return SourceSpec("sdist", location, version, sha, index_url(base_url))
    if text == "git":
        if sha:
            raise SourceError(
                "--sha256 does not apply to --source git", hint="drop --sha256 or use a tarball"
            )
        return _git_spec(version, base_url, contrib_ref)
    if text.startswith(("http://", "https://")):
        if not urlsplit(text).netloc:
            raise SourceError(f"--source {text!r} is not a valid URL")
        if not sha:
            raise SourceError(
                f"--source {text} is a URL but no checksum was given",
                hint="pass --sha256 <hex digest of the archive>",
            )
        return SourceSpec("tarball", text, version, sha, base_url)

    path = Path(text).expanduser()
    if path.is_dir():
        root = path.resolve()
        opencv, _ = locate(root)  # raises a SourceError naming the accepted layouts
        if sha:
            raise SourceError("--sha256 does not apply to a local directory", hint="drop --sha256")
        found = detect_version(opencv)
        if version_given and found and found != version:
            _refuse_other_version(text, found, version)
        return SourceSpec("local", str(root), found or version, None, base_url)
    if path.is_file():
        if not is_archive_name(path.name):
            raise SourceError(
                f"--source {text!r} is a file but not an archive",
                hint=f"accepted: {', '.join(ARCHIVE_SUFFIXES)}",
            )
        resolved = path.resolve()
        info = read_bundle_info(resolved)
        if info is not None:
            if version_given and str(info["opencv_version"]) != version:
                _refuse_other_version(text, str(info["opencv_version"]), version)
            return SourceSpec("bundle", str(resolved), str(info["opencv_version"]), sha, base_url)
        return SourceSpec("tarball", str(resolved), version, sha, base_url)
    if is_archive_name(path.name) or "/" in text or text.startswith("~"):
        raise SourceError(f"--source {text!r}: no such file or directory", hint="check the path")
    raise SourceError(f"--source {text!r} is not a source I know", hint="use " + "; ".join(ACCEPTED_FORMS))


def _refuse_other_version(source: str, found: str, asked: str) -> None:
    raise SourceError(
        f"--source {source} holds OpenCV {found}, but --opencv-version {asked} was given",
        hint=f"drop --opencv-version, or give a source of OpenCV {asked}",
    )
