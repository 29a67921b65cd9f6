"""The cache layout: downloads keyed by sha256 and file name, extracted trees with a completion marker.

```
<cache>/downloads/<sha256>/<file name>      verified archives (written to a temp file, then renamed)
<cache>/trees/<key>/opencv                   extracted trees, moved into place whole by one rename
<cache>/trees/<key>/opencv_contrib
<cache>/trees/<key>/.cvcuda-setup-tree.json  completion marker, written before that rename
```
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cvcuda_setup.errors import UsageError

MARKER = ".cvcuda-setup-tree.json"


def default_cache_dir() -> Path:
    """``$CVCUDA_SETUP_CACHE``, else ``$XDG_CACHE_HOME/cvcuda-setup``, else ``~/.cache/cvcuda-setup``."""
    explicit = os.environ.get("CVCUDA_SETUP_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "cvcuda-setup"
    return Path.home() / ".cache" / "cvcuda-setup"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish_mode(path: Path, *, directory: bool = False) -> None:
    """Give a temp file or dir (created 0600/0700) the mode a plain ``open``/``mkdir`` would have."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def downloads_dir(cache_dir: Path) -> Path:
    return cache_dir / "downloads"


def download_path(cache_dir: Path, filename: str, sha256: str) -> Path:
    """Where a verified download lives: keyed by its sha256, then its file name."""
    return downloads_dir(cache_dir) / sha256 / filename


def trees_dir(cache_dir: Path) -> Path:
    return cache_dir / "trees"


def tree_path(cache_dir: Path, key: str) -> Path:
    return trees_dir(cache_dir) / key


def read_marker(tree: Path) -> dict[str, Any] | None:
    """The completion marker of an extracted tree, or None when the tree is absent or incomplete."""
    try:
        data = json.loads((tree / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("complete") is True else None


def write_marker(tree: Path, info: dict[str, Any]) -> None:
    """Written last (atomically), inside the temporary tree, just before it is renamed into place."""
    tmp = tree / f"{MARKER}.tmp"
    tmp.write_text(json.dumps({**info, "complete": True}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, tree / MARKER)


def check_cache_dir(cache_dir: Path) -> None:
    """The cache must be a directory this user can write (or be creatable): else a one-line UsageError."""
    hint = "point --cache-dir or CVCUDA_SETUP_CACHE at a directory you can write to"
    path = cache_dir
    while not path.exists() and not path.is_symlink() and path != path.parent:
        path = path.parent
    if not path.is_dir():
        raise UsageError(f"the cache {cache_dir} cannot be used: {path} is not a directory", hint=hint)
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"the cache {cache_dir} cannot be used: {path} is not writable", hint=hint)
