"""Pure-numpy comparison of a CUDA result with the CPU reference.

* Blur: the absolute difference per pixel; it passes when no pixel differs by more than ``tolerance`` grey
  levels (1: CUDA's float Gaussian and the CPU's fixed-point one round differently).
* Edges: precision / recall / F1 with a spatial tolerance. A predicted edge pixel is a true positive when
  a reference edge lies within ``tolerance`` pixels (Chebyshev distance, i.e. in the (2t+1)x(2t+1) square
  around it); recall is the same with the roles swapped. CUDA Canny differs from CPU Canny in a few pixels
  (measured), so an exact match is not the test; F1 >= 0.99 at 1 px is.

Nothing here imports OpenCV: edge maps are any integer or bool arrays where non-zero means "edge".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: Default limits used by the pipeline check.
BLUR_TOLERANCE = 1
EDGE_TOLERANCE = 1
MIN_F1 = 0.99
#: Floor for the end-to-end edge score (CPU Canny of the CPU blur) when the Canny stage is scored against its
#: own reference: a blur within 1 grey level moves edges whose gradient sits at a threshold (worst measured on
#: an H100: 0.9890, samples/pic2.png, runs H-K), so the end to end is held to a lower floor, not dropped.
MIN_F1_END_TO_END = 0.98


@dataclass(frozen=True)
class BlurDiff:
    """How far a blurred image is from the reference, in grey levels."""

    max_abs: int
    mean_abs: float
    #: Pixels differing by more than ``tolerance``.
    pixels_over: int
    pixels: int
    tolerance: int

    @property
    def passed(self) -> bool:
        return self.max_abs <= self.tolerance

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


@dataclass(frozen=True)
class EdgeScore:
    """Agreement of two edge maps with a spatial tolerance."""

    precision: float
    recall: float
    f1: float
    #: Edge pixels in the predicted (CUDA) and the reference (CPU) map.
    predicted: int
    reference: int
    #: Predicted pixels with a reference edge within ``tolerance`` (and the converse).
    predicted_matched: int
    reference_matched: int
    #: Pixels set in exactly one map (no tolerance): the raw disagreement, for the report.
    exact_mismatch: int
    tolerance: int
    min_f1: float

    @property
    def passed(self) -> bool:
        return self.f1 >= self.min_f1

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _check_pair(actual: npt.NDArray[Any], expected: npt.NDArray[Any], what: str) -> None:
    if actual.shape != expected.shape:
        raise ValueError(f"{what}: shapes differ, {actual.shape} vs reference {expected.shape}")
    if actual.ndim != 2:
        raise ValueError(f"{what}: expected a single-channel 2-D image, got shape {actual.shape}")


def blur_difference(
    actual: npt.NDArray[Any], expected: npt.NDArray[Any], *, tolerance: int = BLUR_TOLERANCE
) -> BlurDiff:
    """Compare a blurred image with the reference blur (both 2-D, same shape)."""
    _check_pair(actual, expected, "blur")
    diff = np.abs(actual.astype(np.int32) - expected.astype(np.int32))
    return BlurDiff(
        max_abs=int(diff.max()) if diff.size else 0,
        mean_abs=float(diff.mean()) if diff.size else 0.0,
        pixels_over=int(np.count_nonzero(diff > tolerance)),
        pixels=int(diff.size),
        tolerance=tolerance,
    )


def dilate(mask: npt.NDArray[np.bool_], radius: int) -> npt.NDArray[np.bool_]:
    """Binary dilation with a (2r+1)x(2r+1) square (Chebyshev ball), pixels outside the image being off."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius == 0 or mask.size == 0:
        same: npt.NDArray[np.bool_] = mask.astype(bool, copy=True)
        return same
    h, w = mask.shape
    padded = np.zeros((h + 2 * radius, w + 2 * radius), dtype=bool)
    padded[radius : radius + h, radius : radius + w] = mask
    # Separable: a square is a horizontal segment swept vertically.
    rows = np.zeros((h + 2 * radius, w), dtype=bool)
    for dx in range(2 * radius + 1):
        rows |= padded[:, dx : dx + w]
    out = np.zeros((h, w), dtype=bool)
    for dy in range(2 * radius + 1):
        out |= rows[dy : dy + h, :]
    return out


def edge_f1(
    predicted: npt.NDArray[Any],
    reference: npt.NDArray[Any],
    *,
    tolerance: int = EDGE_TOLERANCE,
    min_f1: float = MIN_F1,
) -> EdgeScore:
    """F1 of ``predicted`` against ``reference`` edge maps with a ``tolerance``-pixel Chebyshev tolerance.

    Two empty maps agree perfectly (F1 1.0); one empty and one not score 0.
    """
    _check_pair(predicted, reference, "edges")
    pred = predicted != 0
    ref = reference != 0
    n_pred = int(np.count_nonzero(pred))
    n_ref = int(np.count_nonzero(ref))
    pred_matched = int(np.count_nonzero(pred & dilate(ref, tolerance)))
    ref_matched = int(np.count_nonzero(ref & dilate(pred, tolerance)))
    if n_pred == 0 and n_ref == 0:
        precision = recall = f1 = 1.0
    else:
        precision = pred_matched / n_pred if n_pred else 0.0
        recall = ref_matched / n_ref if n_ref else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return EdgeScore(
        precision=precision,
        recall=recall,
        f1=f1,
        predicted=n_pred,
        reference=n_ref,
        predicted_matched=pred_matched,
        reference_matched=ref_matched,
        exact_mismatch=int(np.count_nonzero(pred ^ ref)),
        tolerance=tolerance,
        min_f1=min_f1,
    )
