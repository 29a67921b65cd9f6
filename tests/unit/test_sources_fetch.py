"""fetch for local directories, local tarballs and git mirrors; the cache's completion marker."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from test_sources_fakes import fake_opencv, fake_sdist, listing, tar_gz_of

from cvcuda_setup.errors import SourceError
from cvcuda_setup.sources import expected_tree, fetch, spec_from_cli
from cvcuda_setup.sources.git import clone_command


def _snapshot(root: Path) -> dict[str, tuple[int, str]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in root.rglob("*")
        if p.is_file()
    }


def test_local_directory_is_used_in_place_and_never_modified(tmp_path: Path) -> None:
    src = fake_opencv(tmp_path / "src", (5, 0, 3))
    before = _snapshot(src)
    cache = tmp_path / "cache"
    tree = fetch(spec_from_cli(str(src), "5.1.0"), cache)
    assert (tree.opencv_dir, tree.contrib_dir) == (src / "opencv", src / "opencv_contrib")
    assert (tree.opencv_version, tree.sha256, tree.pruned) == ("5.0.3", None, False)
    assert fetch(spec_from_cli(str(src), "5.1.0"), cache, need_contrib=False).contrib_dir is None
    assert _snapshot(src) == before
    assert not cache.exists()  # nothing copied, nothing cached


def test_local_tarball_with_and_without_sha256(tmp_path: Path) -> None:
    archive, sha = fake_sdist(tmp_path / "build")
    cache = tmp_path / "cache"
    tree = fetch(spec_from_cli(str(archive), "5.1.0"), cache)
    assert tree.opencv_dir == cache / "trees" / f"tarball-{sha[:16]}" / "opencv"
    assert tree.sha256 == sha
    assert (tree.opencv_dir, tree.contrib_dir) == expected_tree(spec_from_cli(str(archive), "5.1.0"), cache)
    pinned = spec_from_cli(str(archive), "5.1.0", sha256=sha)
    assert fetch(pinned, cache) == replace(tree, spec=pinned)  # same tree, same key
    assert not (cache / "downloads").exists()  # a local file is read in place, never copied


def test_local_tarball_checksum_mismatch_keeps_the_users_file(tmp_path: Path) -> None:
    archive, sha = fake_sdist(tmp_path / "build")
    with pytest.raises(SourceError, match=f"sha256 mismatch for {archive}: expected {'2' * 64}, got {sha}"):
        fetch(spec_from_cli(str(archive), "5.1.0", sha256="2" * 64), tmp_path / "cache")
    assert archive.is_file()
    assert not (tmp_path / "cache" / "trees").exists()


def test_tarball_without_contrib(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_opencv(tmp_path / "src", (5, 0, 2), contrib=False)
    archive = tmp_path / "opencv-5.0.2.tar.gz"
    tar_gz_of(tmp_path / "src" / "opencv", archive, "opencv-5.0.2")  # a GitHub-style archive
    spec = spec_from_cli(str(archive), "5.1.0")
    with pytest.raises(SourceError, match="has no opencv_contrib tree, which this recipe needs"):
        fetch(spec, tmp_path / "cache")
    tree = fetch(spec, tmp_path / "cache", need_contrib=False)  # the extracted tree was kept and is reused
    assert tree.contrib_dir is None
    assert tree.opencv_version == "5.0.2"
    assert "holds OpenCV 5.0.2, not 5.1.0" in capsys.readouterr().err


def test_archive_without_opencv_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "src" / "docs").mkdir(parents=True)
    (tmp_path / "src" / "docs" / "README").write_text("no sources here")
    archive = tmp_path / "docs.tar.gz"
    tar_gz_of(tmp_path / "src", archive, "docs-1.0")
    with pytest.raises(SourceError, match="holds no OpenCV source tree"):
        fetch(spec_from_cli(str(archive), "5.1.0"), tmp_path / "cache")
    assert listing(tmp_path / "cache" / "trees") == set()


def test_incomplete_cache_tree_is_refused_not_deleted(tmp_path: Path) -> None:
    archive, sha = fake_sdist(tmp_path / "build")
    stale = tmp_path / "cache" / "trees" / f"tarball-{sha[:16]}"
    (stale / "opencv").mkdir(parents=True)
    with pytest.raises(SourceError, match="has no completion marker"):
        fetch(spec_from_cli(str(archive), "5.1.0"), tmp_path / "cache")
    assert listing(stale) == {"opencv"}


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "-c",
            "init.defaultBranch=main",
            *args,
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def git_mirror(tmp_path: Path) -> Path:
    """``<mirror>/opencv.git`` and ``<mirror>/opencv_contrib.git``, each with a 5.1.0 tag."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    src = fake_opencv(tmp_path / "gitsrc")
    mirror = tmp_path / "mirror"
    for name in ("opencv", "opencv_contrib"):
        repo = mirror / f"{name}.git"
        shutil.copytree(src / name, repo)
        _git("init", "-q", cwd=repo)
        _git("add", "-A", cwd=repo)
        _git("commit", "-q", "-m", "import", cwd=repo)
        _git("tag", "5.1.0", cwd=repo)
    return mirror


def test_git_clones_shallow_from_a_mirror_and_reuses_the_tree(git_mirror: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    spec = spec_from_cli("git", "5.1.0", base_url=git_mirror.as_uri())
    tree = fetch(spec, cache, need_contrib=False)
    assert tree.contrib_dir is None
    assert (tree.opencv_dir / "modules" / "core" / "CMakeLists.txt").is_file()
    assert tree.opencv_dir == expected_tree(spec, cache)[0]
    shallow = subprocess.run(
        ["git", "rev-parse", "--is-shallow-repository"], cwd=tree.opencv_dir, capture_output=True, text=True
    )
    assert shallow.stdout.strip() == "true"

    tree = fetch(spec, cache)  # contrib is added to the same tree on first need
    assert tree.contrib_dir is not None and (tree.contrib_dir / "modules" / "cudev").is_dir()

    shutil.rmtree(git_mirror)  # a complete tree is reused: no clone needed any more
    assert fetch(spec, cache) == tree


def test_git_unknown_tag_is_a_source_error_and_leaves_nothing(git_mirror: Path, tmp_path: Path) -> None:
    spec = spec_from_cli("git", "9.9.9", base_url=git_mirror.as_uri())
    with pytest.raises(SourceError, match=r"git fetch of .*opencv\.git at 9\.9\.9 failed: .*9\.9\.9"):
        fetch(spec, tmp_path / "cache")
    assert listing(tmp_path / "cache" / "trees") == set()


def test_git_clone_command_is_an_argument_list() -> None:
    cmd = clone_command("git", "https://github.com/opencv/opencv.git", "5.1.0", Path("/c/x"))
    assert cmd == [
        "git", "-C", "/c/x", "fetch", "--depth", "1", "--quiet", "--",
        "https://github.com/opencv/opencv.git", "5.1.0",
    ]  # fmt: skip


def _head(repo: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_git_branch_and_commit_refs_record_both_commits(git_mirror: Path, tmp_path: Path) -> None:
    for name in ("opencv", "opencv_contrib"):
        _git("branch", "4.x", cwd=git_mirror / f"{name}.git")
    heads = {name: _head(git_mirror / f"{name}.git") for name in ("opencv", "opencv_contrib")}
    tree = fetch(spec_from_cli("git", "4.x", base_url=git_mirror.as_uri()), tmp_path / "cache")
    assert tree.commits == heads
    assert tree.opencv_version == "5.1.0"  # from version.hpp, not the ref
    assert tree.spec.opencv_version == "4.x"
    # a commit: the same in both fakes only if both repos had it; here opencv's commit for opencv only
    commit = heads["opencv"]
    one = fetch(
        spec_from_cli("git", commit, base_url=git_mirror.as_uri()), tmp_path / "c2", need_contrib=False
    )
    assert one.commits == {"opencv": commit}


@pytest.mark.parametrize("ref", ["4.x", "5.x", "0123abcd"])
def test_sdist_refuses_a_branch_or_commit_and_points_to_git(ref: str) -> None:
    with pytest.raises(SourceError, match=rf"--opencv-version '{ref}' is a branch or commit") as info:
        spec_from_cli(None, ref)
    assert info.value.hint is not None and "--source git" in info.value.hint


def test_an_opencv_commit_takes_contribs_own_ref(git_mirror: Path, tmp_path: Path) -> None:
    """``--opencv-version <commit> --contrib-ref 4.x``: each repository at its own ref, both commits kept."""
    _git("branch", "4.x", cwd=git_mirror / "opencv_contrib.git")
    heads = {name: _head(git_mirror / f"{name}.git") for name in ("opencv", "opencv_contrib")}
    spec = spec_from_cli("git", heads["opencv"], base_url=git_mirror.as_uri(), contrib_ref="4.x")
    assert spec.contrib_ref == "4.x"
    tree = fetch(spec, tmp_path / "cache")
    assert tree.commits == heads
    assert "+contrib-4.x" in tree.opencv_dir.parent.name  # its own cache tree


def test_an_opencv_commit_without_contrib_ref_is_refused_before_any_fetch(
    git_mirror: Path, tmp_path: Path
) -> None:
    commit = _head(git_mirror / "opencv.git")
    cache = tmp_path / "cache"
    with pytest.raises(SourceError, match=rf"--opencv-version {commit} is a commit of opencv") as info:
        fetch(spec_from_cli("git", commit, base_url=git_mirror.as_uri()), cache)
    assert info.value.hint is not None and "--contrib-ref" in info.value.hint
    assert not (cache / "trees").exists() or not any((cache / "trees").iterdir())


def test_contrib_ref_equal_to_the_opencv_ref_is_the_same_tree() -> None:
    assert spec_from_cli("git", "4.x", contrib_ref="4.x").contrib_ref is None


@pytest.mark.parametrize("source", [None, "sdist", "minimal-5.1.0.tar.xz"])
def test_contrib_ref_without_git_is_refused(source: str | None) -> None:
    with pytest.raises(SourceError, match=r"--contrib-ref applies to --source git only"):
        spec_from_cli(source, "5.1.0", contrib_ref="4.x")


@pytest.mark.parametrize("ref", ["a b", "4.x..5.x", "-rf", ""])
def test_a_malformed_contrib_ref_is_named(ref: str) -> None:
    with pytest.raises(SourceError, match=r"--contrib-ref .* is not a branch, tag or commit"):
        spec_from_cli("git", "4.x", contrib_ref=ref)
