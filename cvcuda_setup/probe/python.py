"""The interpreter the bindings are built for, and what OpenCV's CMake must be told about it explicitly.

Left alone, OpenCV's detection can pair one interpreter with another installation's libpython and silently
drop the bindings (seen: pyenv 3.11.7 against the system's 3.11.2). So we ask the interpreter itself.

``probe_interpreter`` is the one question every command asks an interpreter: one script, every fact the
bindings' build (``PythonInfo``), the wheel's tags (``wheel.naming``) and the plugin's build
(``pluginenv.TargetPython``) need.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvcuda_setup.errors import ToolchainError, UsageError
from cvcuda_setup.model import PythonInfo
from cvcuda_setup.tools import capture

#: Seconds an interpreter gets to answer (a cold start on a network file system can be slow).
TIMEOUT_S = 120

_SCRIPT = r"""
import importlib.util, json, os, site, sys, sysconfig
paths = sysconfig.get_paths()
info = {
    "executable": sys.executable,
    "version": "%d.%d.%d" % sys.version_info[:3],
    "implementation": sys.implementation.name,
    "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX") or "",
    "platform": sysconfig.get_platform(),
    "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "include_dir": paths["include"],
    "site_packages": paths["purelib"],
    "library": None, "numpy_include": None, "numpy_version": None,
    "pip": importlib.util.find_spec("pip") is not None,
    "skbuild": importlib.util.find_spec("scikit_build_core") is not None,
    "numpy": importlib.util.find_spec("numpy") is not None,
}
libdir = sysconfig.get_config_var("LIBDIR") or ""
for name in (sysconfig.get_config_var("LDLIBRARY"), sysconfig.get_config_var("INSTSONAME"),
             sysconfig.get_config_var("LIBRARY")):
    if name and libdir and os.path.exists(os.path.join(libdir, name)):
        info["library"] = os.path.join(libdir, name)
        break
dirs = [paths.get("purelib"), paths.get("platlib")]
try:
    dirs += site.getsitepackages()
except AttributeError:
    pass
if hasattr(site, "getusersitepackages"):
    dirs.append(site.getusersitepackages())
info["site_dirs"] = [d for d in dict.fromkeys(dirs) if d]
if info["numpy"]:
    try:
        import numpy
        info["numpy_include"] = numpy.get_include()
        info["numpy_version"] = numpy.__version__
    except Exception:
        pass
print(json.dumps(info))
"""


@dataclass(frozen=True)
class InterpreterProbe:
    """Everything one run of ``_SCRIPT`` tells about an interpreter."""

    executable: Path
    #: ``"3.12.3"``
    version: str
    #: ``"cpython"``, ``"pypy"``...
    implementation: str
    #: ``".cpython-312-x86_64-linux-gnu.so"`` (empty when the interpreter has none)
    ext_suffix: str
    #: ``sysconfig.get_platform()``: ``"linux-x86_64"``
    platform: str
    gil_disabled: bool
    include_dir: Path
    site_packages: Path
    #: libpython, when the interpreter's LIBDIR has one.
    library: Path | None
    #: Every site directory (purelib, platlib, site's and the user's), in order, without repeats.
    site_dirs: tuple[Path, ...]
    has_pip: bool
    has_skbuild: bool
    #: numpy is importable there (found); its headers and version when importing it worked.
    has_numpy: bool
    numpy_include: Path | None
    numpy_version: str | None

    @property
    def version_info(self) -> tuple[int, int]:
        """(major, minor)"""
        major, minor = self.version.split(".")[:2]
        return int(major), int(minor)

    def python_info(self) -> PythonInfo:
        """What the bindings' build needs."""
        return PythonInfo(
            executable=self.executable,
            version=self.version,
            include_dir=self.include_dir,
            library=self.library,
            numpy_include=self.numpy_include,
            numpy_version=self.numpy_version,
            site_packages=self.site_packages,
        )


def _path(value: Any) -> Path | None:
    return Path(value) if isinstance(value, str) and value else None


def _parse(data: dict[str, Any]) -> InterpreterProbe:
    numpy_include = _path(data.get("numpy_include"))
    return InterpreterProbe(
        executable=Path(data["executable"]),
        version=str(data["version"]),
        implementation=str(data.get("implementation", "cpython")),
        ext_suffix=str(data.get("ext_suffix") or ""),
        platform=str(data.get("platform", "")),
        gil_disabled=bool(data.get("gil_disabled", False)),
        include_dir=Path(data["include_dir"]),
        site_packages=Path(data["site_packages"]),
        library=_path(data.get("library")),
        site_dirs=tuple(Path(d) for d in data.get("site_dirs", [data["site_packages"]]) if d),
        has_pip=bool(data.get("pip", False)),
        has_skbuild=bool(data.get("skbuild", False)),
        has_numpy=bool(data.get("numpy", numpy_include is not None)),
        numpy_include=numpy_include,
        numpy_version=data.get("numpy_version"),
    )


def probe_interpreter(executable: str | Path | None = None) -> InterpreterProbe:
    """Ask ``executable`` (default: the interpreter running the tool) for every fact this tool uses.

    A missing or non-executable file is a usage error (``--python``); one that fails, hangs or answers
    nonsense is a ``ToolchainError``.
    """
    exe = str(executable) if executable else sys.executable
    hint = "give the path of a Python 3 interpreter"
    try:
        proc = capture([exe, "-c", _SCRIPT], timeout=TIMEOUT_S)
    except FileNotFoundError:
        raise UsageError(f"--python {exe!r} does not exist", hint=hint) from None
    except PermissionError:
        raise UsageError(f"--python {exe!r} is not executable", hint=hint) from None
    except OSError as exc:
        raise UsageError(f"--python {exe!r} cannot be run: {exc.strerror}", hint=hint) from None
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"the interpreter {exe!r} did not answer within {TIMEOUT_S} s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise ToolchainError(
            f"the interpreter {exe!r} failed to describe itself: {last}",
            hint="check that it is a working Python 3 interpreter",
        )
    try:
        data = json.loads(proc.stdout)
        return _parse(data)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ToolchainError(
            f"the interpreter {exe!r} described itself in a way this tool cannot read",
            hint="check that it is a working Python 3 interpreter",
        ) from None


def probe_python(executable: str | Path | None = None) -> PythonInfo:
    """Ask ``executable`` (default: the interpreter running the tool) for its build facts."""
    return probe_interpreter(executable).python_info()


def cmake_python_options(info: PythonInfo) -> list[tuple[str, str]]:
    """The CMake cache entries that pin OpenCV's Python 3 detection to this interpreter."""
    if info.numpy_include is None:
        raise ToolchainError(
            f"numpy is not installed for {info.executable} (the Python bindings need its headers)",
            hint=f"run: {info.executable} -m pip install numpy",
        )
    options = [
        ("PYTHON3_EXECUTABLE", str(info.executable)),
        ("PYTHON3_INCLUDE_DIR", str(info.include_dir)),
        ("PYTHON3_NUMPY_INCLUDE_DIRS", str(info.numpy_include)),
    ]
    if info.library is not None:
        options.append(("PYTHON3_LIBRARY", str(info.library)))
    return options
