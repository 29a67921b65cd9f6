"""The ``git`` provider: shallow checkouts of opencv and opencv_contrib at one ref (tag, branch, commit)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import time
from pathlib import Path

from cvcuda_setup.console import console
from cvcuda_setup.errors import SourceError, ToolchainError
from cvcuda_setup.tools import capture

DEFAULT_GIT_BASE = "https://github.com/opencv"


def is_commit(ref: str) -> bool:
    """A ref that names one repository's commit (hex, 7-40 digits, not a version or a branch like 4.x)."""
    return re.fullmatch(r"[0-9a-f]{7,40}", ref) is not None and not ref.isdigit()


def repo_url(base_url: str | None, name: str) -> str:
    """``<base>/<name>.git``; the base is GitHub or a mirror (``https://host/org``, ``file:///srv/git``)."""
    return f"{(base_url or DEFAULT_GIT_BASE).rstrip('/')}/{name}.git"


def clone_command(git: str, url: str, tag: str, dest: Path) -> list[str]:
    """The first step of :func:`clone`: a shallow fetch of ``tag`` (a tag, a branch or a commit)."""
    return [git, "-C", str(dest), "fetch", "--depth", "1", "--quiet", "--", url, tag]


def _git(cmd: list[str], what: str) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    proc = capture(cmd, env=env)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        raise SourceError(
            f"{what} failed: {last}",
            hint="check --opencv-version (a tag such as 4.14.0, a branch such as 4.x, or a commit) and "
            "--source-base-url (a mirror holding opencv.git and opencv_contrib.git)",
        )
    return proc.stdout.strip()


def clone(url: str, tag: str, dest: Path) -> str:
    """Check out ``tag`` (tag, branch or commit) of ``url`` into ``dest`` at depth 1; returns the commit.

    ``git init`` + ``git fetch --depth 1 <url> <ref>`` + ``git checkout FETCH_HEAD``: the same shallow
    history as the documented ``git clone --depth 1``, for a commit too. A failure is a SourceError with
    git's last message.
    """
    git = shutil.which("git")
    if git is None:
        raise ToolchainError("git is not on PATH", hint="install git or use --source sdist / a tarball")
    start = time.monotonic()
    dest.mkdir(parents=True, exist_ok=True)
    _git([git, "init", "--quiet", str(dest)], f"git init {dest}")
    cmd = clone_command(git, url, tag, dest)
    console.info("$ " + shlex.join(cmd))
    _git(cmd, f"git fetch of {url} at {tag}")
    _git([git, "-C", str(dest), "checkout", "--quiet", "FETCH_HEAD"], f"git checkout of {url} at {tag}")
    commit = _git([git, "-C", str(dest), "rev-parse", "HEAD"], f"git rev-parse in {dest}")
    console.info(f"fetched {url} at {tag}: commit {commit} ({time.monotonic() - start:.1f} s)")
    return commit
