"""Atomic JSON writes: a temp file beside the target, then one rename (no imports from the package)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json(path: Path, data: Any, *, indent: int = 2) -> Path:
    """Write ``data`` as JSON (plus a newline) to ``path``, creating its directory; readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=indent) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
