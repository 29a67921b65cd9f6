"""Apply ``--patch`` files to the opencv or opencv_contrib tree before configure, once, and record them.

Tool: ``git apply`` (``--check`` first, then for real). It is strict (no fuzz: a patch that does not match
exactly is refused rather than applied somewhere nearby), works outside a git repository, names the file
and line of a hunk that does not apply, and writes nothing when it fails. ``GIT_CEILING_DIRECTORIES`` keeps
git from treating an enclosing repository (a cache inside a project checkout) as the one to patch.

Which tree: the one whose files the patch touches (the paths after ``a/``/``b/`` that exist there), the
opencv tree when in doubt; a patch that applies to neither stops the build naming the file and the hunk.

Only trees in the tool's cache are patched (a tree with the cache's completion marker next to it). A
``--source <directory>`` is the user's own checkout, used in place and never written to: patches with it
are refused (apply them there yourself, or pack the directory as a tarball, which is extracted into the
cache and can be patched).

Bookkeeping lives next to the trees, in ``<tree root>/.cvcuda-setup-patches/``: ``state.json`` lists the
applied patches in order, with a copy of each patch (so it can be reversed even when the original file is
gone). A run whose patch list starts with what is applied applies only the rest; any other list first
reverses what is applied (newest first), so a tree always carries exactly the patches of the current plan,
and a plan without patches gets back the pristine sources.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cvcuda_setup.errors import BuildError, SourceError, ToolchainError, UsageError
from cvcuda_setup.hashing import sha256_file
from cvcuda_setup.locking import hold_lock
from cvcuda_setup.model import AppliedPatch, SourceTree, TreeName
from cvcuda_setup.sources.cache import read_marker
from cvcuda_setup.tools import run

STATE_DIR = ".cvcuda-setup-patches"


sha256_of = sha256_file  # the one implementation (cvcuda_setup.hashing)


def tree_root(tree: SourceTree) -> Path:
    return tree.opencv_dir.parent


def is_cache_tree(tree: SourceTree) -> bool:
    """True for a tree the tool extracted into its cache (never for ``--source <directory>``)."""
    return tree.spec.kind != "local" and read_marker(tree_root(tree)) is not None


def _touched_paths(text: str) -> list[str]:
    paths = []
    for match in re.finditer(r"^(?:\+\+\+|---) (?:[ab]/)?(\S+)", text, re.MULTILINE):
        if match.group(1) != "/dev/null":
            paths.append(match.group(1))
    return list(dict.fromkeys(paths))


def _git_env(directory: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_CEILING_DIRECTORIES"] = str(directory.parent)
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    return env


def _git_apply(directory: Path, patch: Path, *extra: str) -> tuple[bool, str]:
    if shutil.which("git") is None:
        raise ToolchainError("git is needed to apply --patch files and is not on PATH", hint="install git")
    result = run(
        ["git", "apply", *extra, str(patch)],
        cwd=directory,
        env=_git_env(directory),
        capture=True,
        echo="--check" not in extra,
    )
    return result.returncode == 0, result.output.strip()


def _trees(tree: SourceTree) -> dict[TreeName, Path]:
    out: dict[TreeName, Path] = {"opencv": tree.opencv_dir}
    if tree.contrib_dir is not None:
        out["opencv_contrib"] = tree.contrib_dir
    return out


def _candidates(tree: SourceTree, patch: Path) -> list[TreeName]:
    """Trees to try, the one holding most of the patch's files first (opencv on a tie)."""
    touched = _touched_paths(patch.read_text(encoding="utf-8", errors="replace"))
    scores = {name: sum((d / p).exists() for p in touched) for name, d in _trees(tree).items()}
    return sorted(scores, key=lambda name: -scores[name])


def _state_path(tree: SourceTree) -> Path:
    return tree_root(tree) / STATE_DIR / "state.json"


def _load_state(tree: SourceTree) -> list[dict[str, Any]]:
    try:
        data = json.loads(_state_path(tree).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise BuildError(
            f"cannot read {_state_path(tree)}: {exc}",
            hint=f"the source tree's patch record is damaged: remove {tree_root(tree)} to fetch it again",
        ) from None
    applied = data.get("applied") if isinstance(data, dict) else None
    return [a for a in applied if isinstance(a, dict)] if isinstance(applied, list) else []


def _save_state(tree: SourceTree, applied: list[dict[str, Any]]) -> None:
    path = _state_path(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("state.json.tmp")
    tmp.write_text(json.dumps({"applied": applied}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _verify(patches: Sequence[tuple[Path, str | None]]) -> list[tuple[Path, str]]:
    out = []
    for path, expected in patches:
        if not path.is_file():
            raise UsageError(f"--patch {str(path)!r} does not exist")
        actual = sha256_of(path)
        if expected is not None and actual.lower() != expected.strip().lower():
            raise SourceError(
                f"--patch {path}: sha256 is {actual}, expected {expected.strip()}",
                hint="use the patch file you meant, or fix --patch-sha256",
            )
        out.append((path, actual))
    return out


def _revert(tree: SourceTree, entry: dict[str, Any]) -> None:
    directory = _trees(tree).get(entry.get("tree", "opencv"))
    copy = tree_root(tree) / STATE_DIR / f"{entry['sha256']}.patch"
    if directory is None or not copy.is_file():
        raise BuildError(
            f"cannot reverse patch {entry.get('name')} (no copy at {copy})",
            hint=f"remove the cached source tree {tree_root(tree)} so the next build fetches it again",
        )
    ok, output = _git_apply(directory, copy, "-R")
    if not ok:
        raise BuildError(
            f"cannot reverse patch {entry.get('name')} in {directory}: {_first_line(output)}",
            hint=f"the tree was changed by hand: remove {tree_root(tree)} so the next build fetches it again",
        )


def _first_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    return "; ".join(errors[:2] or lines[:2]) or "git apply failed"


def _apply_one(tree: SourceTree, patch: Path) -> TreeName:
    candidates = _candidates(tree, patch)
    dirs = _trees(tree)
    first_error = ""
    for name in candidates:
        ok, output = _git_apply(dirs[name], patch, "--check")
        if ok:
            ok, output = _git_apply(dirs[name], patch)
            if not ok:
                raise BuildError(f"patch {patch} failed to apply to {dirs[name]}: {_first_line(output)}")
            return name
        if not first_error:
            first_error = f"{name}: {_first_line(output)}"
            reverse_ok, _ = _git_apply(dirs[name], patch, "-R", "--check")
            if reverse_ok:
                first_error += " (it is already applied there: the tree was patched outside cvcuda-setup)"
    raise BuildError(
        f"patch {patch} does not apply ({first_error})",
        hint="the patch was made for other sources: regenerate it against this OpenCV version",
    )


def apply_patches(tree: SourceTree, patches: Sequence[tuple[Path, str | None]]) -> list[AppliedPatch]:
    """Make the tree carry exactly ``patches`` (in order), verifying each sha256 when one is given."""
    wanted = _verify(patches)
    if not is_cache_tree(tree):
        if wanted:
            raise UsageError(
                f"--patch needs a source tree in the cache, but {tree.opencv_dir} is a local directory used "
                "in place (cvcuda-setup never writes to it)",
                hint="apply the patch to your checkout yourself, or pass it as a tarball (--source x.tar.gz)",
            )
        return []
    root = tree_root(tree)
    if not wanted and not _state_path(tree).is_file():
        return []
    with hold_lock(root / STATE_DIR / "lock", what=f"source tree {root}", error=BuildError):
        applied = _load_state(tree)
        applied_shas = [a.get("sha256") for a in applied]
        wanted_shas = [sha for _, sha in wanted]
        if applied_shas != wanted_shas[: len(applied_shas)]:
            while applied:
                _revert(tree, applied[-1])
                applied.pop()
                _save_state(tree, applied)
        kept = {a["sha256"]: a for a in applied}
        result: list[AppliedPatch] = []
        for path, sha in wanted:
            if sha in kept:
                result.append(AppliedPatch(path.name, path, sha, kept[sha].get("tree", "opencv")))
                continue
            name = _apply_one(tree, path)
            shutil.copyfile(path, root / STATE_DIR / f"{sha}.patch")
            applied.append({"name": path.name, "path": str(path), "sha256": sha, "tree": name})
            _save_state(tree, applied)
            result.append(AppliedPatch(path.name, path, sha, name))
        return result
