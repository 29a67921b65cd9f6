"""The worker's pipeline commands: ``prepare`` (the CPU reference), ``pipeline`` (zero-copy), ``readimg``.

Runs inside the target interpreter as a module of the worker (see ``worker.py``): the standard library at
module level, numpy, ``cv2`` and ``cvcuda_zerocopy`` inside the commands.
"""

from __future__ import annotations

import os
from typing import Any

from cvcuda_setup.verify.worker_common import _call, _err, _jsonable

#: Canny thresholds of the documented pipeline (aperture 3, L2gradient False: the CUDA detector's defaults).
CANNY_LOW, CANNY_HIGH = 50, 150


# -- pipeline ------------------------------------------------------------------------------------------------


def _load_gray(path: str) -> Any:
    import numpy as np

    if path.endswith(".npy"):
        img = np.load(path, allow_pickle=False)
    else:
        import cv2

        if not hasattr(cv2, "imread"):
            raise RuntimeError("this cv2 has no imgcodecs (cv2.imread), so image files cannot be read")
        img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if img is None:
            ext = os.path.splitext(path)[1] or "this format"
            raise RuntimeError(f"cv2.imread could not decode it (is the {ext} codec built?)")
    if img.ndim != 2 or img.dtype != np.uint8:
        raise RuntimeError(f"expected an 8-bit single-channel image, got {img.dtype} {img.shape}")
    return np.ascontiguousarray(img)


def cmd_prepare(request: dict[str, Any]) -> dict[str, Any]:
    """Per case: load the input (npy or image file, greyscale), compute the CPU reference, save npy files."""
    import cv2
    import numpy as np

    results = []
    for case in request["cases"]:
        res: dict[str, Any] = {"name": case["name"]}
        try:
            img = _load_gray(case["source"])
            np.save(case["input_npy"], img)
            blur = cv2.GaussianBlur(img, (5, 5), 1.2)
            edges = cv2.Canny(blur, CANNY_LOW, CANNY_HIGH)
            np.save(case["ref_blur_npy"], blur)
            np.save(case["ref_edges_npy"], edges)
            res.update(ok=True, height=int(img.shape[0]), width=int(img.shape[1]))
        except Exception as exc:
            res.update(ok=False, error=_err(exc))
        results.append(res)
    return {"cases": results}


def _attrs(z: Any, arr: Any) -> dict[str, Any]:
    try:
        return {"ok": True, **_jsonable(z.pointer_attributes(arr))}
    except Exception as exc:
        return {"ok": False, "error": _err(exc)}


def _one_pipeline(
    cv2: Any, np: Any, z: Any, gauss: Any, canny: Any, img: Any, shrink_output: bool = False
) -> tuple[dict[str, Any], Any, Any]:
    h, w = img.shape
    src = z.mapped_empty((h, w), np.uint8)
    # shrink_output (a negative control for tests): a blur buffer one row short, so the filter must reallocate
    blur = z.mapped_empty((h - 1 if shrink_output else h, w), np.uint8)
    edges = z.mapped_empty((h, w), np.uint8)
    src[...] = img
    blur[...] = 0
    edges[...] = 0
    g_src, g_blur, g_edges = z.gpumat(src), z.gpumat(blur), z.gpumat(edges)
    before = {"blur": int(g_blur.cudaPtr()), "edges": int(g_edges.cudaPtr())}
    r_blur = gauss.apply(g_src, dst=g_blur)
    r_edges = canny.detect(g_blur, edges=g_edges)
    cv2.cuda.Stream.Null().waitForCompletion()
    after = {
        "blur": int(g_blur.cudaPtr()),
        "edges": int(g_edges.cudaPtr()),
        "blur_returned": int(r_blur.cudaPtr()),
        "edges_returned": int(r_edges.cudaPtr()),
    }
    buffers = {}
    for name, arr, gm in (("src", src, g_src), ("blur", blur, g_blur), ("edges", edges, g_edges)):
        buffers[name] = {
            "host_pointer": int(arr.ctypes.data),
            "step": int(arr.strides[0]),
            "gpumat_cuda_ptr": int(gm.cudaPtr()),
            "device_pointer": int(z.device_pointer(arr)),
            "attributes": _attrs(z, arr),
        }
    info = {"before": before, "after": after, "buffers": buffers}
    out_blur, out_edges = np.array(blur, copy=True), np.array(edges, copy=True)
    del g_src, g_blur, g_edges, r_blur, r_edges, src, blur, edges
    return info, out_blur, out_edges


def cmd_pipeline(request: dict[str, Any]) -> dict[str, Any]:
    """The mapped blur + Canny in Python, per case; results land in the mapped numpy arrays themselves."""
    import gc

    import cv2
    import numpy as np

    dev = int(request["device"])
    out: dict[str, Any] = {"device": dev, "cases": []}
    try:
        import cvcuda_zerocopy as z
    except BaseException as exc:
        out["module_error"] = _err(exc)
        return out
    for name in ("createGaussianFilter", "createCannyEdgeDetector"):
        if not hasattr(getattr(cv2, "cuda", None), name):
            out["cv2_error"] = f"cv2.cuda.{name} is missing (cudafilters/cudaimgproc not built)"
            return out
    try:
        z.setup_device(dev)
        cv2.cuda.setDevice(dev)  # OpenCV's own notion of the current device, for its filters and buffers
        gauss = cv2.cuda.createGaussianFilter(cv2.CV_8UC1, cv2.CV_8UC1, (5, 5), 1.2)
        canny = cv2.cuda.createCannyEdgeDetector(CANNY_LOW, CANNY_HIGH)
    except Exception as exc:
        out["setup_error"] = _err(exc)
        return out
    for case in request["cases"]:
        res: dict[str, Any] = {"name": case["name"]}
        try:
            img = np.load(case["input_npy"], allow_pickle=False)
            info, blur, edges = _one_pipeline(
                cv2, np, z, gauss, canny, img, bool(request.get("shrink_output"))
            )
            np.save(case["blur_npy"], blur)
            np.save(case["edges_npy"], edges)
            if case.get("stage_edges_npy"):  # CPU Canny of the GPU's blur: the Canny stage's own reference
                np.save(case["stage_edges_npy"], cv2.Canny(blur, CANNY_LOW, CANNY_HIGH))
            res.update(ok=True, **info)
        except Exception as exc:
            res.update(ok=False, error=_err(exc))
        gc.collect()
        out["cases"].append(res)
    _call(out, "pool_stats", lambda: _jsonable(z.pool_stats()))
    return out


def cmd_readimg(request: dict[str, Any]) -> dict[str, Any]:
    """Decode image files (the C++ tool's outputs) to npy, unchanged (8-bit, single channel expected).

    An item with ``canny_npy`` also gets the CPU Canny of the image saved there: for the GPU's blur,
    the Canny stage's own reference.
    """
    import numpy as np

    results = []
    for item in request["items"]:
        res: dict[str, Any] = {"src": item["src"]}
        try:
            img = _load_gray(item["src"])
            np.save(item["dst"], img)
            if item.get("canny_npy"):
                import cv2

                np.save(item["canny_npy"], cv2.Canny(img, CANNY_LOW, CANNY_HIGH))
            res["ok"] = True
        except Exception as exc:
            res.update(ok=False, error=_err(exc))
        results.append(res)
    return {"items": results}
