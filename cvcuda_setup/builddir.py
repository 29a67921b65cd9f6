"""The build dir of an OpenCV build: the tool's marker (ownership and the last finished configure), claiming a
dir, and whether to configure again (``cmakedriver.decide`` over the marker's record).

The build dir keeps ``.cvcuda-setup-build.json`` (written when the tool creates or adopts an empty dir; a
non-empty dir without it is refused, never cleaned). It records the last successful configure (configure
command hash, source dir, options); ``clear_cmake_cache`` removes ``CMakeCache.txt`` and ``CMakeFiles/`` for
a ``--fresh`` configure, only in a dir the tool created.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

from cvcuda_setup.cmakedriver import ConfigureDecision, ConfigureRecord, configure_hash, decide
from cvcuda_setup.errors import UsageError
from cvcuda_setup.model import BuildPlan

LOG_DIR = "cvcuda-setup-logs"
BUILD_MARKER = ".cvcuda-setup-build.json"
LOCK_FILE = ".cvcuda-setup.lock"


def plan_hash(plan: BuildPlan) -> str:
    """Identity of a configuration: the configure command (options included) and the source dir."""
    return configure_hash(plan.configure_command(), plan.source_dir)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _read_marker(build_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((build_dir / BUILD_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == "cvcuda-setup" else None


def write_marker(build_dir: Path, data: dict[str, Any]) -> None:
    tmp = build_dir / (BUILD_MARKER + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, build_dir / BUILD_MARKER)


def claim_build_dir(build_dir: Path) -> dict[str, Any]:
    """Create the build dir (or adopt an empty one) with the tool's marker; refuse anybody else's."""
    if build_dir.exists() and not build_dir.is_dir():
        raise UsageError(
            f"--build-dir {build_dir} exists and is not a directory", hint="choose another --build-dir"
        )
    marker = _read_marker(build_dir) if build_dir.is_dir() else None
    if marker is not None:
        return marker
    if build_dir.is_dir() and any(p.name != LOCK_FILE for p in build_dir.iterdir()):
        raise UsageError(
            f"--build-dir {build_dir} is not empty and was not created by cvcuda-setup (no {BUILD_MARKER})",
            hint="choose a new or empty --build-dir; cvcuda-setup never cleans a directory it did not create",
        )
    adopted = build_dir.is_dir()
    build_dir.mkdir(parents=True, exist_ok=True)
    marker = {"tool": "cvcuda-setup", "created": now(), "adopted": adopted, "configured": None}
    write_marker(build_dir, marker)
    return marker


def configure_decision(plan: BuildPlan, build_dir: Path, marker: dict[str, Any]) -> ConfigureDecision:
    """Whether to run cmake, and whether its cache must go first (``cmakedriver.decide``)."""
    last = ConfigureRecord.from_json(marker.get("configured"))
    return decide(
        build_dir,
        plan.configure_command(),
        plan.source_dir,
        last,
        required=("CMakeCache.txt", "build.ninja", f"{LOG_DIR}/configure.log"),
        subject="the plan",
    )


def clear_cmake_cache(build_dir: Path, marker: dict[str, Any]) -> None:
    if marker.get("tool") != "cvcuda-setup":  # never reached: the marker was checked when the dir was claimed
        raise UsageError(f"refusing to clear the CMake cache of {build_dir}: not created by cvcuda-setup")
    (build_dir / "CMakeCache.txt").unlink(missing_ok=True)
    shutil.rmtree(build_dir / "CMakeFiles", ignore_errors=True)
