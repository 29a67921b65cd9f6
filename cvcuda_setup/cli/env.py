"""``cvcuda-setup env``: print the exports that make C++ and Python use one prefix's OpenCV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cvcuda_setup.cli.common import guard
from cvcuda_setup.errors import UsageError

EXAMPLES = """
Examples:

  eval "$(cvcuda-setup env --prefix ~/opt/opencv-cuda)"

  cvcuda-setup env --shell fish | source

  cvcuda-setup env --prefix ~/opt/opencv-cuda --shell json
"""

SHELLS = ("bash", "sh", "zsh", "fish", "json")


@guard
def env(
    prefix: Annotated[
        Path | None, typer.Option("--prefix", "-p", help="Install prefix [$CVCUDA_SETUP_PREFIX].")
    ] = None,
    shell: Annotated[
        str, typer.Option("--shell", help="Output syntax: bash, sh, zsh (all POSIX export), fish or json.")
    ] = "bash",
) -> None:
    """Print OpenCV_DIR, PATH, LD_LIBRARY_PATH, PYTHONPATH and PKG_CONFIG_PATH for a prefix."""
    from cvcuda_setup.envvars import default_prefix, env_exports

    if shell not in SHELLS:
        raise UsageError(f"--shell {shell!r} is not one of {', '.join(SHELLS)}")
    # written as is: rich would read ':name:' inside a PATH value as an emoji code
    sys.stdout.write(env_exports(prefix or default_prefix(), shell) + "\n")  # type: ignore[arg-type]


def register(app: typer.Typer) -> None:
    app.command("env", help=(env.__doc__ or "") + "\n" + EXAMPLES)(env)
