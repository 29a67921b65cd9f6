"""The real package index: OpenCV 5.1.0 resolves to an opencv-contrib-python sdist (no download)."""

from __future__ import annotations

import socket

import pytest

from cvcuda_setup.sources import resolve_sdist

pytestmark = pytest.mark.network

REAL_SHA = "68e98c989685db112c28e7e921c783324cd3b14ffc0b188ae5ea59fbbfca9bfc"


@pytest.fixture(autouse=True)
def _needs_pypi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CVCUDA_SETUP_INDEX_URL", raising=False)
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError as exc:
        pytest.skip(f"pypi.org is not reachable from here: {exc}")


def test_pypi_resolves_opencv_5_1_0() -> None:
    release = resolve_sdist("5.1.0")
    assert release.index_url == "https://pypi.org/simple"
    major_minor_patch, number = release.version.rsplit(".", 1)
    assert major_minor_patch == "5.1.0" and int(number) >= 95
    assert release.file.filename == f"opencv_contrib_python-{release.version}.tar.gz"
    assert release.file.url.startswith("https://")
    assert len(release.sha256) == 64


def test_pypi_pinned_5_1_0_95_has_the_known_checksum_and_size() -> None:
    release = resolve_sdist("5.1.0", pin="5.1.0.95")
    assert release.file.filename == "opencv_contrib_python-5.1.0.95.tar.gz"
    assert release.sha256 == REAL_SHA
    assert release.file.size == 155_731_324
