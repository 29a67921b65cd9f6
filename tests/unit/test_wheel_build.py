"""build_wheel on fake prefixes (real ELF files), the wheel command, repair modes, find_cv2_distributions."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest
import typer
from test_wheel_fakes import PY, FakePrefix, make_prefix, needs_gcc
from typer.testing import CliRunner

from cvcuda_setup.cli.wheel import register
from cvcuda_setup.errors import BuildError, ToolchainError, UsageError
from cvcuda_setup.wheel import (
    WHEEL_MANIFEST,
    Cv2Dist,
    WheelOptions,
    archive,
    build_wheel,
    find_cv2_distributions,
    installed_wheel_manifest,
    relocate,
    repair,
)
from cvcuda_setup.wheel.elf import read_dynamic

pytestmark = needs_gcc

CP = f"cp{sys.version_info[0]}{sys.version_info[1]}"


def unpack(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    return dest


@pytest.fixture(scope="module")
def cuda_fake(tmp_path_factory: pytest.TempPathFactory) -> FakePrefix:
    return make_prefix(tmp_path_factory.mktemp("cudafake"), cuda=True)


def test_cuda_prefix_without_manifest_gives_a_labelled_relocatable_wheel(
    cuda_fake: FakePrefix, tmp_path: Path
) -> None:
    result = build_wheel(WheelOptions(prefix=cuda_fake.prefix, out_dir=tmp_path / "dist", repair="none"))
    assert result.wheel == tmp_path / "dist" / f"opencv_cuda-5.1.0+cu130.sm90-{CP}-{CP}-linux_x86_64.whl"
    assert result.tag == result.tag_before_repair == f"{CP}-{CP}-linux_x86_64"
    assert result.bundled == ("libopencv_imgproc.so.501", "libopencv_core.so.501")
    assert result.system_cuda == (("libnppc.so.13", "NPP (CUDA toolkit 13.0)"),)
    assert result.repair == "skipped: --repair none"
    assert archive.check_wheel(result.wheel) == []

    root = unpack(result.wheel, tmp_path / "unpacked")
    ext_dir = root / "cv2" / f"python-{PY}"
    assert sorted(p.name for p in ext_dir.iterdir()) == sorted(
        [cuda_fake.extension.name, "libopencv_core.so.501", "libopencv_imgproc.so.501"]
    )
    for elf in ext_dir.iterdir():
        assert read_dynamic(elf).runpath == ("$ORIGIN",), elf.name  # the toolkit dir is dropped too
    assert not (root / "cv2" / "__pycache__").exists()
    assert (root / "cv2" / "utils" / "__init__.py").is_file()
    for path in root.rglob("*"):
        if path.is_file() and not path.name.startswith("lib") and path.suffix != ".so":
            text = path.read_text()
            assert str(cuda_fake.lib) not in text or path.name == ".cvcuda-setup-manifest.json", path
    syslibs = (root / "cv2" / "_opencv_cuda_syslibs.py").read_text()
    assert repr(("libnppc.so.13", "NPP (CUDA toolkit 13.0)", str(cuda_fake.cuda_dir))) in syslibs
    info = root / "opencv_cuda-5.1.0+cu130.sm90.dist-info"
    metadata = (info / "METADATA").read_text()
    assert "Name: opencv-cuda\nVersion: 5.1.0+cu130.sm90\n" in metadata
    assert f"Requires-Python: =={PY}.*" in metadata and "Requires-Dist: numpy" in metadata
    assert "CUDA 13.0 for sm_90" in metadata and "libnppc.so.13" in metadata
    assert (info / "top_level.txt").read_text() == "cv2\n"
    assert (info / "licenses" / "dlpack-LICENSE").is_file()
    assert f"Tag: {CP}-{CP}-linux_x86_64" in (info / "WHEEL").read_text()


def test_manifest_travels_with_build_host_paths_moved_aside(cuda_fake: FakePrefix, tmp_path: Path) -> None:
    result = build_wheel(WheelOptions(prefix=cuda_fake.prefix, out_dir=tmp_path, repair="none"))
    with zipfile.ZipFile(result.wheel) as zf:
        data = json.loads(zf.read(WHEEL_MANIFEST))
    assert data["opencv_version"] == "5.1.0" and data["cuda_version"] == "13.0"
    assert data["arch"] == {"bin": ["9.0"], "ptx": []}
    assert data["python"] == {"version": PY}
    wheel = data["wheel"]
    assert (wheel["name"], wheel["version"]) == ("opencv-cuda", "5.1.0+cu130.sm90")
    assert wheel["prefix_had_manifest"] is False
    assert wheel["libs_dir"] == f"cv2/python-{PY}"
    assert wheel["system_libraries"] == [
        {
            "soname": "libnppc.so.13",
            "provides": "NPP (CUDA toolkit)",
            "found_at_build": str(cuda_fake.cuda_dir / "libnppc.so.13"),
        }
    ]


def test_prefix_manifest_decides_the_version_and_its_python_is_moved(tmp_path: Path) -> None:
    manifest = {
        "schema": "cvcuda-setup/manifest/1",
        "prefix": str(tmp_path / "src"),
        "opencv_version": "5.1.0",
        "recipe": {"name": "minimal", "cuda": True},
        "arch": {"bin": ["8.6", "9.0"], "ptx": ["9.0"]},
        "toolchain": {"cuda_version": "13.0"},
        "python": {
            "executable": sys.executable,
            "module_dir": f"lib/python{PY}/site-packages",
            "numpy_version": "2.4.6",
        },
    }
    fake = make_prefix(tmp_path / "src", cuda=True, manifest=manifest)
    result = build_wheel(WheelOptions(prefix=fake.prefix, out_dir=tmp_path / "dist", repair="none"))
    assert result.version == "5.1.0+cu130.sm86.sm90.ptx90"
    with zipfile.ZipFile(result.wheel) as zf:
        data = json.loads(zf.read(WHEEL_MANIFEST))
        metadata = zf.read("opencv_cuda-5.1.0+cu130.sm86.sm90.ptx90.dist-info/METADATA").decode()
    assert data["recipe"] == {"name": "minimal", "cuda": True}
    assert data["python"] == {"version": PY}
    assert data["wheel"]["build_python"]["executable"] == sys.executable
    assert "Requires-Dist: numpy>=2" in metadata


CPU_MANIFEST = {
    "schema": "cvcuda-setup/manifest/1",
    "prefix": "/p",
    "opencv_version": "5.1.0",
    "recipe": {"cuda": False},
}


def test_cpu_prefix_whose_cv2_links_cuda_is_refused(tmp_path: Path) -> None:
    fake = make_prefix(tmp_path, cuda=True, manifest=CPU_MANIFEST)
    with pytest.raises(UsageError, match=r"reads as a CPU-only build .* but cv2 links libnppc\.so\.13"):
        build_wheel(WheelOptions(prefix=fake.prefix, out_dir=tmp_path / "dist", repair="none"))


def test_prefix_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a directory"):
        build_wheel(WheelOptions(prefix=tmp_path / "nope", out_dir=tmp_path, repair="none"))
    fake = make_prefix(tmp_path / "a")
    (fake.package_dir / f"config-{PY}.py").rename(fake.package_dir / "config-3.99.py")
    with pytest.raises(UsageError, match=r"built for Python 3.99, not Python") as err:
        build_wheel(WheelOptions(prefix=fake.prefix, out_dir=tmp_path, repair="none"))
    assert "--python" in str(err.value)
    bare = make_prefix(tmp_path / "b")
    site = bare.package_dir.parent
    bare.extension.rename(site / bare.extension.name)
    for path in sorted(bare.package_dir.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    bare.package_dir.rmdir()
    with pytest.raises(UsageError, match=r"bare cv2 extension .*OPENCV_SKIP_PYTHON_LOADER"):
        build_wheel(WheelOptions(prefix=bare.prefix, out_dir=tmp_path, repair="none"))


def test_missing_extension_is_a_clear_error(tmp_path: Path) -> None:
    fake = make_prefix(tmp_path)
    fake.extension.unlink()
    with pytest.raises(UsageError, match=r"holds no cv2\*\.so"):
        build_wheel(WheelOptions(prefix=fake.prefix, out_dir=tmp_path / "d", repair="none"))


def fake_auditwheel(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "auditwheel"
    script.write_text(f"#!{sys.executable}\nimport sys, shutil, pathlib\n{body}\n")
    script.chmod(0o755)
    return [str(script)]


@pytest.mark.skipif(relocate.find_patchelf() is None, reason="patchelf not installed (auditwheel needs it)")
def test_auto_repair_keeps_the_linux_wheel_when_auditwheel_refuses(
    cuda_fake: FakePrefix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cmd = fake_auditwheel(
        tmp_path, "print('cannot repair: too-recent versioned symbols', file=sys.stderr)\nsys.exit(1)"
    )
    monkeypatch.setattr(repair, "auditwheel_command", lambda: cmd)
    result = build_wheel(
        WheelOptions(prefix=cuda_fake.prefix, out_dir=tmp_path / "dist", python=sys.executable)
    )
    assert result.tag.endswith("linux_x86_64")
    assert "too-recent versioned symbols" in result.repair
    assert any("auditwheel could not repair" in n for n in result.notes)
    assert "--exclude" in result.repair_command and "libnpp*" in result.repair_command
    with pytest.raises(BuildError, match="auditwheel repair failed: cannot repair"):
        build_wheel(WheelOptions(prefix=cuda_fake.prefix, out_dir=tmp_path / "d2", repair="auditwheel"))


@pytest.mark.skipif(relocate.find_patchelf() is None, reason="patchelf not installed (auditwheel needs it)")
def test_repaired_wheel_replaces_ours(
    cuda_fake: FakePrefix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (
        "args = sys.argv[1:]\n"
        "out = pathlib.Path(args[args.index('--wheel-dir') + 1])\n"
        "src = pathlib.Path(args[-1])\n"
        "shutil.copyfile(src, out / src.name.replace('linux_x86_64', 'manylinux_2_35_x86_64'))\n"
    )
    monkeypatch.setattr(repair, "auditwheel_command", lambda: fake_auditwheel(tmp_path, body))
    result = build_wheel(
        WheelOptions(prefix=cuda_fake.prefix, out_dir=tmp_path / "dist", repair="auditwheel")
    )
    assert result.repair == "auditwheel"
    assert result.tag == f"{CP}-{CP}-manylinux_2_35_x86_64"
    assert result.tag_before_repair == f"{CP}-{CP}-linux_x86_64"
    assert [p.name for p in (tmp_path / "dist").iterdir()] == [result.wheel.name]


@pytest.mark.skipif(relocate.find_patchelf() is None, reason="patchelf not installed (auditwheel needs it)")
def test_a_repair_that_bundles_cuda_is_refused(
    cuda_fake: FakePrefix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (
        "import zipfile\n"
        "args = sys.argv[1:]\n"
        "out = pathlib.Path(args[args.index('--wheel-dir') + 1])\n"
        "src = pathlib.Path(args[-1])\n"
        "dst = out / src.name.replace('linux_x86_64', 'manylinux_2_35_x86_64')\n"
        "shutil.copyfile(src, dst)\n"
        "with zipfile.ZipFile(dst, 'a') as zf:\n"
        "    zf.writestr('opencv_cuda.libs/libnppc-1a2b3c4d.so.13', b'x')\n"
    )
    monkeypatch.setattr(repair, "auditwheel_command", lambda: fake_auditwheel(tmp_path, body))
    result = build_wheel(WheelOptions(prefix=cuda_fake.prefix, out_dir=tmp_path / "dist", repair="auto"))
    assert result.repair.startswith("refused, kept the linux_x86_64 wheel: auditwheel bundled system CUDA")
    assert result.tag.endswith("linux_x86_64")
    with pytest.raises(BuildError, match=r"libnppc-1a2b3c4d\.so\.13"):
        build_wheel(WheelOptions(prefix=cuda_fake.prefix, out_dir=tmp_path / "d2", repair="auditwheel"))


def test_grafted_cuda_names() -> None:
    names = [
        "libz-0123abcd.so.1",
        "libcudart-89abcdef.so.13",
        "libnppc-01234567.so.13",
        "libtbb-aaaaaaaa.so.12",
    ]
    assert repair.grafted_cuda(names) == ["libcudart-89abcdef.so.13", "libnppc-01234567.so.13"]


def test_auditwheel_mode_needs_patchelf_and_a_patchelf_that_works(
    cuda_fake: FakePrefix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repair, "auditwheel_command", lambda: fake_auditwheel(tmp_path, "sys.exit(0)"))
    monkeypatch.setattr(relocate, "find_patchelf", lambda: None)
    with pytest.raises(ToolchainError, match="auditwheel needs patchelf"):
        build_wheel(WheelOptions(prefix=cuda_fake.prefix, out_dir=tmp_path / "d0", repair="auditwheel"))
    monkeypatch.setattr(relocate, "find_patchelf", lambda: "/bin/true")
    # a "patchelf" that exits 0 and does nothing: reading the RUNPATH back catches it
    with pytest.raises(BuildError, match="after setting it to"):
        build_wheel(WheelOptions(prefix=cuda_fake.prefix, out_dir=tmp_path / "d1", repair="auditwheel"))


def test_auditwheel_mode_without_auditwheel_names_the_install(
    cuda_fake: FakePrefix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repair, "auditwheel_command", lambda: None)
    with pytest.raises(ToolchainError, match="auditwheel is not installed") as err:
        build_wheel(WheelOptions(prefix=cuda_fake.prefix, out_dir=tmp_path, repair="auditwheel"))
    assert "pip install auditwheel" in str(err.value)
    result = build_wheel(WheelOptions(prefix=cuda_fake.prefix, out_dir=tmp_path, repair="auto"))
    assert result.repair.startswith("skipped: auditwheel is not installed")


def test_repair_command_excludes_the_cuda_libraries(tmp_path: Path) -> None:
    cmd = repair.repair_command(["auditwheel"], tmp_path / "x.whl", tmp_path / "out")
    assert cmd[:4] == ["auditwheel", "repair", "--wheel-dir", str(tmp_path / "out")]
    excludes = [cmd[i + 1] for i, v in enumerate(cmd) if v == "--exclude"]
    assert {"libcuda.so*", "libcudart.so*", "libnpp*", "libcublas*", "libcufft*", "libcudnn*"} <= set(
        excludes
    )
    assert cmd[-1] == str(tmp_path / "x.whl")


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Root."""

    return app


def test_cli_writes_the_wheel_and_prints_its_path(cuda_fake: FakePrefix, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    result = CliRunner().invoke(
        cli(), ["wheel", "--prefix", str(cuda_fake.prefix), "--out", str(out), "--repair", "none"]
    )
    assert result.exit_code == 0, result.output
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1 and str(wheels[0]) in result.stdout


def test_cli_json(cuda_fake: FakePrefix, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli(),
        ["wheel", "--prefix", str(cuda_fake.prefix), "--out", str(tmp_path), "--repair", "none", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "cvcuda-setup.wheel/1"
    assert data["version"] == "5.1.0+cu130.sm90"
    assert data["manifest_path"] == WHEEL_MANIFEST
    assert data["system_cuda_libraries"] == [
        {"soname": "libnppc.so.13", "provides": "NPP (CUDA toolkit 13.0)"}
    ]


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    app = cli()
    bad_repair = CliRunner().invoke(app, ["wheel", "--prefix", str(tmp_path), "--repair", "maybe"])
    assert bad_repair.exit_code == 2
    assert "error: --repair 'maybe' is not one of auto, auditwheel, none" in bad_repair.output
    missing = CliRunner().invoke(app, ["wheel", "--prefix", str(tmp_path / "nope"), "--repair", "none"])
    assert missing.exit_code == 2
    assert "is not a directory" in missing.output and "Traceback" not in missing.output


def test_cli_help_has_an_example() -> None:
    result = CliRunner().invoke(cli(), ["wheel", "--help"])
    assert result.exit_code == 0
    assert "cvcuda-setup wheel --prefix" in result.stdout


def dist_info(site: Path, name: str, version: str, files: list[str]) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))


def test_find_cv2_distributions_marks_ours(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    dist_info(site, "opencv-cuda", "5.1.0+cu130.sm90", ["cv2/__init__.py", WHEEL_MANIFEST])
    dist_info(site, "opencv-python-headless", "5.0.0.93", ["cv2/__init__.py", "cv2/cv2.abi3.so"])
    dist_info(site, "numpy", "2.4.6", ["numpy/__init__.py"])
    (site / "cv2").mkdir()
    (site / WHEEL_MANIFEST).write_text(
        json.dumps({"opencv_version": "5.1.0", "wheel": {"name": "opencv-cuda"}})
    )
    found = find_cv2_distributions(paths=[str(site)])
    assert found == [
        Cv2Dist("opencv-cuda", "5.1.0+cu130.sm90", True),
        Cv2Dist("opencv-python-headless", "5.0.0.93", False),
    ]
    name, version, ours = found[0]  # unpacks as (name, version, is_ours)
    assert (name, version, ours) == ("opencv-cuda", "5.1.0+cu130.sm90", True)
    located = installed_wheel_manifest(paths=[str(site)])
    assert located is not None
    assert located[0] == site / WHEEL_MANIFEST
    assert located[1]["wheel"]["name"] == "opencv-cuda"


def test_find_cv2_distributions_asks_another_interpreter(tmp_path: Path) -> None:
    assert find_cv2_distributions(sys.executable) == find_cv2_distributions()
    with pytest.raises(ToolchainError, match="cannot ask"):
        find_cv2_distributions(str(tmp_path / "python-missing"))


@pytest.mark.parametrize(
    ("manifest_numpy", "interp_numpy", "requirement"),
    [
        ("2.4.6", None, "numpy>=2"),
        ("1.26.4", "2.4.6", "numpy<2"),
        (None, "2.1.0", "numpy>=2"),
        (None, None, "numpy"),
    ],
)
def test_numpy_requirement_follows_the_build(
    manifest_numpy: str | None, interp_numpy: str | None, requirement: str
) -> None:
    from cvcuda_setup.wheel.builder import numpy_requirement
    from cvcuda_setup.wheel.naming import InterpreterFacts

    manifest = (
        {"python": {"numpy_version": manifest_numpy}} if manifest_numpy else {"python": {"version": "3.12"}}
    )
    interp = InterpreterFacts(
        "/usr/bin/python3", "cpython", (3, 12), ".so", "linux-x86_64", numpy_version=interp_numpy
    )
    assert numpy_requirement(manifest, interp) == requirement
