"""The manifest's JSON form: ``manifest_to_json``, the one writer, and ``manifest_from_json``, the one reader.

The format is in ``cvcuda_setup.manifest``'s docstring. The reader reads every schema in ``READABLE_SCHEMAS``
(a missing key reads as its default) and refuses any other with a one-line error; keys of a newer writer
are kept verbatim in ``Manifest.extra`` and written back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cvcuda_setup.configlog import BuildSummary
from cvcuda_setup.errors import InstallError
from cvcuda_setup.manifest import (
    READABLE_SCHEMAS,
    SCHEMA,
    Manifest,
    ManifestSchemaError,
    PythonFacts,
    RecipeFacts,
    ToolchainFacts,
)
from cvcuda_setup.model import AppliedPatch, ArchSelection, SourceSpec, SourceTree, jsonable

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
    if m.cache_key is not None:
        out["cache_key"] = dict(m.cache_key)
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
        cache_key=_map(data.get("cache_key")) or None,
        schema=str(schema),
        extra={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
    )


_KNOWN_KEYS = frozenset(
    {"schema", "tool_version", "created", "prefix", "build_dir", "opencv_version", "recipe", "cmake_options"}
    | {"arch", "toolchain", "source", "durations", "patches", "python", "summary", "cache_key"}
)
