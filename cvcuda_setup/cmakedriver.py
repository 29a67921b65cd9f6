"""The one rule for "is this CMake build dir configured for this command?", shared by every CMake project.

OpenCV (``cmake.py``), the zero-copy plugin (``native.py``) and the benchmark tool (``bench/tool.py``) each
configure a build dir, then build it with ninja. A configure is needed unless the build dir records a
finished configure of the same command (a hash of the exact configure command and the source dir) and the
generated files are still there; its cache must go first (``--fresh``) when the source dir changed or an
option was removed (CMake keeps removed ``-D`` values in its cache). Nothing here runs CMake: ``decide`` is
pure over the files it reads, so the rule is tested with command lists alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Where a project without its own marker keeps the record of its last finished configure.
STAMP = ".cvcuda-setup-configure.json"

_CACHE_HOME = re.compile(r"^CMAKE_HOME_DIRECTORY:[A-Z]+=(.*)$", re.MULTILINE)


def configure_hash(command: Sequence[str], source_dir: Path) -> str:
    """Identity of a configuration: the exact configure command (options included) and the source dir."""
    data = json.dumps({"configure": list(command), "source_dir": str(source_dir)})
    return hashlib.sha256(data.encode()).hexdigest()


def cmake_options(command: Sequence[str]) -> dict[str, str]:
    """The ``-DNAME=VALUE`` options of a configure command (``-DNAME:TYPE=VALUE`` too), in order."""
    out: dict[str, str] = {}
    for arg in command:
        if arg.startswith("-D") and "=" in arg:
            name, value = arg[2:].split("=", 1)
            out[name.split(":", 1)[0]] = value
    return out


@dataclass(frozen=True)
class ConfigureRecord:
    """A finished configure, as the build dir remembers it."""

    hash: str
    source_dir: str
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, command: Sequence[str], source_dir: Path) -> ConfigureRecord:
        return cls(configure_hash(command, source_dir), str(source_dir), cmake_options(command))

    def to_json(self) -> dict[str, Any]:
        return {"hash": self.hash, "source_dir": self.source_dir, "options": dict(self.options)}

    @classmethod
    def from_json(cls, data: object) -> ConfigureRecord | None:
        if not isinstance(data, Mapping) or not isinstance(data.get("hash"), str):
            return None
        options = data.get("options")
        return cls(
            hash=str(data["hash"]),
            source_dir=str(data.get("source_dir") or ""),
            options={str(k): str(v) for k, v in options.items()} if isinstance(options, Mapping) else {},
        )


@dataclass(frozen=True)
class ConfigureDecision:
    needed: bool
    #: Configure with ``--fresh`` (drop the cache first).
    fresh: bool
    reason: str


def configured_source(build_dir: Path) -> Path | None:
    """The source dir CMake's cache says the build dir was configured for (None without a cache)."""
    try:
        text = (build_dir / "CMakeCache.txt").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = _CACHE_HOME.search(text)
    return Path(match.group(1).strip()) if match and match.group(1).strip() else None


def decide(
    build_dir: Path,
    command: Sequence[str],
    source_dir: Path,
    last: ConfigureRecord | None,
    *,
    required: Sequence[str] = ("build.ninja",),
    subject: str = "the configure command",
) -> ConfigureDecision:
    """Whether ``command`` must run in ``build_dir`` (and with ``--fresh``), given the ``last`` finished
    configure; ``required``: files under the build dir a configure leaves that must still be there;
    ``subject``: what the "unchanged" reason names."""
    if last is None and not (build_dir / "CMakeCache.txt").is_file():
        return ConfigureDecision(True, False, "first configure")
    home = configured_source(build_dir)
    if home is not None and os.path.realpath(home) != os.path.realpath(source_dir):
        return ConfigureDecision(True, True, f"the source dir changed from {home} to {source_dir}")
    if last is None:
        return ConfigureDecision(True, False, "the last configure did not finish")
    new = cmake_options(command)
    removed = sorted(set(last.options) - set(new))
    if removed:
        return ConfigureDecision(True, True, f"options removed: {', '.join(removed)}")
    if last.hash == configure_hash(command, source_dir):
        for name in required:
            if not (build_dir / name).is_file():
                return ConfigureDecision(True, False, f"{name} is missing")
        return ConfigureDecision(False, False, f"{subject} is unchanged")
    changed = sorted(k for k in new if last.options.get(k) != new[k])
    what = f"options changed: {', '.join(changed)}" if changed else "the configure command changed"
    return ConfigureDecision(True, False, what)


def with_fresh(command: Sequence[str]) -> list[str]:
    """``command`` with ``--fresh`` after the cmake executable (once)."""
    args = list(command)
    return args if "--fresh" in args else [args[0], "--fresh", *args[1:]]


def read_stamp(build_dir: Path) -> ConfigureRecord | None:
    try:
        data = json.loads((build_dir / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return ConfigureRecord.from_json(data)


def write_stamp(build_dir: Path, record: ConfigureRecord) -> None:
    """Record a finished configure (atomically: a kill leaves the old record or none, never half a file)."""
    tmp = build_dir / (STAMP + ".tmp")
    tmp.write_text(json.dumps(record.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, build_dir / STAMP)


def forget_stamp(build_dir: Path) -> None:
    """Before a configure: a configure that does not finish must not leave the old record behind."""
    try:
        (build_dir / STAMP).unlink()
    except FileNotFoundError:
        pass
