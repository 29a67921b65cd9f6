"""The checks' interpretation of what the tool and the worker report, on crafted (recorded-shape) data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cvcuda_setup.model import ArchSelection
from cvcuda_setup.verify import check_arch, check_cv2, check_device, check_mapped, check_pipeline
from cvcuda_setup.verify.buildinfo import normalize_arch, parse_build_info
from cvcuda_setup.verify.check_opencv_tests import summarize_gtest
from cvcuda_setup.verify.compare import MIN_F1, MIN_F1_END_TO_END
from cvcuda_setup.verify.images import ImageCase
from cvcuda_setup.verify.result import DeviceFacts, combine, failed, passed, skipped

CUDA_BUILD_INFO = """
General configuration for OpenCV 5.1.0 =====================================
  OpenCV modules:
    To be built:                 core cudaarithm cudafilters cudaimgproc cudev imgcodecs imgproc python3

  NVIDIA CUDA:                   YES (ver 13.0, CUFFT CUBLAS)
    NVIDIA GPU arch:             86 90
    NVIDIA PTX archs:            90
"""

CPU_BUILD_INFO = """
General configuration for OpenCV 5.1.0 =====================================
  OpenCV modules:
    To be built:                 core flann geometry imgproc python3
"""

# -- build information -----------------------------------------------------------------------------


def test_parse_build_info_cuda() -> None:
    info = parse_build_info(CUDA_BUILD_INFO)
    assert info.cuda and info.cuda_version == "13.0"
    assert info.arch_bin == ("8.6", "9.0") and info.arch_ptx == ("9.0",)
    assert "cudafilters" in info.modules
    assert info.opencv_version == "5.1.0"


def test_parse_build_info_cpu_only() -> None:
    info = parse_build_info(CPU_BUILD_INFO)
    assert not info.cuda
    assert info.cuda_text == "has no NVIDIA CUDA section"
    no = parse_build_info(CPU_BUILD_INFO + "\n  NVIDIA CUDA:                   NO\n")
    assert not no.cuda and no.cuda_text == "shows 'NVIDIA CUDA: NO'"


@pytest.mark.parametrize(
    ("token", "want"), [("90", "9.0"), ("9.0", "9.0"), ("sm_86", "8.6"), ("120", "12.0"), ("x", None)]
)
def test_normalize_arch(token: str, want: str | None) -> None:
    assert normalize_arch(token) == want


# -- arch ------------------------------------------------------------------------------------------


def test_coverage_fails_with_the_rebuild_flag() -> None:
    sel = ArchSelection(bin=("8.6",), ptx=(), origin="explicit")
    part = check_arch.coverage_part(sel, "manifest", 9, 0)
    assert part.status == "fail"
    assert "rebuild with --arch 9.0" in part.reason


def test_coverage_by_sass_and_by_ptx() -> None:
    assert "by SASS" in check_arch.coverage_part(ArchSelection(("9.0",), (), "explicit"), "m", 9, 0).reason
    by_ptx = check_arch.coverage_part(ArchSelection(("8.6",), ("8.6",), "explicit"), "m", 9, 0)
    assert by_ptx.status == "pass" and "PTX" in by_ptx.reason
    # SASS of the same major but a newer minor does not run on an older minor
    assert check_arch.coverage_part(ArchSelection(("8.9",), (), "explicit"), "m", 8, 6).status == "fail"


def test_coverage_without_any_arch_list_fails() -> None:
    part = check_arch.coverage_part(None, "no manifest arch list and cv2 shows no CUDA arch", 9, 0)
    assert part.status == "fail" and "no CUDA arch list" in part.reason


def test_kernel_failures_name_the_fix() -> None:
    msg = "OpenCV(5.1.0) error: (-217:Gpu API call) no kernel image is available for execution on the device"
    cpp = check_arch.cpp_kernel_part({"ok": False, "error": msg, "compatible": False}, None, 9, 0)
    assert cpp.status == "fail" and "rebuild with --arch 9.0" in cpp.reason
    py = check_arch.python_kernel_part(
        {"ops": [{"op": "GpuMat.setTo", "ok": False, "error": msg}]}, None, 9, 0
    )
    assert py.status == "fail" and "rebuild with --arch 9.0" in py.reason
    assert (
        check_arch.cpp_kernel_part({"ok": True, "error": None, "compatible": True}, None, 9, 0).status
        == "pass"
    )
    assert check_arch.cpp_kernel_part({"weird": 1}, None, 9, 0).status == "fail"
    assert check_arch.cpp_kernel_part(None, "check tool crashed", 9, 0).reason == "check tool crashed"


def test_is_compatible_false_fails() -> None:
    part = check_arch.compatible_part({"device_info": {"is_compatible": False}}, 9, 0)
    assert part.status == "fail" and "--arch 9.0" in part.reason
    assert check_arch.compatible_part({"device_info": {"is_compatible": True}}, 9, 0).status == "pass"


# -- device info -----------------------------------------------------------------------------------

TOOL_INFO = {
    "cuda_device_count": 1,
    "devices": [
        {
            "index": 0,
            "name": "NVIDIA H100 80GB HBM3",
            "major": 9,
            "minor": 0,
            "can_map_host_memory": True,
            "integrated": False,
            "total_memory": 85000000000,
        }
    ],
    "driver_version": 13000,
    "runtime_version": 13000,
    "opencv_version": "5.1.0",
    "opencv_cuda": True,
}


def test_device_cpp_and_python_agree() -> None:
    cpp = check_device.cpp_part(TOOL_INFO, 0, 0)
    assert cpp.status == "pass" and "driver 13.0" in cpp.reason
    py_data = {"count": 1, "device_info": {"name": "NVIDIA H100 80GB HBM3", "major": 9, "minor": 0}}
    py = check_device.python_part(py_data, "Device 0: ...", 0)
    assert py.status == "pass"
    dev = DeviceFacts(0, "NVIDIA H100 80GB HBM3", 9, 0, source="cuda-python")
    agree = check_device.agreement_part(cpp, py, dev)
    assert agree is not None and agree.status == "pass"
    other = check_device.python_part(
        {"count": 1, "device_info": {"name": "NVIDIA A100", "major": 8, "minor": 0}}, "", 0
    )
    disagree = check_device.agreement_part(cpp, other, dev)
    assert disagree is not None and disagree.status == "fail"


# What OpenCV 5.1's cv2 gives on an H100 (GPU run #1): DeviceInfo has no name() in Python (no CV_WRAP on
# ``const char* name() const``); printShortCudaDeviceInfo prints it.
SHORT_INFO_H100 = (
    'Device 0:  "NVIDIA H100 80GB HBM3"  81079Mb, sm_90, 132 cores, Driver/Runtime ver.13.0/13.0\n'
)


def test_short_info_name_is_parsed_per_device() -> None:
    two = SHORT_INFO_H100 + 'Device 1:  "NVIDIA L4"  22478Mb, sm_89, Driver/Runtime ver.13.0/13.0\n'
    assert check_device.short_info_name(two, 0) == "NVIDIA H100 80GB HBM3"
    assert check_device.short_info_name(two, 1) == "NVIDIA L4"
    assert check_device.short_info_name(two, 2) is None
    assert check_device.short_info_name("", 0) is None


def test_device_without_a_wrapped_name_takes_it_from_the_short_info() -> None:
    cpp = check_device.cpp_part(TOOL_INFO, 0, 0)
    py_data = {"count": 1, "device_info": {"major": 9, "minor": 0, "can_map_host_memory": True}}
    py = check_device.python_part(py_data, SHORT_INFO_H100, 0)
    assert py.status == "pass" and "NVIDIA H100 80GB HBM3, compute 9.0" in py.reason
    assert py.figures["device"]["name_from"] == "printShortCudaDeviceInfo"
    dev = DeviceFacts(0, "NVIDIA H100 80GB HBM3", 9, 0, source="cuda-python")
    agree = check_device.agreement_part(cpp, py, dev)
    assert agree is not None and agree.status == "pass"


def test_device_without_any_python_name_still_compares_the_capability() -> None:
    cpp = check_device.cpp_part(TOOL_INFO, 0, 0)
    dev = DeviceFacts(0, "NVIDIA H100 80GB HBM3", 9, 0, source="cuda-python")
    same = check_device.python_part({"count": 1, "device_info": {"major": 9, "minor": 0}}, "", 0)
    assert same.status == "pass"
    agree = check_device.agreement_part(cpp, same, dev)
    assert agree is not None and agree.status == "pass"
    other = check_device.python_part({"count": 1, "device_info": {"major": 8, "minor": 0}}, "", 0)
    disagree = check_device.agreement_part(cpp, other, dev)
    assert disagree is not None and disagree.status == "fail" and "8.0" in disagree.reason


def test_device_failures() -> None:
    assert (
        check_device.cpp_part({"cuda_device_count": 0, "devices": [], "error": "no CUDA device"}, 3, 0).status
        == "fail"
    )
    assert check_device.cpp_part({**TOOL_INFO, "opencv_cuda": False}, 0, 0).status == "fail"
    assert check_device.cpp_part(TOOL_INFO, 0, 1).status == "fail"
    zero = check_device.python_part({"count": 0}, "", 0)
    assert zero.status == "fail" and "cannot use the GPU" in zero.reason


# -- cv2 ----------------------------------------------------------------------------------------------

PREFIX = Path("/opt/ocv")
SITE = "/usr/lib/python3/dist-packages"


def _cv2_data(*, pythonpath_first: bool = True) -> dict[str, Any]:
    prefix_site = f"{PREFIX}/lib/python3.12/site-packages"
    entries = [{"index": 0, "path": "/tmp/w", "origin": "current directory"}]
    if pythonpath_first:
        entries.append({"index": 1, "path": prefix_site, "origin": "PYTHONPATH"})
    entries.append({"index": len(entries), "path": SITE, "origin": "site-packages"})
    prefix_cand = {"index": 1, "path": prefix_site, "origin": "PYTHONPATH", "cv2": f"{prefix_site}/cv2"}
    wheel_cand = {**entries[-1], "cv2": f"{SITE}/cv2"}
    candidates = ([prefix_cand] if pythonpath_first else []) + [wheel_cand]
    winner = candidates[0]["cv2"]
    return {
        "executable": "/usr/bin/python3.12",
        "python_version": "3.12.3",
        "pythonpath": prefix_site if pythonpath_first else "",
        "sys_path": entries,
        "candidates": candidates,
        "dists": [
            {
                "name": "opencv-python-headless",
                "version": "5.0.0.80",
                "location": SITE,
                "cv2_path": f"{SITE}/cv2",
                "cv2_exists": True,
            }
        ],
        "cv2_file": f"{winner}/__init__.py",
        "cv2_version": "5.1.0" if pythonpath_first else "5.0.0",
        "build_information": CUDA_BUILD_INFO if pythonpath_first else CPU_BUILD_INFO,
        "has_cudafilters": pythonpath_first,
        "has_cudaimgproc": pythonpath_first,
    }


def _by_name(parts: list[Any]) -> dict[str, Any]:
    return {p.name: p for p in parts}


def test_prefix_cv2_wins_and_the_losing_wheel_is_a_warning() -> None:
    parts, warnings = check_cv2.analyse(_cv2_data(), PREFIX, "/usr/bin/python3.12", "5.1.0", True, "recipe")
    by = _by_name(parts)
    assert by["import"].status == "pass" and "PYTHONPATH" in by["import"].reason
    assert by["shadowing"].status == "pass"
    assert by["version"].status == "pass"
    assert by["cuda"].status == "pass"
    assert len(warnings) == 1
    assert "opencv-python-headless 5.0.0.80" in warnings[0]
    assert "/usr/bin/python3.12 -m pip uninstall -y opencv-python-headless" in warnings[0]
    assert "without it `import cv2` gets this one" in warnings[0]


def test_wheel_that_wins_fails_naming_it_and_the_fix() -> None:
    parts, warnings = check_cv2.analyse(
        _cv2_data(pythonpath_first=False), PREFIX, "/usr/bin/python3.12", "5.1.0", True, "recipe 'minimal'"
    )
    by = _by_name(parts)
    imp = by["import"]
    assert imp.status == "fail"
    assert "installed by pip as opencv-python-headless 5.0.0.80" in imp.reason
    assert "sys.path[1], site-packages" in imp.reason
    assert "not on sys.path at all" in imp.reason
    assert "-m pip uninstall -y opencv-python-headless" in imp.reason
    # version and CUDA facts of somebody else's cv2 say nothing about the prefix
    assert by["version"].status == "skip" and by["cuda"].status == "skip"
    assert "not the prefix's" in by["cuda"].reason
    assert warnings == []  # the winner is reported by the import part, not warned about twice


def test_cpu_only_build_skips_the_cuda_part_only_when_the_recipe_says_so() -> None:
    data = {**_cv2_data(), "build_information": CPU_BUILD_INFO}
    ok = check_cv2.cuda_part(data, False, "recipe 'cpu-test' has cuda=false")
    assert ok.status == "skip" and "built without CUDA, as intended" in ok.reason
    bad = check_cv2.cuda_part(data, None, "no manifest (x)")
    assert bad.status == "fail" and "built without CUDA" in bad.reason
    bad = check_cv2.cuda_part(data, True, "recipe 'minimal' has cuda=true")
    assert bad.status == "fail"


def test_cuda_build_missing_the_pipeline_modules_fails() -> None:
    data = {**_cv2_data(), "has_cudafilters": False}
    part = check_cv2.cuda_part(data, True, "")
    assert part.status == "fail" and "cudafilters" in part.reason


def test_prefix_cv2_for_another_python_is_named() -> None:
    data = {**_cv2_data(pythonpath_first=False), "python_version": "3.12.3"}
    installed = [f"{PREFIX}/lib/python3.11/site-packages"]
    part = check_cv2.import_part(data, PREFIX, "/usr/bin/python3.12", installed)
    assert part.status == "fail"
    assert "cv2 only in /opt/ocv/lib/python3.11/site-packages, not for Python 3.12" in part.reason


def test_import_error_names_the_loader_problem() -> None:
    data = {
        **_cv2_data(),
        "import_error": "ImportError: libopencv_core.so.501: cannot open shared object file",
    }
    part = check_cv2.import_part(data, PREFIX, "python3")
    assert part.status == "fail" and "LD_LIBRARY_PATH" in part.reason


def test_pip_files_inside_the_prefix_cv2_fail() -> None:
    data = _cv2_data()
    data["dists"] = [
        {
            "name": "opencv-python",
            "version": "4.10.0",
            "location": str(PREFIX),
            "cv2_path": f"{PREFIX}/lib/python3.12/site-packages/cv2",
            "cv2_exists": True,
        }
    ]
    part, _ = check_cv2.shadowing_part(data, PREFIX, "python3")
    assert part.status == "fail" and "python3 -m pip uninstall -y opencv-python" in part.reason


# -- mapped ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["host", "cudaMemoryTypeHost", 1])
def test_mapped_host_types(kind: Any) -> None:
    ok, why = check_mapped.is_mapped_host({"type": kind, "device_pointer": 0x7F00, "host_pointer": 0x7F00})
    assert ok, why


@pytest.mark.parametrize(
    ("attrs", "expected", "fragment"),
    [
        ({"type": "device", "device_pointer": 5}, None, "not host"),
        ({"type": 2, "device_pointer": 5}, None, "not host"),
        ({"type": "unregistered", "device_pointer": 0}, None, "not host"),
        ({"type": "host", "device_pointer": 0}, None, "not mapped"),
        ({"type": "host", "device_pointer": None}, None, "not mapped"),
        ({"type": "host", "device_pointer": 0x1000}, 0x2000, "not the GpuMat's"),
        ({"ok": False, "error": "boom"}, None, "boom"),
        (None, None, "no pointer attributes"),
    ],
)
def test_not_mapped(attrs: Any, expected: int | None, fragment: str) -> None:
    ok, why = check_mapped.is_mapped_host(attrs, expected)
    assert not ok and fragment in why


def _mapped_data(**over: Any) -> dict[str, Any]:
    data = {
        "device": 0,
        "module_file": "/opt/ocv/lib/python3.12/site-packages/cvcuda_zerocopy/__init__.py",
        "stats_before": {"bytes_in_use": 0, "cached_bytes": 0},
        "alloc": {"shape": [1024, 1024], "nbytes": 1048576, "host_pointer": 0x7F0000},
        "attributes": {"type": "host", "device_pointer": 0x7F0000, "host_pointer": 0x7F0000},
        "device_pointer": 0x7F0000,
        "stats_allocated": {"bytes_in_use": 1048576, "cached_bytes": 0},
        "device_sees_host_write": True,
        "stats_freed": {"bytes_in_use": 0, "cached_bytes": 1048576},
        "stats_trimmed": {"bytes_in_use": 0, "cached_bytes": 0},
    }
    data.update(over)
    return data


def test_python_mapped_all_proven() -> None:
    parts = _by_name(check_mapped.python_parts(_mapped_data()))
    assert {n: p.status for n, p in parts.items()} == {"python": "pass", "alias": "pass", "release": "pass"}


def test_python_mapped_failures() -> None:
    leak = _by_name(check_mapped.python_parts(_mapped_data(stats_freed={"bytes_in_use": 1048576})))
    assert leak["release"].status == "fail" and "after the array was freed" in leak["release"].reason
    unknown = _by_name(check_mapped.python_parts(_mapped_data(stats_before={"foo": 1})))
    assert unknown["release"].status == "fail" and "unproven" in unknown["release"].reason
    device_mem = _by_name(
        check_mapped.python_parts(_mapped_data(attributes={"type": "device", "device_pointer": 9}))
    )
    assert device_mem["python"].status == "fail"
    blind = _by_name(check_mapped.python_parts(_mapped_data(device_sees_host_write=False)))
    assert blind["alias"].status == "fail"
    missing = check_mapped.python_parts(
        {"module_error": "ModuleNotFoundError: No module named 'cvcuda_zerocopy'"}
    )
    assert missing[0].status == "fail" and "does not import" in missing[0].reason


def test_cpp_mapped_must_agree_with_its_own_records() -> None:
    good = {
        "ok": True,
        "can_map_host_memory": True,
        "attributes": {"type": "host", "device_pointer": 4096, "host_pointer": 4096},
    }
    assert check_mapped.cpp_part(good, None).status == "pass"
    lying = {"ok": True, "attributes": {"type": "device", "device_pointer": 4096}}
    assert check_mapped.cpp_part(lying, None).status == "fail"
    assert (
        check_mapped.cpp_part({"ok": False, "error": "cudaHostAlloc failed"}, None).reason
        == "cudaHostAlloc failed"
    )
    assert check_mapped.cpp_part(None, "not found").status == "fail"


def test_can_map() -> None:
    dev = DeviceFacts(0, "GPU", 9, 0, can_map_host_memory=False)
    assert check_mapped.can_map_part(dev, None, None).status == "fail"
    dev = DeviceFacts(0, "GPU", 9, 0, can_map_host_memory=None)
    assert check_mapped.can_map_part(dev, None, None).status == "skip"
    assert check_mapped.can_map_part(DeviceFacts(0, "GPU", 9, 0, True), TOOL_INFO, None).status == "pass"


# -- pipeline --------------------------------------------------------------------------------------


def _py_info(realloc: bool = False) -> dict[str, Any]:
    attrs = {"type": "host", "device_pointer": 0, "host_pointer": 0}
    bufs = {}
    for i, name in enumerate(("src", "blur", "edges")):
        ptr = 0x1000 * (i + 1)
        bufs[name] = {
            "host_pointer": ptr,
            "gpumat_cuda_ptr": ptr,
            "device_pointer": ptr,
            "attributes": {**attrs, "device_pointer": ptr, "host_pointer": ptr},
        }
    after_blur = 0x9000 if realloc else 0x2000
    return {
        "before": {"blur": 0x2000, "edges": 0x3000},
        "after": {"blur": after_blur, "edges": 0x3000, "blur_returned": after_blur, "edges_returned": 0x3000},
        "buffers": bufs,
    }


def test_python_zero_copy_proof() -> None:
    assert check_pipeline.python_zero_copy_problems(_py_info()) == []
    problems = check_pipeline.python_zero_copy_problems(_py_info(realloc=True))
    assert any("reallocated" in p for p in problems)
    info = _py_info()
    info["buffers"]["edges"]["attributes"]["type"] = "device"
    assert any(p.startswith("edges:") for p in check_pipeline.python_zero_copy_problems(info))


def test_cpp_zero_copy_proof() -> None:
    rec = {"type": "host", "device_pointer": 64, "host_pointer": 64}
    good = {"ok": True, "buffers": {"src": rec, "blur": rec, "edges": rec}, "output_reallocated": False}
    assert check_pipeline.cpp_zero_copy_problems(good) == []
    realloc = {**good, "output_reallocated": True}
    assert any("reallocated" in p for p in check_pipeline.cpp_zero_copy_problems(realloc))
    silent = {"ok": True, "buffers": {"src": rec}}
    assert any("no reallocation flag" in p for p in check_pipeline.cpp_zero_copy_problems(silent))
    bare = {"ok": True, "reallocated": False}
    assert any("no pointer attributes" in p for p in check_pipeline.cpp_zero_copy_problems(bare))
    assert check_pipeline.cpp_zero_copy_problems({"ok": False, "error": "x"}) == ["x"]


def test_compare_case_and_summary(tmp_path: Path) -> None:
    pc = check_pipeline.PreparedCase(ImageCase("c", "generated", "discs", 40, 30), tmp_path, ok=True)
    ref_blur = np.full((30, 40), 100, np.uint8)
    ref_edges = np.zeros((30, 40), np.uint8)
    ref_edges[10, 5:35] = 255
    np.save(pc.ref_blur_npy, ref_blur)
    np.save(pc.ref_edges_npy, ref_edges)
    np.save(tmp_path / "b.npy", ref_blur + 1)
    np.save(tmp_path / "e.npy", np.roll(ref_edges, 1, axis=0))
    good = check_pipeline.compare_case(pc, tmp_path / "b.npy", tmp_path / "e.npy")
    assert good["ok"] and good["edges"]["f1"] == 1.0
    np.save(tmp_path / "b2.npy", ref_blur + 2)
    np.save(tmp_path / "e2.npy", np.roll(ref_edges, 2, axis=0))
    bad = check_pipeline.compare_case(pc, tmp_path / "b2.npy", tmp_path / "e2.npy")
    assert not bad["ok"] and len(bad["problems"]) == 2
    part = check_pipeline.summarize("python", [{"name": "c", **good}, {"name": "d", **bad}])
    assert part.status == "fail" and "1 of 2 cases failed: d:" in part.reason
    assert check_pipeline.summarize("python", [{"name": "c", **good}]).status == "pass"
    assert check_pipeline.summarize("cpp", []).status == "fail"


def test_compare_case_scores_canny_against_the_gpu_blur(tmp_path: Path) -> None:
    """Edges that follow the GPU blur pass against the stage reference; the end to end has its own floor."""
    pc = check_pipeline.PreparedCase(ImageCase("c", "generated", "discs", 220, 30), tmp_path, ok=True)
    ref_edges = np.zeros((30, 220), np.uint8)
    ref_edges[10, 10:210] = 255  # 200 edge pixels
    np.save(pc.ref_blur_npy, np.full((30, 220), 100, np.uint8))
    np.save(pc.ref_edges_npy, ref_edges)
    np.save(tmp_path / "b.npy", np.full((30, 220), 101, np.uint8))  # within 1 grey level
    # the GPU blur moved 3 of the 200 edge pixels (5 rows, beyond the 1 px tolerance); Canny followed it
    near = ref_edges.copy()
    near[10, 10:13] = 0
    near[15, 10:13] = 255
    np.save(tmp_path / "e.npy", near)
    np.save(tmp_path / "stage.npy", near)
    res = check_pipeline.compare_case(pc, tmp_path / "b.npy", tmp_path / "e.npy", tmp_path / "stage.npy")
    assert res["ok"] and res["edges"]["f1"] == 1.0 and res["edges_reference"] == "cpu_canny_of_gpu_blur"
    # end to end: precision 197/200; recall 198/200 (the third ref pixel has a neighbour left at (10, 13))
    f1 = 2 * 0.985 * 0.99 / (0.985 + 0.99)
    assert res["edges_end_to_end"]["f1"] == pytest.approx(f1)
    assert MIN_F1_END_TO_END < f1 < MIN_F1  # would fail the stage gate, passes the end-to-end floor
    part = check_pipeline.summarize("cpp", [{"name": "c", **res}])
    assert part.status == "pass" and "end to end 0.9875" in part.reason
    assert part.figures["min_f1_end_to_end"] == pytest.approx(f1)
    # every edge elsewhere end to end: Canny followed its input exactly, but the end-to-end floor fails it
    moved = np.roll(ref_edges, 5, axis=0)
    np.save(tmp_path / "e3.npy", moved)
    np.save(tmp_path / "stage3.npy", moved)
    far = check_pipeline.compare_case(pc, tmp_path / "b.npy", tmp_path / "e3.npy", tmp_path / "stage3.npy")
    assert not far["ok"] and far["problems"] == [
        f"edge F1 end to end 0.0000 < {MIN_F1_END_TO_END} against the CPU reference "
        "(precision 0.0000, recall 0.0000)"
    ]
    # Canny that does not follow its own input fails against the stage reference, whatever the end to end
    np.save(tmp_path / "stage2.npy", ref_edges)
    bad = check_pipeline.compare_case(pc, tmp_path / "b.npy", tmp_path / "e.npy", tmp_path / "stage2.npy")
    assert not bad["ok"] and "against the CPU Canny of the GPU blur" in bad["problems"][0]
    # a missing stage reference is a problem, not a pass
    gone = check_pipeline.compare_case(pc, tmp_path / "b.npy", tmp_path / "e.npy", tmp_path / "none.npy")
    assert not gone["ok"] and "none.npy" in gone["problems"][0]


# -- opencv tests, result ---------------------------------------------------------------------------


def test_summarize_gtest() -> None:
    report = {
        "testsuites": [
            {
                "name": "CUDA_Filters/GaussianBlur",
                "testsuite": [
                    {"name": "Accuracy/0", "status": "RUN"},
                    {
                        "name": "Accuracy/1",
                        "status": "RUN",
                        "failures": [{"failure": "x.cpp:5\nValue of: ...", "type": ""}],
                    },
                    {"name": "Accuracy/2", "status": "NOTRUN"},
                ],
            },
            {
                "name": "CUDA_ImgProc/Canny",
                "testsuite": [
                    {
                        "name": "Accuracy/0",
                        "status": "RUN",
                        "failures": [
                            {
                                "failure": "OpenCV tests: Can't find required data file: stereobm/aloe-L.png",
                                "type": "",
                            }
                        ],
                    },
                ],
            },
        ]
    }
    counts = summarize_gtest(report)
    assert counts["run"] == 3 and counts["failed"] == 1 and counts["missing_data"] == 1
    assert counts["failed_tests"] == ["CUDA_Filters/GaussianBlur.Accuracy/1"]


def test_combine_statuses() -> None:
    assert combine([passed("a", "ok"), failed("b", "bad")]) == ("fail", "b: bad")
    status, reason = combine([passed("a", "ok"), skipped("b", "n/a")])
    assert status == "pass" and "b skipped: n/a" in reason
    assert combine([skipped("a", "x"), skipped("b", "x")]) == ("skip", "x")


# -- cv2 --wheel ---------------------------------------------------------------------------------------

PREFIX_MANIFEST = {"schema": "cvcuda-setup.manifest/1", "opencv_version": "5.1.0", "arch": {"bin": ["9.0"]}}


def test_wheel_of_this_prefix_matches() -> None:
    wheel = {**PREFIX_MANIFEST, "wheel": {"version": "5.1.0+cu130.sm90"}}
    assert check_cv2.wheel_match(wheel, PREFIX_MANIFEST) is None
    # cvcuda-setup wheel rewrites ``python`` (no interpreter path or module dir in a wheel)
    python = {"executable": "/usr/bin/python3", "version": "3.12.3"}
    prefix_with_python = {**PREFIX_MANIFEST, "python": python}
    assert check_cv2.wheel_match({**wheel, "python": {"version": "3.12"}}, prefix_with_python) is None


def test_wheel_of_another_build_or_no_wheel_does_not_match() -> None:
    other = {**PREFIX_MANIFEST, "arch": {"bin": ["8.0"]}, "wheel": {}}
    why = check_cv2.wheel_match(other, PREFIX_MANIFEST)
    assert why is not None and "differs from the prefix's in arch" in why
    assert "not a wheel made by cvcuda-setup wheel" in (check_cv2.wheel_match(None, PREFIX_MANIFEST) or "")
    assert "no manifest" in (check_cv2.wheel_match({"wheel": {}}, None) or "")


def test_wheel_import_part_names_the_fix() -> None:
    cv2_file = "/venv/lib/python3.12/site-packages/cv2/__init__.py"
    data = {"cv2_file": cv2_file, "cv2_version": "5.0.0", "dists": []}
    bad = check_cv2.wheel_import_part(data, "/venv/bin/python", "its folder has no manifest")
    assert bad.status == "fail" and "/venv/bin/python -m pip install dist/opencv_cuda-" in bad.reason
    good = check_cv2.wheel_import_part(data, "/venv/bin/python", None)
    assert good.status == "pass" and "opencv-cuda wheel of this prefix" in good.reason


def test_analyse_wheel_reads_the_manifest_next_to_cv2(tmp_path: Path) -> None:
    pkg = tmp_path / "site-packages" / "cv2"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    data = {"cv2_file": str(pkg / "__init__.py"), "cv2_version": "5.1.0", "dists": []}
    parts, _ = check_cv2.analyse_wheel(data, "py", "5.1.0", False, "cpu-test recipe", PREFIX_MANIFEST)
    assert parts[0].status == "fail" and parts[1].status == "skip"
    (pkg / ".cvcuda-setup-manifest.json").write_text(json.dumps({**PREFIX_MANIFEST, "wheel": {}}))
    parts, _ = check_cv2.analyse_wheel(data, "py", "5.1.0", False, "cpu-test recipe", PREFIX_MANIFEST)
    assert [p.status for p in parts[:2]] == ["pass", "pass"]


def test_a_copied_prefix_says_it_moved_and_finds_its_own_cv2(tmp_path: Path) -> None:
    from cvcuda_setup.manifest import Manifest, PythonFacts, RecipeFacts
    from cvcuda_setup.verify.context import ManifestFacts

    old = tmp_path / "orig"
    new = tmp_path / "copy"
    py = PythonFacts(Path("/usr/bin/python3"), "3.11", old / "lib/python3.11/site-packages/cv2")
    manifest = Manifest(opencv_version="5.1.0", prefix=str(old), recipe=RecipeFacts("minimal"), python=py)
    facts = ManifestFacts(new / "share/cvcuda-setup/manifest.json", manifest.to_json(), None, manifest)
    assert facts.moved_from(new) == old and facts.moved_from(old) is None
    assert facts.python_module_dir(new) == new / "lib/python3.11/site-packages"
