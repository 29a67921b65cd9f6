"""images.py: generated patterns, photo discovery and the numpy PNG writer (decoded independently here)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from cvcuda_setup.verify import images


def _decode_png(data: bytes) -> tuple[dict[str, int], np.ndarray]:
    """A minimal PNG reader (8-bit, filter type 0 only) with CRC checks: enough to check the writer."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    channels = {0: 1, 2: 3, 6: 4}[color]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(h, 1 + w * channels)
    assert (rows[:, 0] == 0).all()
    pixels = rows[:, 1:].reshape((h, w) if channels == 1 else (h, w, channels))
    return {"width": w, "height": h, "depth": depth, "color": color, "interlace": interlace}, pixels


@pytest.mark.parametrize("pattern", list(images.PATTERNS))
def test_patterns_are_deterministic_8bit_gray(pattern: str) -> None:
    a = images.generate(pattern, 64, 48)
    b = images.generate(pattern, 64, 48)
    assert a.shape == (48, 64)
    assert a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert a.min() < a.max()  # never a flat image


def test_patterns_have_the_structure_they_claim() -> None:
    board = images.checkerboard(160, 80)
    assert set(np.unique(board)) == {30, 220}
    assert board[0, 0] != board[0, 40]  # squares are 40 px
    stripes = images.stripes(200, 100)
    assert set(np.unique(stripes)) == {40, 200}
    noise = images.noise(256, 256)
    assert len(np.unique(noise)) > 200


def test_unknown_pattern_and_bad_size() -> None:
    with pytest.raises(KeyError, match="known: stripes"):
        images.generate("plaid", 10, 10)
    with pytest.raises(ValueError, match="positive"):
        images.generate("noise", 0, 10)


def test_generated_cases_cover_every_pattern_and_size() -> None:
    cases = images.generated_cases()
    assert len(cases) == len(images.PATTERNS) * len(images.SIZES)
    names = {c.name for c in cases}
    assert "discs-640x480" in names and "noise-3840x2160" in names
    assert all(c.kind == "generated" for c in cases)


def test_find_photos(tmp_path: Path) -> None:
    for name in ("b.png", "a.JPG", "notes.txt", "c.tif"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.png").write_bytes(b"x")
    assert [p.name for p in images.find_photos(tmp_path)] == ["a.JPG", "b.png", "c.tif"]
    assert images.find_photos(tmp_path / "missing") == []
    cases = images.file_cases(images.find_photos(tmp_path), label="samples")
    assert cases[0].name == "samples/a.JPG" and cases[0].kind == "file"


def test_png_round_trip_gray_and_rgb(tmp_path: Path) -> None:
    gray = images.discs(37, 23)
    header, pixels = _decode_png(images.write_png(tmp_path / "g.png", gray).read_bytes())
    assert header == {"width": 37, "height": 23, "depth": 8, "color": 0, "interlace": 0}
    assert np.array_equal(pixels, gray)
    rgb = np.dstack([gray, 255 - gray, gray // 2])
    header, pixels = _decode_png(images.encode_png(rgb))
    assert header["color"] == 2
    assert np.array_equal(pixels, rgb)


def test_png_writer_rejects_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="uint8"):
        images.encode_png(np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError, match="shape"):
        images.encode_png(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        images.encode_png(np.zeros((0, 4), np.uint8))
