"""OpenCV's loader config files: read what they name, write wheel-relative replacements.

``cv2/__init__.py`` executes ``config.py`` and ``config-3.X.py`` with ``LOADER_DIR`` (the package directory)
defined. CMake writes them from ``modules/python/package/template/*.in``; an entry is one of::

    os.path.join(os.path.join(LOADER_DIR, '../../../../'), 'lib')     # relative install path
    os.path.join('/opt/opencv/lib/python3.11/site-packages/cv2', 'python-3.11')   # absolute install path
    os.path.join(os.getenv('CUDA_PATH', '/usr/local/cuda'), 'bin/x64')  # Windows CUDA (env-dependent)

Both kinds name directories of the build prefix, which do not exist where a wheel is installed. The files are
read with ``ast`` (never executed), each entry is resolved against the installed package directory, and
replacements are written that name only directories inside the wheel.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path

from cvcuda_setup.errors import UsageError

VARIABLES = ("BINARIES_PATHS", "PYTHON_EXTENSIONS_PATHS")

#: The module the rewritten ``config.py`` imports to check system libraries (see ``syslibs.py``).
SYSLIBS_MODULE = "_opencv_cuda_syslibs"


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    text: str
    #: ``{"BINARIES_PATHS": ("os.path.join(...)", ...)}``: each entry's source text, in file order.
    entries: dict[str, tuple[str, ...]]

    def resolved(self, variable: str, loader_dir: Path) -> list[Path | None]:
        """Each entry of ``variable`` as a directory (None when it depends on the environment)."""
        return [resolve_entry(src, loader_dir) for src in self.entries.get(variable, ())]


def parse_config(text: str, path: Path) -> ConfigFile:
    """Entries of ``VAR = [a, b] + VAR`` for the loader variables; other statements are ignored."""
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise UsageError(
            f"{path} is not valid Python ({exc.msg}, line {exc.lineno})", hint="reinstall"
        ) from None
    entries: dict[str, list[str]] = {}
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            continue
        name = node.targets[0].id
        if name not in VARIABLES:
            continue
        value = node.value
        if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
            value = value.left
        if not isinstance(value, ast.List):
            raise UsageError(
                f"{path}: {name} is not assigned a list ({ast.unparse(node.value)})", hint="reinstall"
            )
        entries.setdefault(name, []).extend(ast.unparse(e) for e in value.elts)
    return ConfigFile(path, text, {k: tuple(v) for k, v in entries.items()})


def read_config(path: Path) -> ConfigFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} cannot be read: {exc}", hint="check the prefix") from None
    return parse_config(text, path)


class _Unresolvable(Exception):
    pass


def _eval(node: ast.expr, loader_dir: str) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id == "LOADER_DIR":
        return loader_dir
    if (
        isinstance(node, ast.Call)
        and ast.unparse(node.func) == "os.path.join"
        and node.args
        and not node.keywords
    ):
        return os.path.join(*(_eval(a, loader_dir) for a in node.args))
    raise _Unresolvable(ast.unparse(node))


def resolve_entry(source: str, loader_dir: Path) -> Path | None:
    """The directory one entry names, ``..`` folded; None when it is not a plain path expression."""
    try:
        node = ast.parse(source, mode="eval").body
        value = _eval(node, str(loader_dir))
    except (SyntaxError, _Unresolvable):
        return None
    return Path(os.path.normpath(value))


@dataclass(frozen=True)
class EntryFate:
    """What became of one entry of the build's config files."""

    file: str
    variable: str
    source: str
    resolved: str | None
    #: ``"replaced"`` (by the wheel's own directory) or ``"dropped"``.
    action: str
    reason: str


def classify(
    config: ConfigFile,
    variable: str,
    loader_dir: Path,
    prefix_lib_dirs: tuple[Path, ...],
    extension_dir: Path,
) -> list[EntryFate]:
    """Fate of each entry: the prefix's library dirs and the extension dir are replaced, the rest dropped."""
    out = []
    libs = {p.resolve() for p in prefix_lib_dirs}
    ext = extension_dir.resolve()
    for source in config.entries.get(variable, ()):
        path = resolve_entry(source, loader_dir)
        if path is None:
            fate = ("dropped", "depends on the environment at import time")
        elif path.resolve() in libs:
            fate = ("replaced", "the prefix's library directory: the wheel bundles the libraries")
        elif path.resolve() == ext:
            fate = ("replaced", "the extension's directory: the wheel carries the extension")
        else:
            fate = ("dropped", "names a directory of the build host that the wheel does not carry")
        out.append(EntryFate(config.path.name, variable, source, str(path) if path else None, *fate))
    return out


def _py_str(value: str) -> str:
    return repr(value)


def render_config(ext_subdir: str, dist: str, fates: list[EntryFate]) -> str:
    """The wheel's ``config.py``: libraries next to the extension, then the system library check."""
    return "\n".join(
        [
            f"# Written by cvcuda-setup wheel for {dist}: paths are relative to this package (LOADER_DIR).",
            *_fate_comments(fates),
            "import os",
            "",
            "BINARIES_PATHS = [",
            f"    os.path.join(LOADER_DIR, {_py_str(ext_subdir)})",
            "] + BINARIES_PATHS",
            "",
            "# System libraries the wheel does not bundle (CUDA): one ImportError naming each missing one.",
            f"from cv2 import {SYSLIBS_MODULE}  # noqa: E402",
            "",
            f"{SYSLIBS_MODULE}.require()",
            "",
        ]
    )


def render_version_config(ext_subdir: str, dist: str, fates: list[EntryFate]) -> str:
    """The wheel's ``config-3.X.py``: the extension directory inside the package."""
    return "\n".join(
        [
            f"# Written by cvcuda-setup wheel for {dist}: paths are relative to this package (LOADER_DIR).",
            *_fate_comments(fates),
            "import os",
            "",
            "PYTHON_EXTENSIONS_PATHS = [",
            f"    os.path.join(LOADER_DIR, {_py_str(ext_subdir)})",
            "] + PYTHON_EXTENSIONS_PATHS",
            "",
        ]
    )


def _fate_comments(fates: list[EntryFate]) -> list[str]:
    if not fates:
        return []
    # Counts and reasons only: the build's entries name build-host paths, which the wheel must not carry.
    lines = ["# The build's entries:"]
    lines += [f"#   {f.variable} #{i}: {f.action} ({f.reason})" for i, f in enumerate(fates, 1)]
    return lines
