"""Where OpenCV + opencv_contrib sources come from: sdist, git, tarball, local directory or a pruned bundle.

Public API (used by the CLI and the planner)::

    default_cache_dir() -> Path
    spec_from_cli(source, opencv_version, sha256=None, base_url=None) -> SourceSpec
    expected_tree(spec, cache_dir, *, need_contrib=True) -> (opencv_dir, contrib_dir | None)
    fetch(spec, cache_dir, *, need_contrib=True) -> SourceTree
    known_sha256(spec) -> str | None   (the archive's sha256 without fetching, when known)
    make_bundle(tree, modules, keep, out) -> Path

See docs/sources.md.
"""

from __future__ import annotations

from cvcuda_setup.sources.bundle import is_bundle, make_bundle, read_bundle_info
from cvcuda_setup.sources.cache import default_cache_dir
from cvcuda_setup.sources.extract import safe_extract
from cvcuda_setup.sources.providers import describe, expected_tree, fetch, known_sha256, tree_key
from cvcuda_setup.sources.sdist import SdistRelease, resolve_sdist
from cvcuda_setup.sources.spec import spec_from_cli, split_version

__all__ = [
    "SdistRelease",
    "default_cache_dir",
    "describe",
    "expected_tree",
    "fetch",
    "is_bundle",
    "known_sha256",
    "make_bundle",
    "read_bundle_info",
    "resolve_sdist",
    "safe_extract",
    "spec_from_cli",
    "split_version",
    "tree_key",
]
