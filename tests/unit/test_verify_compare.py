"""compare.py on crafted images: what must pass (1 px jitter, 1 grey level) and what must fail."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cvcuda_setup.verify.compare import blur_difference, dilate, edge_f1


def _square_outline(h: int = 120, w: int = 160, top: int = 30, left: int = 40, size: int = 50) -> np.ndarray:
    edges = np.zeros((h, w), dtype=np.uint8)
    edges[top, left : left + size] = 255
    edges[top + size - 1, left : left + size] = 255
    edges[top : top + size, left] = 255
    edges[top : top + size, left + size - 1] = 255
    return edges


def _circle(h: int = 200, w: int = 200, r: float = 60.0) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    dist = np.hypot(xs - w / 2, ys - h / 2)
    return (np.abs(dist - r) < 0.5).astype(np.uint8) * 255


def test_identical_maps_score_one() -> None:
    ref = _square_outline()
    score = edge_f1(ref.copy(), ref)
    assert (score.precision, score.recall, score.f1) == (1.0, 1.0, 1.0)
    assert score.exact_mismatch == 0
    assert score.passed


@pytest.mark.parametrize(("dy", "dx"), [(0, 1), (1, 0), (1, 1), (-1, 1), (0, -1)])
def test_one_pixel_shift_is_within_tolerance(dy: int, dx: int) -> None:
    ref = _circle()
    shifted = np.roll(ref, (dy, dx), axis=(0, 1))
    score = edge_f1(shifted, ref)
    assert score.exact_mismatch > 0  # really different pixel by pixel
    assert score.f1 == 1.0
    assert score.passed


def test_two_pixel_shift_fails() -> None:
    ref = _square_outline()
    shifted = np.roll(ref, 2, axis=1)
    score = edge_f1(shifted, ref)
    # the horizontal sides still match, the vertical ones are 2 px away: well below 0.99
    assert score.f1 < 0.9
    assert not score.passed


def test_missing_edges_fail_on_recall() -> None:
    ref = _square_outline()
    partial = ref.copy()
    partial[:, 60:] = 0  # drop the right part of the square
    score = edge_f1(partial, ref)
    assert score.precision == 1.0
    assert score.recall < 0.7
    assert not score.passed


def test_extra_noise_edges_fail_on_precision() -> None:
    ref = _square_outline()
    rng = np.random.default_rng(7)
    noisy = ref.copy()
    ys = rng.integers(0, ref.shape[0], 400)
    xs = rng.integers(0, ref.shape[1], 400)
    noisy[ys, xs] = 255
    score = edge_f1(noisy, ref)
    assert score.recall == 1.0
    assert score.precision < 0.8
    assert not score.passed


def test_a_few_pixels_of_disagreement_still_pass() -> None:
    """What CUDA vs CPU Canny looks like: a handful of pixels off by one or spurious next to an edge."""
    ref = _circle(400, 400, 150)
    pred = ref.copy()
    on = np.argwhere(ref > 0)
    for y, x in on[::97]:  # move a few edge pixels by one
        pred[y, x] = 0
        pred[y, min(x + 1, 399)] = 255
    score = edge_f1(pred, ref)
    assert score.exact_mismatch > 0
    assert score.f1 >= 0.99


def test_empty_maps() -> None:
    empty = np.zeros((10, 10), np.uint8)
    assert edge_f1(empty, empty).f1 == 1.0
    one = empty.copy()
    one[5, 5] = 255
    assert edge_f1(one, empty).f1 == 0.0
    assert edge_f1(empty, one).f1 == 0.0


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        edge_f1(np.zeros((4, 5)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="single-channel"):
        blur_difference(np.zeros((4, 5, 3)), np.zeros((4, 5, 3)))


def test_dilate_matches_brute_force_chebyshev() -> None:
    rng = np.random.default_rng(3)
    mask = rng.random((23, 31)) < 0.05
    for radius in (0, 1, 2):
        got = dilate(mask, radius)
        want = np.zeros_like(mask)
        for y, x in itertools.product(range(mask.shape[0]), range(mask.shape[1])):
            y0, y1 = max(0, y - radius), y + radius + 1
            x0, x1 = max(0, x - radius), x + radius + 1
            want[y, x] = mask[y0:y1, x0:x1].any()
        assert np.array_equal(got, want), radius


def test_blur_within_one_grey_level_passes() -> None:
    rng = np.random.default_rng(1)
    ref = rng.integers(1, 255, (64, 64), dtype=np.uint8)
    jitter = rng.integers(-1, 2, ref.shape)
    got = (ref.astype(int) + jitter).astype(np.uint8)
    diff = blur_difference(got, ref)
    assert diff.max_abs == 1
    assert diff.pixels_over == 0
    assert diff.passed


def test_blur_off_by_two_fails() -> None:
    ref = np.full((32, 32), 100, np.uint8)
    got = ref.copy()
    got[3, 4] = 102
    diff = blur_difference(got, ref)
    assert diff.max_abs == 2
    assert diff.pixels_over == 1
    assert not diff.passed


def test_blur_difference_does_not_wrap_around() -> None:
    """uint8 subtraction would wrap 0 - 255 to 1; the comparison must see 255."""
    ref = np.zeros((2, 2), np.uint8)
    got = np.full((2, 2), 255, np.uint8)
    assert blur_difference(got, ref).max_abs == 255
    assert blur_difference(ref, got).max_abs == 255
