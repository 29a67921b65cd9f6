"""What the zero-copy plugin is built against: the prefix's OpenCV, a CUDA runtime, the target interpreter.

The CUDA runtime headers and library come from the toolkit the prefix's manifest records its OpenCV was built
with (``toolchain.cuda_toolkit_root``). Only a prefix whose manifest records none (no manifest, a CPU-only or
schema-1 build) searches, in order: the nvcc the build would use (its toolkit root),
``CUDA_HOME``/``CUDA_PATH``, ``/usr/local/cuda``, then pip's NVIDIA wheels
(``site-packages/nvidia/cu13/{include/cuda_runtime.h,lib/libcudart.so.13}``, CUDA 12's
``nvidia/cuda_runtime``), in the target interpreter's site directories and this one's. The Python module goes
next to the prefix's ``cv2`` (the manifest's folder, then a search).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cvcuda_setup.errors import ToolchainError, UsageError
from cvcuda_setup.manifest import find_module_dir, load_manifest
from cvcuda_setup.probe.python import InterpreterProbe, probe_interpreter

# -- facts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenCVInfo:
    """The prefix's OpenCV as its CMake config describes it."""

    cmake_dir: Path
    version: str | None
    #: Installed modules without the ``opencv_`` prefix (``OpenCV_LIB_COMPONENTS``).
    modules: tuple[str, ...]

    @property
    def cuda(self) -> bool:
        """Built with CUDA: it has CUDA modules (``cudev``, ``cudaarithm``, ...)."""
        return any(m == "cudev" or m.startswith("cuda") for m in self.modules)

    @property
    def pipeline_modules(self) -> bool:
        """Has what the check tool's pipeline needs (cudafilters + cudaimgproc)."""
        return {"cudafilters", "cudaimgproc"} <= set(self.modules)


@dataclass(frozen=True)
class CudaRuntime:
    """Where the CUDA runtime headers and library are, and how CMake is told."""

    include_dir: Path
    #: ``libcudart.so*`` given to CMake directly (pip wheel layout); None: FindCUDAToolkit finds it.
    library: Path | None
    #: The toolkit root for ``CUDAToolkit_ROOT`` (None for the wheel layout).
    root: Path | None
    #: ``"nvcc (PATH)"``, ``"CUDA_HOME"``, ``"/usr/local/cuda"``, ``"pip nvidia wheel"``...
    origin: str

    def cmake_options(self) -> list[tuple[str, str]]:
        if self.library is not None:
            return [
                ("CVZC_CUDART_LIBRARY", str(self.library)),
                ("CVZC_CUDA_INCLUDE_DIR", str(self.include_dir)),
            ]
        assert self.root is not None
        return [("CUDAToolkit_ROOT", str(self.root))]


@dataclass(frozen=True)
class TargetPython:
    """The interpreter the Python module is built for."""

    executable: Path
    version: str
    site_dirs: tuple[Path, ...]
    has_pip: bool
    has_skbuild: bool
    has_numpy: bool

    @property
    def short_version(self) -> str:
        return ".".join(self.version.split(".")[:2])


_SET_RE = re.compile(
    r"^\s*set\(\s*(OpenCV_VERSION|OpenCV_LIB_COMPONENTS)\s+([^)]*)\)", re.IGNORECASE | re.MULTILINE
)


def read_opencv_config(cmake_dir: Path) -> OpenCVInfo:
    """Version and modules from ``OpenCVConfig.cmake`` (what ``find_package(OpenCV)`` will see)."""
    text = (cmake_dir / "OpenCVConfig.cmake").read_text(encoding="utf-8", errors="replace")
    version = None
    modules: tuple[str, ...] = ()
    for match in _SET_RE.finditer(text):
        name, value = match.group(1).lower(), match.group(2).strip().strip('"')
        if name == "opencv_version" and version is None:
            version = value
        elif name == "opencv_lib_components" and not modules:
            items = [v for v in re.split(r"[;\s]+", value) if v]
            modules = tuple(v.removeprefix("opencv_") for v in items)
    return OpenCVInfo(cmake_dir=cmake_dir, version=version, modules=modules)


def find_opencv(prefix: Path) -> OpenCVInfo:
    """The prefix's OpenCV CMake package (``lib/cmake/opencv5`` before ``opencv4``); else ``UsageError``."""
    if not prefix.is_dir():
        raise UsageError(
            f"--prefix {prefix} does not exist",
            hint=f"build OpenCV into it first: cvcuda-setup build --prefix {prefix}",
        )
    for lib in ("lib", "lib64"):
        for name in ("opencv5", "opencv4"):
            cmake_dir = prefix / lib / "cmake" / name
            if (cmake_dir / "OpenCVConfig.cmake").is_file():
                return read_opencv_config(cmake_dir)
    raise UsageError(
        f"no OpenCV in prefix {prefix} (no lib/cmake/opencv5/OpenCVConfig.cmake, "
        "nor lib/cmake/opencv4/OpenCVConfig.cmake)",
        hint=f"build one first: cvcuda-setup build --prefix {prefix}",
    )


def _include_dir(root: Path) -> Path | None:
    for inc in (root / "include", *sorted(root.glob("targets/*/include"))):
        if (inc / "cuda_runtime.h").is_file():
            return inc
    return None


def runtime_at(root: Path, origin: str = "the build's toolkit") -> CudaRuntime:
    """The runtime of the toolkit at ``root`` (the one OpenCV is built with); ``ToolchainError`` without."""
    inc = _include_dir(root)
    if inc is None:
        raise ToolchainError(
            f"the build's CUDA toolkit {root} ({origin}) has no cuda_runtime.h",
            hint="install the toolkit's development headers (cuda-cudart-dev), or rebuild OpenCV into the "
            "prefix with the toolkit this machine has",
        )
    return CudaRuntime(include_dir=inc, library=None, root=root, origin=origin)


@dataclass(frozen=True)
class RecordedToolkit:
    """The CUDA toolkit the prefix's manifest records (``toolchain.cuda_toolkit_root``), or why none."""

    root: Path | None
    #: Where the root was read (``<prefix>/share/cvcuda-setup/manifest.json``).
    manifest: Path
    #: Why the plugin has to search for a toolkit (None when the manifest names one).
    missing: str | None = None


def recorded_toolkit(prefix: Path) -> RecordedToolkit:
    """The toolkit the prefix's OpenCV was built with, as its manifest records it (never searched for)."""
    found = load_manifest(prefix)
    if found.manifest is None:
        return RecordedToolkit(None, found.path, f"no readable manifest ({found.error})")
    root = found.manifest.cuda_toolkit_root
    if root is None:
        why = f"the manifest {found.path} records no CUDA toolkit (a CPU-only or schema-1 build)"
        return RecordedToolkit(None, found.path, why)
    return RecordedToolkit(root, found.path)


def _wheel_runtime(site: Path) -> CudaRuntime | None:
    """pip's NVIDIA wheels: ``nvidia/cu13/{include,lib}`` (CUDA 13) or ``nvidia/cuda_runtime`` (CUDA 12)."""
    nvidia = site / "nvidia"
    if not nvidia.is_dir():
        return None
    roots = [*sorted(nvidia.glob("cu[0-9]*"), reverse=True), nvidia / "cuda_runtime"]
    for root in roots:
        inc, lib = root / "include", root / "lib"
        if not (inc / "cuda_runtime.h").is_file() or not lib.is_dir():
            continue
        libs = sorted(p for p in lib.iterdir() if re.match(r"^libcudart\.so(\.\d+)*$", p.name))
        if libs:
            return CudaRuntime(include_dir=inc, library=libs[-1], root=None, origin="pip nvidia wheel")
    return None


def find_cuda_runtime(
    env: Mapping[str, str] | None = None, site_dirs: Sequence[Path] = (), *, use_nvcc: bool = True
) -> CudaRuntime:
    """The CUDA runtime headers + library (order in the module docstring); ``ToolchainError`` without."""
    env = os.environ if env is None else env
    searched: list[str] = []
    if use_nvcc:
        from cvcuda_setup.probe.toolkit import find_nvcc

        nvcc = find_nvcc(env)
        if nvcc is not None:
            searched.append(f"nvcc {nvcc.path} (root {nvcc.root})")
            inc = _include_dir(nvcc.root)
            if inc is not None:
                return CudaRuntime(
                    include_dir=inc, library=None, root=nvcc.root, origin=f"nvcc ({nvcc.origin})"
                )
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if env.get(var):
            root = Path(env[var])
            searched.append(f"{var}={root}")
            inc = _include_dir(root)
            if inc is not None:
                return CudaRuntime(include_dir=inc, library=None, root=root, origin=var)
    from cvcuda_setup.probe.toolkit import DEFAULT_TOOLKIT

    searched.append(str(DEFAULT_TOOLKIT))
    inc = _include_dir(DEFAULT_TOOLKIT)
    if inc is not None:
        return CudaRuntime(include_dir=inc, library=None, root=DEFAULT_TOOLKIT, origin=str(DEFAULT_TOOLKIT))
    for site in dict.fromkeys(site_dirs):
        searched.append(f"{site}/nvidia")
        found = _wheel_runtime(site)
        if found is not None:
            return found
    raise ToolchainError(
        "no CUDA toolkit: no cuda_runtime.h found (looked at " + ", ".join(searched) + ")",
        hint="install the CUDA toolkit or set CUDA_HOME (pip's nvidia-cuda-runtime wheel also works)",
    )


def target_python_of(found: InterpreterProbe) -> TargetPython:
    """The plugin's view of an interpreter probe (``probe.python.probe_interpreter``)."""
    return TargetPython(
        executable=found.executable,
        version=found.version,
        site_dirs=found.site_dirs,
        has_pip=found.has_pip,
        has_skbuild=found.has_skbuild,
        has_numpy=found.has_numpy,
    )


def probe_target_python(executable: Path | str | None) -> TargetPython:
    """Ask the interpreter for its version, site directories and whether pip/scikit-build-core/numpy exist
    (the one interpreter probe, ``probe.python.probe_interpreter``)."""
    return target_python_of(probe_interpreter(executable))


def python_build_tools(target_python: TargetPython, skip_python_flag: str) -> list[str]:
    """``ToolchainError`` when the interpreter lacks pip or scikit-build-core (which build the Python
    module); the warnings for what it lacks at run time (numpy)."""
    if not target_python.has_pip:
        raise ToolchainError(
            f"pip is not installed for {target_python.executable}",
            hint=f"run {target_python.executable} -m ensurepip, or pass {skip_python_flag}",
        )
    if not target_python.has_skbuild:
        raise ToolchainError(
            f"scikit-build-core (which builds the Python module) is not installed for "
            f"{target_python.executable}",
            hint=f"run {target_python.executable} -m pip install scikit-build-core, "
            f"or pass {skip_python_flag}",
        )
    if not target_python.has_numpy:
        return [f"numpy is not installed for {target_python.executable}: cvcuda_zerocopy needs it"]
    return []


def python_target_dir(prefix: Path, python_version: str) -> tuple[Path, str | None]:
    """Where the Python module goes: next to the prefix's cv2 (manifest, then a search), else
    ``<prefix>/lib/pythonX.Y/site-packages``; plus a warning when that directory is for another Python."""
    short = ".".join(python_version.split(".")[:2])
    module_dir: Path | None = None
    manifest = load_manifest(prefix).manifest
    named = manifest.module_dir if manifest is not None else None
    # a manifest copied along with its prefix names the original's cv2: only trust one inside this prefix
    if named is not None and named.is_dir() and named.resolve().is_relative_to(prefix.resolve()):
        module_dir = named
    if module_dir is None:
        module_dir = find_module_dir(prefix)
    if module_dir is None:
        return prefix / "lib" / f"python{short}" / "site-packages", None
    target = module_dir.parent
    match = re.search(r"python(\d+\.\d+)", str(target))
    if match and match.group(1) != short:
        return target, (
            f"the prefix's cv2 is in {target} (Python {match.group(1)}), but the module is built for Python "
            f"{short}: pass --python with the interpreter cv2 was built for"
        )
    return target, None
