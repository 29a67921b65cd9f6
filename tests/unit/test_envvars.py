"""``cvcuda-setup env``: the exports for a prefix, in bash (evaluated by a real bash), fish and JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cvcuda_setup import envvars
from cvcuda_setup.cli.app import app
from cvcuda_setup.errors import UsageError
from cvcuda_setup.manifest import Manifest, PythonFacts, RecipeFacts, write_manifest


def make_prefix(root: Path, *, name: str = "opt dir/cv", pkgconfig: bool = True) -> Path:
    """A prefix laid out like an OpenCV 5 install (a space in the path on purpose)."""
    prefix = root / name
    cv2 = prefix / "lib" / "python3.12" / "site-packages" / "cv2"
    (cv2 / "python-3.12").mkdir(parents=True)
    (prefix / "lib" / "cmake" / "opencv5").mkdir(parents=True)
    (prefix / "lib" / "cmake" / "opencv5" / "OpenCVConfig.cmake").write_text("")
    (prefix / "bin").mkdir()
    if pkgconfig:
        (prefix / "lib" / "pkgconfig").mkdir()
    write_manifest(
        prefix,
        Manifest(
            opencv_version="5.1.0",
            prefix=str(prefix),
            build_dir="",
            recipe=RecipeFacts(name="minimal"),
            python=PythonFacts(executable=Path("/usr/bin/python3"), version="3.12.3", module_dir=cv2),
            created="",
            tool_version="0.1.0",
        ),
    )
    return prefix


def test_prefix_env_sets_opencv_dir_and_prepends_the_prefix_dirs(tmp_path: Path) -> None:
    prefix = make_prefix(tmp_path)
    env = envvars.prefix_env(prefix)
    assert env.set == {"OpenCV_DIR": str(prefix / "lib/cmake/opencv5")}
    assert env.prepend == {
        "PATH": [str(prefix / "bin")],
        "LD_LIBRARY_PATH": [str(prefix / "lib")],
        "PYTHONPATH": [str(prefix / "lib/python3.12/site-packages")],
        "PKG_CONFIG_PATH": [str(prefix / "lib/pkgconfig")],
    }
    resolved = env.resolved(
        {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(prefix / "lib/python3.12/site-packages")}
    )
    assert resolved["PATH"] == f"{prefix / 'bin'}:/usr/bin:/bin"
    assert resolved["PYTHONPATH"] == str(prefix / "lib/python3.12/site-packages")  # not listed twice
    assert resolved["LD_LIBRARY_PATH"] == str(prefix / "lib")


def test_bash_exports_work_in_a_real_bash(tmp_path: Path) -> None:
    prefix = make_prefix(tmp_path)
    script = envvars.env_exports(prefix, "bash")
    probe = 'printf "%s\\n" "$OpenCV_DIR" "$PATH" "$LD_LIBRARY_PATH" "$PYTHONPATH" "$PKG_CONFIG_PATH"'
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        ["bash", "-c", f"{script}\n{probe}"], env=env, capture_output=True, text=True, check=True
    )
    opencv_dir, path, ld, pythonpath, pkg = out.stdout.splitlines()
    assert opencv_dir == str(prefix / "lib/cmake/opencv5")
    assert path == f"{prefix / 'bin'}:/usr/bin:/bin"
    assert ld == str(prefix / "lib")  # no trailing ':' when the variable was unset (an empty entry means '.')
    assert pythonpath == str(prefix / "lib/python3.12/site-packages")
    assert pkg == str(prefix / "lib/pkgconfig")


def test_fish_syntax(tmp_path: Path) -> None:
    prefix = make_prefix(tmp_path, name="cv", pkgconfig=False)
    text = envvars.env_exports(prefix, "fish")
    assert text.splitlines() == [
        f"set -gx OpenCV_DIR {prefix}/lib/cmake/opencv5",
        f"set -gx PATH {prefix}/bin $PATH",
        f"set -gx LD_LIBRARY_PATH {prefix}/lib $LD_LIBRARY_PATH",
        f"set -gx PYTHONPATH {prefix}/lib/python3.12/site-packages $PYTHONPATH",
    ]
    if shutil.which("fish"):
        out = subprocess.run(
            ["fish", "-c", f"{text}\necho $PYTHONPATH"], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip().startswith(f"{prefix}/lib/python3.12/site-packages")


def test_json_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = make_prefix(tmp_path)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    result = CliRunner().invoke(app, ["env", "--prefix", str(prefix), "--shell", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["prefix"] == str(prefix)
    assert data["set"]["OpenCV_DIR"] == str(prefix / "lib/cmake/opencv5")
    assert data["env"]["PYTHONPATH"] == f"{prefix / 'lib/python3.12/site-packages'}:/elsewhere"


def test_the_default_prefix_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = make_prefix(tmp_path, name="cv")
    monkeypatch.setenv("CVCUDA_SETUP_PREFIX", str(prefix))
    assert envvars.default_prefix() == prefix
    result = CliRunner().invoke(app, ["env"])
    assert result.exit_code == 0, result.stderr
    assert f"export OpenCV_DIR={prefix}/lib/cmake/opencv5" in result.stdout
    monkeypatch.delenv("CVCUDA_SETUP_PREFIX")
    assert envvars.default_prefix() == Path.home() / ".local/opt/cvcuda-opencv"


def test_a_prefix_without_a_manifest_or_without_opencv_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["env", "--prefix", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "holds no cvcuda-setup installation" in result.stderr
    prefix = make_prefix(tmp_path, name="cv")
    (prefix / "lib" / "cmake" / "opencv5" / "OpenCVConfig.cmake").unlink()
    with pytest.raises(UsageError, match="has a manifest but no OpenCV"):
        envvars.prefix_env(prefix)


def test_a_bad_shell_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["env", "--prefix", str(tmp_path), "--shell", "tcsh"])
    assert result.exit_code == 2
    assert "--shell 'tcsh' is not one of bash, sh, zsh, fish, json" in result.stderr


@pytest.mark.parametrize("shell", ["sh", "zsh"])
def test_sh_and_zsh_get_the_posix_exports_of_bash(tmp_path: Path, shell: str) -> None:
    """``env --help`` offers sh and zsh: they are accepted and print bash's POSIX ``export`` lines."""
    prefix = make_prefix(tmp_path, name="cv")
    bash = CliRunner().invoke(app, ["env", "--prefix", str(prefix), "--shell", "bash"])
    other = CliRunner().invoke(app, ["env", "--prefix", str(prefix), "--shell", shell])
    assert other.exit_code == 0, other.stderr
    assert other.stdout == bash.stdout
    assert other.stdout.startswith("export OpenCV_DIR=")
    proc = subprocess.run(
        ["sh", "-c", other.stdout + '\nprintf %s "$OpenCV_DIR"'], capture_output=True, text=True, check=True
    )
    assert proc.stdout == envvars.prefix_env(prefix).set["OpenCV_DIR"]


def test_the_manifest_module_dir_wins_and_a_glob_is_the_fallback(tmp_path: Path) -> None:
    prefix = make_prefix(tmp_path, name="cv")
    moved = prefix / "lib64" / "python3.12" / "site-packages" / "cv2"
    moved.mkdir(parents=True)
    shutil.rmtree(prefix / "lib" / "python3.12")
    env = envvars.prefix_env(prefix)
    assert env.prepend["PYTHONPATH"] == [str(moved.parent)]
    assert os.pathsep.join(env.prepend["LD_LIBRARY_PATH"]) == f"{prefix / 'lib'}:{prefix / 'lib64'}"
