"""Where a prefix keeps its ``cv2``: the loader package, its config files and the compiled extension.

OpenCV installs ``cv2`` as a loader package (``modules/python/package``)::

    <prefix>/lib/python3.X/site-packages/cv2/__init__.py, load_config_py3.py, config.py, config-3.X.py, ...
    <prefix>/lib/python3.X/site-packages/cv2/python-3.X/cv2.cpython-3X-<arch>-linux-gnu.so

``config-3.X.py`` (``config-3.py`` for a limited-API build, whose extension is ``python-3/cv2.abi3.so``) names
the extension's directory; ``config.py`` names the shared-library directory. A build with
``OPENCV_SKIP_PYTHON_LOADER=ON`` installs a bare ``cv2*.so`` instead; that layout is refused with the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cvcuda_setup.errors import UsageError
from cvcuda_setup.wheel.loaderconfig import ConfigFile, read_config

_SITE_GLOBS = ("lib*/python3*/site-packages", "lib*/python3*/dist-packages", "lib*/python3/dist-packages")
_CONFIG_RE = re.compile(r"^config-3(?:\.(\d+))?\.py$")


@dataclass(frozen=True)
class Cv2Layout:
    """The installed ``cv2`` of one prefix, for one interpreter version."""

    prefix: Path
    #: The loader package directory (``.../site-packages/cv2``).
    package_dir: Path
    #: ``config.py`` (BINARIES_PATHS) as read.
    config: ConfigFile
    #: ``config-3.X.py`` / ``config-3.py`` (PYTHON_EXTENSIONS_PATHS) as read.
    version_config: ConfigFile
    #: The compiled extension (``cv2.cpython-311-x86_64-linux-gnu.so`` or ``cv2.abi3.so``).
    extension: Path
    #: The prefix's library directories (``lib``, ``lib64`` where present).
    lib_dirs: tuple[Path, ...]

    @property
    def limited_api(self) -> bool:
        return self.extension.name.endswith(".abi3.so")


def site_dirs(prefix: Path, module_dir: str | None = None) -> list[Path]:
    """Directories of ``prefix`` that may hold ``cv2``: the manifest's module dir, then the usual ones."""
    dirs: list[Path] = []
    if module_dir:
        named = Path(module_dir)
        named = named if named.is_absolute() else prefix / named
        dirs.append(named.parent if named.name == "cv2" else named)
    for pattern in _SITE_GLOBS:
        dirs += sorted(p for p in prefix.glob(pattern) if p.is_dir())
    return list(dict.fromkeys(dirs))


def lib_dirs(prefix: Path) -> tuple[Path, ...]:
    return tuple(p for p in (prefix / "lib", prefix / "lib64") if p.is_dir())


def version_configs(package_dir: Path) -> dict[str, Path]:
    """``{"3.11": config-3.11.py, "3": config-3.py}`` found in the package."""
    out = {}
    for path in sorted(package_dir.glob("config-3*.py")):
        match = _CONFIG_RE.match(path.name)
        if match:
            out[f"3.{match.group(1)}" if match.group(1) else "3"] = path
    return out


def find_cv2(prefix: Path, python_version: str, module_dir: str | None = None) -> Cv2Layout:
    """The ``cv2`` of ``prefix`` built for ``python_version`` (``"3.11"``); a clear error if there is none."""
    if not prefix.is_dir():
        raise UsageError(
            f"--prefix {str(prefix)!r} is not a directory", hint="give the folder OpenCV was installed into"
        )
    candidates = site_dirs(prefix, module_dir)
    bare = [p for d in candidates for p in d.glob("cv2*.so")]
    packages = [d / "cv2" for d in candidates if (d / "cv2" / "__init__.py").is_file()]
    if not packages:
        if bare:
            raise UsageError(
                f"{bare[0]} is a bare cv2 extension (built with OPENCV_SKIP_PYTHON_LOADER=ON); "
                "the wheel needs OpenCV's cv2 loader package",
                hint="rebuild without OPENCV_SKIP_PYTHON_LOADER",
            )
        where = ", ".join(str(d) for d in candidates) or f"{prefix}/lib/python3.X/site-packages"
        raise UsageError(
            f"no cv2 package in {prefix} (looked in {where})",
            hint="build a recipe with python = true into this prefix first",
        )
    short = ".".join(python_version.split(".")[:2])
    found_versions: list[str] = []
    for package in packages:
        configs = version_configs(package)
        found_versions += [v for v in configs if v not in found_versions]
        chosen = configs.get(short) or configs.get("3")
        if chosen is None:
            continue
        config_py = package / "config.py"
        if not config_py.is_file():
            raise UsageError(
                f"{package} has no config.py (OpenCV's loader needs it)", hint="reinstall the prefix"
            )
        version_config = read_config(chosen)
        config = read_config(config_py)
        extension = _find_extension(package, version_config, short)
        return Cv2Layout(prefix, package, config, version_config, extension, lib_dirs(prefix))
    built_for = ", ".join(f"Python {v}" for v in found_versions) or "no Python version (no config-3.X.py)"
    raise UsageError(
        f"the cv2 in {packages[0].parent} is built for {built_for}, not Python {short}",
        hint="pass --python with the interpreter the bindings were built for",
    )


def _find_extension(package: Path, version_config: ConfigFile, short: str) -> Path:
    dirs = version_config.resolved("PYTHON_EXTENSIONS_PATHS", package)
    searched = [d for d in dirs if d is not None]
    for directory in searched:
        hits = sorted(directory.glob("cv2*.so")) if directory.is_dir() else []
        if len(hits) > 1:
            names = ", ".join(h.name for h in hits)
            raise UsageError(
                f"{directory} holds more than one cv2 extension ({names})", hint="remove the stale one"
            )
        if hits:
            return hits[0]
    shown = ", ".join(str(d) for d in searched) or "no directory it can resolve"
    raise UsageError(
        f"{version_config.path.name} of {package} names {shown}, which holds no cv2*.so for Python {short}",
        hint="the python3 bindings did not build or install; check the build log",
    )
