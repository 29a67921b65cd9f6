"""Atomic install: prefix ownership, staging next to the prefix, swap with rollback, merge with --force."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cvcuda_setup import install
from cvcuda_setup.errors import InstallError
from cvcuda_setup.install import PrefixState
from cvcuda_setup.manifest import MANIFEST_RELPATH


def staged_tree(staging: Path, prefix: Path, version: str) -> Path:
    root = install.staged_prefix(staging, prefix)
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "libopencv_core.so").write_text(version)
    (root / MANIFEST_RELPATH).parent.mkdir(parents=True)
    (root / MANIFEST_RELPATH).write_text(f'{{"v": "{version}"}}')
    return root


def test_prefix_states(tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    assert install.prefix_state(prefix) is PrefixState.MISSING
    prefix.mkdir()
    assert install.prefix_state(prefix) is PrefixState.EMPTY
    (prefix / "x").write_text("")
    assert install.prefix_state(prefix) is PrefixState.FOREIGN
    (prefix / MANIFEST_RELPATH).parent.mkdir(parents=True)
    (prefix / MANIFEST_RELPATH).write_text("{}")
    assert install.prefix_state(prefix) is PrefixState.FOREIGN  # a manifest alone proves nothing
    afile = tmp_path / "f"
    afile.write_text("")
    with pytest.raises(InstallError, match="exists and is not a directory"):
        install.prefix_state(afile)


def test_an_installed_prefix_is_ours_until_something_foreign_appears(tmp_path: Path) -> None:
    prefix = tmp_path / "cv"
    with install.staging_area(prefix) as staging:
        install.commit(staged_tree(staging, prefix, "1"), prefix, force=False)
    assert install.prefix_state(prefix) is PrefixState.OURS
    pyc = prefix / "lib" / "__pycache__"  # byte-code of a listed module is derived, not foreign
    (prefix / "lib" / "mod.py").write_text("x = 1")
    assert install.inspect_prefix(prefix)[2] == ["lib/mod.py"]
    (prefix / "lib" / "mod.py").unlink()
    (prefix / "lib" / "libopencv_core.so").write_text("X")  # same size, other content
    os.utime(prefix / "lib" / "libopencv_core.so", ns=(1, 1))
    state, _, foreign = install.inspect_prefix(prefix)
    assert state is PrefixState.FOREIGN and foreign == ["lib/libopencv_core.so"]
    del pyc


def test_a_manifest_holding_garbage_does_not_make_a_folder_ours(tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    (prefix / MANIFEST_RELPATH).parent.mkdir(parents=True)
    (prefix / MANIFEST_RELPATH).write_text("not json")
    (prefix / "projects").mkdir()
    (prefix / "projects" / "thesis.tex").write_text("years of work")
    (prefix / install.RECORD_RELPATH).write_text("not json")
    with pytest.raises(InstallError, match=r"no cvcuda-setup install record .*projects"):
        install.check_prefix(prefix, force=False)
    with install.staging_area(prefix) as staging, pytest.raises(InstallError, match="would overwrite"):
        install.commit(staged_tree(staging, prefix, "1"), prefix, force=True)
    assert (prefix / "projects" / "thesis.tex").read_text() == "years of work"


def test_a_foreign_prefix_needs_force(tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    prefix.mkdir()
    (prefix / "README").write_text("")
    with pytest.raises(
        InstallError, match=r"not empty and has no cvcuda-setup install record.*README.*--force"
    ):
        install.check_prefix(prefix, force=False)
    assert install.check_prefix(prefix, force=True) is PrefixState.FOREIGN


@pytest.mark.parametrize("where", ["/", "/usr", "/usr/local", "/etc", "/opt", "~"])
def test_system_folders_and_home_are_refused(where: str) -> None:
    with pytest.raises(InstallError, match=r"system folder|home directory"):
        install.check_prefix(Path(where).expanduser(), force=True)


def test_a_symlink_to_a_system_folder_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "root"
    link.symlink_to("/")
    with pytest.raises(InstallError, match="system folder"):
        install.check_prefix(link, force=True)
    with install.staging_area(tmp_path / "x") as staging, pytest.raises(InstallError, match="system folder"):
        install.commit(staged_tree(staging, tmp_path / "x", "1"), link, force=True)


def test_many_foreign_files_are_named_few_then_counted(tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    prefix.mkdir()
    for i in range(9):
        (prefix / f"f{i}").write_text("")
    (prefix / ("a" * 200)).write_text("")
    with pytest.raises(InstallError) as err:
        install.check_prefix(prefix, force=False)
    text = str(err.value)
    assert "and 5 more" in text and "a" * 200 not in text and "…" in text


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_parent_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir(mode=0o555)
    with pytest.raises(InstallError, match="is not writable"):
        install.check_prefix(parent / "p", force=False)


def test_staging_is_next_to_the_prefix_and_always_removed(tmp_path: Path) -> None:
    prefix = tmp_path / "opt" / "cv"
    with pytest.raises(RuntimeError), install.staging_area(prefix) as staging:
        assert staging.parent == prefix.parent and staging.name.startswith(".cv.cvcuda-setup-staging-")
        assert install.staged_prefix(staging, prefix) == staging / str(prefix).lstrip("/")
        raise RuntimeError("install failed")
    assert list(prefix.parent.iterdir()) == []


def test_commit_into_a_missing_prefix_is_one_rename(tmp_path: Path) -> None:
    prefix = tmp_path / "opt" / "cv"
    with install.staging_area(prefix) as staging:
        root = staged_tree(staging, prefix, "1")
        inode = root.stat().st_ino
        assert install.commit(root, prefix, force=False) is PrefixState.MISSING
    assert prefix.stat().st_ino == inode
    assert (prefix / "lib" / "libopencv_core.so").read_text() == "1"
    assert sorted(p.name for p in prefix.parent.iterdir()) == ["cv"]


def test_commit_over_our_prefix_swaps_and_removes_the_old_one(tmp_path: Path) -> None:
    prefix = tmp_path / "cv"
    with install.staging_area(prefix) as staging:
        install.commit(staged_tree(staging, prefix, "1"), prefix, force=False)
    with install.staging_area(prefix) as staging:
        assert install.commit(staged_tree(staging, prefix, "2"), prefix, force=False) is PrefixState.OURS
    assert (prefix / "lib" / "libopencv_core.so").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cv"]


def test_a_file_added_by_hand_blocks_the_replace_and_survives_force(tmp_path: Path) -> None:
    prefix = tmp_path / "cv"
    with install.staging_area(prefix) as staging:
        install.commit(staged_tree(staging, prefix, "1"), prefix, force=False)
    (prefix / "lib" / "only-mine").write_text("mine")
    with pytest.raises(InstallError, match=r"1 entries cvcuda-setup did not install.*lib/only-mine"):
        install.check_prefix(prefix, force=False)
    with install.staging_area(prefix) as staging:
        assert install.commit(staged_tree(staging, prefix, "2"), prefix, force=True) is PrefixState.FOREIGN
    assert (prefix / "lib" / "only-mine").read_text() == "mine"
    assert (prefix / "lib" / "libopencv_core.so").read_text() == "2"
    assert install.inspect_prefix(prefix)[2] == ["lib/only-mine"]


def test_a_failed_swap_puts_the_old_install_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = tmp_path / "cv"
    with install.staging_area(prefix) as staging:
        install.commit(staged_tree(staging, prefix, "1"), prefix, force=False)
    real_rename = os.rename
    calls: list[tuple[str, str]] = []

    def flaky_rename(src: os.PathLike[str] | str, dst: os.PathLike[str] | str) -> None:
        calls.append((str(src), str(dst)))
        if len(calls) == 2:  # the staged tree into place
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", flaky_rename)  # install.py calls os.rename
    with pytest.raises(OSError), install.staging_area(prefix) as staging:
        install.commit(staged_tree(staging, prefix, "2"), prefix, force=False)
    assert (prefix / "lib" / "libopencv_core.so").read_text() == "1"
    assert calls[0][0] == str(prefix) and calls[2] == (calls[0][1], str(prefix))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cv"]


def test_an_empty_prefix_dir_is_filled_and_kept(tmp_path: Path) -> None:
    prefix = tmp_path / "cv"
    prefix.mkdir()
    inode = prefix.stat().st_ino
    with install.staging_area(prefix) as staging:
        assert install.commit(staged_tree(staging, prefix, "1"), prefix, force=False) is PrefixState.EMPTY
    assert prefix.stat().st_ino == inode  # the user's directory itself is not replaced
    assert (prefix / MANIFEST_RELPATH).is_file()


def test_force_never_overwrites_a_foreign_file(tmp_path: Path) -> None:
    prefix = tmp_path / "cv"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "bin").mkdir()
    (prefix / "bin" / "mytool").write_text("tool")
    (prefix / "lib" / "libmine.so").write_text("mine")
    (prefix / "lib" / "libopencv_core.so").write_text("old")
    with install.staging_area(prefix) as staging:
        root = staged_tree(staging, prefix, "new")
        with pytest.raises(InstallError, match="not empty"):
            install.commit(root, prefix, force=False)
        with pytest.raises(InstallError, match=r"would overwrite 1 entries .*lib/libopencv_core.so"):
            install.commit(root, prefix, force=True)
    assert (prefix / "lib" / "libopencv_core.so").read_text() == "old"
    (prefix / "lib" / "libopencv_core.so").unlink()
    with install.staging_area(prefix) as staging:
        assert install.commit(staged_tree(staging, prefix, "new"), prefix, force=True) is PrefixState.FOREIGN
    assert (prefix / "lib" / "libmine.so").read_text() == "mine"
    assert (prefix / "bin" / "mytool").read_text() == "tool"
    assert (prefix / "lib" / "libopencv_core.so").read_text() == "new"
    with pytest.raises(InstallError, match="bin/mytool"):  # still not ours: the next plain build refuses
        install.check_prefix(prefix, force=False)


def test_merge_refuses_a_file_where_a_directory_goes(tmp_path: Path) -> None:
    prefix = tmp_path / "cv"
    prefix.mkdir()
    (prefix / "lib").write_text("a file")
    with install.staging_area(prefix) as staging, pytest.raises(InstallError, match="would overwrite"):
        install.commit(staged_tree(staging, prefix, "1"), prefix, force=True)
    assert (prefix / "lib").read_text() == "a file"


def test_files_installed_outside_the_prefix_are_found(tmp_path: Path) -> None:
    prefix = tmp_path / "opt" / "cv"
    with install.staging_area(prefix) as staging:
        staged_tree(staging, prefix, "1")
        assert install.outside_prefix(staging, prefix) == []
        stray = staging / "usr" / "lib" / "python3" / "dist-packages" / "cv2.so"
        stray.parent.mkdir(parents=True)
        stray.write_text("")
        assert install.outside_prefix(staging, prefix) == ["/usr/lib/python3/dist-packages/cv2.so"]


def test_a_second_install_into_a_locked_prefix_is_refused(tmp_path: Path) -> None:
    prefix = tmp_path / "cv"
    lock = tmp_path / ".cv.cvcuda-setup.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, time\n"
            f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nos.write(fd, f'{os.getpid()}\\n'.encode())\n"
            "print('locked', flush=True)\ntime.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(InstallError, match=rf"prefix {prefix} is in use .*pid {holder.pid}"),
            install.lock_prefix(prefix),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    with install.lock_prefix(prefix):  # the kernel dropped the dead holder's lock
        assert lock.read_text().split()[0] == str(os.getpid())


def test_files_the_plugin_adds_join_the_record_but_a_users_file_does_not(tmp_path: Path) -> None:
    from cvcuda_setup.record import adopt_changes, scan

    prefix = tmp_path / "cv"
    with install.staging_area(prefix) as staging:
        install.commit(staged_tree(staging, prefix, "1"), prefix, force=False)
    (prefix / "mine.txt").write_text("user")
    before = scan(prefix, hashes=False)
    (prefix / "lib" / "libcvcuda_zerocopy.so").write_text("plugin")  # what the plugin step installs
    (prefix / "mine.txt").write_text("overwritten")
    assert adopt_changes(prefix, before) == 1
    assert install.inspect_prefix(prefix)[2] == ["mine.txt"]


def test_the_lock_names_the_holders_command_and_is_reentrant(tmp_path: Path) -> None:
    prefix = tmp_path / "cv"
    lock = tmp_path / ".cv.cvcuda-setup.lock"
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom cvcuda_setup.install import lock_prefix\n"
        f"with lock_prefix(Path({str(prefix)!r})):\n    print('locked', flush=True)\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, "build", "--prefix", "my dir"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(InstallError, match=rf"pid {holder.pid}, .*its command: .*build --prefix 'my dir'"),
            install.lock_prefix(prefix),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    with install.lock_prefix(prefix), install.lock_prefix(prefix):  # the build, then its install step
        assert lock.read_text().split()[0] == str(os.getpid())


def test_staging_left_by_a_killed_install_is_cleaned_only_when_it_is_ours(tmp_path: Path) -> None:
    prefix = tmp_path / "cv"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / ".cv.cvcuda-setup-staging-abc123"
    (left / "big").mkdir(parents=True)
    (left / install.STAGING_MARKER).write_text(f'{{"pid": {dead.pid}}}')
    alive = tmp_path / ".cv.cvcuda-setup-staging-live"
    alive.mkdir()
    (alive / install.STAGING_MARKER).write_text(f'{{"pid": {os.getppid()}}}')
    foreign = tmp_path / ".cv.cvcuda-setup-staging-mine"
    foreign.mkdir()
    (foreign / "data").write_text("no marker: not provably the tool's")
    with install.staging_area(prefix) as staging:
        assert (staging / install.STAGING_MARKER).is_file()
        assert install.outside_prefix(staging, prefix) == []
    assert not left.exists() and alive.is_dir() and (foreign / "data").is_file()


KILLED_REPLACEMENT = """
import os, shutil, signal, sys
from pathlib import Path
from cvcuda_setup import install
from cvcuda_setup.manifest import MANIFEST_RELPATH

prefix, when = Path(sys.argv[1]), sys.argv[2]
real_rename, real_rmtree = os.rename, shutil.rmtree

def rename(src, dst):
    real_rename(src, dst)
    if when == "between" and Path(dst).name == install.OLD_TREE:  # old aside, new not yet in
        os.kill(os.getpid(), signal.SIGKILL)

def rmtree(path, *args, **kwargs):
    if when == "removing" and Path(path).name == install.OLD_TREE:  # killed halfway through removing it
        (Path(path) / "lib" / "libopencv_core.so").unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_rmtree(path, *args, **kwargs)

os.rename, shutil.rmtree = rename, rmtree
with install.lock_prefix(prefix), install.staging_area(prefix) as staging:
    root = install.staged_prefix(staging, prefix)
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "libopencv_core.so").write_text("2")
    (root / MANIFEST_RELPATH).parent.mkdir(parents=True)
    (root / MANIFEST_RELPATH).write_text("{}")
    install.commit(root, prefix, force=False)
"""


def _killed_replacement(prefix: Path, when: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_REPLACEMENT, str(prefix), when],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr


def _names(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if not p.name.endswith(".lock"))


@pytest.mark.parametrize(
    ("when", "content"),
    [("between", "1"), ("removing", "2")],  # killed between the two renames / while removing the old tree
)
def test_a_killed_replacement_is_cleaned_by_the_next_run_and_nothing_else(
    tmp_path: Path, when: str, content: str
) -> None:
    prefix = tmp_path / "cv"
    with install.staging_area(prefix) as staging:
        install.commit(staged_tree(staging, prefix, "1"), prefix, force=False)
    mine = tmp_path / ".cv.cvcuda-setup-old-mine"  # a user's folder of that name, no marker: never ours
    (mine / "old").mkdir(parents=True)
    (mine / "old" / "thesis.tex").write_text("user")
    live = tmp_path / ".cv.cvcuda-setup-old-live"  # a marker naming a live process: not a leftover
    (live / "old").mkdir(parents=True)
    (live / install.STAGING_MARKER).write_text(f'{{"pid": {os.getppid()}}}')
    _killed_replacement(prefix, when)
    left = [n for n in _names(tmp_path) if n not in ("cv", mine.name, live.name)]
    assert any(".cvcuda-setup-old-" in n for n in left), left  # what the kill left behind
    assert prefix.exists() is (when == "removing")
    with install.lock_prefix(prefix):  # the next run
        pass
    assert _names(tmp_path) == sorted(["cv", mine.name, live.name])
    assert (prefix / "lib" / "libopencv_core.so").read_text() == content
    assert install.prefix_state(prefix) is PrefixState.OURS  # restored or new: still provably ours
    assert (mine / "old" / "thesis.tex").read_text() == "user" and (live / "old").is_dir()
