"""``<prefix>/share/cvcuda-setup/manifest.json``: the typed model of a prefix, with its one reader and writer.

What was built, from what, how, and what OpenCV says. The file is also the ownership marker of a prefix: a
directory holding it was installed by cvcuda-setup. ``Manifest`` is the model (nested frozen records that
reuse ``ArchSelection``, ``SourceTree``, ``AppliedPatch`` and ``BuildSummary``); ``manifest_to_json`` is the
one writer and ``manifest_from_json`` the one reader, which reads every schema in ``READABLE_SCHEMAS`` and
refuses any other with a one-line error.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cvcuda_setup.atomicio import write_json
from cvcuda_setup.configlog import BuildSummary
from cvcuda_setup.errors import InstallError
from cvcuda_setup.model import AppliedPatch, ArchSelection, PythonInfo, SourceSpec, SourceTree, jsonable

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
        return manifest_to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, origin: str = "manifest") -> Manifest:
        """Read a document of any schema this version knows (``READABLE_SCHEMAS``)."""
        return manifest_from_json(data, origin=origin)


# --- the one writer ---------------------------------------------------------------------------------------


def _arch_json(arch: ArchSelection | None) -> dict[str, Any]:
    if arch is None:
        return {}
    return {"bin": list(arch.bin), "ptx": list(arch.ptx), "origin": arch.origin, "requested": arch.requested}


def _source_json(tree: SourceTree | None) -> dict[str, Any]:
    if tree is None:
        return {}
    return {
        "kind": tree.spec.kind,
        "location": tree.spec.location,
        "sha256": tree.sha256,
        "opencv_version": tree.opencv_version,
        "opencv_dir": str(tree.opencv_dir),
        "contrib_dir": str(tree.contrib_dir) if tree.contrib_dir else None,
        "pruned": tree.pruned,
        "commits": dict(tree.commits) if tree.commits else None,
    }


def _python_json(py: PythonFacts | None) -> dict[str, Any] | None:
    if py is None:
        return None
    return {
        "executable": str(py.executable),
        "version": py.version,
        "module_dir": str(py.module_dir) if py.module_dir else None,
        "numpy_version": py.numpy_version,
    }


def manifest_to_json(m: Manifest) -> dict[str, Any]:
    recipe = asdict(m.recipe)
    recipe["modules"] = list(m.recipe.modules)
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "tool_version": m.tool_version,
        "created": m.created,
        "prefix": m.prefix,
        "build_dir": m.build_dir,
        "opencv_version": m.opencv_version,
        "recipe": recipe,
        "cmake_options": dict(m.cmake_options),
        "arch": _arch_json(m.arch),
        "toolchain": asdict(m.toolchain),
        "source": _source_json(m.source),
        "durations": dict(m.durations),
        "patches": [p.to_json() for p in m.patches],
        "python": _python_json(m.python),
        "summary": m.summary.to_json(),
    }
    data: dict[str, Any] = jsonable({**out, **{k: v for k, v in m.extra.items() if k not in out}})
    return data


# --- the one reader ---------------------------------------------------------------------------------------


def _str(value: object) -> str | None:
    return str(value) if value is not None and value != "" else None


def _strs(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _recipe(value: object) -> RecipeFacts:
    data = _map(value)
    cuda = data.get("cuda")
    return RecipeFacts(
        name=str(data.get("name") or ""),
        path=str(data.get("path") or ""),
        cuda=cuda if isinstance(cuda, bool) else None,
        python=bool(data.get("python")),
        build_type=str(data.get("build_type") or ""),
        modules=_strs(data.get("modules")),
    )


def _arch(value: object) -> ArchSelection | None:
    data = _map(value)
    if not data:
        return None
    origin = data.get("origin")
    return ArchSelection(
        bin=_strs(data.get("bin")),
        ptx=_strs(data.get("ptx")),
        origin=origin if origin in ("auto", "explicit", "none") else "explicit",
        requested=str(data.get("requested") or ""),
    )


def _toolchain(value: object) -> ToolchainFacts:
    data = _map(value)
    jobs = data.get("jobs")
    names = [f for f in ToolchainFacts.__dataclass_fields__ if f != "jobs"]
    return ToolchainFacts(
        **{name: _str(data.get(name)) for name in names}, jobs=jobs if isinstance(jobs, int) else None
    )


def _source(value: object) -> SourceTree | None:
    data = _map(value)
    if not data.get("kind") or not data.get("opencv_dir"):
        return None
    version = str(data.get("opencv_version") or "")
    kind = str(data["kind"])
    if kind not in ("git", "sdist", "tarball", "local", "bundle"):
        return None
    commits = data.get("commits")
    return SourceTree(
        spec=SourceSpec(
            kind=kind,  # type: ignore[arg-type]  # checked above
            location=str(data.get("location") or ""),
            opencv_version=version,
            sha256=_str(data.get("sha256")),
        ),
        opencv_dir=Path(str(data["opencv_dir"])),
        contrib_dir=Path(str(data["contrib_dir"])) if data.get("contrib_dir") else None,
        opencv_version=version,
        sha256=_str(data.get("sha256")),
        pruned=bool(data.get("pruned")),
        commits={str(k): str(v) for k, v in commits.items()} if isinstance(commits, Mapping) else None,
    )


def _patches(value: object) -> tuple[AppliedPatch, ...]:
    out = []
    for item in value if isinstance(value, list) else []:
        tree = _map(item).get("tree")
        if tree in ("opencv", "opencv_contrib"):
            out.append(
                AppliedPatch(
                    name=str(item.get("name") or ""),
                    path=Path(str(item.get("path") or "")),
                    sha256=str(item.get("sha256") or ""),
                    tree=tree,
                )
            )
    return tuple(out)


def _python(value: object) -> PythonFacts | None:
    data = _map(value)
    if not data.get("executable"):
        return None
    return PythonFacts(
        executable=Path(str(data["executable"])),
        version=str(data.get("version") or ""),
        module_dir=Path(str(data["module_dir"])) if data.get("module_dir") else None,
        numpy_version=_str(data.get("numpy_version")),
    )


def _summary(value: object) -> BuildSummary:
    data = _map(value)
    values: dict[str, Any] = {}
    for name, spec in BuildSummary.__dataclass_fields__.items():
        if name not in data:
            continue
        raw = data[name]
        if spec.type == "tuple[str, ...]":
            values[name] = _strs(raw)
        elif name == "cuda":
            values[name] = raw if isinstance(raw, bool) else None
        elif name == "cuda_line":
            values[name] = str(raw or "")
        else:
            values[name] = _str(raw)
    return BuildSummary(**values)


def _durations(value: object) -> dict[str, float | None]:
    return {str(k): float(v) if isinstance(v, int | float) else None for k, v in _map(value).items()}


def manifest_from_json(data: Mapping[str, Any], *, origin: str = "manifest") -> Manifest:
    schema = data.get("schema")
    if schema not in READABLE_SCHEMAS:
        raise ManifestSchemaError(
            f"{origin} has schema {schema!r}; this cvcuda-setup reads only {', '.join(READABLE_SCHEMAS)}",
            hint="use the cvcuda-setup version that built this prefix, or rebuild into it",
        )
    missing = [k for k in ("opencv_version", "prefix", "recipe") if k not in data]
    if missing:
        raise InstallError(f"{origin} lacks {', '.join(missing)}", hint="rebuild into this prefix")
    return Manifest(
        opencv_version=str(data["opencv_version"]),
        prefix=str(data["prefix"]),
        build_dir=str(data.get("build_dir") or ""),
        recipe=_recipe(data.get("recipe")),
        cmake_options={str(k): str(v) for k, v in _map(data.get("cmake_options")).items()},
        arch=_arch(data.get("arch")),
        toolchain=_toolchain(data.get("toolchain")),
        source=_source(data.get("source")),
        durations=_durations(data.get("durations")),
        patches=_patches(data.get("patches")),
        python=_python(data.get("python")),
        summary=_summary(data.get("summary")),
        created=str(data.get("created") or ""),
        tool_version=str(data.get("tool_version") or ""),
        schema=str(schema),
        extra={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
    )


_KNOWN_KEYS = frozenset(
    {"schema", "tool_version", "created", "prefix", "build_dir", "opencv_version", "recipe", "cmake_options"}
    | {"arch", "toolchain", "source", "durations", "patches", "python", "summary"}
)


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
