"""What ``cudacodec`` lacks without NVIDIA's Video Codec SDK headers, said before the build.

OpenCV looks for ``nvcuvid.h`` (decoding) and ``nvEncodeAPI.h`` (encoding) in the CUDA toolkit's include
directory only (``cmake/OpenCVDetectCUDAUtils.cmake``, ``NO_DEFAULT_PATH``); without them ``cudacodec`` still
builds, but ``cv::cudacodec::VideoReader`` / ``VideoWriter`` raise "not implemented" at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cvcuda_setup.doctor.findings import Finding
from cvcuda_setup.model import Recipe

#: Header -> what cudacodec needs it for.
CODEC_HEADERS = {
    "nvcuvid.h": "hardware decoding (cv::cudacodec::VideoReader, WITH_NVCUVID)",
    "nvEncodeAPI.h": "hardware encoding (cv::cudacodec::VideoWriter, WITH_NVCUVENC)",
}
_OFF = ("OFF", "0", "FALSE", "NO", "N")  # str(False).upper() is "FALSE"


def builds_cudacodec(recipe: Recipe | None) -> bool:
    """True when the recipe builds opencv_contrib's ``cudacodec`` (listed, or every module) with CUDA."""
    if recipe is None or not recipe.cuda or not recipe.contrib:
        return False
    options = {k: str(v).upper() for k, v in recipe.cmake}
    if options.get("WITH_CUDA") in _OFF or options.get("BUILD_opencv_cudacodec") in _OFF:
        return False
    return not recipe.modules or "cudacodec" in recipe.modules


def find_codec_headers(cuda_root: Path | None) -> dict[str, Path | None]:
    """Each header in ``<root>/include`` or ``<root>/targets/*/include`` (where OpenCV looks), or None."""
    found: dict[str, Path | None] = dict.fromkeys(CODEC_HEADERS)
    if cuda_root is None:
        return found
    dirs = [cuda_root / "include", *sorted(cuda_root.glob("targets/*/include"))]
    for name in CODEC_HEADERS:
        found[name] = next((d / name for d in dirs if (d / name).is_file()), None)
    return found


def check_codec(builds: bool, cuda_root: Path | None, headers: Mapping[str, Path | None]) -> list[Finding]:
    """A warn finding naming the missing headers when the recipe builds cudacodec; ok when both are."""
    if not builds or cuda_root is None:
        return []
    missing = [name for name in CODEC_HEADERS if headers.get(name) is None]
    if not missing:
        return [
            Finding(
                "ok",
                "cuda-libs",
                "Video Codec SDK headers found: cudacodec gets hardware decoding and encoding",
                data={k: str(v) for k, v in headers.items()},
                code="cuda-libs.video-codec",
            )
        ]
    include = cuda_root / "include"
    lacks = "; ".join(f"{name}: no {CODEC_HEADERS[name]}" for name in missing)
    return [
        Finding(
            "warn",
            "cuda-libs",
            f"cudacodec will build without {' and '.join(missing)} (not in {include}): {lacks}",
            fix=(
                "copy the headers of NVIDIA's Video Codec SDK (developer.nvidia.com/video-codec-sdk, "
                f"Interface/nvcuvid.h, cuviddec.h, nvEncodeAPI.h) into {include}; or install the "
                "MIT-licensed nv-codec-headers (Debian/Ubuntu: apt install libffmpeg-nvenc-dev, in "
                f"/usr/include/ffnvcodec) with the shim they need: {include}/nvEncodeAPI.h -> "
                "ffnvcodec/nvEncodeAPI.h, and nvcuvid.h/cuviddec.h including ffnvcodec/dynlink_nvcuvid.h / "
                "dynlink_cuviddec.h (which declare the API as dlopen pointers, so decoding needs more than "
                "a rename); or -D WITH_NVCUVID=OFF -D WITH_NVCUVENC=OFF to silence this"
            ),
            data={"missing": missing, "include_dir": str(include)},
            code="cuda-libs.video-codec",
        )
    ]
