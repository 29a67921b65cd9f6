"""The binary cache key of a build: a digest of everything that decides the installed binaries.

    BuildPlan + Recipe + source identity + toolchain facts (Host) + plugin sources --cache_key--> CacheKey

The parts are plain JSON values; the digest is the sha256 of ``SCHEMA``, a newline and the canonical JSON of
the parts (sorted keys, no spaces). What is left out, and why, is listed here (``HOST_PATH_OPTIONS``) and in
docs/cache.md. A part that is not known yet (a source whose sha256 only a download tells, a dry run without
nvcc) is ``null`` and named in ``CacheKey.unknown``: such a key is not ``complete`` and must not be used to
push or pull a binary.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvcuda_setup.errors import UsageError
from cvcuda_setup.hashing import sha256_file
from cvcuda_setup.model import BuildPlan, Recipe, SourceTree

if TYPE_CHECKING:
    from cvcuda_setup.host import Host

#: Written into every digest: a change to what the parts mean or how they are rendered bumps it.
SCHEMA = "cvcuda-setup/cache-key/1"

#: The plan's ``-D`` options left out of the ``cmake_options`` part, with why. Each only names a folder or
#: a program of this host; what they stand for is keyed by a part of its own, so two hosts that differ
#: only in where things live share a key. ``CMAKE_INSTALL_PREFIX`` is keyed apart, as ``install_prefix``:
#: OpenCV compiles it into libopencv_core (``OPENCV_INSTALL_PREFIX``, utils/datafile.cpp), so a binary built
#: for one prefix is not the binary for another (``cache pull --prefix`` relocates where it can).
HOST_PATH_OPTIONS: dict[str, str] = {
    "CMAKE_INSTALL_PREFIX": "keyed as its own part, `install_prefix` (compiled into libopencv_core)",
    "OPENCV_EXTRA_MODULES_PATH": "the contrib tree in this host's cache; its content is `source_sha256`",
    "CUDA_TOOLKIT_ROOT_DIR": "where this host's toolkit lives; its version is `cuda_toolkit`",
    "CMAKE_MAKE_PROGRAM": "this host's ninja; it runs the compilers, it does not change their output",
    "PYTHON3_EXECUTABLE": "this host's interpreter; its ABI is `python_abi`",
    "PYTHON3_INCLUDE_DIR": "that interpreter's headers; its ABI is `python_abi`",
    "PYTHON3_LIBRARY": "that interpreter's libpython; its ABI is `python_abi`",
    "PYTHON3_NUMPY_INCLUDE_DIRS": "numpy's headers there; numpy's major version is `numpy`",
    "CMAKE_C_COMPILER_LAUNCHER": "ccache/sccache: a cache in front of the compiler, same objects",
    "CMAKE_CXX_COMPILER_LAUNCHER": "ccache/sccache: a cache in front of the compiler, same objects",
    "CMAKE_CUDA_COMPILER_LAUNCHER": "ccache/sccache: a cache in front of the compiler, same objects",
}

#: Environment variables CMake reads on the first configure into the compile and link flags (the build runs
#: with this environment): set ones are the ``compiler_env`` part.
FLAG_ENV_VARS = ("CFLAGS", "CXXFLAGS", "CUDAFLAGS", "LDFLAGS")

#: The parts, in the order ``to_json`` lists them.
PART_NAMES = (
    "recipe",
    "cmake_options",
    "opencv_version",
    "source_sha256",
    "patches",
    "cuda_toolkit",
    "host_compiler",
    "compiler_env",
    "arch",
    "python_abi",
    "numpy",
    "libc",
    "machine",
    "plugin",
    "install_prefix",
)

#: Files under the plugin's sources that Python writes by itself (importing from the tree): not sources.
_GENERATED_DIRS = ("__pycache__",)
_GENERATED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class CacheKey:
    """The key: ``parts`` (JSON values by part name) and ``digest`` (64 hex digits) over them."""

    parts: Mapping[str, Any]
    digest: str
    #: Parts whose value is not known yet (``null`` in ``parts``); empty: the key is complete.
    unknown: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.unknown

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "digest": self.digest,
            "complete": self.complete,
            "unknown": list(self.unknown),
            "source_sha256_known": "source_sha256" not in self.unknown,
            "parts": {name: self.parts[name] for name in PART_NAMES if name in self.parts},
        }


def canonical_json(parts: Mapping[str, Any]) -> str:
    """The one rendering the digest is taken over: sorted keys, no spaces, ASCII only."""
    return json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def digest_of(parts: Mapping[str, Any]) -> str:
    """sha256 of ``SCHEMA``, a newline and the canonical JSON of ``parts``."""
    return hashlib.sha256(f"{SCHEMA}\n{canonical_json(parts)}".encode()).hexdigest()


def _version_key(value: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", value))


def recipe_part(recipe: Recipe) -> dict[str, Any]:
    """The recipe after ``extends`` was merged, as content: name, modules, flags and CMake options. Left
    out: its path and ``extends`` chain (where the content came from), description, default OpenCV version
    (the build's own version is a part) and ``bundle_keep`` (what a source bundle keeps, not the binary)."""
    return {
        "name": recipe.name,
        "modules": sorted(set(recipe.modules)),
        "contrib": recipe.contrib,
        "cuda": recipe.cuda,
        "python": recipe.python,
        "build_type": recipe.build_type,
        "tests": recipe.tests,
        "cmake": dict(recipe.cmake),
    }


def cmake_options_part(plan: BuildPlan) -> dict[str, str]:
    """The plan's resolved ``-D`` options without ``HOST_PATH_OPTIONS`` (a name is unique in the plan)."""
    return {name: value for name, value in plan.cmake_options if name not in HOST_PATH_OPTIONS}


def arch_part(plan: BuildPlan) -> dict[str, list[str]]:
    """SASS and PTX targets, each once, in numeric order (how they were asked for does not matter)."""
    return {
        "bin": sorted(set(plan.arch.bin), key=_version_key),
        "ptx": sorted(set(plan.arch.ptx), key=_version_key),
    }


def numpy_part(plan: BuildPlan) -> str | None:
    """numpy's major version the bindings are compiled against (1.x-built bindings do not load under numpy
    2; 2.x-built ones load under both), None without bindings."""
    if plan.python is None or not plan.python.numpy_version:
        return None
    return plan.python.numpy_version.split(".")[0]


def patch_digests(plan: BuildPlan) -> list[str]:
    """sha256 of each of the plan's ``--patch`` files, in the order they are applied."""
    return [sha256_file(path) for path in plan.patches]


def plugin_sources_digest(root: Path | None = None) -> str:
    """sha256 over the plugin's sources: every file under ``root`` (default ``native.native_source_dir()``:
    the wheel's ``cvcuda_setup/_data/native`` or the checkout's ``native/``), sorted by relative path, each
    as ``<relative posix path> NUL <sha256 of its bytes> LF``. Python's own ``__pycache__``/``.pyc`` files
    are not sources and are skipped, so a checkout and a wheel of the same sources agree."""
    if root is None:
        from cvcuda_setup.native import native_source_dir

        root = native_source_dir()
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(p in _GENERATED_DIRS for p in rel.parts) or path.suffix in _GENERATED_SUFFIXES:
            continue
        if path.is_file():
            files.append((rel.as_posix(), path))
    digest = hashlib.sha256()
    for rel_text, path in sorted(files):
        digest.update(f"{rel_text}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def tree_source_sha256(tree: SourceTree) -> str | None:
    """The fetched source's identity: the archive's sha256 (sdist, tarball, bundle), or for git
    ``"git opencv=<commit> opencv_contrib=<commit>"``; None for a local directory (nothing hashes it)."""
    if tree.sha256:
        return tree.sha256
    if tree.commits:
        return "git " + " ".join(f"{name}={commit}" for name, commit in sorted(tree.commits.items()))
    return None


def cache_key(
    plan: BuildPlan,
    *,
    recipe: Recipe,
    source_sha256: str | None,
    cuda_toolkit: str | None,
    host_compiler: str | None,
    python_abi: str | None,
    libc: str | None,
    machine: str | None,
    plugin_digest: str | None,
    plugin_python: bool = True,
    patch_sha256: Sequence[str] | None = None,
    compiler_env: Mapping[str, str] | None = None,
) -> CacheKey:
    """The cache key of ``plan`` (built from ``recipe``).

    ``source_sha256``: ``tree_source_sha256`` after fetching, ``sources.known_sha256`` before (None: not
    known yet). ``cuda_toolkit``: nvcc's version (``"13.0.88"``); ``host_compiler``: ``"gcc 12.2.0"``;
    ``python_abi``: ``"cp312"``; ``libc``: ``"glibc 2.36"``; ``machine``: ``"x86_64"``. ``plugin_digest``:
    ``plugin_sources_digest()``, None when the plugin is not built (``--no-plugin``); ``plugin_python``:
    whether its Python module is. ``patch_sha256``: the patches' sha256 in order; None: the plan's
    ``--patch`` files are hashed here. ``compiler_env``: the build environment (only its ``FLAG_ENV_VARS``
    that are set count; None: none set). Facts that do not decide this build are dropped (the toolkit for
    a CPU-only build without plugin, the interpreter when nothing is built for Python)."""
    if patch_sha256 is None:
        patches = patch_digests(plan)
    elif len(patch_sha256) != len(plan.patches):
        raise UsageError(
            f"{len(patch_sha256)} patch sha256 values for the plan's {len(plan.patches)} patches",
            hint="give one sha256 per --patch, in order (or None to hash the files)",
        )
    else:
        patches = [s.lower() for s in patch_sha256]
    plugin = plugin_digest is not None
    needs_cuda = recipe.cuda or plugin
    needs_python = recipe.python or (plugin and plugin_python)
    parts: dict[str, Any] = {
        "recipe": recipe_part(recipe),
        "cmake_options": cmake_options_part(plan),
        "opencv_version": plan.opencv_version,
        "source_sha256": source_sha256,
        "patches": patches,
        "cuda_toolkit": cuda_toolkit if needs_cuda else None,
        "host_compiler": host_compiler,
        "compiler_env": {k: v for k, v in sorted((compiler_env or {}).items()) if k in FLAG_ENV_VARS and v},
        "arch": arch_part(plan),
        "python_abi": python_abi if needs_python else None,
        "numpy": numpy_part(plan),
        "libc": libc,
        "machine": machine or None,
        "plugin": {"sources": plugin_digest, "python_module": plugin_python} if plugin else None,
        "install_prefix": str(plan.prefix),
    }
    needed = {
        "source_sha256": True,
        "cuda_toolkit": needs_cuda,
        "host_compiler": True,
        "python_abi": needs_python,
        "libc": True,
        "machine": True,
    }
    unknown = tuple(name for name in PART_NAMES if needed.get(name) and parts[name] is None)
    return CacheKey(parts=parts, digest=digest_of(parts), unknown=unknown)


def key_for_build(
    plan: BuildPlan,
    recipe: Recipe,
    host: Host,
    *,
    source_sha256: str | None,
    plugin: bool = True,
    plugin_python: bool = True,
    patch_sha256: Sequence[str] | None = None,
) -> CacheKey:
    """``cache_key`` with the toolchain facts from the host's one probe (nvcc, host compiler, interpreter,
    libc, machine), the flags in its environment and the plugin's sources hashed when the build makes the
    plugin."""
    nvcc = host.nvcc
    compiler = host.compiler
    needs_python = recipe.python or (plugin and plugin_python)
    return cache_key(
        plan,
        recipe=recipe,
        source_sha256=source_sha256,
        cuda_toolkit=(nvcc.full_version or nvcc.version) if nvcc is not None else None,
        host_compiler=f"{compiler.kind} {compiler.version}" if compiler is not None else None,
        python_abi=host.python_abi if needs_python else None,
        libc=host.libc,
        machine=host.machine,
        plugin_digest=plugin_sources_digest() if plugin else None,
        plugin_python=plugin_python,
        patch_sha256=patch_sha256,
        compiler_env=host.env,
    )
