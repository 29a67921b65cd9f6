"""wheel.archive: RECORD hashes and sizes, METADATA/WHEEL text, and the zip written deterministically."""

from __future__ import annotations

import base64
import hashlib
import stat
import zipfile
from pathlib import Path

import pytest

from cvcuda_setup.wheel import archive

DIST_INFO = "opencv_cuda-5.1.0+cpu.dist-info"


def test_record_hash_is_urlsafe_base64_sha256_without_padding() -> None:
    # sha256 of nothing, as pip and the wheel spec write it
    assert archive.record_hash(b"") == "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
    data = bytes(range(256)) * 3
    expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    assert archive.record_hash(data) == "sha256=" + expected
    assert "=" not in archive.record_hash(data).removeprefix("sha256=")


def test_record_lists_each_file_with_hash_and_size_and_itself_last() -> None:
    files = {"cv2/b.py": b"bb", "cv2/a,comma.py": b"a", f"{DIST_INFO}/WHEEL": b"w"}
    text = archive.record_text(files, f"{DIST_INFO}/RECORD")
    rows = archive.parse_record(text)
    assert rows[-1] == (f"{DIST_INFO}/RECORD", "", "")
    assert [r[0] for r in rows[:-1]] == sorted(files)
    assert ("cv2/b.py", archive.record_hash(b"bb"), "2") in rows
    assert '"cv2/a,comma.py"' in text  # csv quoting for a comma in a path


def test_metadata_and_wheel_text() -> None:
    meta = archive.Metadata(
        name="opencv-cuda",
        version="5.1.0+cu130.sm90",
        summary="OpenCV 5.1.0 (cv2) built with CUDA 13.0",
        requires_python="==3.12.*",
        requires_dist=("numpy>=2",),
        description="# opencv-cuda\n\nbody\n",
    )
    text = archive.metadata_text(meta)
    head, _, body = text.partition("\n\n")
    assert "Metadata-Version: 2.1" in head
    assert "Name: opencv-cuda\nVersion: 5.1.0+cu130.sm90\n" in head
    assert "Requires-Dist: numpy>=2" in head
    assert "Requires-Python: ==3.12.*" in head
    assert "Provides-Dist" not in text  # it is not opencv-python
    assert body.startswith("# opencv-cuda")
    wheel = archive.wheel_text("cp312-cp312-linux_x86_64")
    assert "Root-Is-Purelib: false\n" in wheel and "Tag: cp312-cp312-linux_x86_64\n" in wheel


def write(tmp_path: Path, name: str = "x.whl") -> Path:
    files = {
        "cv2/__init__.py": b"# init\n",
        "cv2/python-3.12/libopencv_core.so.501": b"\x7fELF fake",
        f"{DIST_INFO}/METADATA": b"Metadata-Version: 2.1\n",
        f"{DIST_INFO}/WHEEL": b"Wheel-Version: 1.0\n",
    }
    path = tmp_path / name
    archive.write_wheel(path, files, ["cv2/python-3.12/libopencv_core.so.501"], DIST_INFO)
    return path


def test_written_wheel_has_a_correct_record_modes_and_dist_info_last(tmp_path: Path) -> None:
    path = write(tmp_path)
    assert archive.check_wheel(path) == []
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[-1] == f"{DIST_INFO}/RECORD"
        assert names.index(f"{DIST_INFO}/METADATA") > names.index("cv2/python-3.12/libopencv_core.so.501")
        lib_mode = zf.getinfo("cv2/python-3.12/libopencv_core.so.501").external_attr >> 16
        py_mode = zf.getinfo("cv2/__init__.py").external_attr >> 16
    assert stat.S_IMODE(lib_mode) == 0o755 and stat.S_ISREG(lib_mode)
    assert stat.S_IMODE(py_mode) == 0o644
    assert not (tmp_path / "x.whl.part").exists()


def test_same_inputs_give_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert write(tmp_path, "a.whl").read_bytes() == write(tmp_path, "b.whl").read_bytes()


def test_check_wheel_finds_a_tampered_or_incomplete_record(tmp_path: Path) -> None:
    good = write(tmp_path)
    bad = tmp_path / "bad.whl"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info, b"# changed\n" if info.filename == "cv2/__init__.py" else data)
        dst.writestr("cv2/extra.py", b"")
    problems = archive.check_wheel(bad)
    assert any(p.startswith("cv2/__init__.py: hash") for p in problems)
    assert any(p.startswith("cv2/__init__.py: size") for p in problems)
    assert "cv2/extra.py is not in RECORD" in problems


def test_record_cannot_be_passed_in(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="written by write_wheel"):
        archive.write_wheel(tmp_path / "x.whl", {f"{DIST_INFO}/RECORD": b""}, [], DIST_INFO)
