"""Checks of the OpenCV (and contrib) source trees."""

from __future__ import annotations

from cvcuda_setup.doctor import compat
from cvcuda_setup.doctor.facts import Facts
from cvcuda_setup.doctor.findings import Finding


def check_sources(f: Facts) -> list[Finding]:
    if f.source_given is None:
        return []
    out: list[Finding] = []
    if f.opencv_tree is None or f.opencv_tree_version is None or f.opencv_tree_version.version is None:
        why = (
            f.opencv_tree_version.how
            if f.opencv_tree_version
            else "no modules/core/include/opencv2/core/version.hpp"
        )
        return [
            Finding(
                "error",
                "sources",
                f"{f.source_given} is not an opencv source tree ({why})",
                "give the opencv tree, or a directory holding opencv/ and opencv_contrib/",
                {"source": f.source_given},
                code="sources.not-opencv",
            )
        ]
    tree_version = f.opencv_tree_version.version
    out.append(
        Finding(
            "ok",
            "sources",
            f"opencv tree {f.opencv_tree}: OpenCV {tree_version} (version.hpp)",
            data={"path": f.opencv_tree, "version": tree_version},
            code="sources.opencv",
        )
    )
    requested = f.opencv_requested or f.opencv_version
    if compat.parse_version(tree_version) != compat.parse_version(requested):
        out.append(
            Finding(
                "warn",
                "sources",
                f"--opencv-version {requested} differs from the tree's {tree_version}; the checks use "
                f"{tree_version}",
                f"pass --opencv-version {tree_version}",
                {"requested": requested, "tree": tree_version},
                code="sources.version-differs",
            )
        )
    if f.contrib_tree is None:
        if f.needs.contrib:
            out.append(
                Finding(
                    "error",
                    "sources",
                    f"the recipe needs opencv_contrib, and none was found next to {f.opencv_tree}",
                    "give --contrib DIR, or put opencv_contrib/ next to opencv/",
                    code="sources.contrib-missing",
                )
            )
        return out
    cv = f.contrib_tree_version
    if cv is None or cv.version is None:
        out.append(
            Finding(
                "warn",
                "sources",
                f"the release of {f.contrib_tree} cannot be known: {cv.how if cv else 'not read'}",
                f"make sure it is opencv_contrib {tree_version} (git checkout {tree_version}); mixing "
                "releases "
                "fails in the CUDA modules",
                {"path": f.contrib_tree},
                code="sources.contrib-unknown",
            )
        )
    elif compat.parse_version(cv.version) != compat.parse_version(tree_version):
        out.append(
            Finding(
                "error",
                "sources",
                f"opencv is {tree_version} but opencv_contrib is {cv.version} ({cv.how}): mixed releases do "
                "not build",
                f"use opencv_contrib {tree_version} (e.g. git -C {f.contrib_tree} checkout {tree_version})",
                {"opencv": tree_version, "contrib": cv.version, "how": cv.how},
                code="sources.contrib-mismatch",
            )
        )
    else:
        out.append(
            Finding(
                "ok",
                "sources",
                f"opencv_contrib {cv.version} matches ({cv.how})",
                data={"contrib": cv.version, "how": cv.how},
                code="sources.contrib-match",
            )
        )
    return out
