"""Check ``cv2``: the cv2 that the target interpreter imports under the prefix's env is the prefix's.

Parts:

* import: ``import cv2`` works and ``cv2.__file__`` is under the prefix; otherwise the winner is named with
  its sys.path entry and why it wins (PYTHONPATH entries come before site-packages), and the fix.
* shadowing: other cv2 packages on sys.path (pip wheels such as opencv-python-headless). One that loses to the
  prefix's cv2 is a *warning*, not a failure: it is harmless while the env is set, but ``import cv2`` gets it
  in any process without the env (a service, a venv, ``sudo``), and pip believes OpenCV is installed. One
  that wins is the import part's failure. A distribution that wrote into the prefix's own cv2 is a failure.
* version: ``cv2.__version__`` is the manifest's OpenCV version.
* With ``--wheel`` the import part instead requires the cv2 of the ``opencv-cuda`` wheel made from this
  prefix: its ``cv2/.cvcuda-setup-manifest.json`` is the prefix's manifest plus a ``wheel`` section.
* cuda: ``cv2.getBuildInformation()`` shows CUDA and the cudafilters/cudaimgproc bindings; a CPU-only build
  fails ("built without CUDA") unless the manifest's recipe has cuda=false, in which case the part is skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cvcuda_setup.verify.buildinfo import parse_build_info
from cvcuda_setup.verify.context import Context
from cvcuda_setup.verify.result import CheckResult, Part, failed, passed, skipped

ID = "cv2"
TITLE = "The right cv2"


def is_under(path: str | Path, root: str | Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True


def _cv2_path(cv2_file: str) -> str:
    """The package dir for ``.../cv2/__init__.py``, the file itself for a ``cv2.*.so`` extension."""
    p = Path(cv2_file)
    return str(p.parent) if p.name == "__init__.py" else str(p)


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and os.path.realpath(a) == os.path.realpath(b)


def _dist_for(path: str, dists: list[dict[str, Any]]) -> dict[str, Any] | None:
    for dist in dists:
        if _same(str(dist.get("cv2_path") or ""), path):
            return dist
    return None


def uninstall_command(python: str, name: str) -> str:
    return f"{python} -m pip uninstall -y {name}"


def _where(candidate: dict[str, Any] | None) -> str:
    if candidate is None:
        return "an entry not on sys.path"
    return f"sys.path[{candidate['index']}], {candidate['origin']}"


def _version_hint(data: dict[str, Any], installed: list[str]) -> str:
    """When the prefix's cv2 is for another Python version than the interpreter asked, say so."""
    version = ".".join(str(data.get("python_version") or "").split(".")[:2])
    if not installed or not version or any(f"python{version}" in d for d in installed):
        return ""
    dirs = ", ".join(installed)
    return (
        f"; the prefix has cv2 only in {dirs}, not for Python {version}: pass --python with that interpreter"
    )


WHEEL_MANIFEST_NAME = ".cvcuda-setup-manifest.json"
WHEEL_REWRITTEN = frozenset({"wheel", "python"})


def wheel_match(wheel_manifest: dict[str, Any] | None, prefix_manifest: dict[str, Any] | None) -> str | None:
    """None when the wheel's manifest is the prefix's plus its ``wheel`` section, else why not."""
    if wheel_manifest is None:
        return f"its folder has no {WHEEL_MANIFEST_NAME}: it is not a wheel made by cvcuda-setup wheel"
    if prefix_manifest is None:
        return "the prefix has no manifest to compare the wheel's with"
    # ``wheel`` is added and ``python`` rewritten (no interpreter path, no module dir) by cvcuda-setup wheel;
    # everything else identifies the build.
    keys = (set(wheel_manifest) | set(prefix_manifest)) - WHEEL_REWRITTEN
    differing = sorted(k for k in keys if wheel_manifest.get(k) != prefix_manifest.get(k))
    if differing:
        keys_text = ", ".join(differing[:5])
        return f"its manifest differs from the prefix's in {keys_text}: a wheel of another build"
    return None


def wheel_import_part(data: dict[str, Any], python: str, mismatch: str | None) -> Part:
    """``--wheel``: ``import cv2`` gives the opencv-cuda wheel of this prefix (``mismatch``: why not)."""
    figures: dict[str, Any] = {"sys_path": data.get("sys_path"), "pythonpath": data.get("pythonpath")}
    if "import_error" in data:
        return failed("import", f"import cv2 failed with {data['import_error']}", **figures)
    cv2_file = str(data.get("cv2_file") or "")
    where = _cv2_path(cv2_file)
    figures.update(cv2_file=cv2_file, version=data.get("cv2_version"))
    if mismatch is not None:
        dist = _dist_for(where, data.get("dists") or [])
        owner = f"{dist['name']} {dist['version']}" if dist else "no pip distribution"
        return failed(
            "import",
            f"{python} imports cv2 from {where} ({owner}), but {mismatch}; install the wheel: "
            "cvcuda-setup wheel --prefix <prefix> --out dist && "
            f"{python} -m pip install dist/opencv_cuda-*.whl",
            **figures,
        )
    return passed("import", f"imports {where}: the opencv-cuda wheel of this prefix", **figures)


def import_part(data: dict[str, Any], prefix: Path, python: str, installed: list[str] | None = None) -> Part:
    """``import cv2`` works and gives the prefix's cv2; otherwise who wins, why, and the fix."""
    candidates: list[dict[str, Any]] = data.get("candidates") or []
    dists: list[dict[str, Any]] = data.get("dists") or []
    prefix_candidates = [c for c in candidates if is_under(c["cv2"], prefix)]
    pythonpath = data.get("pythonpath") or "(unset)"
    figures: dict[str, Any] = {"sys_path": data.get("sys_path"), "pythonpath": data.get("pythonpath")}
    if "import_error" in data:
        err = str(data["import_error"])
        hint = ""
        if not prefix_candidates:
            hint = f": no cv2 under {prefix} is on sys.path (PYTHONPATH={pythonpath})"
            hint += _version_hint(data, installed or [])
        elif "libopencv" in err or "cannot open shared object" in err:
            hint = f": the loader cannot find OpenCV's libraries; is {prefix}/lib on LD_LIBRARY_PATH?"
        return failed("import", f"import cv2 failed with {err}{hint}", **figures)
    cv2_file = str(data.get("cv2_file") or "")
    where = _cv2_path(cv2_file)
    winner = next((c for c in candidates if _same(c["cv2"], where)), None)
    figures.update(cv2_file=cv2_file, version=data.get("cv2_version"), sys_path_entry=winner)
    if is_under(cv2_file, prefix):
        return passed("import", f"imports {where} ({_where(winner)})", **figures)
    dist = _dist_for(where, dists)
    owner = f"installed by pip as {dist['name']} {dist['version']}" if dist else "not from a pip distribution"
    ours = prefix_candidates[0] if prefix_candidates else None
    if ours is None:
        why = f"the prefix's cv2 is not on sys.path at all (PYTHONPATH={pythonpath})"
        why += _version_hint(data, installed or [])
    else:
        why = f"it comes first: the prefix's cv2 is at {_where(ours)}"
    fix = f"; remove it: {uninstall_command(python, dist['name'])}" if dist else ""
    reason = f"Python imports cv2 from {where} ({owner}, {_where(winner)}): {why}{fix}"
    return failed("import", reason, **figures)


def shadowing_part(data: dict[str, Any], prefix: Path, python: str) -> tuple[Part, list[str]]:
    """Other cv2 installations: (part, warnings)."""
    candidates: list[dict[str, Any]] = data.get("candidates") or []
    dists: list[dict[str, Any]] = data.get("dists") or []
    warnings: list[str] = []
    cv2_file = str(data.get("cv2_file") or "")
    imported = _cv2_path(cv2_file) if cv2_file else ""
    prefix_cv2 = [c for c in candidates if is_under(c["cv2"], prefix)]
    mixed = [d for d in dists if d.get("cv2_path") and is_under(str(d["cv2_path"]), prefix)]
    others = [c for c in candidates if not is_under(c["cv2"], prefix)]
    listing = []
    for cand in others:
        dist = _dist_for(cand["cv2"], dists)
        listing.append({**cand, "dist": dist})
        if _same(cand["cv2"], imported):
            continue  # the import part fails for this one
        name = f"{dist['name']} {dist['version']}" if dist else "a cv2 not installed by pip"
        ours = f" to the prefix's cv2 at {_where(prefix_cv2[0])}" if prefix_cv2 else ""
        remove = f"; to remove it: {uninstall_command(python, dist['name'])}" if dist else ""
        warnings.append(
            f"{name} also provides cv2 at {cand['cv2']} ({_where(cand)}); it loses{ours} only while the "
            f"prefix's env is set: without it `import cv2` gets this one{remove}"
        )
    figures = {"others": listing, "dists": dists}
    if mixed:
        names = ", ".join(f"{d['name']} {d['version']}" for d in mixed)
        fixes = "; ".join(uninstall_command(python, d["name"]) for d in mixed)
        return failed(
            "shadowing", f"pip distribution(s) {names} wrote into the prefix's cv2: run {fixes}", **figures
        ), warnings
    if not others:
        return passed("shadowing", "no other cv2 on sys.path", **figures), warnings
    losers = [c for c in others if not _same(c["cv2"], imported)]
    if not losers:
        return passed("shadowing", "the only other cv2 is the one imported (see import)", **figures), warnings
    return passed(
        "shadowing", f"{len(losers)} other cv2 on sys.path, imported after the prefix's (warning)", **figures
    ), warnings


def version_part(data: dict[str, Any], manifest_version: str | None) -> Part:
    version = data.get("cv2_version")
    if "import_error" in data:
        return skipped("version", "cv2 did not import")
    if not manifest_version:
        return skipped("version", f"cv2 {version}; no manifest version to compare with")
    if str(version) == manifest_version:
        return passed("version", f"cv2 {version} is the manifest's version")
    return failed(
        "version",
        f"cv2 {version} but the manifest says OpenCV {manifest_version}: a different build is imported",
    )


def cuda_part(data: dict[str, Any], intended: bool | None, why: str) -> Part:
    if "import_error" in data:
        return skipped("cuda", "cv2 did not import")
    text = data.get("build_information")
    if not isinstance(text, str):
        return failed("cuda", f"cv2.getBuildInformation() failed: {data.get('build_information_error')}")
    build = parse_build_info(text)
    figures = build.to_json()
    if not build.cuda:
        if intended is False:
            return skipped("cuda", f"built without CUDA, as intended ({why}); CUDA part skipped", **figures)
        return failed(
            "cuda",
            f"built without CUDA: getBuildInformation() {build.cuda_text} ({why})",
            **figures,
        )
    missing = [
        m
        for m, key in (("cudafilters", "has_cudafilters"), ("cudaimgproc", "has_cudaimgproc"))
        if not data.get(key)
    ]
    if missing:
        return failed(
            "cuda",
            f"CUDA {build.cuda_version} but cv2.cuda lacks {', '.join(missing)} (not built or not wrapped)",
            **figures,
        )
    if intended is False:
        return passed("cuda", f"CUDA {build.cuda_version} (note: {why})", **figures)
    return passed(
        "cuda",
        f"CUDA {build.cuda_version}, SASS {', '.join(build.arch_bin) or 'none'}, "
        f"PTX {', '.join(build.arch_ptx) or 'none'}",
        **figures,
    )


def analyse(
    data: dict[str, Any],
    prefix: Path,
    python: str,
    manifest_version: str | None,
    intended: bool | None,
    why: str,
    installed: list[str] | None = None,
) -> tuple[list[Part], list[str]]:
    """All parts of the check from the worker's ``cv2info`` result (pure: no I/O)."""
    imported = import_part(data, prefix, python, installed)
    shadow, warnings = shadowing_part(data, prefix, python)
    if imported.status == "fail" and "import_error" not in data:
        wrong = "the imported cv2 is not the prefix's (see import)"
        return [imported, shadow, skipped("version", wrong), skipped("cuda", wrong)], warnings
    return [imported, shadow, version_part(data, manifest_version), cuda_part(data, intended, why)], warnings


def read_wheel_manifest(cv2_file: str) -> dict[str, Any] | None:
    path = Path(_cv2_path(cv2_file)) / WHEEL_MANIFEST_NAME if cv2_file else None
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path is not None else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def analyse_wheel(
    data: dict[str, Any],
    python: str,
    manifest_version: str | None,
    intended: bool | None,
    why: str,
    prefix_manifest: dict[str, Any] | None,
) -> tuple[list[Part], list[str]]:
    """``--wheel``: the parts for a cv2 that must be this prefix's wheel (reads the wheel's manifest)."""
    mismatch = wheel_match(read_wheel_manifest(str(data.get("cv2_file") or "")), prefix_manifest)
    imported = wheel_import_part(data, python, None if "import_error" in data else mismatch)
    if imported.status == "fail":
        wrong = "the imported cv2 is not this prefix's wheel (see import)"
        return [imported, skipped("version", wrong), skipped("cuda", wrong)], []
    return [imported, version_part(data, manifest_version), cuda_part(data, intended, why)], []


def run(ctx: Context) -> CheckResult:
    res = ctx.cv2info()
    if res.error is not None or res.data is None:
        return CheckResult.from_parts(
            ID, TITLE, [failed("import", f"the cv2 probe failed: {res.describe_failure()}")]
        )
    intended, why = ctx.manifest.cuda_intended()
    installed = sorted(str(p.parent) for p in ctx.prefix.glob("lib*/python*/*-packages/cv2") if p.is_dir())
    if ctx.options.wheel:
        parts, warnings = analyse_wheel(
            res.data, ctx.python, ctx.manifest.opencv_version, intended, why, ctx.manifest.data
        )
    else:
        parts, warnings = analyse(
            res.data, ctx.prefix, ctx.python, ctx.manifest.opencv_version, intended, why, installed
        )
    interpreter = f"{res.data.get('executable')} (Python {res.data.get('python_version')})"
    parts.insert(0, passed("interpreter", f"{interpreter}; env: {ctx.env_source}", env_source=ctx.env_source))
    return CheckResult.from_parts(ID, TITLE, parts, warnings=warnings)
