"""Usage errors exit 2 with one line naming the bad word and pointing to --help; never a traceback.

Goes through ``main()`` (what the console script runs), and through the installed ``cvcuda-setup``
console script of a throwaway venv as a subprocess, not only through typer's test runner.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

from cvcuda_setup.cli.app import main

REPO = Path(__file__).resolve().parents[2]

#: (arguments, the word the error must name)
BAD = [
    (["build", "--bogus"], "--bogus"),
    (["nosuch"], "nosuch"),
    (["build", "--arch"], "--arch"),
    (["build", "-j", "abc"], "--jobs"),
    (["recipes", "show"], "name"),
    (["recipes", "nosuch"], "nosuch"),
    (["doctor", "--arch"], "--arch"),
    (["doctor", "--bogus"], "--bogus"),
    (["verify", "--device"], "--device"),
    (["env", "--shell", "tcsh"], "tcsh"),
    (["env", "--shell"], "--shell"),
    (["plugin", "-j", "x"], "--jobs"),
    (["wheel", "--repair", "sometimes"], "sometimes"),
    (["ci", "--bogus"], "--bogus"),
    (["bench", "nosuch"], "nosuch"),
    (["bench", "plot", "--bogus"], "--bogus"),
    (["dockerfile", "-j", "many"], "--jobs"),
    (["build", "--launcher", "distcc", "--dry-run", "--arch", "9.0"], "distcc"),
]


def _check(rc: int, err: str, out: str, word: str) -> None:
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err + out
    lines = [line for line in err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, err
    assert word in err, err
    assert "error:" in lines[0]


@pytest.mark.parametrize(("args", "word"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_main_turns_a_usage_error_into_one_line_and_exit_2(
    args: list[str], word: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["cvcuda-setup", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    _check(int(exc.value.code or 0), captured.err, captured.out, word)


def test_click_usage_errors_point_to_the_help_of_the_command_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for args, command in (
        (["build", "--arch"], "cvcuda-setup build --help"),
        (["recipes", "show"], "cvcuda-setup recipes show --help"),
        (["nosuch"], "cvcuda-setup --help"),
    ):
        with pytest.raises(SystemExit):
            main(args)
        assert command in capsys.readouterr().err, args


def test_the_app_does_not_import_click() -> None:
    """typer >= 0.29 does not install click: the entry point must not need it."""
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'click' or name.startswith('click.'):\n"
        "            raise ImportError('click is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from cvcuda_setup.cli.app import main\n"
        "main(['build', '--bogus'])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    _check(proc.returncode, proc.stderr, proc.stdout, "--bogus")


@pytest.fixture(scope="module")
def console_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install --no-deps --no-build-isolation .`` into a fresh venv that sees this interpreter's
    packages (a .pth file: this interpreter may itself be a venv), so no index is needed."""
    pytest.importorskip("hatchling", reason="building the package needs hatchling (the build backend)")
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=False, symlinks=True)
    purelib = Path(
        subprocess.run(
            [str(root / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (purelib / "_parent_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    python = root / "bin" / "python"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"pip install of the package failed: {proc.stderr[-2000:]}")
    script = root / "bin" / "cvcuda-setup"
    assert script.is_file()
    return script


@pytest.mark.parametrize(("args", "word"), BAD[:8], ids=[" ".join(a) for a, _ in BAD[:8]])
def test_the_installed_console_script_answers_a_usage_error_in_one_line(
    console_script: Path, args: list[str], word: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [str(console_script), *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    _check(proc.returncode, proc.stderr, proc.stdout, word)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_the_installed_console_script_runs(console_script: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [str(console_script), "--version"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.startswith("cvcuda-setup "), proc


def _commands() -> list[tuple[str, Any]]:
    import typer.main

    from cvcuda_setup.cli.app import app

    out: list[tuple[str, Any]] = []

    def walk(path: str, command: Any) -> None:
        subs = getattr(command, "commands", None)
        if isinstance(subs, dict):
            for name, sub in subs.items():
                walk(f"{path} {name}".strip(), sub)
        else:
            out.append((path, command))

    walk("", typer.main.get_command(app))
    return out


def test_options_with_one_name_mean_one_thing_in_every_command() -> None:
    """--arch is -a, --prefix is -p, --jobs is -j, --recipe is -r wherever they exist; --opencv-version and
    --python read the same everywhere."""
    short = {"--arch": "-a", "--prefix": "-p", "--jobs": "-j", "--recipe": "-r"}
    helps: dict[str, set[str]] = {}
    commands = _commands()
    assert len(commands) >= 10
    for path, command in commands:
        for param in command.params:
            names = list(getattr(param, "opts", []))
            for long, letter in short.items():
                if long in names:
                    assert letter in names, f"{path}: {long} has no {letter}"
            if "--opencv-version" in names:
                helps.setdefault("--opencv-version", set()).add(param.help)
    assert len(helps["--opencv-version"]) == 1, helps


def test_verify_reads_the_prefix_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CVCUDA_SETUP_PREFIX", str(tmp_path / "from-env"))
    with pytest.raises(SystemExit):
        main(["verify", "--json", "-"])
    captured = capsys.readouterr()
    assert str(tmp_path / "from-env") in captured.out + captured.err
    help_text = dict(_commands())["verify"].params
    assert any("$CVCUDA_SETUP_PREFIX" in (p.help or "") for p in help_text if "--prefix" in p.opts)


@pytest.mark.parametrize("argv", [["build", "-j", "abc"], ["build", "--jobs=abc"]])
def test_a_malformed_number_is_named_in_the_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # typer 0.29's message for a bad integer does not repeat the value (found by tests/newcomer)
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert "'abc'" in err and "--jobs" in err and "Traceback" not in err
