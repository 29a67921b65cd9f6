"""The binary cache against a real registry (Debian's docker-registry, one per test on a free port): a prefix
pushed under its cache key, pulled into another prefix (paths rewritten), a miss on any other key, a
corrupted blob refused with nothing installed, the registry down (the build falls back and says so), a
prefix that is not the tool's never overwritten."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cvcuda_setup import binarycache
from cvcuda_setup.cachekey import CacheKey
from cvcuda_setup.errors import CvCudaSetupError, UsageError
from cvcuda_setup.manifest import read_manifest
from cvcuda_setup.model import BuildPlan
from cvcuda_setup.oci.errors import DigestMismatch
from cvcuda_setup.oci.ref import parse_ref
from cvcuda_setup.pipeline import cached
from tests.conftest import free_port
from tests.unit.oci_registry import Registry, start_registry
from tests.unit.test_prefixpack import PC, make_prefix

PARTS = {"opencv_version": "5.1.0", "recipe": {"name": "minimal"}, "arch": "9.0", "cuda_toolkit": "13.0"}


def _key(parts: dict[str, object] = PARTS) -> CacheKey:
    from cvcuda_setup.cachekey import digest_of

    return CacheKey(parts=parts, digest=digest_of(parts))


KEY = _key()


@pytest.fixture()
def registry(tmp_path: Path) -> Iterator[Registry]:
    with start_registry(tmp_path / "registry") as reg:
        yield reg


def _repo(reg: Registry) -> binarycache.OciRef:
    return binarycache.cache_ref(f"oci://{reg.address}/cvcuda/opencv-cuda")


class _Plan:
    """The one field of a BuildPlan the cache glue reads."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix


def _plan(prefix: Path) -> BuildPlan:
    return _Plan(prefix)  # type: ignore[return-value]


pytestmark = pytest.mark.registry


def test_push_then_pull_into_another_prefix(registry: Registry, tmp_path: Path) -> None:
    built = make_prefix(tmp_path / "built", cache_key=KEY.to_json())
    pushed = binarycache.push_prefix(built, _repo(registry))
    assert pushed.ref.endswith(":ck-" + KEY.digest) and pushed.size > 0

    ref = binarycache.lookup(_repo(registry), KEY.digest)
    assert ref is not None
    target = tmp_path / "elsewhere" / "opencv-cuda"
    pulled = binarycache.pull_prefix(ref, target, key_digest=KEY.digest)
    assert pulled.relocated
    assert f"prefix={target}\n" in (target / PC).read_text()
    manifest = read_manifest(target)
    assert manifest is not None and manifest.prefix == str(target)
    assert manifest.cache_key is not None and manifest.cache_key["digest"] == KEY.digest

    entries = binarycache.list_entries(_repo(registry))
    assert [e.key for e in entries] == [KEY.digest]
    assert entries[0].parts["opencv_version"] == "5.1.0" and entries[0].prefix == str(built)


def test_any_other_key_is_a_miss_and_the_build_goes_on(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = make_prefix(tmp_path / "built", cache_key=KEY.to_json())
    binarycache.push_prefix(built, _repo(registry))
    other = _key({**PARTS, "arch": "8.9"})
    assert binarycache.lookup(_repo(registry), other.digest) is None
    assert not cached.install_from_cache(_repo(registry), _plan(tmp_path / "new"), other, force=False)
    assert "no binary for key" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_a_corrupted_blob_is_refused_and_nothing_is_installed(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = make_prefix(tmp_path / "built", cache_key=KEY.to_json())
    binarycache.push_prefix(built, _repo(registry))
    ref = binarycache.lookup(_repo(registry), KEY.digest)
    assert ref is not None
    from cvcuda_setup.oci.client import RegistryClient

    manifest, _ = RegistryClient.for_ref(ref, timeout=10).get_manifest(ref.repository, ref.tag)
    blob = registry.blob_file(manifest["layers"][0]["digest"])
    blob.write_bytes(b"\0" * blob.stat().st_size)
    target = tmp_path / "target"
    with pytest.raises(DigestMismatch):
        binarycache.pull_prefix(ref, target, key_digest=KEY.digest)
    assert not target.exists()
    assert not cached.install_from_cache(_repo(registry), _plan(target), KEY, force=False)
    assert "building instead" in capsys.readouterr().err
    assert not target.exists()


def test_registry_down_falls_back_to_building_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    down = binarycache.cache_ref(f"oci://127.0.0.1:{free_port()}/cvcuda/opencv-cuda")
    assert not cached.install_from_cache(down, _plan(tmp_path / "p"), KEY, force=False)
    err = capsys.readouterr().err
    assert "unavailable" in err and "building instead" in err
    built = make_prefix(tmp_path / "built", cache_key=KEY.to_json())
    cached.push_to_cache(down, _plan(built), KEY)  # the build succeeded: a failed push only warns
    assert "not pushed" in capsys.readouterr().err


def test_a_prefix_that_is_not_the_tools_is_never_overwritten(registry: Registry, tmp_path: Path) -> None:
    built = make_prefix(tmp_path / "built", cache_key=KEY.to_json())
    binarycache.push_prefix(built, _repo(registry))
    ref = binarycache.lookup(_repo(registry), KEY.digest)
    assert ref is not None
    theirs = tmp_path / "theirs"
    (theirs / "lib").mkdir(parents=True)
    (theirs / "lib" / "mine.so").write_bytes(b"user data")
    with pytest.raises(CvCudaSetupError):
        binarycache.pull_prefix(ref, theirs, key_digest=KEY.digest)
    assert sorted(p.name for p in theirs.rglob("*")) == ["lib", "mine.so"]
    assert (theirs / "lib" / "mine.so").read_bytes() == b"user data"


def test_a_prefix_without_a_complete_key_is_not_pushed(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        binarycache.recorded_key(tmp_path / "nothing-here")
    without = make_prefix(tmp_path / "old")
    with pytest.raises(UsageError, match="records no cache key"):
        binarycache.recorded_key(without)
    incomplete = {**KEY.to_json(), "complete": False, "unknown": ["source_sha256"]}
    partial = make_prefix(tmp_path / "partial", cache_key=incomplete)
    with pytest.raises(UsageError, match="source_sha256 unknown"):
        binarycache.recorded_key(partial)


@pytest.mark.parametrize("bad", ["oci://localhost:5000/repo:v1", "http://x/y", "oci://"])
def test_a_cache_reference_with_a_tag_or_another_scheme_is_refused(bad: str) -> None:
    with pytest.raises(UsageError):
        binarycache.cache_ref(bad)


def test_a_key_that_is_not_a_digest_is_refused() -> None:
    with pytest.raises(UsageError, match="not 64 hex digits"):
        binarycache.tag_for("abc")
    assert binarycache.tag_for(hashlib.sha256(b"x").hexdigest()).startswith("ck-")


def test_cache_pull_without_a_key_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cvcuda_setup.cli.app import main

    monkeypatch.setattr(sys, "argv", ["cvcuda-setup", "cache", "pull", "oci://localhost:5000/r"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "--key" in err[0]


def test_ls_writes_the_arch_as_build_takes_it_and_names_the_cache_without_a_tag() -> None:
    assert binarycache.arch_text({"bin": ["8.9", "9.0"], "ptx": ["9.0"]}) == "8.9,9.0+PTX"
    assert binarycache.arch_text({"bin": [], "ptx": []}) == "-"
    assert parse_ref("oci://127.0.0.1:5055/cvcuda/x").repository_url == "oci://127.0.0.1:5055/cvcuda/x"
    assert str(parse_ref("oci://127.0.0.1:5055/cvcuda/x:v1")) == "oci://127.0.0.1:5055/cvcuda/x:v1"


def test_cache_pull_into_a_file_is_refused_before_the_registry_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cvcuda_setup.cli.app import main

    afile = tmp_path / "afile"
    afile.write_text("mine")
    down = f"oci://127.0.0.1:{free_port()}/r"
    monkeypatch.setattr(
        sys, "argv", ["cvcuda-setup", "cache", "pull", down, "--key", "a" * 64, "--prefix", str(afile)]
    )
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "is a file" in err[0]
    assert afile.read_text() == "mine"
