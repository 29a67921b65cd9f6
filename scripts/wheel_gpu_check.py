"""Run inside a venv holding only the opencv-cuda wheel and numpy (scripts/gpu-session.sh, stage wheel_venv).

Prints one JSON object: where cv2 came from, the CUDA device count, and a GPU Gaussian blur + Canny on a
synthetic frame compared with the CPU (blur: max abs difference; edges: share of differing pixels).
Exit 0 only when cv2 is the venv's own copy, a device is visible and both results are within tolerance.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    import cv2
    import numpy as np

    out: dict[str, object] = {"python": sys.executable, "cv2_file": cv2.__file__, "version": cv2.__version__}
    venv = Path(sys.prefix).resolve()
    out["cv2_in_venv"] = Path(cv2.__file__).resolve().is_relative_to(venv)
    out["device_count"] = count = cv2.cuda.getCudaEnabledDeviceCount()
    if count < 1:
        print(json.dumps(out))
        return 1
    rng = np.random.default_rng(7)
    img = np.zeros((1080, 1920), np.uint8)
    for _ in range(40):
        c = (int(rng.integers(0, 1920)), int(rng.integers(0, 1080)))
        cv2.circle(img, c, int(rng.integers(20, 200)), int(rng.integers(60, 255)), -1)
    gauss = cv2.cuda.createGaussianFilter(cv2.CV_8UC1, cv2.CV_8UC1, (5, 5), 1.2)
    canny = cv2.cuda.createCannyEdgeDetector(50, 150)
    g = cv2.cuda.GpuMat()
    g.upload(img)
    blur_gpu = gauss.apply(g)
    edges_gpu = canny.detect(blur_gpu).download()
    blur_gpu = blur_gpu.download()
    blur_cpu = cv2.GaussianBlur(img, (5, 5), 1.2, borderType=cv2.BORDER_REFLECT_101)
    edges_cpu = cv2.Canny(blur_cpu, 50, 150)
    out["blur_max_abs_diff"] = int(np.abs(blur_gpu.astype(int) - blur_cpu.astype(int)).max())
    out["edge_pixels_cpu"] = int((edges_cpu > 0).sum())
    out["edge_mismatch_share"] = float((edges_gpu != edges_cpu).mean())
    ok = out["cv2_in_venv"] and out["blur_max_abs_diff"] <= 1 and out["edge_mismatch_share"] < 0.001
    out["ok"] = bool(ok)
    print(json.dumps(out))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
