"""The environment that makes C++ and Python find one prefix's OpenCV, and nothing else first.

``OpenCV_DIR`` (``find_package(OpenCV)``) is set; ``PATH``, ``LD_LIBRARY_PATH``, ``PYTHONPATH`` and
``PKG_CONFIG_PATH`` get the prefix's directories prepended to what the shell already has.
``PKG_CONFIG_PATH`` needs ``lib/pkgconfig`` to exist: OpenCV writes ``opencv5.pc``/``opencv4.pc`` only
with ``-D OPENCV_GENERATE_PKGCONFIG=ON``.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cvcuda_setup.errors import UsageError
from cvcuda_setup.manifest import MANIFEST_RELPATH, Manifest, find_module_dir, read_manifest

#: Used when neither ``--prefix`` nor ``$CVCUDA_SETUP_PREFIX`` names one.
FALLBACK_PREFIX = "~/.local/opt/cvcuda-opencv"

#: sh and zsh take the same POSIX ``export`` lines as bash.
Shell = Literal["bash", "sh", "zsh", "fish", "json"]


def default_prefix() -> Path:
    """``$CVCUDA_SETUP_PREFIX``, else ``~/.local/opt/cvcuda-opencv`` (read now, expanded)."""
    return Path(os.environ.get("CVCUDA_SETUP_PREFIX") or FALLBACK_PREFIX).expanduser()


#: The default prefix as this process started (``default_prefix()`` reads the environment again).
DEFAULT_PREFIX: Path = default_prefix()


@dataclass(frozen=True)
class PrefixEnv:
    prefix: Path
    #: Variables replaced outright.
    set: dict[str, str]
    #: Variables whose value gets these directories in front (in this order).
    prepend: dict[str, list[str]]

    def resolved(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The final values against ``base`` (default: this process's environment)."""
        env = dict(os.environ if base is None else base)
        out = dict(self.set)
        for name, dirs in self.prepend.items():
            old = env.get(name, "")
            kept = [p for p in old.split(os.pathsep) if p and p not in dirs]
            out[name] = os.pathsep.join([*dirs, *kept])
        return out


def _opencv_dir(prefix: Path) -> Path | None:
    hits = sorted(
        prefix.glob("lib*/cmake/opencv*/OpenCVConfig.cmake"), reverse=True
    )  # opencv5 before opencv4
    return hits[0].parent if hits else None


def layout_env(prefix: Path, module_dirs: Sequence[Path] = ()) -> PrefixEnv:
    """The prefix's environment from its layout: ``bin`` on PATH, ``lib``/``lib64`` on LD_LIBRARY_PATH, the
    Python module folders on PYTHONPATH, pkg-config files and ``OpenCV_DIR`` where the prefix has them.

    The one place the environment of a prefix is built; ``prefix_env`` is this plus the manifest's cv2 folder
    and the checks that the prefix is a cvcuda-setup installation.
    """
    libs = [str(p) for p in (prefix / "lib", prefix / "lib64") if p.is_dir()]
    prepend: dict[str, list[str]] = {"PATH": [str(prefix / "bin")], "LD_LIBRARY_PATH": libs}
    if module_dirs:
        prepend["PYTHONPATH"] = [str(p) for p in dict.fromkeys(module_dirs)]
    pkgconfig = [str(p) for p in (prefix / "lib" / "pkgconfig", prefix / "lib64" / "pkgconfig") if p.is_dir()]
    if pkgconfig:
        prepend["PKG_CONFIG_PATH"] = pkgconfig
    opencv_dir = _opencv_dir(prefix)
    return PrefixEnv(prefix, {"OpenCV_DIR": str(opencv_dir)} if opencv_dir else {}, prepend)


def prefix_env(prefix: Path) -> PrefixEnv:
    """What ``cvcuda-setup env`` exports for ``prefix``; ``UsageError`` when it has no cvcuda-setup OpenCV."""
    prefix = prefix.expanduser().resolve()
    manifest: Manifest | None = read_manifest(prefix)
    if manifest is None:
        raise UsageError(
            f"{prefix} holds no cvcuda-setup installation (no {MANIFEST_RELPATH})",
            hint=f"build one first: cvcuda-setup build --prefix {prefix}",
        )
    if _opencv_dir(prefix) is None:
        raise UsageError(
            f"{prefix} has a manifest but no OpenCV (no lib/cmake/opencv*/OpenCVConfig.cmake)",
            hint=f"the install is damaged: rebuild with cvcuda-setup build --prefix {prefix}",
        )
    module_dir = manifest.module_dir
    if module_dir is None or not module_dir.is_dir():
        module_dir = find_module_dir(prefix)
    return layout_env(prefix, [module_dir.parent] if module_dir is not None else [])


def render(env: PrefixEnv, shell: Shell) -> str:
    if shell == "json":
        data = {
            "prefix": str(env.prefix),
            "set": env.set,
            "prepend": env.prepend,
            "env": env.resolved(),
        }
        return json.dumps(data, indent=2)
    lines: list[str] = []
    if shell in ("bash", "sh", "zsh"):
        for name, value in env.set.items():
            lines.append(f"export {name}={shlex.quote(value)}")
        for name, dirs in env.prepend.items():
            joined = shlex.quote(os.pathsep.join(dirs))
            lines.append(f'export {name}={joined}"${{{name}:+:${name}}}"')
    elif shell == "fish":
        for name, value in env.set.items():
            lines.append(f"set -gx {name} {shlex.quote(value)}")
        for name, dirs in env.prepend.items():
            quoted = " ".join(shlex.quote(d) for d in dirs)
            # fish splits and joins variables named *PATH on ':' itself
            lines.append(f"set -gx {name} {quoted} ${name}")
    else:
        raise UsageError(f"--shell {shell!r} is not one of bash, sh, zsh, fish, json")
    return "\n".join(lines)


def env_exports(prefix: Path, shell: Shell) -> str:
    """The text ``cvcuda-setup env`` prints: ``eval "$(cvcuda-setup env)"`` in bash, ``| source`` in fish."""
    return render(prefix_env(prefix), shell)
