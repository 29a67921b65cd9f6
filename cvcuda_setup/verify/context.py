"""What every check needs: the options, the prefix's manifest, the target interpreter and its environment.

The manifest is read as JSON from ``<prefix>/share/cvcuda-setup/manifest.json`` (the documented file format),
so verify works whichever version of ``manifest.py`` wrote it. The environment is the prefix's: ``bin`` on
PATH, ``lib`` on LD_LIBRARY_PATH, the Python module dirs on PYTHONPATH, each prepended to the caller's value,
which is what ``eval "$(cvcuda-setup env)"`` gives a shell.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cvcuda_setup.errors import CvCudaSetupError, UsageError
from cvcuda_setup.model import ArchSelection
from cvcuda_setup.verify.buildinfo import BuildInfo, normalize_arch, parse_build_info
from cvcuda_setup.verify.images import SIZES
from cvcuda_setup.verify.procs import ProcResult, run_tool, run_worker

MANIFEST_RELPATH = Path("share") / "cvcuda-setup" / "manifest.json"

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
    path: Path
    data: dict[str, Any] | None
    #: Why ``data`` is None (missing, unreadable, not JSON).
    error: str | None

    @property
    def recipe_name(self) -> str | None:
        recipe = (self.data or {}).get("recipe")
        if isinstance(recipe, str):
            return recipe
        if isinstance(recipe, Mapping) and isinstance(recipe.get("name"), str):
            return str(recipe["name"])
        return None

    @property
    def opencv_version(self) -> str | None:
        value = (self.data or {}).get("opencv_version")
        return str(value) if value else None

    def cmake_option(self, name: str) -> str | None:
        options = (self.data or {}).get("cmake_options")
        if isinstance(options, Mapping):
            value = options.get(name)
        elif isinstance(options, list):
            pairs = [p for p in options if isinstance(p, list | tuple) and len(p) == 2]
            value = dict((str(k), v) for k, v in pairs).get(name)
        else:
            value = None
        if value is None:
            return None
        if isinstance(value, bool):
            return "ON" if value else "OFF"
        return str(value)

    def cuda_intended(self) -> tuple[bool | None, str]:
        """Whether the build was meant to have CUDA, and where that was read from."""
        if self.data is None:
            return None, f"no manifest ({self.error})"
        recipe = self.data.get("recipe")
        name = self.recipe_name or "?"
        if isinstance(recipe, Mapping) and isinstance(recipe.get("cuda"), bool):
            return bool(recipe["cuda"]), f"recipe {name!r} has cuda={str(recipe['cuda']).lower()}"
        with_cuda = self.cmake_option("WITH_CUDA")
        if with_cuda is not None:
            on = with_cuda.strip().upper() in ("ON", "TRUE", "1", "YES", "Y")
            return on, f"recipe {name!r} built with WITH_CUDA={with_cuda}"
        if self.recipe_name:
            try:
                from cvcuda_setup.recipes import load_recipe

                return load_recipe(
                    self.recipe_name
                ).cuda, f"recipe {name!r} has cuda={load_recipe(name).cuda}"
            except Exception as exc:
                return None, f"recipe {name!r} cannot be read ({exc})"
        return None, "the manifest names no recipe"

    def arch(self) -> ArchSelection | None:
        arch = (self.data or {}).get("arch")
        if not isinstance(arch, Mapping):
            return None
        bins = [normalize_arch(str(v)) for v in arch.get("bin") or []]
        ptxs = [normalize_arch(str(v)) for v in arch.get("ptx") or []]
        return ArchSelection(
            bin=tuple(b for b in bins if b),
            ptx=tuple(p for p in ptxs if p),
            origin="explicit",
            requested="manifest",
        )

    def python_executable(self) -> str | None:
        py = (self.data or {}).get("python")
        if isinstance(py, Mapping) and py.get("executable"):
            return str(py["executable"])
        return None

    def moved_from(self, prefix: Path) -> Path | None:
        """The prefix the manifest was written for, when it is not ``prefix`` (a copied or moved prefix)."""
        named = (self.data or {}).get("prefix")
        if not isinstance(named, str) or not named:
            return None
        if os.path.realpath(named) == os.path.realpath(prefix):
            return None
        return Path(named)

    def python_module_dir(self, prefix: Path) -> Path | None:
        py = (self.data or {}).get("python")
        if not isinstance(py, Mapping) or not py.get("module_dir"):
            return None
        path = Path(str(py["module_dir"]))
        old = self.moved_from(prefix)
        if old is not None and path.is_relative_to(old):  # a moved prefix: its cv2 moved with it
            path = prefix / path.relative_to(old)
        if not path.is_absolute():
            path = prefix / path
        return path.parent if path.name == "cv2" else path

    def source_dirs(self) -> list[Path]:
        """Directories the manifest names for the sources (any of the keys writers have used)."""
        data = self.data or {}
        values: list[Any] = [data.get("source_dir"), data.get("opencv_dir")]
        source = data.get("source")
        if isinstance(source, Mapping):
            values += [source.get(k) for k in ("opencv_dir", "source_dir", "location", "path")]
        elif isinstance(source, str):
            values.append(source)
        out = []
        for value in values:
            if isinstance(value, str) and value and "://" not in value:
                path = Path(value)
                if path.is_dir() and path not in out:
                    out.append(path)
        return out


def read_manifest_json(prefix: Path) -> ManifestFacts:
    path = prefix / MANIFEST_RELPATH
    if not path.is_file():
        return ManifestFacts(path, None, f"{path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return ManifestFacts(path, None, f"{path} cannot be read: {exc}")
    if not isinstance(data, dict):
        return ManifestFacts(path, None, f"{path} is not a JSON object")
    return ManifestFacts(path, data, None)


def _prepend(env: dict[str, str], name: str, paths: list[Path]) -> None:
    entries = [str(p) for p in dict.fromkeys(paths)]
    old = env.get(name, "")
    env[name] = os.pathsep.join(entries + ([old] if old else []))


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


def layout_env(prefix: Path, module_dirs: list[Path], base: Mapping[str, str]) -> dict[str, str]:
    """The prefix's environment derived from its layout (when ``envvars`` cannot give it: no manifest)."""
    env = dict(base)
    _prepend(env, "PATH", [prefix / "bin"])
    _prepend(
        env,
        "LD_LIBRARY_PATH",
        [p for p in (prefix / "lib", prefix / "lib64") if p.is_dir()] or [prefix / "lib"],
    )
    if module_dirs:
        _prepend(env, "PYTHONPATH", module_dirs)
    return env


def resolve_env(
    prefix: Path, manifest: ManifestFacts, python_version: str | None, base: Mapping[str, str]
) -> tuple[dict[str, str], str]:
    """The environment ``cvcuda-setup env`` gives for the prefix (``envvars.prefix_env``) over ``base``, and
    where it came from; derived from the layout when envvars refuses the prefix (no manifest, no OpenCV)."""
    why = "cvcuda_setup.envvars is not available"
    if manifest.data is not None:
        try:
            from cvcuda_setup.envvars import prefix_env
        except ImportError:
            pass
        else:
            try:
                values = prefix_env(prefix).resolved(dict(base))
            except CvCudaSetupError as exc:
                why = f"cvcuda-setup env refuses this prefix: {exc}"
            except Exception as exc:  # a bug there must not stop verify; the report says which env was used
                why = f"cvcuda-setup env failed: {type(exc).__name__}: {exc}"
            else:
                return {**base, **values}, "cvcuda-setup env (envvars.prefix_env)"
    else:
        why = "no manifest, so cvcuda-setup env refuses this prefix"
    env = layout_env(prefix, python_module_dirs(prefix, manifest, python_version), base)
    return env, f"derived from the prefix's layout ({why})"


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
