"""The root command group. Errors are raised as ``CvCudaSetupError`` by inner code and caught only here."""

from __future__ import annotations

import sys
from importlib import import_module

import typer

from cvcuda_setup import __version__
from cvcuda_setup.cli.common import guard as guard
from cvcuda_setup.console import console
from cvcuda_setup.errors import CvCudaSetupError

app = typer.Typer(
    name="cvcuda-setup",
    help=(
        "Turn a GPU host into a verified CUDA-enabled OpenCV installation.\n\n"
        "Typical use:\n\n"
        "  cvcuda-setup doctor --recipe minimal\n\n"
        "  cvcuda-setup build --recipe minimal --prefix ~/opt/opencv-cuda\n\n"
        "  cvcuda-setup verify --prefix ~/opt/opencv-cuda"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

#: Command modules, each with a ``register(app)`` function; one command (or group) per module.
COMMAND_MODULES = (
    "build",
    "plugin",
    "verify",
    "doctor",
    "env",
    "recipes",
    "bench",
    "ci",
    "dockerfile",
    "wheel",
)


def _version(value: bool) -> None:
    if value:
        console.print(f"cvcuda-setup {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """cvcuda-setup: build, install and verify CUDA OpenCV."""


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = import_module(f"cvcuda_setup.cli.{name}")
        except ModuleNotFoundError as exc:  # a command whose module is not written yet
            if exc.name != f"cvcuda_setup.cli.{name}":
                raise
            continue
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point: runs the app, turns domain errors into one line and an exit code."""
    try:
        rc = app(standalone_mode=False)
    except CvCudaSetupError as exc:
        console.error(str(exc))
        sys.exit(exc.return_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.error("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        console.error("interrupted")
        sys.exit(130)
    except Exception as exc:  # click's usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(rc if isinstance(rc, int) else 0)
