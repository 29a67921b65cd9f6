"""What every check needs: the options, the prefix's manifest, the target interpreter and its environment.

The manifest is read with ``manifest.load_manifest`` (the one reader, every schema written so far); a prefix
without a usable one is still verified, and the report says why. The environment is the prefix's: ``bin`` on
PATH, ``lib`` on LD_LIBRARY_PATH, the Python module dirs on PYTHONPATH, each prepended to the caller's value,
which is what ``eval "$(cvcuda-setup env)"`` gives a shell.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cvcuda_setup.envvars import layout_env, prefix_env
from cvcuda_setup.errors import CvCudaSetupError, UsageError
from cvcuda_setup.manifest import Manifest, ManifestFile, load_manifest
from cvcuda_setup.model import ArchSelection
from cvcuda_setup.verify.buildinfo import BuildInfo, parse_build_info
from cvcuda_setup.verify.images import SIZES
from cvcuda_setup.verify.procs import ProcResult, run_tool, run_worker

DeviceRequest = int | Literal["all"]


def parse_device(text: str) -> DeviceRequest:
    """``--device`` value: ``all`` or a device index."""
    value = text.strip().lower()
    if value == "all":
        return "all"
    if value.isdigit():
        return int(value)
    raise UsageError(
        f"--device {text!r} is neither a device index nor 'all'", hint="use e.g. --device 0 or --device all"
    )


@dataclass(frozen=True)
class VerifyOptions:
    prefix: Path
    device: DeviceRequest = 0
    require_gpu: bool = False
    images_dir: Path | None = None
    opencv_tests: bool = False
    #: The bound on each opencv_test_cuda* run (seconds), per binary and device.
    opencv_tests_timeout_s: float = 1800.0
    #: Where the input and output images of one pipeline case are written.
    out_dir: Path | None = None
    #: The interpreter whose ``import cv2`` is checked; default: the manifest's, else this one.
    python: str | None = None
    #: Sizes of the generated pipeline images.
    sizes: tuple[tuple[int, int], ...] = SIZES
    #: Also use the photos of the source tree's samples/data.
    sample_photos: bool = True
    #: The cv2 under test is the ``cvcuda-setup wheel`` of the prefix, installed in ``python``'s environment:
    #: the checks run in the caller's environment, without the prefix's paths.
    wheel: bool = False


@dataclass(frozen=True)
class ManifestFacts:
    """The prefix's manifest as verify sees it: the typed model (``manifest.load_manifest``), or why not."""

    path: Path
    #: The document as written (the wheel's copy is compared with it); None when unreadable.
    data: dict[str, Any] | None
    #: Why ``manifest`` is None (missing, unreadable, not JSON, a schema this version cannot read).
    error: str | None
    manifest: Manifest | None = None

    @classmethod
    def of(cls, found: ManifestFile) -> ManifestFacts:
        return cls(found.path, found.document, found.error, found.manifest)

    @property
    def recipe_name(self) -> str | None:
        return (self.manifest.recipe.name or None) if self.manifest else None

    @property
    def opencv_version(self) -> str | None:
        return (self.manifest.opencv_version or None) if self.manifest else None

    @property
    def build_dir(self) -> Path | None:
        return Path(self.manifest.build_dir) if self.manifest and self.manifest.build_dir else None

    def cmake_option(self, name: str) -> str | None:
        return self.manifest.option(name) if self.manifest else None

    def cuda_intended(self) -> tuple[bool | None, str]:
        """Whether the build was meant to have CUDA, and where that was read from."""
        if self.manifest is None:
            return None, f"no manifest ({self.error})"
        name = self.recipe_name or "?"
        cuda = self.manifest.recipe.cuda
        if cuda is not None:
            return cuda, f"recipe {name!r} has cuda={str(cuda).lower()}"
        with_cuda = self.cmake_option("WITH_CUDA")
        if with_cuda is not None:
            on = with_cuda.strip().upper() in ("ON", "TRUE", "1", "YES", "Y")
            return on, f"recipe {name!r} built with WITH_CUDA={with_cuda}"
        return None, "the manifest does not say whether the recipe builds CUDA"

    def arch(self) -> ArchSelection | None:
        return self.manifest.arch if self.manifest else None

    def python_executable(self) -> str | None:
        py = self.manifest.python if self.manifest else None
        return str(py.executable) if py else None

    def moved_from(self, prefix: Path) -> Path | None:
        """The prefix the manifest was written for, when it is not ``prefix`` (a copied or moved prefix)."""
        named = self.manifest.prefix if self.manifest else ""
        if not named or os.path.realpath(named) == os.path.realpath(prefix):
            return None
        return Path(named)

    def python_module_dir(self, prefix: Path) -> Path | None:
        """The folder holding the prefix's ``cv2`` package (for PYTHONPATH), following a moved prefix."""
        path = self.manifest.module_dir if self.manifest else None
        if path is None:
            return None
        old = self.moved_from(prefix)
        if old is not None and path.is_relative_to(old):  # a moved prefix: its cv2 moved with it
            path = prefix / path.relative_to(old)
        if not path.is_absolute():
            path = prefix / path
        return path.parent if path.name == "cv2" else path

    def source_dirs(self) -> list[Path]:
        """The source folders the manifest names (the opencv tree; a local source's directory)."""
        source = self.manifest.source if self.manifest else None
        if source is None:
            return []
        values = [source.opencv_dir]
        if source.spec.kind == "local" and source.spec.location:
            values.append(Path(source.spec.location))
        return [p for p in dict.fromkeys(values) if p.is_dir()]


def read_manifest_json(prefix: Path) -> ManifestFacts:
    return ManifestFacts.of(load_manifest(prefix))


def python_module_dirs(prefix: Path, manifest: ManifestFacts, python_version: str | None) -> list[Path]:
    """Where the prefix keeps Python modules (cv2, cvcuda_zerocopy): the manifest's dir, then the usual."""
    dirs: list[Path] = []
    named = manifest.python_module_dir(prefix)
    if named is not None:
        dirs.append(named)
    short = ".".join(python_version.split(".")[:2]) if python_version else None
    for lib in ("lib", "lib64"):
        for kind in ("site-packages", "dist-packages"):
            pattern = f"python{short}/{kind}" if short else f"python3*/{kind}"
            dirs += sorted(p for p in (prefix / lib).glob(pattern) if p.is_dir())
    return list(dict.fromkeys(dirs))


def resolve_env(
    prefix: Path, manifest: ManifestFacts, python_version: str | None, base: Mapping[str, str]
) -> tuple[dict[str, str], str]:
    """The environment ``cvcuda-setup env`` gives for the prefix (``envvars.prefix_env``) over ``base``, and
    where it came from; the same environment from the layout alone (``envvars.layout_env``) when envvars
    refuses the prefix (no manifest, no OpenCV)."""
    if manifest.manifest is not None:
        try:
            values = prefix_env(prefix).resolved(dict(base))
        except CvCudaSetupError as exc:
            why = f"cvcuda-setup env refuses this prefix: {exc}"
        else:
            return {**base, **values}, "cvcuda-setup env (envvars.prefix_env)"
    else:
        why = "no manifest, so cvcuda-setup env refuses this prefix"
    layout = layout_env(prefix, python_module_dirs(prefix, manifest, python_version))
    return {**base, **layout.resolved(dict(base))}, f"derived from the prefix's layout ({why})"


@dataclass
class Context:
    """Shared state of one verify run; the expensive probes are run once and cached."""

    options: VerifyOptions
    prefix: Path
    manifest: ManifestFacts
    python: str
    python_version: str | None
    env: dict[str, str]
    #: The prefix's own environment (``cvcuda-setup env``) for C++ programs linked against it: ``env``,
    #: except with ``--wheel``, where the cv2 under test runs without the prefix's paths but they need them.
    prefix_env: dict[str, str]
    tool: Path
    work: Path
    #: Where ``env`` came from (``cvcuda-setup env``, or the prefix's layout and why).
    env_source: str = ""
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def tool_exists(self) -> bool:
        return self.tool.is_file() and os.access(self.tool, os.X_OK)

    def tool_missing_reason(self) -> str:
        return f"check tool {self.tool} not found (build the zero-copy plugin into this prefix first)"

    def run_tool(self, *args: str, timeout: float = 120.0) -> ProcResult:
        return run_tool(self.tool, list(args), self.env, timeout=timeout)

    def run_worker(self, command: str, request: Mapping[str, Any], *, timeout: float = 300.0) -> ProcResult:
        return run_worker(self.python, command, request, work=self.work, env=self.env, timeout=timeout)

    def cv2info(self) -> ProcResult:
        if "cv2info" not in self._cache:
            self._cache["cv2info"] = self.run_worker("cv2info", {}, timeout=120.0)
        result: ProcResult = self._cache["cv2info"]
        return result

    def build_info(self) -> BuildInfo | None:
        data = self.cv2info().data or {}
        text = data.get("build_information")
        return parse_build_info(text) if isinstance(text, str) else None

    def tool_device_info(self) -> ProcResult | None:
        """The tool's ``device-info`` (None when the tool is not installed)."""
        if not self.tool_exists:
            return None
        if "device-info" not in self._cache:
            self._cache["device-info"] = self.run_tool("device-info", timeout=60.0)
        result: ProcResult = self._cache["device-info"]
        return result

    def device_worker(self, index: int) -> ProcResult:
        """The worker's ``device`` command for one device (cached; the device and arch checks share it)."""
        key = f"device:{index}"
        if key not in self._cache:
            self._cache[key] = self.run_worker("device", {"device": index}, timeout=120.0)
        result: ProcResult = self._cache[key]
        return result

    def cuda_skip_reason(self) -> str | None:
        """Set when the manifest says the build is CPU-only: the CUDA checks do not apply."""
        intended, why = self.manifest.cuda_intended()
        if intended is False:
            return f"CPU-only build: {why}"
        return None


def choose_python(options: VerifyOptions, manifest: ManifestFacts) -> str:
    if options.python:
        return options.python
    named = manifest.python_executable()
    if named:
        if not Path(named).exists():
            raise UsageError(
                f"the manifest's Python {named!r} does not exist",
                hint="pass the interpreter the bindings were built for with --python",
            )
        return named
    return sys.executable
