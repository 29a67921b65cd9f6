"""``<prefix>/share/cvcuda-setup/manifest.json``: what was built, from what, how, and what OpenCV says.

The file is also the ownership marker of a prefix: a directory holding it was installed by cvcuda-setup.
Format (``schema`` = ``cvcuda-setup/manifest/1``; every key always present, unknown values null)::

    schema, tool_version, created (UTC ISO 8601), prefix, build_dir, opencv_version,
    recipe      {name, path, cuda, python, build_type, modules}
    cmake_options {NAME: VALUE}                  the final -D options, in plan order
    arch        {bin: ["9.0"], ptx: [], origin, requested}
    toolchain   {cmake, cmake_version, cxx_compiler, cxx_compiler_id, cxx_compiler_version,
                 cuda_version, nvcc, cuda_host_compiler, cudnn_version, launcher, jobs}
    source      {kind, location, sha256, opencv_version, opencv_dir, contrib_dir, pruned}
    durations   {configure, build, install}       seconds; configure null when it was not needed
    patches     [{name, path, sha256, tree}]
    python      {executable, version, module_dir}  module_dir: the installed cv2 package (absolute)
    summary     {opencv_version, modules_built, modules_disabled, modules_unavailable, cuda, cuda_line,
                 cuda_version, gpu_arch, ptx_arch, cudnn, python_interpreter, python_install_path,
                 install_prefix}                  parsed from OpenCV's own configure output
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cvcuda_setup.errors import InstallError
from cvcuda_setup.model import jsonable

SCHEMA = "cvcuda-setup/manifest/1"
MANIFEST_RELPATH = Path("share") / "cvcuda-setup" / "manifest.json"


# --- OpenCV's configure summary -------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildSummary:
    """The "General configuration for OpenCV" block of the configure output, the parts that matter here."""

    opencv_version: str | None = None
    modules_built: tuple[str, ...] = ()
    modules_disabled: tuple[str, ...] = ()
    modules_disabled_by_dependency: tuple[str, ...] = ()
    modules_unavailable: tuple[str, ...] = ()
    #: None when the summary has no "NVIDIA CUDA:" line (a build with WITH_CUDA=OFF prints none).
    cuda: bool | None = None
    cuda_line: str = ""
    cuda_version: str | None = None
    gpu_arch: tuple[str, ...] = ()
    ptx_arch: tuple[str, ...] = ()
    cudnn: str | None = None
    python_interpreter: str | None = None
    python_install_path: str | None = None
    install_prefix: str | None = None

    @property
    def found(self) -> bool:
        """True when the log held the summary block at all (a failed configure prints none)."""
        return self.opencv_version is not None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(asdict(self))
        return data


def _field(block: str, label: str) -> str | None:
    match = re.search(rf"^--\s+{re.escape(label)}:[ \t]*(.*)$", block, re.MULTILINE)
    return match.group(1).strip() if match else None


def _words(value: str | None) -> tuple[str, ...]:
    return tuple(value.split()) if value else ()


def parse_configure_summary(text: str) -> BuildSummary:
    """Parse the last summary block of a configure log (a re-configure appends another one)."""
    starts = [m.start() for m in re.finditer(r"^--\s+General configuration for OpenCV", text, re.MULTILINE)]
    if not starts:
        return BuildSummary()
    block = text[starts[-1] :]
    end = re.search(r"^--\s+-{20,}", block, re.MULTILINE)
    if end:
        block = block[: end.end()]
    header = re.match(r"--\s+General configuration for OpenCV\s+(\S+)", block)
    cuda_line = _field(block, "NVIDIA CUDA") or ""
    version = re.search(r"ver\s+([\d.]+)", cuda_line)
    python_block = re.search(r"^--\s+Python 3:\s*$(?P<body>(?:\n--\s{5,}.*)*)", block, re.MULTILINE)
    interpreter = install_path = None
    if python_block:
        body = python_block.group("body")
        interpreter = _field(body, "Interpreter")
        install_path = _field(body, "install path")
    return BuildSummary(
        opencv_version=header.group(1) if header else None,
        modules_built=_words(_field(block, "To be built")),
        modules_disabled=_words(_field(block, "Disabled")),
        modules_disabled_by_dependency=_words(_field(block, "Disabled by dependency")),
        modules_unavailable=_words(_field(block, "Unavailable")),
        cuda=cuda_line.upper().startswith("YES") if cuda_line else None,
        cuda_line=cuda_line,
        cuda_version=version.group(1) if version else None,
        gpu_arch=_words(_field(block, "NVIDIA GPU arch")),
        ptx_arch=_words(_field(block, "NVIDIA PTX archs")),
        cudnn=_field(block, "cuDNN"),
        python_interpreter=interpreter,
        python_install_path=install_path,
        install_prefix=_field(block, "Install to"),
    )


# --- CMake's cache and compiler files ---------------------------------------------------------------------

_CACHE_LINE = re.compile(r"^([^#/][^:=]*):([A-Z]+)=(.*)$")


def read_cmake_cache(build_dir: Path) -> dict[str, str]:
    """``NAME -> VALUE`` from ``CMakeCache.txt`` (empty when there is none)."""
    try:
        text = (build_dir / "CMakeCache.txt").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        match = _CACHE_LINE.match(line)
        if match:
            out[match.group(1)] = match.group(3)
    return out


def _compiler_file(build_dir: Path, cache: dict[str, str]) -> Path | None:
    version = ".".join(cache.get(f"CMAKE_CACHE_{part}_VERSION", "") for part in ("MAJOR", "MINOR", "PATCH"))
    exact = build_dir / "CMakeFiles" / version / "CMakeCXXCompiler.cmake"
    if exact.is_file():
        return exact
    candidates = sorted(
        (build_dir / "CMakeFiles").glob("*/CMakeCXXCompiler.cmake"), key=lambda p: p.stat().st_mtime
    )
    return candidates[-1] if candidates else None


def compiler_facts(build_dir: Path) -> dict[str, str | None]:
    """The C++ compiler (path, id, version), CUDA and cuDNN versions, nvcc, as CMake recorded them."""
    cache = read_cmake_cache(build_dir)
    facts: dict[str, str | None] = {
        "cxx_compiler": cache.get("CMAKE_CXX_COMPILER") or None,
        "cxx_compiler_id": None,
        "cxx_compiler_version": None,
        "cmake_version": ".".join(
            v for v in (cache.get(f"CMAKE_CACHE_{p}_VERSION") for p in ("MAJOR", "MINOR", "PATCH")) if v
        )
        or None,
        "cuda_version": cache.get("CUDA_VERSION") or cache.get("CUDAToolkit_VERSION") or None,
        "nvcc": cache.get("CUDA_NVCC_EXECUTABLE") or cache.get("CMAKE_CUDA_COMPILER") or None,
        "cuda_host_compiler": cache.get("CUDA_HOST_COMPILER")
        or cache.get("CMAKE_CUDA_HOST_COMPILER")
        or None,
        "cudnn_version": cache.get("CUDNN_VERSION") or None,
    }
    path = _compiler_file(build_dir, cache)
    if path is not None:
        text = path.read_text(encoding="utf-8", errors="replace")
        for key, var in (
            ("cxx_compiler_id", "CMAKE_CXX_COMPILER_ID"),
            ("cxx_compiler_version", "CMAKE_CXX_COMPILER_VERSION"),
        ):
            match = re.search(rf'^set\({var} "([^"]*)"\)', text, re.MULTILINE)
            if match and match.group(1):
                facts[key] = match.group(1)
    for key in ("nvcc", "cuda_host_compiler"):
        if facts[key] and facts[key].endswith("-NOTFOUND"):  # type: ignore[union-attr]
            facts[key] = None
    return facts


# --- the manifest -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    opencv_version: str
    prefix: str
    build_dir: str
    recipe: dict[str, Any]
    cmake_options: dict[str, str]
    arch: dict[str, Any]
    toolchain: dict[str, Any]
    source: dict[str, Any]
    durations: dict[str, float | None]
    patches: list[dict[str, Any]]
    python: dict[str, Any] | None
    summary: dict[str, Any]
    created: str
    tool_version: str
    schema: str = SCHEMA
    #: Keys of a newer writer this version does not know, kept verbatim.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def recipe_name(self) -> str:
        return str(self.recipe.get("name", ""))

    @property
    def module_dir(self) -> Path | None:
        """The installed ``cv2`` package directory, or None for a build without Python bindings."""
        value = (self.python or {}).get("module_dir")
        return Path(value) if value else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        ordered = {"schema": data.pop("schema"), **data}
        out: dict[str, Any] = jsonable({**ordered, **extra})
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], *, origin: str = "manifest") -> Manifest:
        schema = data.get("schema")
        if not isinstance(schema, str) or not schema.startswith("cvcuda-setup/manifest/"):
            raise InstallError(f"{origin} has schema {schema!r}, not {SCHEMA!r}")
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        missing = [k for k in ("opencv_version", "prefix", "recipe") if k not in data]
        if missing:
            raise InstallError(f"{origin} lacks {', '.join(missing)}")
        values: dict[str, Any] = {
            "opencv_version": str(data["opencv_version"]),
            "prefix": str(data["prefix"]),
            "build_dir": str(data.get("build_dir") or ""),
            "recipe": dict(data.get("recipe") or {}),
            "cmake_options": {str(k): str(v) for k, v in (data.get("cmake_options") or {}).items()},
            "arch": dict(data.get("arch") or {}),
            "toolchain": dict(data.get("toolchain") or {}),
            "source": dict(data.get("source") or {}),
            "durations": dict(data.get("durations") or {}),
            "patches": list(data.get("patches") or []),
            "python": dict(data["python"]) if data.get("python") else None,
            "summary": dict(data.get("summary") or {}),
            "created": str(data.get("created") or ""),
            "tool_version": str(data.get("tool_version") or ""),
            "schema": schema,
        }
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extra=extra)


def manifest_path(prefix: Path) -> Path:
    return prefix / MANIFEST_RELPATH


def write_manifest(root: Path, manifest: Manifest) -> Path:
    """Write the manifest under ``root`` (the staged prefix), atomically (temp file, then rename)."""
    path = manifest_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_manifest(prefix: Path) -> Manifest | None:
    """The prefix's manifest; None when there is none; ``InstallError`` when it is there but unreadable."""
    path = manifest_path(prefix)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InstallError(f"{path} cannot be read: {exc}", hint="rebuild into this prefix") from None
    if not isinstance(data, dict):
        raise InstallError(f"{path} is not a JSON object", hint="rebuild into this prefix")
    return Manifest.from_json(data, origin=str(path))


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
        f"  modules:   {' '.join(s.get('modules_built') or []) or '?'}",
    ]
    cuda = s.get("cuda")
    if cuda is None:
        lines.append("  CUDA:      not part of this build")
    else:
        lines.append(f"  CUDA:      {s.get('cuda_line') or ('YES' if cuda else 'NO')}")
        if s.get("gpu_arch"):
            lines.append(
                f"  GPU arch:  {' '.join(s['gpu_arch'])}  PTX: {' '.join(s.get('ptx_arch') or []) or '-'}"
            )
    if manifest.python:
        lines.append(
            f"  Python:    {manifest.python.get('executable')} -> {manifest.python.get('module_dir')}"
        )
    durations = ", ".join(
        f"{k} {v:.0f} s" if isinstance(v, int | float) else f"{k} skipped"
        for k, v in manifest.durations.items()
    )
    lines.append(f"  took:      {durations}")
    lines.append(f"  manifest:  {manifest_path(Path(manifest.prefix))}")
    return lines
