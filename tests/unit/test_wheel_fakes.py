"""Small fake OpenCV prefixes with real ELF files (compiled with gcc) for the wheel tests.

Imported by the other ``test_wheel_*`` modules; its own tests check the fakes look like what they fake.
A fake prefix has ``libopencv_core`` and ``libopencv_imgproc`` (real shared libraries with SONAMEs and the
prefix's RUNPATH, as CMake installs them), a real CPython extension ``cv2`` linking both, OpenCV's loader
files and headers. With ``cuda=True`` core also links a fake ``libnppc.so.13`` kept outside the prefix (a
stand-in for the CUDA toolkit's copy: the library boundary, not the logic under test).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from cvcuda_setup.wheel.elf import read_dynamic

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")

GCC = shutil.which("gcc") or shutil.which("cc")
needs_gcc = pytest.mark.skipif(GCC is None, reason="no C compiler (gcc/cc): the ELF fakes are compiled")

#: OpenCV's loader files as CMake writes them for a relative install path (python_loader.cmake).
CONFIG_PY = (
    "import os\n\nBINARIES_PATHS = [\n"
    "    os.path.join(os.path.join(LOADER_DIR, '../../../../'), 'lib')\n] + BINARIES_PATHS\n"
)
CONFIG_X_PY = (
    f"PYTHON_EXTENSIONS_PATHS = [\n    os.path.join(LOADER_DIR, 'python-{PY}')\n] + PYTHON_EXTENSIONS_PATHS\n"
)

#: A cut-down OpenCV loader: config files exec'd with LOADER_DIR, then the extension imported by name.
INIT_PY = """import importlib, os, sys

def bootstrap():
    LOADER_DIR = os.path.dirname(os.path.abspath(os.path.realpath(__file__)))
    PYTHON_EXTENSIONS_PATHS = []
    BINARIES_PATHS = []
    g_vars = globals()
    l_vars = locals().copy()
    sys.OpenCV_LOADER = True
    for name in ("config.py", "config-%d.%d.py" % sys.version_info[:2]):
        path = os.path.join(LOADER_DIR, name)
        with open(path) as f:
            exec(compile(f.read(), path, "exec"), g_vars, l_vars)
    saved = list(sys.path)
    for p in reversed(l_vars["PYTHON_EXTENSIONS_PATHS"]):
        sys.path.insert(1, p)
    py_module = sys.modules.pop("cv2")
    native = importlib.import_module("cv2")
    sys.modules["cv2"] = py_module
    g_vars["_native"] = native
    for k, v in native.__dict__.items():
        if k not in ("__file__", "__loader__", "__spec__", "__name__", "__package__") and k not in g_vars:
            g_vars[k] = v
    sys.path = saved
    del sys.OpenCV_LOADER

bootstrap()
"""

CORE_C = """
{nppc_decl}
int cv_core_value(void) {{ return 40{nppc_call}; }}
"""
IMGPROC_C = """
int cv_core_value(void);
int cv_imgproc_value(void) { return cv_core_value() + 2; }
"""
NPPC_C = "int nppGetLibVersionFake(void) { return 0; }\n"
EXT_C = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
int cv_imgproc_value(void);
int cv_core_value(void);
static PyObject *value(PyObject *self, PyObject *args) {
    return PyLong_FromLong(cv_imgproc_value() + 0 * cv_core_value());
}
static PyMethodDef methods[] = {{"value", value, METH_NOARGS, "42 from the fake OpenCV libraries"},
                                {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "cv2", NULL, -1, methods};
PyMODINIT_FUNC PyInit_cv2(void) {
    PyObject *m = PyModule_Create(&def);
    if (m) PyModule_AddStringConstant(m, "__version__", "5.1.0");
    return m;
}
"""


def _cc(out: Path, source: str, *args: str) -> None:
    assert GCC is not None
    src = out.with_name(out.name + ".c")
    src.write_text(source)
    cmd = [
        GCC,
        "-shared",
        "-fPIC",
        "-o",
        str(out),
        str(src),
        "-Wl,--no-as-needed",
        "-Wl,--enable-new-dtags",
        *args,
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    src.unlink()


@dataclass(frozen=True)
class FakePrefix:
    root: Path
    prefix: Path
    #: Where the fake system CUDA library lives (outside the prefix); None without cuda.
    cuda_dir: Path | None
    package_dir: Path
    extension: Path

    @property
    def lib(self) -> Path:
        return self.prefix / "lib"


def make_prefix(
    root: Path,
    *,
    cuda: bool = False,
    manifest: dict[str, object] | None = None,
    cvconfig_arch: str = " 90",
    cuda_version: str = "13.0",
    other_lib: bool = False,
) -> FakePrefix:
    """A fake installed OpenCV 5.1.0 under ``root/prefix`` (see the module docstring)."""
    prefix = root / "prefix"
    lib = prefix / "lib"
    lib.mkdir(parents=True)
    rpath = [str(lib)]
    core_args: list[str] = []
    nppc_decl = nppc_call = ""
    cuda_dir = None
    if cuda:
        cuda_dir = root / "cuda" / "lib64"
        cuda_dir.mkdir(parents=True)
        _cc(cuda_dir / "libnppc.so.13", NPPC_C, "-Wl,-soname,libnppc.so.13")
        core_args += [f"-L{cuda_dir}", "-l:libnppc.so.13"]
        rpath.append(str(cuda_dir))  # CMAKE_INSTALL_RPATH_USE_LINK_PATH puts the toolkit's dir there too
        nppc_decl, nppc_call = "int nppGetLibVersionFake(void);", " + nppGetLibVersionFake()"
    if other_lib:
        other = root / "other"
        other.mkdir()
        _cc(other / "libother.so.1", "int other_value(void) { return 0; }\n", "-Wl,-soname,libother.so.1")
        core_args += [f"-L{other}", "-l:libother.so.1"]
        nppc_decl += "int other_value(void);"
        nppc_call += " + other_value()"
    runpath = f"-Wl,-rpath,{':'.join(rpath)}"
    _cc(
        lib / "libopencv_core.so.5.1.0",
        CORE_C.format(nppc_decl=nppc_decl, nppc_call=nppc_call),
        "-Wl,-soname,libopencv_core.so.501",
        runpath,
        *core_args,
    )
    (lib / "libopencv_core.so.501").symlink_to("libopencv_core.so.5.1.0")
    (lib / "libopencv_core.so").symlink_to("libopencv_core.so.501")
    _cc(
        lib / "libopencv_imgproc.so.5.1.0",
        IMGPROC_C,
        "-Wl,-soname,libopencv_imgproc.so.501",
        runpath,
        f"-L{lib}",
        "-l:libopencv_core.so.501",
    )
    (lib / "libopencv_imgproc.so.501").symlink_to("libopencv_imgproc.so.5.1.0")
    site = lib / f"python{PY}" / "site-packages"
    package = site / "cv2"
    ext_dir = package / f"python-{PY}"
    ext_dir.mkdir(parents=True)
    extension = ext_dir / f"cv2{EXT_SUFFIX}"
    _cc(
        extension,
        EXT_C,
        f"-I{sysconfig.get_paths()['include']}",
        runpath,
        f"-L{lib}",
        "-l:libopencv_imgproc.so.501",
        "-l:libopencv_core.so.501",
    )
    (package / "__init__.py").write_text(INIT_PY)
    (package / "load_config_py3.py").write_text("# loader helper\n")
    (package / "config.py").write_text(CONFIG_PY)
    (package / f"config-{PY}.py").write_text(CONFIG_X_PY)
    (package / "utils").mkdir()
    (package / "utils" / "__init__.py").write_text("# utils\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "stale.cpython-311.pyc").write_bytes(b"\0")
    include = prefix / "include" / "opencv5" / "opencv2"
    (include / "core").mkdir(parents=True)
    (include / "core" / "version.hpp").write_text(
        "#define CV_VERSION_MAJOR    5\n#define CV_VERSION_MINOR    1\n"
        '#define CV_VERSION_REVISION 0\n#define CV_VERSION_STATUS   ""\n'
    )
    have = "#define HAVE_CUDA\n" if cuda else "/* #undef HAVE_CUDA */\n"
    arch = cvconfig_arch if cuda else ""
    (include / "cvconfig.h").write_text(f'#define CUDA_ARCH_BIN "{arch}"\n#define CUDA_ARCH_PTX ""\n{have}')
    cmake = prefix / "lib" / "cmake" / "opencv5"
    cmake.mkdir(parents=True)
    cuda_cmake = f'set(OpenCV_CUDA_VERSION "{cuda_version}")\n' if cuda else ""
    (cmake / "OpenCVConfig.cmake").write_text(f"SET(OpenCV_VERSION 5.1.0)\n{cuda_cmake}")
    licenses = prefix / "share" / "licenses" / "opencv5"
    licenses.mkdir(parents=True)
    (licenses / "dlpack-LICENSE").write_text("Apache-2.0\n")
    if manifest is not None:
        path = prefix / "share" / "cvcuda-setup" / "manifest.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(manifest))
    return FakePrefix(root, prefix, cuda_dir, package, extension)


@needs_gcc
def test_fake_prefix_links_like_an_installed_opencv(tmp_path: Path) -> None:
    fake = make_prefix(tmp_path, cuda=True)
    ext = read_dynamic(fake.extension)
    assert ext.needed[:2] == ("libopencv_imgproc.so.501", "libopencv_core.so.501")
    assert ext.runpath[0] == str(fake.lib)
    core = read_dynamic(fake.lib / "libopencv_core.so.5.1.0")
    assert core.soname == "libopencv_core.so.501"
    assert "libnppc.so.13" in core.needed
    assert fake.cuda_dir is not None and str(fake.cuda_dir) in core.runpath


@needs_gcc
def test_fake_extension_imports_and_calls_into_both_libraries(tmp_path: Path) -> None:
    fake = make_prefix(tmp_path)
    code = "import cv2; print(cv2.value(), cv2.__version__)"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(fake.package_dir.parent), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["42", "5.1.0"]
