"""The ``git`` provider: shallow clones of opencv and opencv_contrib at the version's tag."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from cvcuda_setup.console import console
from cvcuda_setup.errors import SourceError, ToolchainError

DEFAULT_GIT_BASE = "https://github.com/opencv"


def repo_url(base_url: str | None, name: str) -> str:
    """``<base>/<name>.git``; the base is GitHub or a mirror (``https://host/org``, ``file:///srv/git``)."""
    return f"{(base_url or DEFAULT_GIT_BASE).rstrip('/')}/{name}.git"


def clone_command(git: str, url: str, tag: str, dest: Path) -> list[str]:
    return [git, "clone", "--depth", "1", "--branch", tag, "--quiet", "--", url, str(dest)]


def clone(url: str, tag: str, dest: Path) -> None:
    """``git clone --depth 1 --branch <tag> <url> <dest>``; a failure is a SourceError with git's message."""
    git = shutil.which("git")
    if git is None:
        raise ToolchainError("git is not on PATH", hint="install git or use --source sdist / a tarball")
    cmd = clone_command(git, url, tag, dest)
    console.info("$ " + shlex.join(cmd))
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        raise SourceError(
            f"git clone of {url} at {tag} failed: {last}",
            hint="check the version tag and --source-base-url "
            "(a mirror holding opencv.git and opencv_contrib.git)",
        )
    console.info(f"cloned {url} at {tag} ({time.monotonic() - start:.1f} s)")
