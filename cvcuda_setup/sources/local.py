"""The ``local`` provider: a directory used in place, never modified and never deleted."""

from __future__ import annotations

from pathlib import Path

from cvcuda_setup.errors import SourceError
from cvcuda_setup.sources.layout import CONTRIB, OPENCV, is_contrib_tree, is_opencv_tree

LOCAL_FORMS = (
    "a directory holding opencv/ (and opencv_contrib/ when the recipe needs contrib)",
    "an opencv source tree with an opencv_contrib sibling directory",
)


def locate(root: Path) -> tuple[Path, Path | None]:
    """The opencv tree and the opencv_contrib tree (None when absent) of a local source directory."""
    if is_opencv_tree(root / OPENCV):
        opencv = root / OPENCV
        contrib = root / CONTRIB
    elif is_opencv_tree(root):
        opencv = root
        contrib = root.parent / CONTRIB
    else:
        raise SourceError(
            f"local source {root} holds no OpenCV tree (no CMakeLists.txt with modules/core)",
            hint="pass " + " or ".join(LOCAL_FORMS),
        )
    return opencv, contrib if is_contrib_tree(contrib) else None


def local_trees(root: Path, *, need_contrib: bool) -> tuple[Path, Path | None]:
    """Like :func:`locate`, but a missing contrib tree the recipe needs is an error; read-only."""
    opencv, contrib = locate(root)
    if need_contrib and contrib is None:
        raise SourceError(
            f"local source {root} has no opencv_contrib tree, which this recipe needs",
            hint=f"put it at {opencv.parent / CONTRIB}",
        )
    return opencv, contrib if need_contrib else None
