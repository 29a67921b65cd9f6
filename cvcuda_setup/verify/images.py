"""Test images for the pipeline check: generated patterns, photos found on disk, and a pure-numpy PNG writer.

Generated images are 8-bit greyscale and deterministic (fixed seeds), so a failure can be reproduced from the
case name alone (``discs-1920x1080``). The PNG writer needs only numpy and zlib, so inputs for the C++ check
tool and the report's artifacts can be written even where the prefix's OpenCV has no image codecs.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]

#: Sizes the generated patterns are rendered at, (width, height). 641x479 has rows that are no multiple of the
#: texture pitch alignment (32 bytes): CUDA Canny reads its input through a texture and refuses such a GpuMat,
#: so this size proves the mapped buffers are padded (the photos in samples/data have such widths too).
SIZES: tuple[tuple[int, int], ...] = ((640, 480), (641, 479), (1920, 1080), (3840, 2160))

#: Extensions of photos picked up from samples/data and ``--images DIR``.
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp")


def _axes(width: int, height: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """x as a (1, W) row and y as an (H, 1) column: broadcasting gives the grid without materialising it."""
    xs = np.arange(width, dtype=np.float64)[np.newaxis, :]
    ys = np.arange(height, dtype=np.float64)[:, np.newaxis]
    return xs, ys


def stripes(width: int, height: int) -> Image:
    """Hard-edged stripes at 30 degrees, period 48 px, grey levels 40 and 200."""
    xs, ys = _axes(width, height)
    phase = (xs * np.cos(np.pi / 6) + ys * np.sin(np.pi / 6)) % 48.0
    return np.where(phase < 24.0, 200, 40).astype(np.uint8)


def checkerboard(width: int, height: int) -> Image:
    """A checkerboard of 40 px squares, grey levels 30 and 220."""
    cols = (np.arange(width) // 40)[np.newaxis, :]
    rows = (np.arange(height) // 40)[:, np.newaxis]
    return np.where((cols + rows) % 2 == 0, 220, 30).astype(np.uint8)


def discs(width: int, height: int) -> Image:
    """Filled discs of several radii and grey levels on a horizontal ramp (curved edges, varying contrast)."""
    ramp = 60.0 + 60.0 * np.arange(width, dtype=np.float64) / max(width - 1, 1)
    img = np.broadcast_to(ramp, (height, width)).copy()
    rng = np.random.default_rng(1234)
    scale = min(width, height)
    for _ in range(24):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.02, 0.12) * scale
        level = rng.uniform(0, 255)
        x0, x1 = max(int(cx - radius), 0), min(int(cx + radius) + 2, width)
        y0, y1 = max(int(cy - radius), 0), min(int(cy + radius) + 2, height)
        if x0 >= x1 or y0 >= y1:
            continue
        xs, ys = _axes(x1 - x0, y1 - y0)
        inside = (xs + x0 - cx) ** 2 + (ys + y0 - cy) ** 2 <= radius**2
        img[y0:y1, x0:x1][inside] = level
    out: Image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


def noise(width: int, height: int) -> Image:
    """Uniform noise, seeded: dense, short edges everywhere."""
    rng = np.random.default_rng(42)
    return rng.integers(0, 256, size=(height, width), dtype=np.uint8)


def gradients(width: int, height: int) -> Image:
    """Smooth ramps (horizontal, vertical, radial) with a few steps: mostly no edges, some weak ones."""
    xs, ys = _axes(width, height)
    horizontal = xs / max(width - 1, 1)
    vertical = ys / max(height - 1, 1)
    radial = np.hypot(xs - width / 2, ys - height / 2) / np.hypot(width / 2, height / 2)
    img = 255.0 * (0.4 * horizontal + 0.3 * vertical + 0.3 * radial)
    img = img + np.where((xs // max(width // 8, 1)) % 2 == 1, 25.0, 0.0)  # steps of 25 grey levels
    out: Image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


PATTERNS: dict[str, Callable[[int, int], Image]] = {
    "stripes": stripes,
    "checkerboard": checkerboard,
    "discs": discs,
    "noise": noise,
    "gradients": gradients,
}


def generate(pattern: str, width: int, height: int) -> Image:
    """Render one named pattern; ``KeyError`` names the known ones."""
    try:
        fn = PATTERNS[pattern]
    except KeyError:
        raise KeyError(f"unknown pattern {pattern!r}; known: {', '.join(PATTERNS)}") from None
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    return fn(width, height)


@dataclass(frozen=True)
class ImageCase:
    """One input of the pipeline check: a generated pattern or an image file."""

    name: str
    #: ``"generated"`` or ``"file"``.
    kind: str
    #: The pattern name for generated cases, the file path for files.
    source: str
    width: int = 0
    height: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "width": self.width,
            "height": self.height,
        }


def generated_cases(
    patterns: Iterable[str] = tuple(PATTERNS), sizes: Sequence[tuple[int, int]] = SIZES
) -> list[ImageCase]:
    return [
        ImageCase(name=f"{p}-{w}x{h}", kind="generated", source=p, width=w, height=h)
        for (w, h) in sizes
        for p in patterns
    ]


def find_photos(directory: Path) -> list[Path]:
    """Image files directly in ``directory`` (not recursive), sorted by name; [] when it is no directory."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def file_cases(paths: Iterable[Path], *, label: str) -> list[ImageCase]:
    """Cases for image files; names are ``label/<file name>`` so a user's and a sample's file never clash."""
    return [ImageCase(name=f"{label}/{p.name}", kind="file", source=str(p)) for p in paths]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def encode_png(image: npt.NDArray[np.uint8]) -> bytes:
    """PNG bytes for an 8-bit greyscale (H, W) or RGB/RGBA (H, W, 3|4) image (RGB order), no filtering."""
    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"PNG writer takes uint8 images, got {arr.dtype}")
    if arr.ndim == 2:
        height, width = arr.shape
        color_type, channels = 0, 1
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        height, width, channels = arr.shape
        color_type = 2 if channels == 3 else 6
    else:
        raise ValueError(f"PNG writer takes (H, W) or (H, W, 3|4) images, got shape {arr.shape}")
    if height == 0 or width == 0:
        raise ValueError("PNG writer cannot write an empty image")
    rows = arr.reshape(height, width * channels)
    raw = np.hstack([np.zeros((height, 1), dtype=np.uint8), rows])  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def write_png(path: Path, image: npt.NDArray[np.uint8]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(image))
    return path
