"""``<prefix>/share/cvcuda-setup/manifest.json``: the typed model of a prefix, with its one reader and writer.

What was built, from what, how, and what OpenCV says. The file is also the ownership marker of a prefix: a
directory holding it was installed by cvcuda-setup. ``Manifest`` is the model (nested frozen records that
reuse ``ArchSelection``, ``SourceTree``, ``AppliedPatch`` and ``BuildSummary``) and this module also finds,
reads and writes the file on disk. Its JSON form has one writer and one reader (``manifestjson``): the reader
reads every schema in ``READABLE_SCHEMAS`` and refuses any other with a one-line error.

Format (``schema`` = ``cvcuda-setup/manifest/2``; every key always present, unknown values null)::

    schema, tool_version, created (UTC ISO 8601), prefix, build_dir, opencv_version,
    recipe      {name, path, cuda, python, build_type, modules}
    cmake_options {NAME: VALUE}                  the final -D options, in plan order
    arch        {bin: ["9.0"], ptx: [], origin, requested}
    toolchain   {cmake, cmake_version, cxx_compiler, cxx_compiler_id, cxx_compiler_version,
                 cuda_version, nvcc, cuda_host_compiler, cudnn_version, cuda_toolkit_root, launcher, jobs}
    source      {kind, location, sha256, opencv_version, opencv_dir, contrib_dir, pruned, commits}
    durations   {configure, build, install}       seconds; configure null when it was not needed
    patches     [{name, path, sha256, tree}]
    python      {executable, version, module_dir, numpy_version}  module_dir: the installed cv2 package
    summary     {opencv_version, modules_built, modules_disabled, modules_unavailable, cuda, cuda_line,
                 cuda_version, gpu_arch, ptx_arch, cudnn, python_interpreter, python_install_path,
                 install_prefix}                  parsed from OpenCV's own configure output

Schema 1 (written up to cvcuda-setup 0.1) is schema 2 without ``toolchain.cuda_toolkit_root`` and
``python.numpy_version``; it reads with those as None.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvcuda_setup.atomicio import write_json
from cvcuda_setup.configlog import BuildSummary
from cvcuda_setup.errors import InstallError
from cvcuda_setup.model import AppliedPatch, ArchSelection, PythonInfo, SourceTree

SCHEMA = "cvcuda-setup/manifest/2"
#: The schemas ``manifest_from_json`` reads: the current one and every one written before it.
READABLE_SCHEMAS = ("cvcuda-setup/manifest/1", SCHEMA)
MANIFEST_RELPATH = Path("share") / "cvcuda-setup" / "manifest.json"


# --- the manifest -----------------------------------------------------------------------------------------


class ManifestSchemaError(InstallError):
    """The manifest was written by a newer (or foreign) writer whose format this version cannot read."""


@dataclass(frozen=True)
class RecipeFacts:
    """The recipe the prefix was built from."""

    name: str
    path: str = ""
    #: Whether the recipe builds CUDA modules; None when the manifest does not say.
    cuda: bool | None = None
    python: bool = False
    build_type: str = ""
    modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class ToolchainFacts:
    """The tools the build ran with, as the plan chose them and CMake recorded them."""

    cmake: str | None = None
    cmake_version: str | None = None
    cxx_compiler: str | None = None
    cxx_compiler_id: str | None = None
    cxx_compiler_version: str | None = None
    cuda_version: str | None = None
    nvcc: str | None = None
    cuda_host_compiler: str | None = None
    cudnn_version: str | None = None
    #: The CUDA toolkit the build used (schema 2; None when unknown or a CPU-only build).
    cuda_toolkit_root: str | None = None
    launcher: str | None = None
    jobs: int | None = None


@dataclass(frozen=True)
class PythonFacts:
    """The interpreter the bindings were built for and where its ``cv2`` package was installed."""

    executable: Path
    version: str
    #: The installed ``cv2`` package folder (absolute), None when none was found.
    module_dir: Path | None = None
    #: numpy the bindings were compiled against (schema 2).
    numpy_version: str | None = None

    @classmethod
    def of(cls, info: PythonInfo, module_dir: Path | None) -> PythonFacts:
        return cls(info.executable, info.version, module_dir, info.numpy_version)


@dataclass(frozen=True)
class Manifest:
    """The typed model of a prefix: what was built, from what, how, and what OpenCV says."""

    opencv_version: str
    prefix: str
    recipe: RecipeFacts
    build_dir: str = ""
    #: The final ``-D`` options, in plan order.
    cmake_options: Mapping[str, str] = field(default_factory=dict)
    arch: ArchSelection | None = None
    toolchain: ToolchainFacts = field(default_factory=ToolchainFacts)
    source: SourceTree | None = None
    #: Seconds per step (``configure``, ``build``, ``install``); None for a step that was not needed.
    durations: Mapping[str, float | None] = field(default_factory=dict)
    patches: tuple[AppliedPatch, ...] = ()
    python: PythonFacts | None = None
    summary: BuildSummary = field(default_factory=BuildSummary)
    created: str = ""
    tool_version: str = ""
    #: The binary cache key of the build (``cachekey.CacheKey.to_json()``); None before keys, or unknown.
    cache_key: Mapping[str, Any] | None = None
    schema: str = SCHEMA
    #: Keys of a newer writer this version does not know, kept verbatim.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def recipe_name(self) -> str:
        return self.recipe.name

    @property
    def module_dir(self) -> Path | None:
        """The installed ``cv2`` package directory, or None for a build without Python bindings."""
        return self.python.module_dir if self.python else None

    @property
    def cuda_toolkit_root(self) -> Path | None:
        root = self.toolchain.cuda_toolkit_root
        return Path(root) if root else None

    def option(self, name: str) -> str | None:
        return self.cmake_options.get(name)

    def to_json(self) -> dict[str, Any]:
        """The document ``write_manifest`` writes (the format in this module's docstring)."""
        from cvcuda_setup.manifestjson import manifest_to_json

        return manifest_to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, origin: str = "manifest") -> Manifest:
        """Read a document of any schema this version knows (``READABLE_SCHEMAS``)."""
        from cvcuda_setup.manifestjson import manifest_from_json

        return manifest_from_json(data, origin=origin)


def manifest_path(prefix: Path) -> Path:
    return prefix / MANIFEST_RELPATH


def write_manifest(root: Path, manifest: Manifest) -> Path:
    """Write the manifest under ``root`` (the staged prefix), atomically (temp file, then rename)."""
    return write_json(manifest_path(root), manifest.to_json(), indent=2)


@dataclass(frozen=True)
class ManifestFile:
    """The prefix's manifest as found on disk: the document as written and its typed model, or why not."""

    path: Path
    #: The JSON object as written (what a wheel carries and verify compares); None when unreadable.
    document: dict[str, Any] | None
    manifest: Manifest | None
    #: Why ``manifest`` is None (missing, unreadable, not JSON, unknown schema).
    error: str | None


def _read_document(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InstallError(f"{path} cannot be read: {exc}", hint="rebuild into this prefix") from None
    if not isinstance(data, dict):
        raise InstallError(f"{path} is not a JSON object", hint="rebuild into this prefix")
    return data


def load_manifest(prefix: Path) -> ManifestFile:
    """The prefix's manifest, never raising: a missing or unreadable one says why in ``error``."""
    path = manifest_path(prefix)
    if not path.is_file():
        return ManifestFile(path, None, None, f"{path} does not exist")
    try:
        data = _read_document(path)
    except InstallError as exc:
        return ManifestFile(path, None, None, exc.message)
    try:
        return ManifestFile(path, data, Manifest.from_json(data, origin=str(path)), None)
    except InstallError as exc:
        return ManifestFile(path, data, None, exc.message)


def read_manifest(prefix: Path) -> Manifest | None:
    """The prefix's manifest; None when there is none; ``InstallError`` when it is there but unreadable."""
    path = manifest_path(prefix)
    if not path.is_file():
        return None
    return Manifest.from_json(_read_document(path), origin=str(path))


def find_module_dir(root: Path) -> Path | None:
    """The ``cv2`` package under a prefix: ``lib*/python3*/{site,dist}-packages/cv2``."""
    hits = sorted(
        p
        for pattern in ("lib*/python3*/site-packages/cv2", "lib*/python3*/dist-packages/cv2")
        for p in root.glob(pattern)
        if p.is_dir()
    )
    return hits[0] if hits else None


def has_extension(module_dir: Path) -> bool:
    """True when the cv2 package holds a compiled extension (``python-3.X/cv2*.so``)."""
    return any(module_dir.glob("python-3*/cv2*.so")) or any(module_dir.glob("cv2*.so"))


def summary_lines(manifest: Manifest) -> list[str]:
    """The build summary printed at the end of a build (what OpenCV itself says it built)."""
    s = manifest.summary
    lines = [
        f"OpenCV {manifest.opencv_version} (recipe {manifest.recipe_name}) installed into {manifest.prefix}",
        f"  modules:   {' '.join(s.modules_built) or '?'}",
    ]
    if s.cuda is None:
        lines.append("  CUDA:      not part of this build")
    else:
        lines.append(f"  CUDA:      {s.cuda_line or ('YES' if s.cuda else 'NO')}")
        if s.gpu_arch:
            lines.append(f"  GPU arch:  {' '.join(s.gpu_arch)}  PTX: {' '.join(s.ptx_arch) or '-'}")
    if manifest.python:
        lines.append(f"  Python:    {manifest.python.executable} -> {manifest.python.module_dir}")
    durations = ", ".join(
        f"{k} {v:.0f} s" if isinstance(v, int | float) else f"{k} skipped"
        for k, v in manifest.durations.items()
    )
    lines.append(f"  took:      {durations}")
    lines.append(f"  manifest:  {manifest_path(Path(manifest.prefix))}")
    return lines
