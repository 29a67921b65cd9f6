"""``cvcuda-setup wheel``: a prefix's CUDA ``cv2`` as an installable wheel (``opencv-cuda``).

Entry point: ``build_wheel(WheelOptions(prefix=..., out_dir=...)) -> WheelResult``. For doctor and verify:
``find_cv2_distributions(python)`` lists the distributions that install ``cv2`` (``is_ours`` marks a wheel
made here) and ``installed_wheel_manifest(python)`` reads the manifest a wheel carries
(``cv2/.cvcuda-setup-manifest.json``). See docs/wheel.md.
"""

from __future__ import annotations

from cvcuda_setup.wheel.builder import WHEEL_MANIFEST, WheelOptions, WheelResult, build_wheel
from cvcuda_setup.wheel.dists import Cv2Dist, find_cv2_distributions, installed_wheel_manifest

__all__ = [
    "WHEEL_MANIFEST",
    "Cv2Dist",
    "WheelOptions",
    "WheelResult",
    "build_wheel",
    "find_cv2_distributions",
    "installed_wheel_manifest",
]
