"""The doctor, driven end to end through faked boundaries: every finding code, its level and its fix.

Fakes: a toolkit tree with a shell-script nvcc (and library files or not), shell-script compilers on PATH,
``probe.gpu._query_driver`` returning given devices, fake interpreters for the Python side. The checks and
the probes' own logic run for real.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cvcuda_setup.cli.app import app
from cvcuda_setup.doctor import Finding, exit_code, render, run_doctor, to_document
from cvcuda_setup.model import GpuDevice, Recipe
from cvcuda_setup.probe import gpu, hostinfo, toolkit
from cvcuda_setup.probe.toolkit import NPP_LIBRARIES

CODES_13 = [
    "sm_75",
    "sm_80",
    "sm_86",
    "sm_87",
    "sm_88",
    "sm_89",
    "sm_90",
    "sm_100",
    "sm_110",
    "sm_103",
    "sm_120",
]
CODES_12 = ["sm_50", "sm_52", "sm_60", "sm_61", "sm_70", "sm_75", "sm_80", "sm_86", "sm_89", "sm_90"]
H100 = GpuDevice(0, "NVIDIA H100 80GB HBM3", 9, 0, total_memory=80 * 2**30, pci_bus_id="0000:01:00.0")
GTX1080 = GpuDevice(0, "NVIDIA GeForce GTX 1080", 6, 1, total_memory=8 * 2**30)
ORIN = GpuDevice(1, "Orin", 8, 7, integrated=True, can_map_host_memory=False, total_memory=30 * 2**30)


def recipe(
    name: str = "minimal",
    *,
    cuda: bool = True,
    python: bool = False,
    contrib: bool = True,
    modules: tuple[str, ...] = ("core", "imgproc", "cudev", "cudaarithm"),
    cmake: tuple[tuple[str, bool | str | int], ...] = (
        ("WITH_CUDA", True),
        ("WITH_CUBLAS", True),
        ("WITH_CUFFT", True),
        ("WITH_CUDNN", False),
    ),
) -> Recipe:
    return Recipe(
        name=name,
        description="test",
        path=Path(f"{name}.toml"),
        modules=modules,
        contrib=contrib,
        cuda=cuda,
        python=python,
        build_type="Release",
        cmake=cmake,
    )


CPU = recipe(
    "cpu-test", cuda=False, contrib=False, modules=("core", "imgproc"), cmake=(("WITH_CUDA", False),)
)
SEED = recipe(
    "seed", modules=(), cmake=(("WITH_CUDA", True), ("OPENCV_DNN_CUDA", True), ("WITH_CUDNN", True))
)


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


class Host:
    """A fake host under tmp: toolkit tree, compilers on PATH, the driver's answer."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp
        self.mp = monkeypatch
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.root = tmp / "cuda"
        for tool in ("cmake", "ninja"):  # the real ones stay reachable where they are not PyPI packages
            real = shutil.which(tool)
            if real:
                (self.bin / tool).symlink_to(real)
        monkeypatch.setenv("PATH", str(self.bin))
        for var in (
            "CC",
            "CXX",
            "CUDAHOSTCXX",
            "CUDACXX",
            "CUDA_PATH",
            "CUDNN_ROOT",
            "CUDNN_HOME",
            "CUDNN_PATH",
            "CUDA_VISIBLE_DEVICES",
        ):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("CUDA_HOME", str(self.root))
        monkeypatch.setattr(toolkit, "DEFAULT_TOOLKIT", tmp / "no-usr-local-cuda")
        monkeypatch.setattr(toolkit, "CUDNN_SYSTEM_DIRS", (tmp / "no-system-cudnn",))
        monkeypatch.setattr(toolkit, "_site_dirs", lambda: [])
        self.toolkit()
        self.gcc("cc", "13.3.0")
        self.gpus([H100], driver=13000)

    def toolkit(
        self,
        version: str = "13.0",
        codes: list[str] | None = None,
        *,
        npp: bool = True,
        blas: bool = True,
        fft: bool = True,
        gcc_max: int | None = 15,
        lists: bool = True,
    ) -> None:
        codes = CODES_13 if codes is None else codes
        code_lines = "\\n".join(codes)
        arch_lines = "\\n".join(c.replace("sm_", "compute_") for c in codes)
        lister = ("printf '{}\\n'" if lists else "exit 1; echo '{}'").format
        script(
            self.root / "bin" / "nvcc",
            (
                'case "$1" in\n'
                f"  --version) echo 'Cuda compilation tools, release {version}, V{version}.88';;\n"
                f"  --list-gpu-code) {lister(code_lines)};;\n"
                f"  --list-gpu-arch) {lister(arch_lines)};;\n"
                "  *) exit 1;;\n"
                "esac\n"
            ),
        )
        lib = self.root / "lib64"
        lib.mkdir(parents=True, exist_ok=True)
        for name in [*NPP_LIBRARIES, "cublas", "cufft"]:
            (lib / f"lib{name}.so.13").unlink(missing_ok=True)
        names = [*(NPP_LIBRARIES if npp else ()), *(["cublas"] if blas else []), *(["cufft"] if fft else [])]
        for name in names:
            (lib / f"lib{name}.so.13").write_bytes(b"")
        header = self.root / "include" / "crt" / "host_config.h"
        header.unlink(missing_ok=True)
        if gcc_max is not None:
            header.parent.mkdir(parents=True, exist_ok=True)
            header.write_text(
                f"#if defined(__GNUC__)\n#if __GNUC__ > {gcc_max}\n#error -- unsupported GNU "
                "version!\n#endif\n"
                "#if defined(__clang__) && !defined(__ibmxl_vrm__) && !defined(__ICC)\n"
                "#if (__clang_major__ >= 21) || (__clang_major__ < 3)\n#error\n#endif\n#endif\n#endif\n"
            )

    def cudnn(self, version: tuple[int, int, int] = (9, 1, 0), *, lib: bool = True) -> None:
        header = self.root / "include" / "cudnn_version.h"
        header.parent.mkdir(parents=True, exist_ok=True)
        major, minor, patch = version
        header.write_text(
            f"#define CUDNN_MAJOR {major}\n#define CUDNN_MINOR {minor}\n#define CUDNN_PATCHLEVEL {patch}\n"
        )
        if lib:
            (self.root / "lib64" / f"libcudnn.so.{major}").write_bytes(b"")

    def gcc(self, name: str, version: str) -> Path:
        return script(
            self.bin / name,
            (
                'case "$1" in\n'
                f"  -dumpfullversion) echo '{version}';;\n"
                f"  --version) echo '{name} (GCC) {version}'; echo 'Free Software Foundation, Inc.';;\n"
                "  *) exit 1;;\n"
                "esac\n"
            ),
        )

    def gpus(self, devices: list[GpuDevice], driver: int | None = 13000, error: str | None = None) -> None:
        probe = gpu.GpuProbe(devices=tuple(devices), driver_version=driver, error=error)
        self.mp.setattr(gpu, "_query_driver", lambda: probe)

    def no_driver(self) -> None:
        def missing() -> gpu.GpuProbe:
            raise OSError('"cuda" is an NVIDIA driver library and can only be found via system search')

        self.mp.setattr(gpu, "_query_driver", missing)

    def run(
        self, rec: Recipe | None = None, arch: str = "auto", opencv: str = "5.1.0", **kw: object
    ) -> list[Finding]:
        kw.setdefault("build_dir", self.tmp / "build")
        return run_doctor(rec if rec is not None else recipe(), arch, opencv, **kw)  # type: ignore[arg-type]


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    return Host(tmp_path, monkeypatch)


def only(findings: list[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, f"{code}: {[(f.code, f.level, f.message) for f in findings]}"
    return matching[0]


def codes(findings: list[Finding], level: str | None = None) -> list[str]:
    return [f.code for f in findings if level is None or f.level == level]


# --- a healthy host -----------------------------------------------------------------------------------------


def test_a_healthy_cuda_host_is_all_ok(host: Host) -> None:
    findings = host.run()
    assert codes(findings, "warn") == [] and codes(findings, "error") == []
    assert exit_code(findings) == 0
    assert codes(findings) == [
        "gpu.device",
        "driver.version",
        "toolkit.nvcc",
        "arch.ok",
        "cuda-libs.npp",
        "cuda-libs.cublas",
        "cuda-libs.cufft",
        "compiler.host",
        "compat.known-good",
        "host.cmake",
        "host.ninja",
        "host.disk",
        "host.resources",
        "host.compiler-cache",
    ]
    assert only(findings, "gpu.device").message == (
        "GPU 0: NVIDIA H100 80GB HBM3, compute 9.0, discrete, 80.0 GiB, canMapHostMemory yes"
    )
    assert only(findings, "arch.ok").data == {"bin": ["9.0"], "ptx": [], "origin": "auto"}
    assert "chosen: CUDA_HOME is set" in only(findings, "toolkit.nvcc").message
    assert "gcc <= 15" in only(findings, "compiler.host").message


# --- GPU and driver -----------------------------------------------------------------------------------------


def test_no_gpu_is_an_error_for_auto_and_a_warning_for_an_explicit_arch(host: Host) -> None:
    host.no_driver()
    auto = only(host.run(arch="auto"), "gpu.none")
    assert auto.level == "error"
    assert "--arch auto cannot detect" in auto.message and "NVIDIA driver library" in auto.message
    assert auto.fix is not None and "--arch 8.9" in auto.fix
    explicit = host.run(arch="9.0")
    assert only(explicit, "gpu.none").level == "warn"
    assert only(explicit, "arch.ok").data["origin"] == "explicit"
    assert exit_code(explicit) == 1


def test_integrated_gpu_and_one_that_cannot_map_host_memory(host: Host) -> None:
    host.gpus([H100, ORIN])
    findings = host.run()
    assert [f.message.split(",")[2].strip() for f in findings if f.code == "gpu.device"] == [
        "discrete",
        "integrated (shares host memory)",
    ]
    unmappable = only(findings, "gpu.no-map-host-memory")
    assert unmappable.level == "warn" and "GPU 1 (Orin)" in unmappable.message
    assert unmappable.fix is not None and "CUDA_VISIBLE_DEVICES" in unmappable.fix
    assert only(findings, "arch.ok").data["bin"] == ["8.7", "9.0"]


def test_no_gpu_can_map_host_memory_is_an_error(host: Host) -> None:
    host.gpus([replace(ORIN, index=0)])
    assert only(host.run(), "gpu.no-map-host-memory").level == "error"


def test_explicit_arch_that_misses_the_visible_gpu(host: Host) -> None:
    f = only(host.run(arch="8.6"), "gpu.not-covered")
    assert f.level == "warn" and f.fix == "add 9.0 to --arch, or use --arch auto"
    assert codes(host.run(arch="8.0+PTX"), "warn") == []  # PTX for 8.0 JITs on 9.0


def test_toolkit_newer_than_the_driver(host: Host) -> None:
    host.gpus([H100], driver=12080)
    f = only(host.run(), "driver.older-than-toolkit")
    assert (
        f.level == "error" and "CUDA toolkit 13.0 is newer than the driver supports (CUDA 12.8)" in f.message
    )
    host.toolkit("13.0")
    host.gpus([H100], driver=13000)
    assert "driver.older-than-toolkit" not in codes(host.run())


def test_toolkit_minor_newer_than_the_driver_is_a_warning(host: Host) -> None:
    host.toolkit("12.8", CODES_12, gcc_max=14)
    host.gpus([H100], driver=12040)
    f = only(host.run(opencv="4.13.0"), "driver.minor-older-than-toolkit")
    assert f.level == "warn" and "minor-version compatibility" in f.message


# --- toolkit and arch ---------------------------------------------------------------------------------------


def test_no_toolkit_is_an_error_for_cuda_and_fine_for_cpu(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_HOME")
    findings = host.run()
    missing = only(findings, "toolkit.missing")
    assert missing.level == "error" and "CUDA_HOME" in (missing.fix or "")
    assert "nvcc on PATH" in missing.message
    cpu = host.run(CPU)
    assert codes(cpu, "error") == [] and only(cpu, "toolkit.not-needed").level == "ok"
    assert only(cpu, "gpu.not-needed").level == "ok"


def test_cuda_home_without_nvcc_is_reported(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_HOME", str(host.tmp / "wrong"))
    monkeypatch.setattr(toolkit, "DEFAULT_TOOLKIT", host.root)
    findings = host.run()
    rejected = only(findings, "toolkit.rejected")
    assert rejected.level == "warn" and rejected.fix == "fix or unset CUDA_HOME"
    assert only(findings, "toolkit.nvcc").data["origin"] == "/usr/local/cuda"


def test_gpu_too_old_for_the_toolkit(host: Host) -> None:
    host.gpus([GTX1080])
    f = only(host.run(), "arch.unsupported")
    assert f.level == "error" and "detected GPU 6.1 cannot be targeted" in f.message
    assert f.fix is not None and "dropped 6.1" in f.fix
    assert only(host.run(arch="6.1"), "arch.unsupported").level == "error"


def test_malformed_arch(host: Host) -> None:
    f = only(host.run(arch="nine"), "arch.invalid")
    assert f.level == "error" and "cannot read 'nine'" in f.message


def test_nvcc_without_lists_uses_the_floor_table(host: Host) -> None:
    host.toolkit("13.0", lists=False)
    assert only(host.run(arch="9.0"), "arch.unchecked").level == "warn"
    below = only(host.run(arch="7.0"), "arch.below-floor")
    assert below.level == "error" and "CUDA 13 dropped" in below.message


# --- libraries ----------------------------------------------------------------------------------------------


def test_missing_npp_is_an_error(host: Host) -> None:
    host.toolkit(npp=False)
    f = only(host.run(), "cuda-libs.npp")
    assert f.level == "error" and "libnppc" in f.message and "libnpp-dev-13-0" in (f.fix or "")


def test_cublas_cufft_required_or_default(host: Host) -> None:
    host.toolkit(blas=False, fft=False)
    required = host.run()
    assert only(required, "cuda-libs.cublas").level == "error"
    assert "-D WITH_CUBLAS=OFF" in (only(required, "cuda-libs.cublas").fix or "")
    assert only(required, "cuda-libs.cufft").level == "error"
    default = host.run(recipe(cmake=(("WITH_CUDA", True),)))
    assert only(default, "cuda-libs.cublas").level == "warn"
    assert "OpenCV will build without it" in only(default, "cuda-libs.cufft").message
    off = host.run(recipe(cmake=(("WITH_CUDA", True), ("WITH_CUBLAS", "OFF"), ("WITH_CUFFT", False))))
    assert "cuda-libs.cublas" not in codes(off) and "cuda-libs.cufft" not in codes(off)


def test_cudnn_when_the_recipe_wants_it(host: Host) -> None:
    missing = only(host.run(SEED), "cuda-libs.cudnn")
    assert missing.level == "error" and "the library and cudnn_version.h" in missing.message
    host.cudnn(lib=False)
    assert "the library not found" in only(host.run(SEED), "cuda-libs.cudnn").message
    host.cudnn((9, 1, 0))
    found = only(host.run(SEED), "cuda-libs.cudnn")
    assert found.level == "ok" and found.data["version"] == "9.1.0"
    assert "cuda-libs.cudnn" not in codes(host.run())  # minimal: WITH_CUDNN off


# --- host compiler ------------------------------------------------------------------------------------------


def test_compiler_too_new_with_an_older_gxx_installed(host: Host) -> None:
    host.toolkit("12.4", CODES_12, gcc_max=13)
    host.gcc("cc", "14.2.0")
    alt = host.gcc("g++-13", "13.3.0")
    f = only(host.run(opencv="4.13.0"), "compiler.too-new")
    assert f.level == "error" and "gcc 14.2.0" in f.message and "gcc <= 13" in f.message
    assert f.fix is not None and f.fix.startswith(f"build with -D CUDA_HOST_COMPILER={alt}")


def test_compiler_too_new_without_a_replacement(host: Host) -> None:
    host.toolkit("12.4", CODES_12, gcc_max=13)
    host.gcc("cc", "14.2.0")
    f = only(host.run(opencv="4.13.0"), "compiler.too-new")
    assert f.fix == "install g++-13 (or older) and build with -D CUDA_HOST_COMPILER=/usr/bin/g++-13"


def test_compiler_range_from_the_table_when_host_config_is_missing(host: Host) -> None:
    host.toolkit("12.4", CODES_12, gcc_max=None)
    host.gcc("cc", "14.1.0")
    f = only(host.run(opencv="4.13.0"), "compiler.too-new")
    assert "table: install guide 12.4.1" in f.message
    host.toolkit("11.0", CODES_12, gcc_max=None)
    assert only(host.run(opencv="4.13.0"), "compiler.range-unknown").level == "warn"


def test_cudahostcxx_is_the_compiler_checked(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    host.gcc("cc", "16.1.0")
    monkeypatch.setenv("CUDAHOSTCXX", str(host.gcc("g++-14", "14.2.0")))
    f = only(host.run(), "compiler.host")
    assert f.data["origin"] == "CUDAHOSTCXX" and f.level == "ok"


def test_no_compiler_and_unknown_compiler(host: Host) -> None:
    (host.bin / "cc").unlink()
    assert only(host.run(), "compiler.missing").level == "error"
    script(host.bin / "cc", "echo 'Intel(R) oneAPI DPC++/C++ Compiler 2024.1.0'\n")
    assert only(host.run(), "compiler.unknown-kind").level == "warn"


# --- compatibility table ------------------------------------------------------------------------------------


def test_known_bad_combination_is_an_error_with_issue_fix_and_recommendation(host: Host) -> None:
    f = only(host.run(opencv="4.12.0"), "compat.known-bad")
    assert f.level == "error"
    assert "OpenCV 4.12.0 + CUDA 13.0 + gcc 13.3.0 is known to fail" in f.message
    assert "https://github.com/opencv/opencv/issues/28136" in f.message
    assert f.fix == (
        "fixed upstream in OpenCV 4.13.0 (https://github.com/opencv/opencv/pull/27636); "
        "use --opencv-version 5.1.0 (newest 4.x: 4.14.0)"
    )
    assert f.data["id"] == "cuda13-devprop-fields" and f.data["recommended"] == "5.1.0"


def test_unchecked_report_is_a_warning(host: Host) -> None:
    host.toolkit("13.2", gcc_max=15)
    host.gcc("cc", "15.1.0")
    host.gpus([H100], driver=13020)
    f = only(host.run(), "compat.known-bad")
    assert f.level == "warn" and f.message.startswith("reported, not confirmed upstream: ")


def test_no_known_problem_and_untested_toolkit(host: Host) -> None:
    host.gcc("cc", "12.2.0")
    assert (
        "newest release with no known problem: 5.1.0" in only(host.run(), "compat.no-known-problem").message
    )
    host.toolkit("13.9")
    host.gpus([H100], driver=13090)
    assert only(host.run(), "compat.untested-cuda").level == "warn"


# --- sources ------------------------------------------------------------------------------------------------


def opencv_tree(base: Path, version: str) -> Path:
    major, minor, rev = version.split(".")
    header = base / "modules" / "core" / "include" / "opencv2" / "core" / "version.hpp"
    header.parent.mkdir(parents=True)
    header.write_text(
        f"#define CV_VERSION_MAJOR    {major}\n#define CV_VERSION_MINOR    {minor}\n"
        f'#define CV_VERSION_REVISION {rev}\n#define CV_VERSION_STATUS   ""\n'
    )
    return base


def contrib_tree(base: Path) -> Path:
    (base / "modules" / "cudev").mkdir(parents=True)
    return base


def test_sources_from_an_sdist_match(host: Host) -> None:
    sdist = host.tmp / "opencv_contrib_python-5.1.0.95"
    opencv_tree(sdist / "opencv", "5.1.0")
    contrib_tree(sdist / "opencv_contrib")
    (sdist / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: opencv_contrib_python\nVersion: 5.1.0.95\n")
    findings = host.run(source_dir=sdist)
    assert only(findings, "sources.opencv").data["version"] == "5.1.0"
    match = only(findings, "sources.contrib-match")
    assert match.level == "ok" and match.data["how"].startswith("sdist PKG-INFO")


def test_mixed_releases_are_an_error(host: Host) -> None:
    opencv = opencv_tree(host.tmp / "src" / "opencv-4.13.0", "4.13.0")
    contrib = contrib_tree(host.tmp / "src" / "opencv_contrib-4.12.0")
    findings = host.run(source_dir=opencv, contrib_dir=contrib, opencv="4.13.0")
    f = only(findings, "sources.contrib-mismatch")
    assert f.level == "error" and f.data == {"opencv": "4.13.0", "contrib": "4.12.0", "how": "directory name"}


def test_contrib_release_from_its_git_tag(host: Host) -> None:
    opencv = opencv_tree(host.tmp / "opencv", "4.13.0")
    contrib = contrib_tree(host.tmp / "opencv_contrib")
    (contrib / ".git").mkdir()
    script(host.bin / "git", 'case "$*" in *describe*) echo 4.13.0;; *) exit 1;; esac\n')
    match = only(host.run(source_dir=opencv, opencv="4.13.0"), "sources.contrib-match")
    assert match.data["how"] == "git tag"


def test_contrib_release_cannot_be_known(host: Host) -> None:
    opencv = opencv_tree(host.tmp / "src" / "opencv", "5.1.0")
    contrib_tree(host.tmp / "src" / "opencv_contrib")
    f = only(host.run(source_dir=opencv), "sources.contrib-unknown")
    assert f.level == "warn" and "cannot be known" in f.message and "has no version file" in f.message


def test_source_problems(host: Host) -> None:
    empty = host.tmp / "empty"
    empty.mkdir()
    assert only(host.run(source_dir=empty), "sources.not-opencv").level == "error"
    opencv = opencv_tree(host.tmp / "lonely" / "opencv", "5.1.0")
    assert only(host.run(source_dir=opencv), "sources.contrib-missing").level == "error"
    differs = only(host.run(CPU, source_dir=opencv, opencv="4.13.0"), "sources.version-differs")
    assert differs.level == "warn" and differs.fix == "pass --opencv-version 5.1.0"


def test_the_trees_version_drives_the_compat_check(host: Host) -> None:
    sdist = host.tmp / "s"
    opencv_tree(sdist / "opencv", "4.12.0")
    findings = host.run(recipe(contrib=False), source_dir=sdist, opencv="5.1.0")
    assert only(findings, "compat.known-bad").data["id"] == "cuda13-devprop-fields"


# --- build host ---------------------------------------------------------------------------------------------


def test_disk_too_small(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda p: type("U", (), {"free": 2 * 1024**3})())
    f = only(host.run(SEED, prefix=host.tmp / "prefix"), "host.disk")
    assert f.level == "error" and "2.0 GiB free" in f.message and "need 18 GiB" in f.message


def test_cmake_and_ninja_missing_or_too_old(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostinfo, "_pypi_bin_dir", lambda name: None)
    for tool in ("cmake", "ninja"):
        (host.bin / tool).unlink(missing_ok=True)
    findings = host.run()
    assert only(findings, "host.cmake").level == "error" and only(findings, "host.ninja").level == "error"
    script(host.bin / "cmake", "echo 'cmake version 3.10.2'\n")  # older than OpenCV 5.1's 3.13
    script(host.bin / "ninja", "echo '1.10.1'\n")
    findings = host.run()
    assert "older than OpenCV needs (3.13)" in only(findings, "host.cmake").message
    assert only(findings, "host.ninja").level == "ok"


def test_low_memory_and_compiler_cache(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostinfo, "memory_bytes", lambda: 2 * 1024**3)
    script(host.bin / "sccache", "echo 'sccache 0.8.1'\n")
    findings = host.run()
    assert only(findings, "host.resources").level == "warn"
    assert "sccache 0.8.1" in only(findings, "host.compiler-cache").message
    assert only(host.run(CPU), "host.resources").level == "ok"


# --- Python side --------------------------------------------------------------------------------------------


def fake_python(host: Host, *, numpy: bool = True, headers: bool = True) -> Path:
    """An interpreter that answers probe_python's script and pydists' sys.path question."""
    include = host.tmp / "py" / "include"
    include.mkdir(parents=True)
    if headers:
        (include / "Python.h").write_text("")
    site = host.tmp / "py" / "site"
    info = {
        "executable": str(host.bin / "python3"),
        "version": "3.12.3",
        "include_dir": str(include),
        "site_packages": str(site),
        "library": None,
        "numpy_include": str(site / "numpy" / "_core" / "include") if numpy else None,
        "numpy_version": "2.1.0" if numpy else None,
    }
    paths = json.dumps([str(site)])
    return script(
        host.bin / "python3",
        (f"case \"$2\" in\n  *sys.path*) echo '{paths}';;\n  *) echo '{json.dumps(info)}';;\nesac\n"),
    )


def test_python_side_ok_and_a_shadowing_wheel(host: Host) -> None:
    python = fake_python(host)
    dist = host.tmp / "py" / "site" / "opencv_python_headless-5.0.0.93.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: opencv-python-headless\nVersion: 5.0.0.93\n")
    findings = host.run(recipe(python=True), python=str(python))
    assert only(findings, "python.interpreter").level == "ok"
    assert only(findings, "python.numpy").level == "ok"
    shadow = only(findings, "python.cv2-shadow")
    assert shadow.level == "warn" and shadow.fix == f"{python} -m pip uninstall -y opencv-python-headless"


def test_python_without_numpy_or_headers(host: Host) -> None:
    python = fake_python(host, numpy=False, headers=False)
    findings = host.run(recipe(python=True), python=str(python))
    assert only(findings, "python.numpy").fix == f"{python} -m pip install numpy"
    assert "python3.12-dev" in (only(findings, "python.headers").fix or "")


def test_python_that_does_not_exist(host: Host) -> None:
    findings = host.run(recipe(python=True), python=str(host.tmp / "nope"))
    f = only(findings, "python.interpreter")
    assert f.level == "error" and "does not exist" in f.message
    assert "python.numpy" not in codes(findings)  # nothing more can be said about a missing interpreter


# --- output: exit codes, JSON, table, CLI -------------------------------------------------------------------


def test_exit_codes() -> None:
    ok = Finding("ok", "x", "fine")
    assert exit_code([]) == 0 and exit_code([ok]) == 0
    assert exit_code([ok, Finding("warn", "x", "hmm")]) == 1
    assert exit_code([ok, Finding("warn", "x", "hmm"), Finding("error", "x", "no")]) == 2


def test_json_document(host: Host) -> None:
    host.toolkit(npp=False)
    doc = to_document(host.run(), {"recipe": "minimal", "build_dir": host.tmp})
    text = json.dumps(doc)
    assert doc["schema"] == "cvcuda-setup.doctor/1" and doc["exit_code"] == 2
    assert doc["inputs"]["build_dir"] == str(host.tmp)
    assert doc["counts"]["error"] == 1
    assert set(doc["findings"][0]) == {"level", "area", "code", "message", "fix", "data"}
    assert json.loads(text) == doc


def test_render_prints_a_table_and_a_summary(host: Host, capsys: pytest.CaptureFixture[str]) -> None:
    from cvcuda_setup.console import Output

    host.toolkit(npp=False)
    render(host.run(), Output())
    out, err = capsys.readouterr()
    assert "cvcuda-setup doctor" in out and "NPP is missing" in " ".join(out.replace("│", " ").split())
    assert err.strip().endswith("1 error (exit 2)")


def test_cli_json_and_exit_code(host: Host) -> None:
    result = CliRunner().invoke(
        app, ["doctor", "--recipe", "minimal", "--json", "--build-dir", str(host.tmp)]
    )
    doc = json.loads(result.stdout)
    assert result.exit_code == doc["exit_code"]
    assert doc["inputs"]["recipe"] == "minimal"
    host.no_driver()
    result = CliRunner().invoke(app, ["doctor", "--json", "--build-dir", str(host.tmp)])
    assert result.exit_code == 2
    assert "gpu.none" in [f["code"] for f in json.loads(result.stdout)["findings"]]


def test_cli_bad_input_is_one_line(host: Host) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["doctor", "--opencv-version", "five"])
    assert result.exit_code == 2 and "--opencv-version 'five' is not a release number" in result.output
    result = runner.invoke(app, ["doctor", "--recipe", "nope"])
    assert result.exit_code == 2 and "unknown recipe 'nope'" in result.output
    result = runner.invoke(app, ["doctor", "--source", str(host.tmp / "missing")])
    assert result.exit_code == 2 and "is not a directory" in result.output


def test_cli_help_has_examples() -> None:
    result = CliRunner().invoke(app, ["doctor", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "cvcuda-setup doctor --recipe full --arch 8.6,9.0 --opencv-version 4.13.0" in text
    assert "Exit code: 0 all ok, 1 warnings only, 2 any error." in text


def test_python_default_is_this_interpreter(host: Host) -> None:
    f = only(host.run(recipe(python=True)), "python.interpreter")
    assert f.level == "ok" and f.data["executable"] == Path(sys.executable)


def test_the_plugin_module_needs_scikit_build_core_and_doctor_says_so_with_the_fix(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `build` compiles last (the plugin's Python module) is checked before anything compiles."""
    from cvcuda_setup import native, pluginenv

    host.gpus([])
    found = native.TargetPython(
        executable=Path("/venv/bin/python"),
        version="3.12.1",
        site_dirs=(),
        has_pip=True,
        has_skbuild=False,
        has_numpy=True,
    )
    # the host's one interpreter probe, read as the plugin's interpreter, answers ``found``
    monkeypatch.setattr(pluginenv, "target_python_of", lambda probe: found)
    assert "plugin.scikit-build-core" not in codes(host.run(arch="9.0"))  # not asked: not checked
    findings = host.run(arch="9.0", plugin=True)
    missing = only(findings, "plugin.scikit-build-core")
    assert missing.level == "error"
    assert missing.fix is not None
    assert "/venv/bin/python -m pip install scikit-build-core" in missing.fix
    assert "--no-plugin-python" in missing.fix
    assert only(findings, "plugin.pip").level == "ok"
    assert "plugin.scikit-build-core" not in codes(host.run(arch="9.0", plugin=True, plugin_python=False))


def test_cli_measures_disk_where_build_writes_not_in_the_current_folder(
    host: Host, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CVCUDA_SETUP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CVCUDA_SETUP_PREFIX", str(tmp_path / "prefix"))
    result = CliRunner().invoke(app, ["doctor", "--arch", "9.0", "--json"])
    doc = json.loads(result.stdout)
    assert doc["inputs"]["build_dir"] == str(tmp_path / "cache" / "build")
    assert doc["inputs"]["prefix"] == str(tmp_path / "prefix")
    measured = json.dumps([f for f in doc["findings"] if f["code"].startswith("host.disk")])
    assert str(tmp_path / "cache" / "build") in measured and str(tmp_path / "prefix") in measured


def test_the_plugin_needs_cuda_runtime_headers_even_for_a_cpu_recipe(host: Host) -> None:
    host.gpus([])
    from cvcuda_setup.recipes import load_recipe

    cpu = load_recipe("cpu-test")
    assert "plugin.cuda-runtime" not in codes(host.run(cpu, arch="9.0", plugin=False))
    missing = only(host.run(cpu, arch="9.0", plugin=True, plugin_python=False), "plugin.cuda-runtime")
    assert missing.level == "error" and "cuda_runtime.h" in missing.message
    assert missing.fix is not None and "--no-plugin" in missing.fix
