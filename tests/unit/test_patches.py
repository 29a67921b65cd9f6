"""``apply_patches`` with the real ``git apply`` on small trees laid out like the cache's."""

from __future__ import annotations

import difflib
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cvcuda_setup.errors import BuildError, SourceError, UsageError
from cvcuda_setup.model import SourceSpec, SourceTree
from cvcuda_setup.patches import STATE_DIR, apply_patches

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

CORE = "".join(f"int f{i}() {{ return {i}; }}\n" for i in range(1, 13))
CUDEV = "#define CUDEV 1\n"


def make_tree(root: Path, *, kind: str = "sdist", marker: bool = True, contrib: bool = True) -> SourceTree:
    base = root / "trees" / f"{kind}-5.1.0"
    (base / "opencv" / "modules" / "core" / "src").mkdir(parents=True)
    (base / "opencv" / "modules" / "core" / "src" / "a.cpp").write_text(CORE)
    if contrib:
        (base / "opencv_contrib" / "modules" / "cudev" / "include").mkdir(parents=True)
        (base / "opencv_contrib" / "modules" / "cudev" / "include" / "cudev.hpp").write_text(CUDEV)
    if marker:
        (base / ".cvcuda-setup-tree.json").write_text(json.dumps({"complete": True}))
    spec = SourceSpec(kind=kind, location=str(base) if kind == "local" else "", opencv_version="5.1.0")  # type: ignore[arg-type]
    return SourceTree(spec, base / "opencv", base / "opencv_contrib" if contrib else None, "5.1.0")


def write_patch(path: Path, rel: str, before: str, old: str, new: str) -> tuple[Path, str]:
    """A unified diff (with context, like ``git diff``) turning ``old`` into ``new`` in ``before``."""
    after = before.replace(old, new)
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
    )
    path.write_text("".join(lines))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def patches(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    d = tmp_path / "patches"
    d.mkdir()
    return {
        "core": write_patch(d / "core.patch", "modules/core/src/a.cpp", CORE, "return 1;", "return 100;"),
        "core2": write_patch(d / "core2.patch", "modules/core/src/a.cpp", CORE, "return 12;", "return 1200;"),
        "cudev": write_patch(
            d / "cudev.patch", "modules/cudev/include/cudev.hpp", CUDEV, "CUDEV 1", "CUDEV 2"
        ),
    }


def core_text(tree: SourceTree) -> str:
    return (tree.opencv_dir / "modules/core/src/a.cpp").read_text()


def test_patches_go_to_the_tree_holding_their_files_and_are_recorded(
    tmp_path: Path, patches: dict[str, tuple[Path, str]]
) -> None:
    tree = make_tree(tmp_path)
    applied = apply_patches(tree, [patches["core"], (patches["cudev"][0], None)])
    assert [(p.name, p.tree, p.sha256) for p in applied] == [
        ("core.patch", "opencv", patches["core"][1]),
        ("cudev.patch", "opencv_contrib", patches["cudev"][1]),
    ]
    assert "return 100;" in core_text(tree)
    assert (tree.contrib_dir / "modules/cudev/include/cudev.hpp").read_text() == "#define CUDEV 2\n"  # type: ignore[operator]
    state = json.loads((tree.opencv_dir.parent / STATE_DIR / "state.json").read_text())
    assert [a["name"] for a in state["applied"]] == ["core.patch", "cudev.patch"]
    assert (tree.opencv_dir.parent / STATE_DIR / f"{patches['core'][1]}.patch").is_file()


def test_a_rerun_does_not_apply_twice_and_extends_the_list(
    tmp_path: Path, patches: dict[str, tuple[Path, str]]
) -> None:
    tree = make_tree(tmp_path)
    apply_patches(tree, [patches["core"]])
    apply_patches(tree, [patches["core"]])
    assert core_text(tree).count("return 100;") == 1
    apply_patches(tree, [patches["core"], patches["core2"]])
    assert "return 100;" in core_text(tree) and "return 1200;" in core_text(tree)


def test_another_list_reverts_first_and_no_patches_restores_the_pristine_tree(
    tmp_path: Path, patches: dict[str, tuple[Path, str]]
) -> None:
    tree = make_tree(tmp_path)
    apply_patches(tree, [patches["core"], patches["core2"]])
    apply_patches(tree, [patches["core2"]])
    assert core_text(tree) == CORE.replace("return 12;", "return 1200;")
    patches["core"][0].unlink()  # the user's file is gone: the tree's copy is what reverses it later
    assert apply_patches(tree, []) == []
    assert core_text(tree) == CORE


def test_a_patch_that_does_not_apply_names_the_file_and_the_hunk(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    other = CORE.replace("return 6;", "return 99;")  # made against other sources
    bad, _ = write_patch(tmp_path / "bad.patch", "modules/core/src/a.cpp", other, "return 99;", "return 0;")
    with pytest.raises(BuildError) as info:
        apply_patches(tree, [(bad, None)])
    text = str(info.value)
    assert f"patch {bad} does not apply (opencv: error: patch failed: modules/core/src/a.cpp:3;" in text
    assert core_text(tree) == CORE


def test_a_patch_already_in_the_tree_is_reported_as_such(
    tmp_path: Path, patches: dict[str, tuple[Path, str]]
) -> None:
    tree = make_tree(tmp_path)
    subprocess.run(["git", "apply", str(patches["core"][0])], cwd=tree.opencv_dir, check=True)
    with pytest.raises(BuildError, match="already applied there"):
        apply_patches(tree, [patches["core"]])


def test_a_wrong_sha256_is_refused_before_anything_changes(
    tmp_path: Path, patches: dict[str, tuple[Path, str]]
) -> None:
    tree = make_tree(tmp_path)
    with pytest.raises(SourceError, match=f"sha256 is {patches['core'][1]}, expected 00"):
        apply_patches(tree, [(patches["core"][0], "00" * 32)])
    assert core_text(tree) == CORE
    with pytest.raises(UsageError, match="does not exist"):
        apply_patches(tree, [(tmp_path / "missing.patch", None)])


def test_a_local_source_directory_is_never_patched(
    tmp_path: Path, patches: dict[str, tuple[Path, str]]
) -> None:
    tree = make_tree(tmp_path, kind="local", marker=False)
    with pytest.raises(UsageError, match="local directory used in place"):
        apply_patches(tree, [patches["core"]])
    assert core_text(tree) == CORE
    assert apply_patches(tree, []) == []
    assert not (tree.opencv_dir.parent / STATE_DIR).exists()


def test_a_tree_without_the_cache_marker_is_not_patched(
    tmp_path: Path, patches: dict[str, tuple[Path, str]]
) -> None:
    tree = make_tree(tmp_path, marker=False)
    with pytest.raises(UsageError, match="needs a source tree in the cache"):
        apply_patches(tree, [patches["core"]])


def test_a_cache_inside_another_git_repository_is_patched_all_the_same(
    tmp_path: Path, patches: dict[str, tuple[Path, str]]
) -> None:
    # without GIT_CEILING_DIRECTORIES, git apply run inside a repo's subdirectory skips paths outside it
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    tree = make_tree(project / ".cache")
    apply_patches(tree, [patches["core"]])
    assert "return 100;" in core_text(tree)
