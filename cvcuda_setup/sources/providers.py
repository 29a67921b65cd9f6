"""``fetch`` and ``expected_tree``: dispatch a SourceSpec to its provider and manage the cached trees.

Every provider but ``local`` builds its tree in a temp dir beside ``<cache>/trees/<key>``, writes the
completion marker there last and renames the whole dir into place, so a tree in the cache is either complete
or absent; a complete one is reused without touching the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from cvcuda_setup.console import console
from cvcuda_setup.errors import SourceError
from cvcuda_setup.model import SourceSpec, SourceTree
from cvcuda_setup.sources.bundle import BUNDLE_INFO, read_bundle_info
from cvcuda_setup.sources.cache import download_path, downloads_dir, read_marker, tree_path, write_marker
from cvcuda_setup.sources.checksum import sha256_file
from cvcuda_setup.sources.download import download
from cvcuda_setup.sources.extract import (
    check_final_tree,
    extract_into,
    is_archive_name,
    remove_tree,
    staging_dir,
)
from cvcuda_setup.sources.git import DEFAULT_GIT_BASE, clone, is_commit, repo_url
from cvcuda_setup.sources.layout import CONTRIB, OPENCV, detect_version, find_trees, is_opencv_tree
from cvcuda_setup.sources.local import local_trees
from cvcuda_setup.sources.sdist import PROJECT, resolve_sdist

_FILE_SHA: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    """sha256 of a local archive, remembered per (path, size, mtime) for this process."""
    try:
        st = path.stat()
    except OSError as exc:
        raise SourceError(f"cannot read source archive {path}: {exc.strerror}") from None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_SHA:
        _FILE_SHA[key] = sha256_file(path)
    return _FILE_SHA[key]


def _sdist_pin(spec: SourceSpec) -> str | None:
    prefix = f"{PROJECT}=="
    return spec.location[len(prefix) :] if spec.location.startswith(prefix) else None


def describe(spec: SourceSpec) -> str:
    """A short human name for a source (used in messages)."""
    if spec.kind == "sdist":
        return f"the {PROJECT} {_sdist_pin(spec) or spec.opencv_version} sdist"
    if spec.kind == "git":
        contrib = f" (opencv_contrib at {spec.contrib_ref})" if spec.contrib_ref else ""
        return f"git {spec.base_url or DEFAULT_GIT_BASE} at {spec.opencv_version}{contrib}"
    return f"{spec.kind} {spec.location}"


def _archive_sha(spec: SourceSpec) -> str:
    """The sha256 that keys a tarball or bundle tree: the given one, else that of the local file."""
    if spec.sha256:
        return spec.sha256
    if spec.location.startswith(("http://", "https://")):
        raise SourceError(
            f"--source {spec.location} is a URL but no checksum was given", hint="pass --sha256"
        )
    return _file_sha256(Path(spec.location))


def known_sha256(spec: SourceSpec) -> str | None:
    """The source archive's sha256 when it is known without fetching anything: ``--sha256``, else a local
    tarball's or bundle's own (hashed here, once per process); None for an sdist without ``--sha256`` (the
    index is not asked), git (no commit before the checkout) and a directory."""
    if spec.sha256:
        return spec.sha256
    if spec.kind in ("tarball", "bundle") and not spec.location.startswith(("http://", "https://")):
        return _file_sha256(Path(spec.location))
    return None


def tree_key(spec: SourceSpec) -> str:
    """The cache key (directory name under ``<cache>/trees``) of a fetched source."""
    if spec.kind == "sdist":
        key = f"sdist-{_sdist_pin(spec) or spec.opencv_version}"
        return f"{key}-{spec.sha256[:12]}" if spec.sha256 else key
    if spec.kind == "git":
        base = (spec.base_url or DEFAULT_GIT_BASE).rstrip("/")
        suffix = "" if base == DEFAULT_GIT_BASE else "-" + hashlib.sha256(base.encode()).hexdigest()[:8]
        contrib = f"+contrib-{spec.contrib_ref}" if spec.contrib_ref else ""
        return f"git-{spec.opencv_version}{contrib}{suffix}"
    if spec.kind in ("tarball", "bundle"):
        return f"{spec.kind}-{_archive_sha(spec)[:16]}"
    raise SourceError(f"source kind {spec.kind!r} has no cache tree")


def _bundle_info(spec: SourceSpec) -> dict[str, Any]:
    info = read_bundle_info(Path(spec.location))
    if info is None:
        raise SourceError(f"{spec.location} is not a bundle written by cvcuda-setup (no {BUNDLE_INFO} first)")
    return info


def expected_tree(
    spec: SourceSpec, cache_dir: Path, *, need_contrib: bool = True
) -> tuple[Path, Path | None]:
    """Where :func:`fetch` puts (or found) opencv/ and opencv_contrib/; no network (for ``--dry-run``)."""
    if spec.kind == "local":
        return local_trees(Path(spec.location), need_contrib=need_contrib)
    if spec.kind == "bundle" and need_contrib and not _bundle_info(spec).get("contrib"):
        raise SourceError(f"bundle {spec.location} has no opencv_contrib tree, which this recipe needs")
    root = tree_path(cache_dir, tree_key(spec))
    return root / OPENCV, (root / CONTRIB) if need_contrib else None


def fetch(
    spec: SourceSpec,
    cache_dir: Path,
    *,
    need_contrib: bool = True,
    limits: Mapping[str, int] | None = None,
) -> SourceTree:
    """Fetch and extract the sources (or reuse a complete cached tree) and return where they are.

    ``limits``: the extraction bounds (:func:`~cvcuda_setup.sources.extract.limits`); None: the defaults
    and the environment's. A refused source leaves nothing in the cache.
    """
    if spec.kind == "local":
        opencv, contrib = local_trees(Path(spec.location), need_contrib=need_contrib)
        version = detect_version(opencv) or spec.opencv_version
        return SourceTree(spec=spec, opencv_dir=opencv, contrib_dir=contrib, opencv_version=version)
    root = tree_path(cache_dir, tree_key(spec))
    marker: dict[str, Any] | None
    if spec.kind == "git":
        with _nothing_left_on_refusal(cache_dir, root):
            marker = _fetch_git(spec, root, need_contrib=need_contrib)
    elif spec.kind in ("sdist", "tarball", "bundle"):
        marker = read_marker(root)
        if marker is None:
            _refuse_incomplete(root)
            downloaded: list[Path] = []
            with _nothing_left_on_refusal(cache_dir, root, downloaded):
                archive, sha, origin, in_cache = _obtain_archive(spec, cache_dir)
                if in_cache:
                    downloaded.append(archive)
                marker = _build_tree(spec, root, archive, sha, origin, limits=limits)
    else:
        raise SourceError(f"unknown source kind {spec.kind!r}")
    return _tree(spec, root, marker, need_contrib=need_contrib)


def _missing_dirs(paths: list[Path]) -> list[Path]:
    """The dirs among ``paths`` and their ancestors that do not exist yet (deepest first)."""
    missing: set[Path] = set()
    for path in paths:
        while not path.exists() and not path.is_symlink() and path != path.parent:
            missing.add(path)
            path = path.parent
    return sorted(missing, key=lambda p: len(p.parts), reverse=True)


def _children(path: Path) -> set[Path]:
    try:
        return set(path.iterdir())
    except OSError:
        return set()


@contextlib.contextmanager
def _nothing_left_on_refusal(
    cache_dir: Path, root: Path, downloaded: list[Path] | None = None
) -> Iterator[None]:
    """A refused source (bad checksum, unsafe or oversized archive, no OpenCV in it, failed clone) leaves
    the cache as it was: the archive this fetch downloaded into it is removed (a refused download is of no
    use), and so are the dirs this fetch created there, once empty. The staging tree cleans itself."""
    downloads = downloads_dir(cache_dir)
    created = _missing_dirs([downloads, root.parent])
    had = _children(downloads)
    try:
        yield
    except SourceError:
        for archive in downloaded or []:
            with contextlib.suppress(OSError):
                archive.unlink()
        keyed = [a.parent for a in downloaded or [] if a.parent.parent == downloads]
        new = [p for p in _children(downloads) if p not in had]
        for path in sorted({*created, *keyed, *new}, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                path.rmdir()  # only when empty: never something another run put there meanwhile
        raise


def _refuse_incomplete(root: Path) -> None:
    if root.exists() or root.is_symlink():
        raise SourceError(
            f"cache tree {root} exists but has no completion marker (not written by this tool, or damaged)",
            hint="remove it and run again",
        )


def _tree(spec: SourceSpec, root: Path, marker: dict[str, Any], *, need_contrib: bool) -> SourceTree:
    if need_contrib and not marker.get("contrib"):
        raise SourceError(f"{describe(spec)} has no opencv_contrib tree, which this recipe needs")
    version = str(marker.get("opencv_version") or spec.opencv_version)
    if spec.kind == "tarball" and version != spec.opencv_version:
        console.warn(f"{spec.location} holds OpenCV {version}, not {spec.opencv_version}; using {version}")
    sha = marker.get("sha256")
    return SourceTree(
        spec=spec,
        opencv_dir=root / OPENCV,
        contrib_dir=(root / CONTRIB) if need_contrib else None,
        opencv_version=version,
        sha256=str(sha) if sha else None,
        pruned=bool(marker.get("pruned")),
        commits={str(k): str(v) for k, v in (marker.get("commits") or {}).items()} or None,
    )


def _url_filename(url: str) -> str:
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", name).lstrip(".")
    return name if name and is_archive_name(name) else "source.tar.gz"


def _obtain_archive(spec: SourceSpec, cache_dir: Path) -> tuple[Path, str, str, bool]:
    """(archive on disk, its verified sha256, where it came from, whether it is a download in the cache)."""
    if spec.kind == "sdist":
        release = resolve_sdist(
            spec.opencv_version, index=spec.base_url, pin=_sdist_pin(spec), sha256=spec.sha256
        )
        console.info(f"{PROJECT} {release.version}: {release.file.filename} from {release.index_url}")
        dest = download_path(cache_dir, release.file.filename, release.sha256)
        path = download(release.file.url, dest, release.sha256, size=release.file.size)
        return path, release.sha256, release.file.url, True
    if spec.location.startswith(("http://", "https://")):
        sha = _archive_sha(spec)
        dest = download_path(cache_dir, _url_filename(spec.location), sha)
        return download(spec.location, dest, sha), sha, spec.location, True
    path = Path(spec.location)
    if not path.is_file():
        raise SourceError(f"source archive {path} does not exist")
    got = _file_sha256(path)
    if spec.sha256 and got != spec.sha256:
        raise SourceError(
            f"sha256 mismatch for {path}: expected {spec.sha256}, got {got}",
            hint="check --sha256 or the file",
        )
    return path, got, str(path), False


def _build_tree(
    spec: SourceSpec,
    root: Path,
    archive: Path,
    sha: str,
    origin: str,
    *,
    limits: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Extract ``archive`` into a staging dir, arrange opencv/ + opencv_contrib/, mark it, rename it in."""
    start = time.monotonic()
    console.info(f"extracting {archive.name} into {root}")
    with staging_dir(root) as tmp:
        if spec.kind == "bundle":
            extract_into(archive, tmp, limits=limits)
            bundle = read_bundle_info(archive) or {}
            if not is_opencv_tree(tmp / OPENCV):
                raise SourceError(f"bundle {archive} holds no complete opencv/ tree")
            contrib = bool(bundle.get("contrib")) and (tmp / CONTRIB).is_dir()
        else:
            scratch = tmp / ".extract"
            scratch.mkdir()
            extract_into(archive, scratch, limits=limits)
            opencv_dir, contrib_dir = find_trees(scratch)
            if opencv_dir is None:
                raise SourceError(
                    f"{archive.name} holds no OpenCV source tree (CMakeLists.txt with modules/core)",
                    hint="pass an opencv or opencv-contrib-python source archive",
                )
            os.rename(opencv_dir, tmp / OPENCV)
            if contrib_dir is not None:
                os.rename(contrib_dir, tmp / CONTRIB)
            remove_tree(scratch)
            contrib = contrib_dir is not None
        info = {
            "kind": spec.kind,
            "opencv_version": detect_version(tmp / OPENCV) or spec.opencv_version,
            "sha256": sha,
            "source": origin,
            "contrib": contrib,
            "pruned": spec.kind == "bundle",
        }
        check_final_tree(tmp, archive)  # links judged where they ended up, after opencv/ moved up
        write_marker(tmp, info)
        _rename_into_place(tmp, root)
    console.info(f"extracted {archive.name} ({time.monotonic() - start:.1f} s)")
    return read_marker(root) or info


def _rename_into_place(tmp: Path, root: Path) -> None:
    try:
        os.rename(tmp, root)
    except OSError as exc:
        if read_marker(root) is not None:  # a concurrent run finished the same tree first
            remove_tree(tmp)
            return
        raise SourceError(f"cannot move the extracted tree to {root}: {exc.strerror}") from None


def _fetch_git(spec: SourceSpec, root: Path, *, need_contrib: bool) -> dict[str, Any]:
    tag = spec.opencv_version
    contrib_tag = spec.contrib_ref or tag
    if need_contrib and spec.contrib_ref is None and is_commit(tag):
        raise SourceError(
            f"--opencv-version {tag} is a commit of opencv; opencv_contrib has its own commits",
            hint="name opencv_contrib's ref too: --contrib-ref <branch, tag or commit> "
            "(e.g. --contrib-ref 4.x)",
        )
    marker = read_marker(root)
    if marker is None:
        _refuse_incomplete(root)
        with staging_dir(root) as tmp:
            commits = {OPENCV: clone(repo_url(spec.base_url, OPENCV), tag, tmp / OPENCV)}
            if need_contrib:
                commits[CONTRIB] = clone(repo_url(spec.base_url, CONTRIB), contrib_tag, tmp / CONTRIB)
            info = {
                "kind": "git",
                "opencv_version": detect_version(tmp / OPENCV) or tag,
                "ref": tag,
                "contrib_ref": contrib_tag,
                "commits": commits,
                "sha256": None,
                "source": repo_url(spec.base_url, OPENCV),
                "contrib": need_contrib,
                "pruned": False,
            }
            write_marker(tmp, info)
            _rename_into_place(tmp, root)
        return read_marker(root) or info
    if need_contrib and not marker.get("contrib"):  # an earlier run needed opencv only: add contrib
        target = root / CONTRIB
        commits = dict(marker.get("commits") or {})
        if not target.exists():
            with staging_dir(target) as tmp:
                commits[CONTRIB] = clone(repo_url(spec.base_url, CONTRIB), contrib_tag, tmp)
                os.rename(tmp, target)
        marker = {**marker, "contrib": True, "commits": commits}
        write_marker(root, marker)
    return marker
