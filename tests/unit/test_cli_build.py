"""The build command's dry run and error paths through typer's runner (nvcc faked at the process edge)."""

from __future__ import annotations

import io
import json
import shlex
import tarfile
from pathlib import Path

import pytest
from fake_toolkit import install_fake_toolkit
from typer.testing import CliRunner

from cvcuda_setup.cli.app import app

CODES = "sm_75 sm_80 sm_86 sm_87 sm_88 sm_89 sm_90 sm_100 sm_110 sm_103 sm_120 sm_121"


@pytest.fixture()
def fake_nvcc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An nvcc 13.0 that answers --version / --list-gpu-code / --list-gpu-arch like the real one."""
    return install_fake_toolkit(tmp_path, monkeypatch, CODES.split())


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_seed_dry_run_prints_every_documented_flag(fake_nvcc: Path) -> None:
    code, out, err = run("build", "--recipe", "seed", "--arch", "8.9", "--dry-run", "--prefix", "/opt/cv")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 3
    configure = shlex.split(lines[0])
    for flag in (
        "-DWITH_CUDA=ON",
        "-DOPENCV_DNN_CUDA=ON",
        "-DWITH_CUDNN=ON",
        "-DWITH_CUBLAS=ON",
        "-DENABLE_FAST_MATH=ON",
        "-DCUDA_FAST_MATH=ON",
        "-DBUILD_opencv_cudacodec=ON",
        "-DBUILD_EXAMPLES=OFF",
        "-DCUDA_ARCH_BIN=8.9",
        "-DCMAKE_BUILD_TYPE=Release",
        "-DCMAKE_INSTALL_PREFIX=/opt/cv",
    ):
        assert flag in configure, flag
    assert any(
        a.startswith("-DOPENCV_EXTRA_MODULES_PATH=") and a.endswith("opencv_contrib/modules")
        for a in configure
    )
    assert "ninja" in lines[1] and "--install" in lines[2]


def test_minimal_dry_run_json(fake_nvcc: Path) -> None:
    code, out, err = run("build", "--recipe", "minimal", "--arch", "9.0+PTX", "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["cmake_options"]["CUDA_ARCH_BIN"] == "9.0"
    assert plan["cmake_options"]["CUDA_ARCH_PTX"] == "9.0"
    assert plan["modules"] == plan["cmake_options"]["BUILD_LIST"].split(",")
    assert {
        "core",
        "imgproc",
        "geometry",
        "flann",
        "imgcodecs",
        "cudev",
        "cudaarithm",
        "cudafilters",
        "cudaimgproc",
        "python3",
        "python_bindings_generator",
    } == set(plan["modules"])
    assert plan["arch"]["validated"] is True and plan["recipe"] == "minimal"
    assert plan["source"]["kind"] == "sdist" and plan["jobs"] >= 1


@pytest.mark.parametrize(
    ("arch", "needle"),
    [("7.0", "7.0 cannot be targeted"), ("nine", "cannot read 'nine'"), ("13.0", "13.0 cannot be targeted")],
)
def test_bad_arch_is_one_line_exit_2(fake_nvcc: Path, arch: str, needle: str) -> None:
    code, out, err = run("build", "--recipe", "minimal", "--arch", arch, "--dry-run")
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_auto_without_gpu_is_exit_2(fake_nvcc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cvcuda_setup.probe.gpu as gpu

    monkeypatch.setattr(
        gpu, "probe_gpus", lambda: gpu.GpuProbe(devices=(), driver_version=None, error="no driver")
    )
    code, _, err = run("build", "--recipe", "minimal", "--dry-run")
    assert code == 2 and "--arch auto found no CUDA device" in err and "--arch 8.9" in err


def test_recipe_with_unknown_key_is_exit_2(fake_nvcc: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[recipe]\nname = "bad"\ndescription = "d"\nextends = "minimal"\nmodulez = []\n')
    code, _, err = run("build", "--recipe", str(bad), "--arch", "9.0", "--dry-run")
    assert code == 2 and "unknown key 'recipe.modulez'" in err and str(bad) in err


def _one_error_line(err: str) -> bool:
    """Exactly one ``error:`` line (step lines may precede it) and no traceback."""
    return (
        len([line for line in err.splitlines() if line.startswith("error:")]) == 1 and "Traceback" not in err
    )


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_tarball_with_wrong_sha256_is_exit_2_and_leaves_nothing(fake_nvcc: Path, tmp_path: Path) -> None:
    src = _tarball(tmp_path / "opencv-5.1.0.tar.gz", {"opencv/CMakeLists.txt": b"x"})
    cache = tmp_path / "cache"
    code, _, err = run(
        "build",
        "--recipe",
        "cpu-test",
        "--source",
        str(src),
        "--sha256",
        "0" * 64,
        "--no-doctor",
        "--prefix",
        str(tmp_path / "prefix"),
        "--cache-dir",
        str(cache),
    )
    assert code == 2 and "sha256 mismatch" in err and _one_error_line(err)
    assert not (tmp_path / "prefix").exists()
    leftovers = [p for p in cache.rglob("*") if p.is_dir() and p.name == "opencv"] if cache.exists() else []
    assert leftovers == []  # nothing half-extracted
    assert not any(p.name.endswith(".tar.gz") for p in cache.rglob("*")) if cache.exists() else True


def test_archive_with_dotdot_member_is_exit_2(fake_nvcc: Path, tmp_path: Path) -> None:
    src = _tarball(tmp_path / "evil.tar.gz", {"opencv/CMakeLists.txt": b"x", "../escaped.txt": b"gotcha"})
    code, _, err = run(
        "build",
        "--recipe",
        "cpu-test",
        "--source",
        str(src),
        "--no-doctor",
        "--prefix",
        str(tmp_path / "prefix"),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert code == 2 and _one_error_line(err)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "cache" / "escaped.txt").exists()
    assert not (tmp_path / "prefix").exists()


def test_json_without_dry_run_is_refused(fake_nvcc: Path) -> None:
    code, _, err = run("build", "--json")
    assert code == 2 and "--json needs --dry-run" in err


def test_help_has_examples() -> None:
    code, out, _ = run("build", "--help")
    assert code == 0 and "cvcuda-setup build --recipe seed --arch 8.9 --dry-run" in out


def test_every_dry_run_example_of_the_help_runs_on_a_host_without_a_gpu(
    fake_nvcc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cvcuda_setup.cli.build import EXAMPLES
    from cvcuda_setup.probe import gpu

    def no_driver() -> gpu.GpuProbe:
        raise OSError("no NVIDIA driver")

    monkeypatch.setattr(gpu, "_query_driver", no_driver)
    examples = [
        shlex.split(line.split("(")[0])[1:]
        for line in EXAMPLES.splitlines()
        if line.strip().startswith("cvcuda-setup build") and "--dry-run" in line
    ]
    assert len(examples) >= 3
    for args in examples:
        code, out, err = run(*args)
        assert code == 0, (args, err)
        assert out.strip(), args
    code, _, err = run("build", "--recipe", "minimal", "--dry-run")  # auto without a GPU: says so
    assert code == 2 and "found no CUDA device" in err and "--arch" in err


def test_a_cache_that_is_a_file_is_one_line_exit_2_even_in_dry_run(
    fake_nvcc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    afile = tmp_path / "cachefile"
    afile.write_text("")
    monkeypatch.setenv("CVCUDA_SETUP_CACHE", str(afile))
    code, _, err = run(
        "build", "--recipe", "minimal", "--arch", "9.0", "--dry-run", "--prefix", str(tmp_path / "p")
    )
    assert code == 2 and f"the cache {afile} cannot be used" in err and "Traceback" not in err


def test_a_foreign_or_overlapping_prefix_is_refused_in_dry_run(fake_nvcc: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    prefix.mkdir()
    (prefix / "notes.txt").write_text("mine")
    code, _, err = run("build", "--recipe", "minimal", "--arch", "9.0", "--dry-run", "--prefix", str(prefix))
    assert code == 2 and "notes.txt" in err
    inside = tmp_path / "cache" / "build" / "x"
    code, _, err = run("build", "--recipe", "minimal", "--arch", "9.0", "--dry-run", "--prefix", str(inside))
    assert code == 2 and "overlaps the" in err


@pytest.mark.parametrize("name", ["../../evil", "/abs/evil", "a/b", ".hidden"])
def test_a_recipe_name_that_is_a_path_is_refused(fake_nvcc: Path, tmp_path: Path, name: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[recipe]\nname = "{name}"\ndescription = "x"\n')
    code, _, err = run("build", "--recipe", str(bad), "--arch", "9.0", "--dry-run")
    assert code == 2 and "is not a plain name" in err


def test_a_recipe_that_is_not_utf8_is_one_line_exit_2(fake_nvcc: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'[recipe]\nname = "x\xff"\n')
    code, _, err = run("build", "--recipe", str(bad), "--arch", "9.0", "--dry-run")
    assert code == 2 and "not UTF-8" in err and "Traceback" not in err
