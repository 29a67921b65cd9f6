"""The host: one probe of everything a command asks about this machine, each fact found in one place.

A ``Host`` is made once per command and handed to the stages (plan, doctor, plugin, bench). Each fact is
probed the first time a stage asks for it and kept: a ``build --arch 9.0 --dry-run`` never asks the driver,
a full ``build`` asks nvcc once for the plan and the preflight doctor alike.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from cvcuda_setup.errors import CvCudaSetupError, ToolchainError, UsageError
from cvcuda_setup.probe import compiler as compiler_probe
from cvcuda_setup.probe import gpu, hostinfo, pydists, toolkit

if TYPE_CHECKING:
    from cvcuda_setup.model import PythonInfo
    from cvcuda_setup.native import TargetPython
    from cvcuda_setup.probe.python import InterpreterProbe

LAUNCHERS = ("auto", "ccache", "sccache", "none")


def resolve_launcher(choice: str, env: Mapping[str, str] | None = None) -> str | None:
    """THE compiler-launcher resolver: ``auto``: sccache, else ccache, else none; ``ccache``/``sccache``:
    that one (else an error); ``none``. sccache is found by ``sccache.find_sccache`` (PATH, then this
    Python's scripts directory), so ``ci`` starting a server and the build using sccache agree.

    Returns the launcher's absolute path, which the plan passes as ``CMAKE_{C,CXX,CUDA}_COMPILER_LAUNCHER``.
    """
    from cvcuda_setup.sccache import find_sccache

    env = os.environ if env is None else env
    name = choice.strip().lower()
    if name in ("none", ""):
        return None

    def ccache() -> str | None:
        return shutil.which("ccache", path=env.get("PATH", os.defpath))

    def sccache() -> str | None:
        found = find_sccache(env)
        return str(found) if found is not None else None

    if name == "auto":
        return sccache() or ccache()
    if name in ("ccache", "sccache"):
        found = sccache() if name == "sccache" else ccache()
        if not found:
            where = "on PATH or in this Python's scripts directory" if name == "sccache" else "on PATH"
            raise ToolchainError(
                f"--launcher {name}: {name} is not {where}",
                hint=f"install {name}, or use --launcher auto or none",
            )
        return found
    raise UsageError(f"--launcher {choice!r} is not one of {', '.join(LAUNCHERS)}")


@dataclass(frozen=True)
class Host:
    """This machine as one command sees it. ``python`` is the interpreter asked for (``--python``; None:
    this one); ``env`` the environment the probes read (CUDA_HOME, PATH, ...)."""

    python_request: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    # -- GPUs and driver ------------------------------------------------------------------------------

    @cached_property
    def gpus(self) -> gpu.GpuProbe:
        """The visible CUDA devices and the driver's CUDA version (never raises)."""
        return gpu.probe_gpus()

    # -- CUDA toolkit ---------------------------------------------------------------------------------

    @cached_property
    def nvcc_search(self) -> toolkit.NvccSearch:
        """Every nvcc candidate in search order; ``.chosen`` is the one the build uses."""
        return toolkit.search_nvcc(self.env)

    @property
    def nvcc(self) -> toolkit.NvccInfo | None:
        return self.nvcc_search.chosen

    @property
    def cuda_toolkit_root(self) -> Path | None:
        return self.nvcc.root if self.nvcc is not None else None

    # -- host compiler --------------------------------------------------------------------------------

    @cached_property
    def compiler(self) -> compiler_probe.CompilerInfo | None:
        return compiler_probe.host_compiler(self.env)

    # -- Python ---------------------------------------------------------------------------------------

    @cached_property
    def _interpreter(self) -> InterpreterProbe | CvCudaSetupError:
        """The one probe of the interpreter: the bindings' facts and the plugin's come from it."""
        from cvcuda_setup.probe import python as python_probe

        try:
            return python_probe.probe_interpreter(self.python_request)
        except CvCudaSetupError as exc:
            return exc

    @cached_property
    def _python(self) -> PythonInfo | CvCudaSetupError:
        found = self._interpreter
        return found if isinstance(found, CvCudaSetupError) else found.python_info()

    @property
    def python(self) -> PythonInfo:
        """The bindings' interpreter (version, headers, numpy); raises the probe's error."""
        found = self._python
        if isinstance(found, CvCudaSetupError):
            raise found
        return found

    @property
    def python_abi(self) -> str | None:
        """The interpreter's extension ABI: ``"cp312"``, ``"cp313t"`` (free-threaded), another
        implementation's ``EXT_SUFFIX`` tag (``"pypy310-pp73-x86_64-linux-gnu"``); None when the probe
        failed (``python_error`` says why)."""
        found = self._interpreter
        if isinstance(found, CvCudaSetupError):
            return None
        major, minor = found.version_info
        if found.implementation == "cpython":
            return f"cp{major}{minor}" + ("t" if found.gil_disabled else "")
        tag = found.ext_suffix.strip(".").removesuffix(".so")
        return tag or f"{found.implementation}{major}{minor}"

    @property
    def python_error(self) -> str | None:
        found = self._python
        return str(found) if isinstance(found, CvCudaSetupError) else None

    @cached_property
    def shadowing(self) -> tuple[pydists.ShadowingDist, ...] | None:
        """pip's opencv-python* wheels installed for that interpreter, which would shadow the build's cv2
        (None: the interpreter could not be asked)."""
        found = pydists.shadowing_dists(self.python_request)
        return None if found is None else tuple(found)

    @cached_property
    def _target_python(self) -> TargetPython | CvCudaSetupError:
        from cvcuda_setup.pluginenv import target_python_of

        found = self._interpreter
        return found if isinstance(found, CvCudaSetupError) else target_python_of(found)

    @property
    def target_python(self) -> TargetPython:
        """The plugin's interpreter (site dirs, pip, scikit-build-core); raises the probe's error."""
        found = self._target_python
        if isinstance(found, CvCudaSetupError):
            raise found
        return found

    @property
    def target_python_error(self) -> str | None:
        found = self._target_python
        return str(found) if isinstance(found, CvCudaSetupError) else None

    # -- build tools ----------------------------------------------------------------------------------

    @cached_property
    def cmake(self) -> Path:
        from cvcuda_setup.tools import find_cmake

        return find_cmake()

    @cached_property
    def ninja(self) -> Path:
        from cvcuda_setup.tools import find_ninja

        return find_ninja()

    @cached_property
    def cmake_info(self) -> hostinfo.ToolInfo | None:
        """cmake with its version, for the doctor (None when absent)."""
        return hostinfo.find_tool("cmake", self.env)

    @cached_property
    def ninja_info(self) -> hostinfo.ToolInfo | None:
        return hostinfo.find_tool("ninja", self.env)

    @cached_property
    def compiler_caches(self) -> tuple[hostinfo.ToolInfo, ...]:
        return tuple(hostinfo.compiler_caches(self.env))

    def launcher(self, choice: str) -> str | None:
        """The compiler launcher for ``--launcher choice`` (see ``resolve_launcher``)."""
        return resolve_launcher(choice, self.env)

    # -- C library, machine ----------------------------------------------------------------------------

    @cached_property
    def libc(self) -> str | None:
        """``"glibc 2.36"`` (None: not glibc, or not told)."""
        return hostinfo.libc_version()

    @cached_property
    def machine(self) -> str:
        """``"x86_64"``, ``"aarch64"``."""
        return hostinfo.machine()

    # -- cores, memory --------------------------------------------------------------------------------

    @cached_property
    def cores(self) -> int:
        return hostinfo.cpu_cores()

    @cached_property
    def memory(self) -> int:
        return hostinfo.memory_bytes()

    def default_jobs(self, cuda: bool) -> int:
        return hostinfo.default_jobs(cuda, cores=self.cores, memory=self.memory)
