"""wheel.loaderconfig and wheel.syslibs: OpenCV's config files rewritten; the import-time library check."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest
from test_wheel_fakes import GCC, needs_gcc

from cvcuda_setup.errors import UsageError
from cvcuda_setup.wheel import loaderconfig, syslibs
from cvcuda_setup.wheel.loaderconfig import parse_config, resolve_entry

# The three forms CMake writes (modules/python/python_loader.cmake, common.cmake).
RELATIVE = (
    "import os\n\nBINARIES_PATHS = [\n"
    "    os.path.join(os.path.join(LOADER_DIR, '../../../../'), 'lib')\n] + BINARIES_PATHS\n"
)
ABSOLUTE = (
    "PYTHON_EXTENSIONS_PATHS = [\n"
    "    os.path.join('/opt/ocv/lib/python3.12/site-packages/cv2', 'python-3.12')\n"
    "] + PYTHON_EXTENSIONS_PATHS\n"
)
WINDOWS = (
    "import os\n\nBINARIES_PATHS = [\n    os.path.join('C:/ocv', 'bin'),\n"
    "    os.path.join(os.getenv('CUDA_PATH', 'C:/cuda'), 'bin/x64')\n] + BINARIES_PATHS\n"
)


def test_entries_of_each_form_are_read_and_resolved(tmp_path: Path) -> None:
    loader = Path("/p/lib/python3.12/site-packages/cv2")
    rel = parse_config(RELATIVE, tmp_path / "config.py")
    assert rel.resolved("BINARIES_PATHS", loader) == [Path("/p/lib")]
    absolute = parse_config(ABSOLUTE, tmp_path / "config-3.12.py")
    assert absolute.resolved("PYTHON_EXTENSIONS_PATHS", loader) == [
        Path("/opt/ocv/lib/python3.12/site-packages/cv2/python-3.12")
    ]
    win = parse_config(WINDOWS, tmp_path / "config.py")
    assert win.resolved("BINARIES_PATHS", loader) == [Path("C:/ocv/bin"), None]  # env-dependent: unresolvable


def test_nothing_in_the_file_is_executed() -> None:
    assert resolve_entry("__import__('os').system('false')", Path("/x")) is None
    assert resolve_entry("LOADER_DIR + '/lib'", Path("/x")) is None


def test_malformed_config_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not valid Python"):
        parse_config("BINARIES_PATHS = [\n", tmp_path / "config.py")
    with pytest.raises(UsageError, match="not assigned a list"):
        parse_config("BINARIES_PATHS = 'x'\n", tmp_path / "config.py")


def test_prefix_and_extension_dirs_are_replaced_the_rest_dropped(tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    package = prefix / "lib" / "python3.12" / "site-packages" / "cv2"
    (package / "python-3.12").mkdir(parents=True)
    text = (
        "BINARIES_PATHS = [\n    os.path.join(os.path.join(LOADER_DIR, '../../../../'), 'lib'),\n"
        "    '/usr/local/cuda/lib64',\n    os.path.join(os.getenv('X', '/y'), 'z')\n] + BINARIES_PATHS\n"
    )
    config = parse_config(text, package / "config.py")
    fates = loaderconfig.classify(
        config, "BINARIES_PATHS", package, (prefix / "lib",), package / "python-3.12"
    )
    assert [f.action for f in fates] == ["replaced", "dropped", "dropped"]
    assert fates[0].resolved == str(prefix / "lib")
    ext = parse_config(CONFIG_EXT, package / "config-3.12.py")
    (fate,) = loaderconfig.classify(
        ext, "PYTHON_EXTENSIONS_PATHS", package, (prefix / "lib",), package / "python-3.12"
    )
    assert (fate.action, fate.reason) == (
        "replaced",
        "the extension's directory: the wheel carries the extension",
    )


CONFIG_EXT = (
    "PYTHON_EXTENSIONS_PATHS = [\n    os.path.join(LOADER_DIR, 'python-3.12')\n] + PYTHON_EXTENSIONS_PATHS\n"
)


def run_config(
    text: str, loader_dir: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, object], list[str]]:
    """Execute a config file the way OpenCV's loader does: globals of cv2, locals with the two lists."""
    calls: list[str] = []
    checker = types.ModuleType("cv2._opencv_cuda_syslibs")
    checker.require = lambda: calls.append("require")  # type: ignore[attr-defined]
    package = types.ModuleType("cv2")
    package.__path__ = []  # type: ignore[attr-defined]
    package._opencv_cuda_syslibs = checker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cv2", package)
    monkeypatch.setitem(sys.modules, "cv2._opencv_cuda_syslibs", checker)
    l_vars: dict[str, object] = {
        "LOADER_DIR": loader_dir,
        "BINARIES_PATHS": [],
        "PYTHON_EXTENSIONS_PATHS": [],
    }
    exec(compile(text, "config.py", "exec"), {"__name__": "cv2", "__package__": "cv2"}, l_vars)
    return l_vars, calls


def test_rendered_configs_name_only_package_dirs_and_run_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    fates = [
        loaderconfig.EntryFate(
            "config.py", "BINARIES_PATHS", "'/build/host/lib'", "/build/host/lib", "replaced", "r"
        )
    ]
    config = loaderconfig.render_config("python-3.12", "opencv-cuda 5.1.0+cpu", fates)
    assert "/build/host" not in config  # no build-host path, not even in a comment
    l_vars, calls = run_config(config, "/site/cv2", monkeypatch)
    assert l_vars["BINARIES_PATHS"] == ["/site/cv2/python-3.12"]
    assert calls == ["require"]
    version_config = loaderconfig.render_version_config("python-3.12", "opencv-cuda 5.1.0+cpu", [])
    l_vars, calls = run_config(version_config, "/site/cv2", monkeypatch)
    assert l_vars["PYTHON_EXTENSIONS_PATHS"] == ["/site/cv2/python-3.12"]
    assert calls == []


def load_checker(source: str) -> types.ModuleType:
    module = types.ModuleType("checker")
    exec(compile(source, "_opencv_cuda_syslibs.py", "exec"), module.__dict__)
    return module


def test_check_passes_for_libraries_the_loader_finds() -> None:
    source = syslibs.render(
        "opencv-cuda 5.1.0+cu130.sm90", "13.0", [syslibs.Requirement("libc.so.6", "glibc")]
    )
    checker = load_checker(source)
    checker.require()
    assert checker.missing() == []


def test_check_names_every_missing_library_and_its_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    source = syslibs.render(
        "opencv-cuda 5.1.0+cu130.sm90",
        "13.0",
        [
            syslibs.Requirement("libnppc_cvcuda_test.so.13", "NPP (CUDA toolkit 13.0)", "/nonexistent/lib64"),
            syslibs.Requirement("libcudnn_cvcuda_test.so.9", "cuDNN"),
        ],
    )
    checker = load_checker(source)
    monkeypatch.delenv("CUDA_HOME", raising=False)
    sys.OpenCV_LOADER = True  # type: ignore[attr-defined]  # what OpenCV's loader sets before config.py
    try:
        with pytest.raises(ImportError) as err:
            checker.require()
        cleared = not hasattr(sys, "OpenCV_LOADER")
    finally:
        sys.__dict__.pop("OpenCV_LOADER", None)
    text = str(err.value)
    assert "libnppc_cvcuda_test.so.13 (NPP (CUDA toolkit 13.0))" in text
    assert "libcudnn_cvcuda_test.so.9 (cuDNN)" in text
    assert "opencv-cuda 5.1.0+cu130.sm90" in text and "LD_LIBRARY_PATH" in text
    assert cleared  # OpenCV's loader can be retried


@needs_gcc
def test_check_loads_a_library_from_the_build_dir_or_cuda_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib_dir = tmp_path / "cuda" / "lib64"
    lib_dir.mkdir(parents=True)
    src = tmp_path / "fake.c"
    src.write_text("int fake_npp(void) { return 7; }\n")
    soname = "libcvcudafake_npp.so.13"
    subprocess.run(
        [str(GCC), "-shared", "-fPIC", "-o", str(lib_dir / soname), str(src), f"-Wl,-soname,{soname}"],
        check=True,
    )
    # in a child: a loaded library stays loaded, so each case needs a fresh process
    for requirement, env in (
        (syslibs.Requirement(soname, "NPP", str(lib_dir)), {}),
        (syslibs.Requirement(soname, "NPP", ""), {"CUDA_HOME": str(tmp_path / "cuda")}),
        (syslibs.Requirement(soname, "NPP", ""), {}),
    ):
        module = tmp_path / "checker.py"
        module.write_text(syslibs.render("opencv-cuda 5.1.0+cu130", "13.0", [requirement]))
        code = f"import checker, ctypes; checker.require(); print(ctypes.CDLL({soname!r}).fake_npp())"
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", **env},
            capture_output=True,
            text=True,
            check=False,
        )
        if requirement.build_dir or env:
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.strip() == "7"
        else:
            assert proc.returncode == 1
            assert "ImportError: cv2 from opencv-cuda 5.1.0+cu130 needs system libraries" in proc.stderr
            assert f"{soname} (NPP)" in proc.stderr
