"""What every command module shares: ``guard``, which turns domain errors into one line and an exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from cvcuda_setup.console import console
from cvcuda_setup.errors import CvCudaSetupError

F = TypeVar("F", bound=Callable[..., Any])

#: ``--opencv-version``, one definition (and one help text) for every command that takes it.
OpenCvVersionOption = Annotated[
    str | None,
    typer.Option("--opencv-version", help="OpenCV release, e.g. 5.1.0 or 4.13.0 [the recipe's]."),
]


def guard(fn: F) -> F:
    """Wrap a command: a ``CvCudaSetupError`` becomes one ``error:`` line on stderr and its exit code.

    Applied to every command so typer's test runner sees the same behaviour as the console script.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CvCudaSetupError as exc:
            console.error(str(exc))
            raise typer.Exit(exc.return_code) from None
        except OSError as exc:  # an environment problem nothing above turned into a message: still one line
            where = f" {exc.filename}" if exc.filename else ""
            console.error(
                f"cannot use{where}: {exc.strerror or exc} (check that the path exists, is the right kind "
                "(file or directory) and that you may write to it)"
            )
            raise typer.Exit(2) from None
        except UnicodeDecodeError as exc:
            console.error(f"a file is not UTF-8 text ({exc.reason} at byte {exc.start}) (save it as UTF-8)")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.error("interrupted; the build directory is left as it was and can be reused")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
