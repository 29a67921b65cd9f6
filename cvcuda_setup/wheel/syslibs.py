"""``cv2/_opencv_cuda_syslibs.py``: the import-time check for the system libraries the wheel does not bundle.

The rewritten ``cv2/config.py`` calls ``require()`` before OpenCV's loader imports the extension. Each
required SONAME is loaded with ``ctypes`` (the loader's own search: LD_LIBRARY_PATH, ld.so.cache, defaults);
when that fails, the usual CUDA places are tried: ``$CUDA_HOME``/``$CUDA_PATH``, ``/usr/local/cuda``, the
directory it was found in on the build host, and pip's ``nvidia/*/lib`` wheels. A library loaded by path
satisfies the extension's DT_NEEDED by SONAME later. Anything still missing raises one ImportError naming
every missing library and what provides it, instead of the dynamic linker's message about the first one.
"""

from __future__ import annotations

from dataclasses import dataclass

MODULE_NAME = "_opencv_cuda_syslibs"


@dataclass(frozen=True)
class Requirement:
    soname: str
    #: What provides it, for the message (``NPP (CUDA toolkit 13.0)``).
    provides: str
    #: Directory it was found in on the build host ('' when it was not found there).
    build_dir: str = ""


_TEMPLATE = '''"""System libraries {dist} needs but does not bundle; written by cvcuda-setup wheel.

require() runs from cv2/config.py before the cv2 extension loads: it loads each library by SONAME, trying the
usual CUDA places when the dynamic loader's own search fails, and raises one ImportError naming every library
that is still missing.
"""

import ctypes
import glob
import os
import sys

DIST = {dist!r}
CUDA_VERSION = {cuda_version!r}

#: (SONAME, what provides it, directory on the build host)
REQUIRED = {required!r}


def _candidate_dirs():
    dirs = []
    for var in ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"):
        root = os.environ.get(var)
        if root:
            dirs += [os.path.join(root, "lib64"), os.path.join(root, "lib"),
                     os.path.join(root, "targets", "x86_64-linux", "lib")]
    dirs += ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"]
    dirs += [build_dir for _, _, build_dir in REQUIRED if build_dir]
    for entry in sys.path:
        if entry and os.path.isdir(os.path.join(entry, "nvidia")):
            dirs += sorted(glob.glob(os.path.join(entry, "nvidia", "*", "lib")))
    seen = set()
    return [d for d in dirs if not (d in seen or seen.add(d))]


def _load(soname, dirs):
    """None when loaded, else why not."""
    try:
        ctypes.CDLL(soname)
        return None
    except OSError as exc:
        why = str(exc)
    for directory in dirs:
        path = os.path.join(directory, soname)
        if os.path.exists(path):
            try:
                ctypes.CDLL(path)
                return None
            except OSError as exc:
                return "found %s but it does not load: %s" % (path, exc)
    return why


def missing():
    """[(soname, provides, why)] for each required library that cannot be loaded."""
    dirs = None
    out = []
    for soname, provides, _ in REQUIRED:
        if dirs is None:
            dirs = _candidate_dirs()
        why = _load(soname, dirs)
        if why is not None:
            out.append((soname, provides, why))
    return out


def require():
    gone = missing()
    if not gone:
        return
    # OpenCV's loader marks itself busy before reading config.py; clear it so a later import retries cleanly.
    sys.__dict__.pop("OpenCV_LOADER", None)
    names = ", ".join("%s (%s)" % (soname, provides) for soname, provides, _ in gone)
    raise ImportError(
        "cv2 from %s needs system libraries that the wheel does not bundle and that cannot be loaded: %s. "
        "Install them (CUDA toolkit %s, its NPP/cuBLAS/cuFFT, cuDNN, the NVIDIA driver) or add their "
        "directory to LD_LIBRARY_PATH. First error: %s" % (DIST, names, CUDA_VERSION or "?", gone[0][2])
    )
'''


def render(dist: str, cuda_version: str | None, requirements: list[Requirement]) -> str:
    """The module's source: plain Python that runs on any CPython 3 the wheel targets."""
    required = [(r.soname, r.provides, r.build_dir) for r in requirements]
    return _TEMPLATE.format(dist=dist, cuda_version=cuda_version or "", required=required)
