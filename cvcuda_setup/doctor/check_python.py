"""Checks of the Python side: the bindings' interpreter and the plugin's."""

from __future__ import annotations

from cvcuda_setup.doctor.facts import Facts
from cvcuda_setup.doctor.findings import Finding


def check_python(f: Facts) -> list[Finding]:
    if not f.needs.python:
        return []
    out: list[Finding] = []
    exe = f.python_requested or "python"
    if f.python is None:
        return [
            Finding(
                "error",
                "python",
                f"cannot use the interpreter for the bindings: {f.python_error}",
                "pass --python with the path of a working Python 3 interpreter",
                {"python": f.python_requested},
                code="python.interpreter",
            )
        ]
    info = f.python
    exe = str(info.executable)
    lib = f", libpython {info.library}" if info.library else ", no shared libpython (static interpreter)"
    out.append(
        Finding(
            "ok",
            "python",
            f"Python {info.version} at {info.executable}{lib}",
            data={
                "executable": info.executable,
                "version": info.version,
                "include_dir": info.include_dir,
                "library": info.library,
                "site_packages": info.site_packages,
            },
            code="python.interpreter",
        )
    )
    if not (info.include_dir / "Python.h").is_file():
        out.append(
            Finding(
                "error",
                "python",
                f"Python.h is missing in {info.include_dir}: the bindings cannot compile",
                f"install the development headers for Python {info.version} (e.g. apt install "
                f"python{'.'.join(info.version.split('.')[:2])}-dev)",
                {"include_dir": info.include_dir},
                code="python.headers",
            )
        )
    if info.numpy_include is None:
        out.append(
            Finding(
                "error",
                "python",
                f"numpy is not installed for {exe}: the bindings need its headers",
                f"{exe} -m pip install numpy",
                code="python.numpy",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "python",
                f"numpy {info.numpy_version} ({info.numpy_include})",
                data={"version": info.numpy_version, "include": info.numpy_include},
                code="python.numpy",
            )
        )
    if f.shadowing is None:
        out.append(
            Finding(
                "warn",
                "python",
                f"cannot list the distributions installed for {exe}",
                f"check `{exe} -m pip list` for opencv-* packages by hand",
                code="python.cv2-shadow",
            )
        )
    for dist in f.shadowing or ():
        why = "" if dist.reason == "name" else " (it installs a cv2 package)"
        out.append(
            Finding(
                "warn",
                "python",
                f"{dist.name} {dist.version} is installed{why} in {dist.location}: its cv2 can shadow the "
                "CUDA build",
                f"{exe} -m pip uninstall -y {dist.name}",
                {"name": dist.name, "version": dist.version, "location": dist.location},
                code="python.cv2-shadow",
            )
        )
    return out


def check_plugin(f: Facts) -> list[Finding]:
    """What the zero-copy plugin's Python module needs (pip, scikit-build-core, numpy) in its interpreter.

    Its C++ side needs what OpenCV's build does (cmake, ninja, a C++17 compiler), checked above.
    """
    if not f.plugin:
        return []
    skip = "or pass --no-plugin-python (build) / --no-python (plugin) to skip the module"
    head: list[Finding] = []
    if f.plugin_cuda_error is not None:
        head.append(
            Finding(
                "error",
                "plugin",
                f"the zero-copy plugin cannot compile: {f.plugin_cuda_error}",
                "install the CUDA toolkit or set CUDA_HOME, or pass --no-plugin",
                code="plugin.cuda-runtime",
            )
        )
    return head + _check_plugin_python(f, skip)


def _check_plugin_python(f: Facts, skip: str) -> list[Finding]:
    if f.plugin_python is None:
        if f.plugin_python_error is None:
            return []
        return [
            Finding(
                "error",
                "plugin",
                f"cannot use the interpreter for the plugin's Python module: {f.plugin_python_error}",
                f"pass --python with a working Python 3 interpreter, {skip}",
                code="plugin.python",
            )
        ]
    py = f.plugin_python
    exe = str(py.executable)
    out: list[Finding] = []
    for present, what, why in (
        (py.has_pip, "pip", "installs the module"),
        (py.has_skbuild, "scikit-build-core", "builds the module"),
        (py.has_numpy, "numpy", "the module returns numpy arrays"),
    ):
        if present:
            out.append(Finding("ok", "plugin", f"{what} for {exe} ({why})", code=f"plugin.{what}"))
        else:
            package = "pip" if what == "pip" else what
            fix = f"{exe} -m ensurepip" if what == "pip" else f"{exe} -m pip install {package}"
            out.append(
                Finding(
                    "error",
                    "plugin",
                    f"{what} is not installed for {exe}: the plugin's Python module needs it ({why})",
                    f"{fix}, {skip}",
                    {"python": exe},
                    code=f"plugin.{what}",
                )
            )
    return out
