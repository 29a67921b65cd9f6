"""doctor's cudacodec finding: what a recipe building cudacodec lacks without the Video Codec SDK headers."""

from __future__ import annotations

from pathlib import Path

from cvcuda_setup.doctor.codec import builds_cudacodec, check_codec, find_codec_headers
from cvcuda_setup.recipes import load_recipe


def test_seed_and_full_build_cudacodec_minimal_and_cpu_test_do_not() -> None:
    assert builds_cudacodec(load_recipe("seed")) and builds_cudacodec(load_recipe("full"))
    assert not builds_cudacodec(load_recipe("minimal")) and not builds_cudacodec(load_recipe("cpu-test"))


def test_missing_headers_give_one_warn_with_both_ways_to_get_them(tmp_path: Path) -> None:
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "nvEncodeAPI.h").write_text("// enc\n")
    headers = find_codec_headers(tmp_path)
    assert headers["nvEncodeAPI.h"] == tmp_path / "include" / "nvEncodeAPI.h"
    assert headers["nvcuvid.h"] is None
    (finding,) = check_codec(True, tmp_path, headers)
    assert finding.level == "warn" and finding.code == "cuda-libs.video-codec"
    assert "nvcuvid.h" in finding.message and "VideoReader" in finding.message
    assert "nvEncodeAPI.h" not in finding.data["missing"]
    assert (
        finding.fix is not None and "Video Codec SDK" in finding.fix and "libffmpeg-nvenc-dev" in finding.fix
    )


def test_headers_under_targets_count_and_no_finding_when_cudacodec_is_not_built(tmp_path: Path) -> None:
    inc = tmp_path / "targets" / "x86_64-linux" / "include"
    inc.mkdir(parents=True)
    for name in ("nvcuvid.h", "nvEncodeAPI.h"):
        (inc / name).write_text("//\n")
    headers = find_codec_headers(tmp_path)
    assert [f.level for f in check_codec(True, tmp_path, headers)] == ["ok"]
    assert check_codec(False, tmp_path, find_codec_headers(None)) == []
