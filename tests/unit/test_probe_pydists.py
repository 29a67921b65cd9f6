"""probe.pydists: opencv-* wheels (by name or by shipping cv2) are found; the build's own cv2 is not."""

from __future__ import annotations

import sys
from pathlib import Path

from cvcuda_setup.probe import pydists


def dist_info(site: Path, name: str, version: str, files: list[str], top_level: str | None = None) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))
    if top_level is not None:
        (info / "top_level.txt").write_text(top_level)


def test_known_names_and_cv2_shipping_dists_are_found(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    dist_info(site, "opencv-python-headless", "5.0.0.93", ["cv2/__init__.py", "cv2/cv2.abi3.so"])
    dist_info(site, "Opencv_Contrib_Python", "4.13.0.92", ["cv2/__init__.py"])
    dist_info(site, "my-cuda-opencv", "1.0", ["cv2/__init__.py", "cv2/config.py"])
    dist_info(site, "egg-style-cv", "0.1", [], top_level="cv2\n")
    dist_info(site, "numpy", "2.4.6", ["numpy/__init__.py"])
    found = pydists.find_shadowing([str(site)])
    assert [(d.name, d.version, d.reason) for d in found] == [
        ("egg-style-cv", "0.1", "installs cv2"),
        ("my-cuda-opencv", "1.0", "installs cv2"),
        ("opencv-contrib-python", "4.13.0.92", "name"),
        ("opencv-python-headless", "5.0.0.93", "name"),
    ]
    assert found[-1].location == str(site)


def test_a_bare_cv2_directory_is_not_a_distribution(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    (site / "cv2").mkdir(parents=True)  # what `cmake --install` of OpenCV leaves: no dist-info
    (site / "cv2" / "__init__.py").write_text("")
    assert pydists.find_shadowing([str(site)]) == []


def test_another_interpreter_is_asked_for_its_sys_path(tmp_path: Path) -> None:
    site = tmp_path / "extra"
    dist_info(site, "opencv-python", "4.12.0.88", ["cv2/__init__.py"])
    env_python = tmp_path / "python"
    env_python.write_text(f'#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} "$@"\n')
    env_python.chmod(0o755)
    found = pydists.shadowing_dists(str(env_python))
    assert found is not None
    assert ("opencv-python", "4.12.0.88") in [(d.name, d.version) for d in found]
    # only that interpreter sees the extra directory: this one's own view does not include it
    assert all(str(site) not in d.location for d in pydists.find_shadowing())


def test_an_interpreter_that_cannot_be_asked(tmp_path: Path) -> None:
    assert pydists.shadowing_dists(str(tmp_path / "no-python")) is None
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    assert pydists.shadowing_dists(str(broken)) is None
