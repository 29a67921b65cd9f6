"""The root command group. Errors are raised as ``CvCudaSetupError`` by inner code and caught only here."""

from __future__ import annotations

import sys
from typing import Any

import typer
import typer.main

from cvcuda_setup import __version__
from cvcuda_setup.cli import bench as bench_cmd
from cvcuda_setup.cli import build as build_cmd
from cvcuda_setup.cli import cache as cache_cmd
from cvcuda_setup.cli import ci as ci_cmd
from cvcuda_setup.cli import dockerfile as dockerfile_cmd
from cvcuda_setup.cli import doctor as doctor_cmd
from cvcuda_setup.cli import env as env_cmd
from cvcuda_setup.cli import plugin as plugin_cmd
from cvcuda_setup.cli import recipes as recipes_cmd
from cvcuda_setup.cli import verify as verify_cmd
from cvcuda_setup.cli import wheel as wheel_cmd
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


#: One command (or group) per module, each with a ``register(app)`` function; in ``--help`` order.
for _module in (
    build_cmd,
    plugin_cmd,
    verify_cmd,
    doctor_cmd,
    env_cmd,
    recipes_cmd,
    bench_cmd,
    cache_cmd,
    ci_cmd,
    dockerfile_cmd,
    wheel_cmd,
):
    _module.register(app)


def _click_exception() -> type[Exception]:
    """click's ``ClickException``, found through typer without importing click.

    typer < 0.29 re-exports click's exceptions and installs click; typer >= 0.29 vendors click and does not
    install it, so ``import click`` is not an option. ``typer.BadParameter`` is click's in both.
    """
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException" and issubclass(cls, Exception):
            return cls
    raise RuntimeError("typer.BadParameter has no ClickException base")  # pragma: no cover


def usage_line(exc: Exception, argv: list[str]) -> str:
    """A click usage error as one line: what click says (naming the bad word) and where the help is."""
    format_message = getattr(exc, "format_message", None)
    message = " ".join(str(format_message() if callable(format_message) else exc).split())
    given = _given_value(getattr(exc, "param", None), argv)
    if given is not None and given not in message:
        message = f"{message} (got {given!r})"
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or _command_path(argv)
    return f"{message} (see: {command} --help)"


def _given_value(param: Any, argv: list[str]) -> str | None:
    """The word of ``argv`` given to option ``param`` (``-j abc``, ``--jobs=abc``): typer's messages for a
    malformed number do not repeat it."""
    opts = [o for o in getattr(param, "opts", []) or [] if isinstance(o, str) and o.startswith("-")]
    for i, arg in enumerate(argv):
        for opt in opts:
            if arg == opt and i + 1 < len(argv):
                return argv[i + 1]
            if opt.startswith("--") and arg.startswith(opt + "="):
                return arg[len(opt) + 1 :]
    return None


def _command_path(argv: list[str]) -> str:
    """``cvcuda-setup recipes show`` for the words of ``argv`` that name commands (click gives no context
    for an option whose value is missing)."""
    words = [PROG]
    group: Any = typer.main.get_command(app)
    for arg in argv:
        commands = getattr(group, "commands", None)
        if arg.startswith("-") or not isinstance(commands, dict) or arg not in commands:
            break
        words.append(arg)
        group = commands[arg]
    return " ".join(words)


#: The program name in usage lines, also under ``python -m cvcuda_setup``.
PROG = "cvcuda-setup"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the app, turns every error into one line and an exit code.

    Usage errors (an unknown option or command, a missing or malformed value) exit 2 with one line that
    names the bad word and points to ``--help``; domain errors exit with their own code; never a traceback.
    """
    click_exception = _click_exception()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rc = app(args=args, prog_name=PROG, standalone_mode=False)
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
    except click_exception as exc:
        code = int(getattr(exc, "exit_code", 1))
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group without its subcommand: its help
            show = getattr(exc, "show", None)
            if callable(show):
                show()
            sys.exit(code)
        console.error(usage_line(exc, args) if code == 2 else " ".join(str(exc).split()))
        sys.exit(code)
    sys.exit(rc if isinstance(rc, int) else 0)
