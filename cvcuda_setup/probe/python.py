"""The interpreter the bindings are built for, and what OpenCV's CMake must be told about it explicitly.

Left alone, OpenCV's detection can pair one interpreter with another installation's libpython and silently
drop the bindings (seen: pyenv 3.11.7 against the system's 3.11.2). So we ask the interpreter itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cvcuda_setup.errors import ToolchainError, UsageError
from cvcuda_setup.model import PythonInfo

_SCRIPT = r"""
import json, os, sys, sysconfig
info = {
    "executable": sys.executable,
    "version": "%d.%d.%d" % sys.version_info[:3],
    "include_dir": sysconfig.get_paths()["include"],
    "site_packages": sysconfig.get_paths()["purelib"],
    "library": None, "numpy_include": None, "numpy_version": None,
}
libdir = sysconfig.get_config_var("LIBDIR") or ""
for name in (sysconfig.get_config_var("LDLIBRARY"), sysconfig.get_config_var("INSTSONAME"),
             sysconfig.get_config_var("LIBRARY")):
    if name and libdir and os.path.exists(os.path.join(libdir, name)):
        info["library"] = os.path.join(libdir, name)
        break
try:
    import numpy
    info["numpy_include"] = numpy.get_include()
    info["numpy_version"] = numpy.__version__
except Exception:
    pass
print(json.dumps(info))
"""


def probe_python(executable: str | Path | None = None) -> PythonInfo:
    """Ask ``executable`` (default: the interpreter running the tool) for its build facts."""
    exe = str(executable) if executable else sys.executable
    try:
        proc = subprocess.run([exe, "-c", _SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise UsageError(
            f"--python {exe!r} does not exist", hint="give the path of a Python 3 interpreter"
        ) from None
    except PermissionError:
        raise UsageError(
            f"--python {exe!r} is not executable", hint="give the path of a Python 3 interpreter"
        ) from None
    if proc.returncode != 0:
        raise ToolchainError(
            f"the interpreter {exe!r} failed to describe itself: "
            f"{proc.stderr.strip().splitlines()[-1:] or '?'}",
            hint="check that it is a working Python 3 interpreter",
        )
    data = json.loads(proc.stdout)
    return PythonInfo(
        executable=Path(data["executable"]),
        version=data["version"],
        include_dir=Path(data["include_dir"]),
        library=Path(data["library"]) if data["library"] else None,
        numpy_include=Path(data["numpy_include"]) if data["numpy_include"] else None,
        numpy_version=data["numpy_version"],
        site_packages=Path(data["site_packages"]),
    )


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
