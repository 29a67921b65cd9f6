"""The zero-copy plugin on a GPU host: built into a CUDA prefix; C++ GPU tests, check tool, Python API.

The prefix: the ``gpu_prefix`` fixture when a conftest defines one, else ``$CVCUDA_SETUP_PREFIX``, else
``$CVCUDA_TEST_PREFIX``, else the tool's default prefix; it must hold an OpenCV built with CUDA (cudafilters
and cudaimgproc), otherwise the tests skip and say so. The plugin is (re)built and installed into that prefix
(what ``cvcuda-setup plugin --test`` does), with the C++ tests, which must all pass here, none skipped.
Skipped without a GPU (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cvcuda_setup import envvars, native

pytestmark = pytest.mark.gpu


@dataclass
class Built:
    prefix: Path
    build_dir: Path
    result: native.PluginResult

    def env(self) -> dict[str, str]:
        assert self.result.python_module is not None
        layout = envvars.layout_env(self.prefix, [self.result.python_module.parent])
        return {**os.environ, **layout.resolved()}


def _candidates(request: pytest.FixtureRequest) -> list[Path]:
    try:
        return [Path(request.getfixturevalue("gpu_prefix"))]
    except pytest.FixtureLookupError:
        pass
    texts = [os.environ.get("CVCUDA_SETUP_PREFIX"), os.environ.get("CVCUDA_TEST_PREFIX")]
    try:
        from cvcuda_setup.envvars import default_prefix

        texts.append(str(default_prefix()))
    except ImportError:
        pass
    return [Path(t).expanduser() for t in texts if t]


@pytest.fixture(scope="module")
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    reasons = []
    for prefix in _candidates(request):
        try:
            opencv = native.find_opencv(prefix)
        except Exception as exc:
            reasons.append(f"{prefix}: {exc}")
            continue
        if not opencv.pipeline_modules:
            reasons.append(f"{prefix}: OpenCV without cudafilters/cudaimgproc")
            continue
        from cvcuda_setup.probe.hostinfo import default_jobs

        build_dir = tmp_path_factory.mktemp("plugin-build")
        result = native.build_plugin(
            prefix, python=Path(sys.executable), build_dir=build_dir, jobs=default_jobs(False), tests=True
        )
        return Built(prefix.resolve(), build_dir, result)
    pytest.skip("no CUDA OpenCV prefix (set CVCUDA_SETUP_PREFIX): " + "; ".join(reasons or ["none named"]))


def _tool(built: Built, *args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([str(built.result.tool), *args], capture_output=True, text=True, timeout=300)
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no JSON on stdout (stderr: {proc.stderr[-800:]})"
    return proc.returncode, json.loads(lines[-1])


def test_every_cpp_gpu_test_passes(built: Built) -> None:
    log = (built.build_dir / "logs" / "test.log").read_text()
    names = ["test_layout", "test_user_data", "test_no_device", "test_json"]
    names += ["test_gpu_alloc", "test_gpu_stress", "test_gpu_view", "test_gpu_register"]
    for name in names:  # none skipped: test_no_device hides the GPUs itself (CUDA_VISIBLE_DEVICES=-1)
        assert any(name in line and "Passed" in line for line in log.splitlines()), f"{name}:\n{log[-3000:]}"
    # test_gpu_multi (portable memory across devices) needs two GPUs: it must pass on such a host and say
    # "Skipped" (exit 77, with the reason in its output) on a one-GPU host.
    from cvcuda_setup.probe.gpu import probe_gpus

    want = "Passed" if len(probe_gpus().devices) >= 2 else "Skipped"
    assert any("test_gpu_multi" in line and want in line for line in log.splitlines()), log[-3000:]


def test_tool_device_info_and_kernel(built: Built) -> None:
    code, info = _tool(built, "device-info")
    assert code == 0, info
    assert info["cuda_device_count"] >= 1 and info["opencv_cuda"] is True
    dev = info["devices"][0]
    assert dev["can_map_host_memory"] is True and dev["major"] >= 5
    code, kernel = _tool(built, "kernel", "--device", "0")
    assert code == 0 and kernel["ok"] is True and kernel["compatible"] is True, kernel


def test_tool_mapped(built: Built) -> None:
    code, data = _tool(built, "mapped", "--device", "0")
    assert code == 0 and data["ok"] is True, data.get("problems")
    assert data["device_write_seen_by_host"] is True and data["host_write_seen_by_device"] is True
    assert all(
        a["attributes"]["type"] == "host" and a["attributes"]["device_pointer"] for a in data["allocations"]
    )
    assert data["released"] is True
    assert data["stats_trimmed"]["bytes_cached"] == 0


PIPELINE_CHECK = textwrap.dedent(
    """
    import json, sys, cv2, numpy as np
    src = cv2.imread(sys.argv[1], cv2.IMREAD_GRAYSCALE)
    blur = cv2.imread(sys.argv[2], cv2.IMREAD_GRAYSCALE)
    edges = cv2.imread(sys.argv[3], cv2.IMREAD_GRAYSCALE)
    ref_blur = cv2.GaussianBlur(src, (5, 5), 1.2)
    ref_edges = cv2.Canny(ref_blur, 50, 150)
    def near(mask):
        # the pixels within 1 px of an edge of ``mask``
        pad = np.pad(mask > 0, 1)
        grown = np.zeros(mask.shape, dtype=bool)
        for dy in range(3):
            for dx in range(3):
                grown |= pad[dy:dy + mask.shape[0], dx:dx + mask.shape[1]]
        return grown
    got, ref = edges > 0, ref_edges > 0
    precision = (got & near(ref_edges)).sum() / max(got.sum(), 1)
    recall = (ref & near(edges)).sum() / max(ref.sum(), 1)
    print(json.dumps({
        "blur_max_diff": int(np.abs(blur.astype(int) - ref_blur.astype(int)).max()),
        "f1": float(2 * precision * recall / max(precision + recall, 1e-9)),
        "edge_pixels": int(got.sum()),
    }))
    """
)


def test_tool_pipeline_matches_the_cpu(built: Built, tmp_path: Path) -> None:
    paths = {k: tmp_path / f"{k}.png" for k in ("input", "blur", "edges")}
    args = ["pipeline", "--device", "0", "--pattern", "discs", "--size", "1280x720", "--repeat", "3"]
    for key in ("input", "blur", "edges"):
        args += [f"--out-{key}", str(paths[key])]
    code, data = _tool(built, *args)
    assert code == 0 and data["ok"] is True, data.get("problems")
    assert data["blur_reallocated"] is False and data["edges_reallocated"] is False
    for name in ("src", "blur", "edges"):
        buf = data["buffers"][name]
        assert buf["attributes"]["type"] == "host" and buf["alias_matches_gpumat"] is True
    proc = subprocess.run(
        [sys.executable, "-c", PIPELINE_CHECK, *(str(paths[k]) for k in ("input", "blur", "edges"))],
        capture_output=True, text=True, timeout=120, env=built.env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cmp = json.loads(proc.stdout.strip().splitlines()[-1])
    assert cmp["blur_max_diff"] <= 1 and cmp["edge_pixels"] > 0 and cmp["f1"] >= 0.99, cmp


PY_API = textwrap.dedent(
    """
    import json, threading, cv2, numpy as np, cvcuda_zerocopy as z
    out = {}
    out["setup"] = z.setup_device(0)
    s0 = z.pool_stats()
    a = z.mapped_empty((480, 640), np.uint8)
    attrs = z.pointer_attributes(a)
    out["attrs"] = attrs
    out["host_pointer_ok"] = attrs["host_pointer"] == a.ctypes.data
    out["alias_ok"] = z.device_pointer(a) == attrs["device_pointer"]
    s1 = z.pool_stats()
    out["in_use_grew"] = s1["bytes_in_use"] > s0["bytes_in_use"]
    g = z.gpumat(a)
    out["gpumat_ptr_ok"] = g.cudaPtr() == attrs["device_pointer"]
    a[...] = 7
    out["device_reads_host"] = bool((g.download() == 7).all())
    g.setTo(3)
    cv2.cuda.Stream.Null().waitForCompletion()
    out["host_reads_device"] = bool((a == 3).all())
    del g, a
    out["released"] = z.pool_stats()["bytes_in_use"] == s0["bytes_in_use"]

    hwc = z.mapped_empty((100, 120, 3), np.float32)
    gh = z.gpumat(hwc)
    out["hwc"] = [gh.type() == cv2.CV_32FC3, gh.step == hwc.strides[0], gh.size() == (120, 100)]
    del gh, hwc

    ys, xs = np.mgrid[0:720, 0:1280]
    img = np.where((xs // 40 + ys // 40) % 2 == 0, 220, 30).astype(np.uint8)
    for cx, cy, r, level in ((300, 200, 90, 120), (900, 500, 150, 60), (640, 360, 60, 250)):
        img[(xs - cx) ** 2 + (ys - cy) ** 2 <= r * r] = level
    src, blur, edges = (z.mapped_zeros((720, 1280), np.uint8) for _ in range(3))
    src[...] = img
    gs, gb, ge = z.gpumat(src), z.gpumat(blur), z.gpumat(edges)
    before = (gb.cudaPtr(), ge.cudaPtr())
    gauss = cv2.cuda.createGaussianFilter(cv2.CV_8UC1, cv2.CV_8UC1, (5, 5), 1.2)
    canny = cv2.cuda.createCannyEdgeDetector(50, 150)
    gauss.apply(gs, dst=gb)
    canny.detect(gb, edges=ge)
    cv2.cuda.Stream.Null().waitForCompletion()
    out["in_place"] = (gb.cudaPtr(), ge.cudaPtr()) == before
    ref = cv2.GaussianBlur(img, (5, 5), 1.2)
    out["blur_max_diff"] = int(np.abs(blur.astype(int) - ref.astype(int)).max())
    ref_edges = cv2.Canny(ref, 50, 150) > 0
    def near(mask):
        pad = np.pad(mask, 1)
        grown = np.zeros(mask.shape, dtype=bool)
        for dy in range(3):
            for dx in range(3):
                grown |= pad[dy:dy + mask.shape[0], dx:dx + mask.shape[1]]
        return grown
    got = edges > 0
    precision = (got & near(ref_edges)).sum() / max(got.sum(), 1)
    recall = (ref_edges & near(got)).sum() / max(ref_edges.sum(), 1)
    out["edge_f1"] = float(2 * precision * recall / max(precision + recall, 1e-9))
    out["edge_pixels"] = int(got.sum())
    del gs, gb, ge, src, blur, edges

    # odd width: rows padded to the texture pitch alignment, so CUDA Canny (a texture over its input) runs
    align = z.row_alignment_bytes()
    odd = z.mapped_empty((479, 641), np.uint8)
    odd_edges = z.mapped_zeros((479, 641), np.uint8)
    odd[...] = img[:479, :641]
    out["odd"] = {"align": align, "step": odd.strides[0], "contiguous": odd.flags["C_CONTIGUOUS"]}
    go, goe = z.gpumat(odd), z.gpumat(odd_edges)
    canny.detect(go, edges=goe)
    cv2.cuda.Stream.Null().waitForCompletion()
    ref_odd = cv2.Canny(np.ascontiguousarray(odd), 50, 150) > 0
    got = odd_edges > 0
    precision = (got & near(ref_odd)).sum() / max(got.sum(), 1)
    recall = (ref_odd & near(got)).sum() / max(ref_odd.sum(), 1)
    out["odd"]["edge_f1"] = float(2 * precision * recall / max(precision + recall, 1e-9))
    out["odd"]["in_place"] = goe.cudaPtr() == z.device_pointer(odd_edges)
    tight = z.mapped_empty((479, 641), np.uint8, row_alignment=1)
    tight[...] = odd
    out["odd"]["tight_step"] = tight.strides[0]
    out["odd"]["tight_contiguous"] = tight.flags["C_CONTIGUOUS"]
    try:
        canny.detect(z.gpumat(tight), edges=goe)
        cv2.cuda.Stream.Null().waitForCompletion()
        out["odd"]["tight_error"] = None
    except cv2.error as exc:
        out["odd"]["tight_error"] = str(exc)
    try:
        z.mapped_empty((4, 4), row_alignment=24)
        out["odd"]["bad_alignment"] = None
    except ValueError as exc:
        out["odd"]["bad_alignment"] = str(exc)
    del go, goe, odd, odd_edges, tight

    plain = np.full((300, 400), 5, np.uint8)
    out["plain_mapped_before"] = z.is_mapped(plain)
    with z.register(plain) as reg:
        out["registered"] = reg.registered
        out["plain_mapped_inside"] = z.is_mapped(plain)
        out["plain_device_read"] = bool((z.gpumat(plain).download() == 5).all())
    out["plain_mapped_after"] = z.is_mapped(plain)
    m = z.mapped_empty((32, 32))
    with z.register(m) as reg:
        out["register_mapped_is_noop"] = reg.registered is False

    w = z.mapped_empty((64, 64), np.uint8, write_combined=True, portable=True)
    buf = z.mapped_buffer(w[10:20])
    out["wc_flags"] = buf.flags == (z.MAPPED | z.WRITE_COMBINED | z.PORTABLE)
    out["wc_mapped"] = z.is_mapped(w)
    del w, buf, m

    errors = []
    def worker(seed):
        try:
            z.setup_device(0)
            rng = np.random.default_rng(seed)
            for _ in range(2000):
                x = z.mapped_empty((int(rng.integers(1, 300)), 64), np.uint8)
                x[0, 0] = 1
        except Exception as exc:
            errors.append(repr(exc))
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    out["thread_errors"] = errors
    out["threads_released"] = z.pool_stats()["bytes_in_use"] == s0["bytes_in_use"]
    out["trimmed"] = z.trim()
    out["held_after_trim"] = z.pool_stats()["bytes_held"]
    print(json.dumps(out, default=str))
    """
)


@pytest.fixture(scope="module")
def api(built: Built) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", PY_API], capture_output=True, text=True, timeout=300, env=built.env()
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def test_python_setup_and_attributes(api: dict[str, Any]) -> None:
    assert api["setup"]["can_map_host_memory"] is True and api["setup"]["note"]
    assert api["attrs"]["type"] == "host" and api["attrs"]["device_pointer"] != 0
    assert api["host_pointer_ok"] and api["alias_ok"] and api["in_use_grew"] and api["released"]


def test_python_gpumat_both_ways(api: dict[str, Any]) -> None:
    assert api["gpumat_ptr_ok"] and api["device_reads_host"] and api["host_reads_device"]
    assert api["hwc"] == [True, True, True]


def test_python_pipeline_in_place(api: dict[str, Any]) -> None:
    assert api["in_place"] is True
    assert api["blur_max_diff"] <= 1
    assert api["edge_pixels"] > 1000 and api["edge_f1"] >= 0.99


def test_python_odd_width_rows_are_padded_for_textures(api: dict[str, Any]) -> None:
    odd = api["odd"]
    assert odd["align"] == api["setup"]["texture_pitch_alignment"] > 0
    assert odd["step"] % odd["align"] == 0 and odd["step"] >= 641
    assert odd["contiguous"] is (odd["step"] == 641)
    assert odd["edge_f1"] >= 0.99 and odd["in_place"] is True
    assert odd["tight_step"] == 641 and odd["tight_contiguous"] is True
    if 641 % odd["align"]:  # what the padding prevents: CUDA refuses a texture over unaligned rows
        assert odd["tight_error"] is not None and "createTextureObject" in odd["tight_error"]
    assert odd["bad_alignment"] is not None and "24" in odd["bad_alignment"]


def test_python_register_and_flags(api: dict[str, Any]) -> None:
    assert api["plain_mapped_before"] is False
    assert (
        api["registered"] is True and api["plain_mapped_inside"] is True and api["plain_device_read"] is True
    )
    assert api["plain_mapped_after"] is False
    assert api["register_mapped_is_noop"] is True
    assert api["wc_flags"] is True and api["wc_mapped"] is True


def test_python_threads_and_trim(api: dict[str, Any]) -> None:
    assert api["thread_errors"] == []
    assert api["threads_released"] is True
    assert api["held_after_trim"] == 0
