"""The binary cache key: what changes the digest, what does not, and the key in ``build --dry-run --json``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_toolkit import install_fake_toolkit, write_nvcc
from typer.testing import CliRunner

from cvcuda_setup.arch import parse_arch
from cvcuda_setup.cachekey import (
    HOST_PATH_OPTIONS,
    PART_NAMES,
    SCHEMA,
    CacheKey,
    cache_key,
    canonical_json,
    digest_of,
    plugin_sources_digest,
    tree_source_sha256,
)
from cvcuda_setup.cli.app import app
from cvcuda_setup.errors import UsageError
from cvcuda_setup.model import BuildPlan, PythonInfo, Recipe, SourceSpec, SourceTree
from cvcuda_setup.plan import PlanInputs, make_plan
from cvcuda_setup.recipes import load_recipe
from cvcuda_setup.sources import known_sha256

REPO = Path(__file__).resolve().parents[2]
CODES = "sm_75 sm_80 sm_86 sm_89 sm_90 sm_100 sm_120".split()


def _python(root: str = "/opt/py", numpy: str = "2.2.0") -> PythonInfo:
    return PythonInfo(
        executable=Path(f"{root}/bin/python3.12"),
        version="3.12.3",
        include_dir=Path(f"{root}/include/python3.12"),
        library=Path(f"{root}/lib/libpython3.12.so"),
        numpy_include=Path(f"{root}/lib/python3.12/site-packages/numpy/_core/include"),
        numpy_version=numpy,
        site_packages=Path(f"{root}/lib/python3.12/site-packages"),
    )


def _plan(recipe: Recipe | None = None, **kw: Any) -> BuildPlan:
    recipe = recipe or load_recipe("minimal")
    base: dict[str, Any] = dict(
        recipe=recipe,
        arch=parse_arch("9.0"),
        source=SourceSpec(kind="sdist", location="", opencv_version="5.1.0"),
        source_dir=Path("/c/src/opencv"),
        contrib_dir=Path("/c/src/opencv_contrib"),
        build_dir=Path("/c/build"),
        prefix=Path("/opt/cv"),
        jobs=8,
        python=_python(),
        cuda_toolkit_root=Path("/usr/local/cuda-13.0"),
    )
    base.update(kw)
    return make_plan(PlanInputs(**base))


FACTS: dict[str, Any] = dict(
    source_sha256="a" * 64,
    cuda_toolkit="13.0.88",
    host_compiler="gcc 12.2.0",
    python_abi="cp312",
    libc="glibc 2.36",
    machine="x86_64",
    plugin_digest="b" * 64,
)


def _key(plan: BuildPlan | None = None, recipe: Recipe | None = None, **facts: Any) -> CacheKey:
    recipe = recipe or load_recipe("minimal")
    return cache_key(plan or _plan(recipe), recipe=recipe, **{**FACTS, **facts})


def test_digest_is_sha256_of_schema_and_canonical_json() -> None:
    parts = {"b": [1, "x"], "a": {"z": None, "y": True}}
    text = '{"a":{"y":true,"z":null},"b":[1,"x"]}'
    assert canonical_json(parts) == text
    assert digest_of(parts) == hashlib.sha256(f"{SCHEMA}\n{text}".encode()).hexdigest()


def test_digest_is_the_same_for_any_dict_order_and_every_run() -> None:
    key = _key()
    assert key.digest == _key().digest and len(key.digest) == 64
    reordered = {name: key.parts[name] for name in reversed(list(key.parts))}
    reordered["cmake_options"] = dict(reversed(list(key.parts["cmake_options"].items())))
    assert digest_of(reordered) == key.digest
    # the whole key again in another interpreter process, with another hash seed
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.pathsep.join([str(REPO), str(here)])}
    proc = subprocess.run(
        [sys.executable, "-c", "import test_cachekey as t; print(t._key().digest)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert proc.stdout.strip() == key.digest


def test_a_recipe_differing_only_in_option_order_has_the_same_key() -> None:
    recipe = load_recipe("minimal")
    shuffled = dataclasses.replace(recipe, cmake=tuple(reversed(recipe.cmake)))
    plan = _plan(recipe)
    assert _key(plan, shuffled).digest == _key(plan, recipe).digest


def _with_option(recipe: Recipe, name: str, value: bool) -> Recipe:
    return dataclasses.replace(recipe, cmake=tuple((n, value if n == name else v) for n, v in recipe.cmake))


CHANGES: dict[str, Callable[[], CacheKey]] = {
    "recipe option": lambda: _key(_plan(), _with_option(load_recipe("minimal"), "WITH_CUFFT", False)),
    "a -D define": lambda: _key(_plan(overrides=(("WITH_CUDNN", "ON"),))),
    "OpenCV version": lambda: _key(
        _plan(source=SourceSpec(kind="sdist", location="", opencv_version="5.0.0"))
    ),
    "source sha256": lambda: _key(source_sha256="c" * 64),
    "nvcc version": lambda: _key(cuda_toolkit="12.9.86"),
    "compiler version": lambda: _key(host_compiler="gcc 13.1.0"),
    "compiler kind": lambda: _key(host_compiler="clang 12.2.0"),
    "CXXFLAGS in the environment": lambda: _key(compiler_env={"CXXFLAGS": "-O3 -march=native"}),
    "arch bin": lambda: _key(_plan(arch=parse_arch("8.9"))),
    "arch ptx": lambda: _key(_plan(arch=parse_arch("9.0+PTX"))),
    "python ABI": lambda: _key(python_abi="cp313"),
    "numpy major": lambda: _key(_plan(python=_python(numpy="1.26.4"))),
    "libc": lambda: _key(libc="glibc 2.35"),
    "machine": lambda: _key(machine="aarch64"),
    "plugin sources": lambda: _key(plugin_digest="d" * 64),
    "no plugin": lambda: _key(plugin_digest=None),
    "plugin without its Python module": lambda: _key(plugin_python=False),
    "build type": lambda: _key(_plan(overrides=(("CMAKE_BUILD_TYPE", "Debug"),))),
    "tests built": lambda: _key(_plan(tests=("cuda",))),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_changing_one_part_changes_the_digest(change: str) -> None:
    base = _key()
    other = CHANGES[change]()
    assert other.digest != base.digest
    assert [n for n in PART_NAMES if other.parts[n] != base.parts[n]], change


def test_a_patch_byte_changes_the_digest_and_patch_order_counts(tmp_path: Path) -> None:
    one, two = tmp_path / "one.patch", tmp_path / "two.patch"
    one.write_text("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")
    two.write_text("--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+c\n")
    plain = _key(_plan())
    patched = _key(_plan(patches=(one, two)))
    assert patched.parts["patches"] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in (one, two)]
    assert patched.digest != plain.digest
    assert _key(_plan(patches=(two, one))).digest != patched.digest
    one.write_text(one.read_text().replace("+b", "+B"))
    assert _key(_plan(patches=(one, two))).digest != patched.digest


def test_given_patch_sums_are_used_and_their_count_is_checked(tmp_path: Path) -> None:
    patch = tmp_path / "p.patch"
    patch.write_text("x\n")
    plan = _plan(patches=(patch,))
    given = hashlib.sha256(b"x\n").hexdigest()
    assert _key(plan, patch_sha256=[given.upper()]).digest == _key(plan).digest
    with pytest.raises(UsageError, match="1 patch"):
        _key(plan, patch_sha256=[given, given])


def test_host_only_paths_do_not_change_the_digest_but_the_install_prefix_does() -> None:
    """Where the build, the caches, the toolkit and the interpreter live decides nothing; the install prefix
    does (OpenCV compiles it into libopencv_core), as its own part, not through cmake_options."""
    base = _key()
    elsewhere = dict(
        build_dir=Path("/scratch/build/minimal"),
        source_dir=Path("/other/cache/trees/opencv"),
        contrib_dir=Path("/other/cache/trees/opencv_contrib"),
        cuda_toolkit_root=Path("/opt/nvidia/cuda"),
        python=_python(root="/home/someone/.pyenv/versions/3.12.3"),
        launcher="/usr/bin/ccache",
        jobs=64,
    )
    moved = _key(_plan(**elsewhere))  # type: ignore[arg-type]
    assert moved.digest == base.digest
    assert not set(HOST_PATH_OPTIONS) & set(moved.parts["cmake_options"])
    assert "/home/someone" not in canonical_json(moved.parts)
    other_prefix = _key(_plan(prefix=Path("/home/someone/opt/opencv-cuda"), **elsewhere))  # type: ignore[arg-type]
    assert other_prefix.digest != base.digest
    assert other_prefix.parts["install_prefix"] == "/home/someone/opt/opencv-cuda"


def test_only_the_flag_variables_of_the_environment_count() -> None:
    base = _key()
    assert (
        _key(compiler_env={"PATH": "/somewhere/bin", "HOME": "/home/x", "CFLAGS": ""}).digest == base.digest
    )
    flags = _key(compiler_env={"CUDAFLAGS": "-lineinfo", "PATH": "/x"})
    assert flags.parts["compiler_env"] == {"CUDAFLAGS": "-lineinfo"}


def test_arch_is_normalized() -> None:
    explicit = _key(_plan(arch=parse_arch("9.0,8.9")))
    assert explicit.parts["arch"] == {"bin": ["8.9", "9.0"], "ptx": []}
    # the same targets found by --arch auto, listed the other way round: the same key
    auto = dataclasses.replace(parse_arch("8.9,9.0"), origin="auto", requested="auto")
    assert _key(_plan(arch=auto)).digest == explicit.digest


def test_unknown_parts_are_null_and_named() -> None:
    key = _key(source_sha256=None, cuda_toolkit=None)
    assert key.parts["source_sha256"] is None and not key.complete
    assert key.unknown == ("source_sha256", "cuda_toolkit")
    data = key.to_json()
    assert data["source_sha256_known"] is False and data["complete"] is False
    assert list(data["parts"]) == list(PART_NAMES) and data["digest"] == key.digest
    assert _key().complete and _key().to_json()["source_sha256_known"] is True


def test_facts_that_do_not_decide_the_build_are_dropped() -> None:
    recipe = dataclasses.replace(load_recipe("cpu-test"), python=False)
    plan = _plan(recipe, arch=parse_arch("9.0"), python=None, contrib_dir=None)
    with_nvcc = cache_key(plan, recipe=recipe, **{**FACTS, "plugin_digest": None})
    without = cache_key(plan, recipe=recipe, **{**FACTS, "plugin_digest": None, "cuda_toolkit": None})
    other_python = cache_key(plan, recipe=recipe, **{**FACTS, "plugin_digest": None, "python_abi": "cp39"})
    assert with_nvcc.parts["cuda_toolkit"] is None and with_nvcc.parts["python_abi"] is None
    assert with_nvcc.digest == without.digest == other_python.digest and without.complete
    # the plugin is CUDA code with a Python module: then the toolkit and the interpreter count again
    plugged = cache_key(plan, recipe=recipe, **FACTS)
    assert plugged.parts["cuda_toolkit"] == "13.0.88" and plugged.parts["python_abi"] == "cp312"


def test_plugin_digest_hashes_relative_paths_and_every_byte(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "native", tmp_path / "elsewhere" / "native"
    shutil.copytree(REPO / "native", a)
    shutil.copytree(REPO / "native", b)
    assert plugin_sources_digest(a) == plugin_sources_digest(b) == plugin_sources_digest(REPO / "native")
    (b / "python" / "cvcuda_zerocopy" / "__pycache__").mkdir(exist_ok=True)
    (b / "python" / "cvcuda_zerocopy" / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(b"\0")
    assert plugin_sources_digest(b) == plugin_sources_digest(a)  # Python's own caches are no sources
    source = b / "src" / "pool.cpp"
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0x01
    source.write_bytes(bytes(data))
    assert plugin_sources_digest(b) != plugin_sources_digest(a)
    (a / "src" / "pool.cpp").rename(a / "src" / "pool2.cpp")
    assert plugin_sources_digest(a) != plugin_sources_digest(REPO / "native")


def test_the_default_plugin_sources_are_the_packages() -> None:
    assert plugin_sources_digest() == plugin_sources_digest(REPO / "native")


def test_source_identity_before_and_after_fetch(tmp_path: Path) -> None:
    archive = tmp_path / "opencv-5.1.0.tar.gz"
    archive.write_bytes(b"not really an archive")
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert known_sha256(SourceSpec("tarball", str(archive), "5.1.0")) == sha
    assert known_sha256(SourceSpec("sdist", "", "5.1.0")) is None
    assert known_sha256(SourceSpec("sdist", "", "5.1.0", sha256="e" * 64)) == "e" * 64
    assert known_sha256(SourceSpec("git", "", "5.1.0")) is None
    assert known_sha256(SourceSpec("local", str(tmp_path), "5.1.0")) is None
    spec = SourceSpec("git", "", "4.x")
    tree = SourceTree(
        spec, tmp_path, None, "4.13.0", commits={"opencv_contrib": "2" * 40, "opencv": "1" * 40}
    )
    assert tree_source_sha256(tree) == f"git opencv={'1' * 40} opencv_contrib={'2' * 40}"
    assert tree_source_sha256(dataclasses.replace(tree, commits=None, sha256=sha)) == sha
    assert tree_source_sha256(dataclasses.replace(tree, commits=None)) is None


def test_host_tells_libc_machine_and_this_python_abi() -> None:
    import sysconfig

    from cvcuda_setup.host import Host

    host = Host()
    expected = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    if expected:
        assert host.libc == expected.lower()
    assert host.machine == os.uname().machine
    if sys.implementation.name == "cpython":
        v = sys.version_info
        gil = "t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""
        assert host.python_abi == f"cp{v.major}{v.minor}{gil}"


def _interpreter(path: Path, implementation: str, version: str, suffix: str, gil_disabled: bool) -> str:
    """An executable answering the interpreter probe's script like ``implementation`` would."""
    answer = {
        "executable": str(path),
        "version": version,
        "implementation": implementation,
        "ext_suffix": suffix,
        "platform": "linux-x86_64",
        "gil_disabled": gil_disabled,
        "include_dir": "/x/include",
        "site_packages": "/x/site-packages",
    }
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(answer)}\nEOF\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(
    ("implementation", "version", "suffix", "gil_disabled", "abi"),
    [
        ("cpython", "3.13.1", ".cpython-313t-x86_64-linux-gnu.so", True, "cp313t"),
        ("cpython", "3.10.12", ".cpython-310-x86_64-linux-gnu.so", False, "cp310"),
        ("pypy", "3.10.14", ".pypy310-pp73-x86_64-linux-gnu.so", False, "pypy310-pp73-x86_64-linux-gnu"),
    ],
)
def test_python_abi_of_another_interpreter(
    tmp_path: Path, implementation: str, version: str, suffix: str, gil_disabled: bool, abi: str
) -> None:
    from cvcuda_setup.host import Host

    exe = _interpreter(tmp_path / "python", implementation, version, suffix, gil_disabled)
    assert Host(python_request=exe).python_abi == abi
    assert Host(python_request=str(tmp_path / "missing")).python_abi is None


# -- the key in `build --dry-run --json` (nvcc faked at the process edge) -----------------------------------


@pytest.fixture()
def fake_nvcc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return install_fake_toolkit(tmp_path, monkeypatch, CODES)


def _dry_run(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["build", "--dry-run", "--json", *args])
    assert result.exit_code == 0, result.stderr
    key = json.loads(result.stdout)["cache_key"]
    assert isinstance(key, dict)
    return key


def test_dry_run_json_carries_the_key(fake_nvcc: Path, tmp_path: Path) -> None:
    key = _dry_run("--recipe", "minimal", "--arch", "9.0", "--prefix", str(tmp_path / "p1"))
    assert key["schema"] == SCHEMA and len(key["digest"]) == 64
    assert list(key["parts"]) == list(PART_NAMES)
    assert key["parts"]["cuda_toolkit"] == "13.0.88" and key["parts"]["arch"] == {"bin": ["9.0"], "ptx": []}
    # an sdist's sha256 is only known once the index is asked: a dry run asks nothing
    assert key["parts"]["source_sha256"] is None and key["source_sha256_known"] is False
    assert "source_sha256" in key["unknown"] and key["complete"] is False
    assert key["parts"]["plugin"]["sources"] == plugin_sources_digest()
    assert digest_of(key["parts"]) == key["digest"]
    # the one host path in the key is the install prefix (compiled into libopencv_core)
    assert key["parts"]["install_prefix"] == str(tmp_path / "p1")
    assert str(tmp_path) not in json.dumps({k: v for k, v in key["parts"].items() if k != "install_prefix"})


def test_dry_run_key_ignores_host_paths_and_follows_the_build(
    fake_nvcc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ("--recipe", "minimal", "--arch", "9.0")
    one = _dry_run(*base, "--prefix", str(tmp_path / "p1"), "--build-dir", str(tmp_path / "b1"))
    two = _dry_run(*base, "--prefix", str(tmp_path / "p1"), "--build-dir", str(tmp_path / "b2"))
    assert one["digest"] == two["digest"]
    assert _dry_run(*base, "--prefix", str(tmp_path / "p2"))["digest"] != one["digest"]
    assert _dry_run(*base, "-D", "WITH_CUDNN=ON")["digest"] != one["digest"]
    assert _dry_run("--recipe", "minimal", "--arch", "8.9")["digest"] != one["digest"]
    assert _dry_run(*base, "--no-plugin")["parts"]["plugin"] is None
    monkeypatch.setenv("CXXFLAGS", "-O3 -march=native")
    flagged = _dry_run(*base)
    assert flagged["parts"]["compiler_env"]["CXXFLAGS"] == "-O3 -march=native"
    assert flagged["digest"] != one["digest"]
    monkeypatch.delenv("CXXFLAGS")
    write_nvcc(tmp_path / "cuda", version="13.0", patch="48", codes=CODES)  # another nvcc 13.0 release
    other = _dry_run(*base, "--prefix", str(tmp_path / "p1"), "--build-dir", str(tmp_path / "b1"))
    assert other["parts"]["cuda_toolkit"] == "13.0.48" and other["digest"] != one["digest"]


def test_dry_run_of_a_local_archive_knows_its_sha256(fake_nvcc: Path, tmp_path: Path) -> None:
    archive = tmp_path / "opencv-5.1.0.tar.gz"
    archive.write_bytes(b"an archive a dry run only hashes")
    key = _dry_run("--recipe", "cpu-test", "--source", str(archive), "--no-plugin")
    assert key["parts"]["source_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert key["source_sha256_known"] is True
    assert key["parts"]["cuda_toolkit"] is None  # CPU-only OpenCV and no plugin: the toolkit decides nothing
