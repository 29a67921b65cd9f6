"""``cmake.execute`` end to end against fake ``cmake``/``ninja`` executables (the process boundary only).

The fakes behave like the real tools where the executor depends on it: cmake keeps its cache between runs
(old -D values persist), refuses a cache made for another source dir, prints OpenCV's configuration
summary and installs under ``$DESTDIR<prefix>``; ninja prints ``NINJA_STATUS`` lines, builds nothing when
nothing changed, and fails with given log text.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from cvcuda_setup import builddir
from cvcuda_setup import cmake as cm
from cvcuda_setup.errors import InstallError, SourceError, UsageError
from cvcuda_setup.manifest import SCHEMA, read_manifest
from cvcuda_setup.model import ArchSelection, BuildPlan, PythonInfo, Recipe, SourceSpec, SourceTree
from cvcuda_setup.plan import PlanInputs, make_plan

FAKE_CMAKE = r"""
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
if os.environ.get("FAKE_CALLS"):
    with open(os.environ["FAKE_CALLS"], "a") as fh:
        fh.write(json.dumps({"tool": "cmake", "args": args, "destdir": os.environ.get("DESTDIR")}) + "\n")

def read_cache(build):
    out = {}
    path = build / "CMakeCache.txt"
    if path.is_file():
        for line in path.read_text().splitlines():
            if line and not line.startswith(("#", "//")) and ":" in line and "=" in line:
                key, rest = line.split(":", 1)
                out[key] = rest.split("=", 1)[1]
    return out

def fail_with(var):
    text = os.environ.get(var)
    if text:
        print(Path(text).read_text(), end="")
        sys.exit(1)

if args[0] == "--install":
    build = Path(args[1])
    cache = read_cache(build)
    fail_with("FAKE_INSTALL_FAIL")
    root = Path(os.environ.get("DESTDIR", "/")) / cache["CMAKE_INSTALL_PREFIX"].lstrip("/")
    print('-- Install configuration: "Release"')
    files = ["lib/libopencv_core.so.5.1.0", "lib/cmake/opencv5/OpenCVConfig.cmake",
             "include/opencv5/opencv2/core.hpp", "bin/setup_vars_opencv5.sh"]
    if cache.get("BUILD_opencv_python3") == "ON" and not os.environ.get("FAKE_NO_CV2"):
        files += ["lib/python3.11/site-packages/cv2/__init__.py",
                  "lib/python3.11/site-packages/cv2/python-3.11/cv2.cpython-311-x86_64-linux-gnu.so"]
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("built by fake cmake\n")
        print(f"-- Installing: {root / rel}")
    if os.environ.get("FAKE_INSTALL_OUTSIDE"):
        stray = Path(os.environ["DESTDIR"]) / "usr/lib/python3/dist-packages/cv2.so"
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_text("x")
    sys.exit(0)

source = Path(args[args.index("-S") + 1])
build = Path(args[args.index("-B") + 1])
defs = dict(a[2:].split("=", 1) for a in args if a.startswith("-D"))
build.mkdir(parents=True, exist_ok=True)
cache = read_cache(build)
home = cache.get("CMAKE_HOME_DIRECTORY")
if home and home != str(source):
    print(f'CMake Error: The source "{source}/CMakeLists.txt" does not match the source '
          f'"{home}/CMakeLists.txt" '
          "used to generate cache.  Re-run cmake with a different source directory.")
    sys.exit(1)
cache.update(defs)
cache.update({"CMAKE_HOME_DIRECTORY": str(source), "CMAKE_CXX_COMPILER": "/usr/bin/c++",
              "CMAKE_CACHE_MAJOR_VERSION": "3", "CMAKE_CACHE_MINOR_VERSION": "30",
              "CMAKE_CACHE_PATCH_VERSION": "2"})
if cache.get("WITH_CUDA") == "ON":
    cache["CUDA_VERSION"] = "13.0"
(build / "CMakeCache.txt").write_text("# fake\n" + "".join(f"{k}:STRING={v}\n" for k, v in cache.items()))
fail_with("FAKE_CMAKE_FAIL")
cfiles = build / "CMakeFiles" / "3.30.2"
cfiles.mkdir(parents=True, exist_ok=True)
(cfiles / "CMakeCXXCompiler.cmake").write_text(
    'set(CMAKE_CXX_COMPILER "/usr/bin/c++")\nset(CMAKE_CXX_COMPILER_ID "GNU")\n'
    'set(CMAKE_CXX_COMPILER_VERSION "12.2.0")\n')
(build / "build.ninja").write_text("# fake\n")
drop = set(os.environ.get("FAKE_DROP_MODULES", "").split(","))
mods = sorted(m for m in cache.get("BUILD_LIST", "").split(",")
              if m and not m.endswith("_bindings_generator") and m not in drop)
print("-- The CXX compiler identification is GNU 12.2.0")
print("-- ")
print("-- General configuration for OpenCV 5.1.0 =====================================")
print("--   OpenCV modules:")
print(f"--     To be built:                 {' '.join(mods)}")
print("--     Disabled:                    world")
print(f"--     Disabled by dependency:      {' '.join(sorted(drop - {''}))}")
print("--     Unavailable:                 java ts")
if cache.get("WITH_CUDA") == "ON":
    print("-- ")
    if os.environ.get("FAKE_NO_CUDA"):
        print("--   NVIDIA CUDA:                   NO")
    else:
        print("--   NVIDIA CUDA:                   YES (ver 13.0, CUFFT CUBLAS)")
        print(f"--     NVIDIA GPU arch:             {cache.get('CUDA_ARCH_BIN', '').replace('.', '')}")
        print(f"--     NVIDIA PTX archs:            {cache.get('CUDA_ARCH_PTX', '').replace('.', '')}")
if cache.get("BUILD_opencv_python3") == "ON":
    print("-- ")
    print("--   Python 3:")
    print(f"--     Interpreter:                 {cache.get('PYTHON3_EXECUTABLE')} (ver 3.11.7)")
    print("--     install path:                lib/python3.11/site-packages/cv2/python-3.11")
print("-- ")
print(f"--   Install to:                    {cache['CMAKE_INSTALL_PREFIX']}")
print("-- -----------------------------------------------------------------")
print("-- Configuring done")
"""

FAKE_NINJA = r"""
import json, os, sys, time
from pathlib import Path

args = sys.argv[1:]
build = Path(args[args.index("-C") + 1])
if os.environ.get("FAKE_CALLS"):
    with open(os.environ["FAKE_CALLS"], "a") as fh:
        fh.write(json.dumps({"tool": "ninja", "args": args, "status": os.environ.get("NINJA_STATUS")}) + "\n")
if os.environ.get("FAKE_NINJA_PIDFILE"):
    Path(os.environ["FAKE_NINJA_PIDFILE"]).write_text(str(os.getpid()))
stamp = build / ".fake_built"
if stamp.is_file() and stamp.stat().st_mtime_ns >= (build / "CMakeCache.txt").stat().st_mtime_ns:
    print("ninja: no work to do.")
    sys.exit(0)
status = os.environ.get("NINJA_STATUS", "[%f/%t] ")
total = int(os.environ.get("FAKE_STEPS", "40"))
fail_at = int(os.environ.get("FAKE_NINJA_FAIL_AT", "0"))
for i in range(1, total + 1):
    prefix = status.replace("%f", str(i)).replace("%t", str(total))
    print(f"{prefix}Building CXX object modules/core/CMakeFiles/opencv_core.dir/src/f{i}.cpp.o", flush=True)
    if os.environ.get("FAKE_NINJA_SLEEP"):
        time.sleep(float(os.environ["FAKE_NINJA_SLEEP"]))
    if i == fail_at:
        print(f"FAILED: modules/core/CMakeFiles/opencv_core.dir/src/f{i}.cpp.o")
        print(f"/usr/bin/c++ -O2 -c /src/modules/core/src/f{i}.cpp -o f{i}.cpp.o")
        print(Path(os.environ["FAKE_NINJA_FAIL"]).read_text(), end="")
        print("ninja: build stopped: subcommand failed.")
        sys.exit(1)
stamp.write_text("built\n")
"""


def _write_tool(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class Fakes:
    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        self.cmake = _write_tool(self.bin / "cmake", FAKE_CMAKE)
        self.ninja = _write_tool(self.bin / "ninja", FAKE_NINJA)
        self.calls_file = root / "calls.jsonl"
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("FAKE_CALLS", str(self.calls_file))
        for var in (
            "FAKE_CMAKE_FAIL",
            "FAKE_INSTALL_FAIL",
            "FAKE_NINJA_FAIL",
            "FAKE_NINJA_FAIL_AT",
            "FAKE_NO_CV2",
        ):
            monkeypatch.delenv(var, raising=False)

    def calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        if not self.calls_file.is_file():
            return []
        rows = [json.loads(line) for line in self.calls_file.read_text().splitlines()]
        return [r for r in rows if tool is None or r["tool"] == tool]

    def log_text(self, name: str, text: str) -> Path:
        path = self.root / f"{name}.txt"
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def fail_build(self, text: str, at: int = 5) -> None:
        self.monkeypatch.setenv("FAKE_NINJA_FAIL", str(self.log_text("ninja-fail", text)))
        self.monkeypatch.setenv("FAKE_NINJA_FAIL_AT", str(at))


@pytest.fixture()
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    return Fakes(tmp_path, monkeypatch)


def make_tree(root: Path, name: str = "tarball-abc") -> SourceTree:
    """A source tree laid out like the cache's (with its completion marker)."""
    tree = root / "cache" / "trees" / name
    (tree / "opencv" / "modules" / "core" / "src").mkdir(parents=True)
    (tree / "opencv" / "CMakeLists.txt").write_text("project(OpenCV)\n")
    (tree / "opencv" / "modules" / "core" / "src" / "a.cpp").write_text("int a() { return 1; }\n")
    (tree / ".cvcuda-setup-tree.json").write_text(json.dumps({"complete": True, "kind": "tarball"}))
    spec = SourceSpec(
        kind="tarball", location=str(root / "x.tar.gz"), opencv_version="5.1.0", sha256="ab" * 32
    )
    return SourceTree(
        spec=spec, opencv_dir=tree / "opencv", contrib_dir=None, opencv_version="5.1.0", sha256="ab" * 32
    )


def make_recipe(*, cuda: bool = False, python: bool = True) -> Recipe:
    cmake: tuple[tuple[str, str | bool | int], ...] = (("WITH_CUDA", cuda), ("BUILD_TESTS", False))
    return Recipe(
        name="unit",
        description="unit test recipe",
        path=Path("/recipes/unit.toml"),
        modules=("core", "imgproc"),
        contrib=False,
        cuda=cuda,
        python=python,
        build_type="Release",
        cmake=cmake,
    )


def python_info() -> PythonInfo:
    return PythonInfo(
        executable=Path(sys.executable),
        version="3.11.7",
        include_dir=Path("/usr/include/python3.11"),
        library=None,
        numpy_include=Path("/np/include"),
        numpy_version="2.0.0",
        site_packages=Path("/site"),
    )


def make(
    fakes: Any,  # Fakes, or the interrupt driver's stand-in with root/cmake/ninja
    tree: SourceTree,
    *,
    prefix: Path | None = None,
    overrides: tuple[tuple[str, str], ...] = (),
    cuda: bool = False,
    python: bool = True,
    patches: tuple[Path, ...] = (),
    jobs: int = 2,
) -> BuildPlan:
    arch = (
        ArchSelection(bin=("9.0",), ptx=("9.0",), origin="explicit")
        if cuda
        else ArchSelection((), (), "none")
    )
    return make_plan(
        PlanInputs(
            recipe=make_recipe(cuda=cuda, python=python),
            arch=arch,
            source=tree.spec,
            source_dir=tree.opencv_dir,
            contrib_dir=None,
            build_dir=fakes.root / "build",
            prefix=prefix or fakes.root / "opt" / "cv",
            jobs=jobs,
            python=python_info() if python else None,
            overrides=overrides,
            patches=patches,
            cmake=str(fakes.cmake),
            ninja=str(fakes.ninja),
        )
    )


def leftovers(parent: Path) -> list[str]:
    return sorted(
        p.name for p in parent.iterdir() if "cvcuda-setup-staging" in p.name or "cvcuda-setup-old" in p.name
    )


def test_execute_configures_builds_installs_and_writes_the_manifest(
    fakes: Fakes, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = make_tree(fakes.root)
    plan = make(fakes, tree)
    manifest = cm.execute(plan, tree)

    prefix = plan.prefix
    assert (prefix / "lib" / "libopencv_core.so.5.1.0").is_file()
    assert leftovers(prefix.parent) == []
    on_disk = read_manifest(prefix)
    assert on_disk is not None and on_disk.to_json() == manifest.to_json()
    data = json.loads((prefix / "share" / "cvcuda-setup" / "manifest.json").read_text())
    assert data["schema"] == SCHEMA
    assert data["recipe"]["name"] == "unit" and data["recipe"]["cuda"] is False
    assert (
        data["cmake_options"]["BUILD_LIST"] == "core,imgproc,geometry,flann,python3,python_bindings_generator"
    )
    assert data["toolchain"]["cxx_compiler"] == "/usr/bin/c++"
    assert data["toolchain"]["cxx_compiler_version"] == "12.2.0"
    assert data["toolchain"]["cxx_compiler_id"] == "GNU"
    assert data["source"] == {
        "kind": "tarball",
        "location": str(fakes.root / "x.tar.gz"),
        "sha256": "ab" * 32,
        "opencv_version": "5.1.0",
        "opencv_dir": str(tree.opencv_dir),
        "contrib_dir": None,
        "pruned": False,
        "commits": None,
    }
    assert data["python"]["module_dir"] == str(prefix / "lib/python3.11/site-packages/cv2")
    assert data["summary"]["modules_built"] == ["core", "flann", "geometry", "imgproc", "python3"]
    assert data["summary"]["python_install_path"] == "lib/python3.11/site-packages/cv2/python-3.11"
    assert all(isinstance(data["durations"][k], float) for k in ("configure", "build", "install"))
    for name in ("configure", "build", "install"):
        assert (plan.build_dir / "cvcuda-setup-logs" / f"{name}.log").is_file()
    # the install ran with DESTDIR set to a staging dir next to the prefix
    install = fakes.calls("cmake")[-1]
    assert install["args"] == ["--install", str(plan.build_dir)]
    assert Path(install["destdir"]).parent == prefix.parent
    assert fakes.calls("ninja")[0]["status"] == "[%f/%t] "
    err = capsys.readouterr().err
    # plain progress (stderr is not a terminal): every 5 %, not every one of the 40 steps
    progress = [ln for ln in err.splitlines() if ln.startswith("build: ")]
    assert 15 <= len(progress) <= 21, progress
    assert progress[-1].startswith("build: 40/40 (100%)")
    assert "modules:   core flann geometry imgproc python3" in err


def test_second_run_with_the_same_plan_skips_configure_and_swaps_the_prefix(
    fakes: Fakes, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = make_tree(fakes.root)
    plan = make(fakes, tree)
    cm.execute(plan, tree)
    first = plan.prefix.stat().st_ino
    capsys.readouterr()
    manifest = cm.execute(plan, tree)
    err = capsys.readouterr().err
    assert "configure: skipped (the plan is unchanged" in err
    assert len([c for c in fakes.calls("cmake") if "-S" in c["args"]]) == 1
    assert manifest.durations["configure"] is None
    assert plan.prefix.stat().st_ino != first  # the whole prefix (all proven ours) was swapped
    (plan.prefix / "mine.txt").write_text("a user's file\n")
    with pytest.raises(InstallError, match=r"1 entries cvcuda-setup did not install.*mine.txt"):
        cm.execute(plan, tree)
    assert (plan.prefix / "mine.txt").read_text() == "a user's file\n"
    assert (plan.prefix / "lib" / "libopencv_core.so.5.1.0").is_file()
    assert leftovers(plan.prefix.parent) == []


def test_a_changed_option_reconfigures_and_keeps_the_cache(
    fakes: Fakes, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = make_tree(fakes.root)
    cm.execute(make(fakes, tree), tree)
    sentinel = fakes.root / "build" / "CMakeFiles" / "sentinel"
    sentinel.write_text("kept\n")
    capsys.readouterr()
    cm.execute(make(fakes, tree, overrides=(("BUILD_TESTS", "ON"),)), tree)
    assert "configure (options changed: BUILD_TESTS)" in capsys.readouterr().err
    assert sentinel.is_file()
    assert len(fakes.calls("ninja")) == 2


def test_a_removed_option_gives_a_fresh_configure(fakes: Fakes, capsys: pytest.CaptureFixture[str]) -> None:
    tree = make_tree(fakes.root)
    cm.execute(make(fakes, tree, overrides=(("WITH_PNG", "OFF"),)), tree)
    assert "WITH_PNG:STRING=OFF" in (fakes.root / "build" / "CMakeCache.txt").read_text()
    capsys.readouterr()
    cm.execute(make(fakes, tree), tree)
    assert "configure (options removed: WITH_PNG)" in capsys.readouterr().err
    # without the fresh start CMake would have kept WITH_PNG=OFF from its cache
    assert "WITH_PNG" not in (fakes.root / "build" / "CMakeCache.txt").read_text()


def test_a_changed_source_dir_clears_the_cache_of_a_build_dir_the_tool_created(fakes: Fakes) -> None:
    tree = make_tree(fakes.root, "tarball-one")
    cm.execute(make(fakes, tree), tree)
    other = make_tree(fakes.root, "tarball-two")
    cm.execute(
        make(fakes, other), other
    )  # the fake cmake, like the real one, refuses a cache of another source
    cache = (fakes.root / "build" / "CMakeCache.txt").read_text()
    assert f"CMAKE_HOME_DIRECTORY:STRING={other.opencv_dir}" in cache


def test_a_foreign_non_empty_build_dir_is_refused_and_left_alone(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    build = fakes.root / "build"
    build.mkdir()
    (build / "CMakeCache.txt").write_text("someone else's\n")
    with pytest.raises(UsageError, match="not created by cvcuda-setup"):
        cm.execute(make(fakes, tree), tree)
    assert sorted(p.name for p in build.iterdir()) == ["CMakeCache.txt"]
    assert fakes.calls() == []


def test_an_empty_existing_build_dir_is_adopted(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    (fakes.root / "build").mkdir()
    cm.execute(make(fakes, tree), tree)
    marker = json.loads((fakes.root / "build" / builddir.BUILD_MARKER).read_text())
    assert marker["adopted"] is True and marker["configured"]["hash"] == builddir.plan_hash(make(fakes, tree))


def test_a_foreign_prefix_is_refused_before_anything_is_built(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    prefix = fakes.root / "opt" / "cv"
    prefix.mkdir(parents=True)
    (prefix / "README").write_text("mine\n")
    with pytest.raises(InstallError, match="not empty and has no cvcuda-setup install record"):
        cm.execute(make(fakes, tree, prefix=prefix), tree)
    assert fakes.calls() == []
    assert sorted(p.name for p in prefix.iterdir()) == ["README"]


def test_force_installs_over_a_foreign_prefix_and_removes_nothing(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    prefix = fakes.root / "opt" / "cv"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "lib" / "libmine.so").write_text("mine\n")
    cm.execute(make(fakes, tree, prefix=prefix), tree, force=True)
    assert (prefix / "lib" / "libmine.so").read_text() == "mine\n"
    assert (prefix / "lib" / "libopencv_core.so.5.1.0").is_file()
    assert read_manifest(prefix) is not None


def test_a_configure_failure_names_the_step_the_errors_the_log_and_a_hint(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    fakes.monkeypatch.setenv(
        "FAKE_CMAKE_FAIL",
        str(
            fakes.log_text(
                "cmake-npp",
                """
                -- Configuring done (12.1s)
                CMake Error: The following variables are used in this project, but they are set to NOTFOUND.
                Please set them or make sure they are set and tested correctly in the CMake files:
                CUDA_nppc_LIBRARY (ADVANCED)
                    linked by target "opencv_core" in directory /src/opencv/modules/core

                -- Generating done (0.9s)
                CMake Generate step failed.  Build files cannot be regenerated correctly.
                """,
            )
        ),
    )
    with pytest.raises(cm.StepFailed) as info:
        cm.execute(make(fakes, tree), tree)
    err = info.value
    log = fakes.root / "build" / "cvcuda-setup-logs" / "configure.log"
    assert err.step == "configure" and err.log == log and log.is_file()
    assert err.errors[0].startswith("CMake Error: The following variables")
    assert any("NPP was not found" in h for h in err.hints)
    text = str(err)
    assert text.startswith("configure failed: cmake exited with status 1 (full log: ")
    assert "  | CMake Error" in text and "  hint: NPP was not found" in text
    assert fakes.calls("ninja") == []
    # the failed configure is not recorded: the next run configures again
    fakes.monkeypatch.delenv("FAKE_CMAKE_FAIL")
    cm.execute(make(fakes, tree), tree)
    assert len([c for c in fakes.calls("cmake") if "-S" in c["args"]]) == 2


def test_a_killed_compiler_fails_the_build_with_a_fewer_jobs_hint_and_keeps_the_old_install(
    fakes: Fakes,
) -> None:
    tree = make_tree(fakes.root)
    first = cm.execute(make(fakes, tree, jobs=8), tree)
    fakes.fail_build("c++: fatal error: Killed signal terminated program cc1plus\ncompilation terminated.\n")
    with pytest.raises(cm.StepFailed) as info:
        cm.execute(make(fakes, tree, jobs=8, overrides=(("BUILD_TESTS", "ON"),)), tree)
    err = info.value
    assert err.step == "build"
    assert err.errors[:2] == [
        "FAILED: modules/core/CMakeFiles/opencv_core.dir/src/f5.cpp.o",
        "c++: fatal error: Killed signal terminated program cc1plus",
    ]
    assert "--jobs 4" in err.hints[0]
    on_disk = read_manifest(first.prefix if isinstance(first.prefix, Path) else Path(first.prefix))
    assert on_disk is not None and on_disk.created == first.created
    assert leftovers(Path(first.prefix).parent) == []


def test_keep_going_passes_k0_to_ninja(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    cm.execute(make(fakes, tree), tree, keep_going=True)
    assert fakes.calls("ninja")[0]["args"][-2:] == ["-k", "0"]


def test_an_install_failure_leaves_the_previous_install_untouched(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    first = cm.execute(make(fakes, tree), tree)
    before = sorted(str(p.relative_to(first.prefix)) for p in Path(first.prefix).rglob("*"))
    fakes.monkeypatch.setenv(
        "FAKE_INSTALL_FAIL",
        str(
            fakes.log_text(
                "install", "CMake Error at cmake_install.cmake:41 (file):\n  file INSTALL cannot copy file\n"
            )
        ),
    )
    with pytest.raises(cm.StepFailed) as info:
        cm.execute(make(fakes, tree), tree)
    assert info.value.step == "install"
    after = sorted(str(p.relative_to(first.prefix)) for p in Path(first.prefix).rglob("*"))
    assert after == before
    assert read_manifest(Path(first.prefix)).created == first.created  # type: ignore[union-attr]
    assert leftovers(Path(first.prefix).parent) == []


def test_missing_python_bindings_fail_the_build_and_install_nothing(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    fakes.monkeypatch.setenv("FAKE_NO_CV2", "1")
    plan = make(fakes, tree)
    with pytest.raises(cm.StepFailed, match="asks for Python bindings but the install has no cv2") as info:
        cm.execute(plan, tree)
    assert info.value.step == "install"
    assert not plan.prefix.exists()
    assert leftovers(plan.prefix.parent) == []


def test_a_module_configure_will_not_build_fails_before_the_build(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    fakes.monkeypatch.setenv("FAKE_DROP_MODULES", "imgproc")
    with pytest.raises(cm.StepFailed, match=r"will not build imgproc \(disabled by dependency\)"):
        cm.execute(make(fakes, tree), tree)
    assert fakes.calls("ninja") == []


def test_cuda_asked_for_but_not_found_fails_at_configure(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    fakes.monkeypatch.setenv("FAKE_NO_CUDA", "1")
    with pytest.raises(
        cm.StepFailed, match="WITH_CUDA=ON but OpenCV's configure says NVIDIA CUDA: NO"
    ) as info:
        cm.execute(make(fakes, tree, cuda=True), tree)
    assert "CUDA toolkit" in info.value.hints[0]
    assert fakes.calls("ninja") == []


def test_a_cuda_build_records_arch_and_cuda_version(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    manifest = cm.execute(make(fakes, tree, cuda=True), tree)
    assert manifest.arch is not None
    assert manifest.arch.bin == ("9.0",) and manifest.arch.ptx == ("9.0",)
    assert manifest.recipe.cuda is True
    assert manifest.toolchain.cuda_version == "13.0"
    assert manifest.summary.cuda is True and manifest.summary.gpu_arch == ("90",)


def test_files_installed_outside_the_prefix_stop_the_install(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    fakes.monkeypatch.setenv("FAKE_INSTALL_OUTSIDE", "1")
    plan = make(fakes, tree)
    with pytest.raises(cm.StepFailed, match="installed outside the prefix") as info:
        cm.execute(plan, tree)
    assert info.value.errors == ["/usr/lib/python3/dist-packages/cv2.so"]
    assert not plan.prefix.exists()


def test_patches_are_applied_once_and_recorded(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    patch = fakes.root / "fix.patch"
    patch.write_text(
        "--- a/modules/core/src/a.cpp\n+++ b/modules/core/src/a.cpp\n@@ -1 +1 @@\n"
        "-int a() { return 1; }\n+int a() { return 2; }\n"
    )
    import hashlib

    sha = hashlib.sha256(patch.read_bytes()).hexdigest()
    plan = make(fakes, tree, patches=(patch,))
    manifest = cm.execute(plan, tree, patches=[(patch, sha)])
    assert (tree.opencv_dir / "modules/core/src/a.cpp").read_text() == "int a() { return 2; }\n"
    assert [p.to_json() for p in manifest.patches] == [
        {"name": "fix.patch", "path": str(patch), "sha256": sha, "tree": "opencv"}
    ]
    cm.execute(plan, tree, patches=[(patch, sha)])  # applying twice would fail: it is not applied again
    with pytest.raises(SourceError, match="sha256 is"):
        cm.execute(plan, tree, patches=[(patch, "0" * 64)])


def test_a_second_build_into_a_locked_build_dir_is_refused_naming_the_pid(fakes: Fakes) -> None:
    tree = make_tree(fakes.root)
    plan = make(fakes, tree)
    builddir.claim_build_dir(plan.build_dir)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(plan.build_dir / builddir.LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, f'{os.getpid()}\\n'.encode())\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError, match=rf"in use by another cvcuda-setup run \(pid {holder.pid},"):
            cm.execute(plan, tree)
    finally:
        holder.kill()
        holder.wait()
    assert fakes.calls() == []


DRIVER = """
import sys
from pathlib import Path
sys.path[:0] = [{tests!r}, {repo!r}]
import test_cmake as t
from cvcuda_setup import cmake as cm

class F:  # the test's Fakes without pytest's monkeypatch
    root = Path({root!r}); cmake = root / "bin" / "cmake"; ninja = root / "bin" / "ninja"
tree = t.make_tree(F.root) if not (F.root / "cache").exists() else None
tree = tree or t.SourceTree(spec=t.SourceSpec(kind="tarball", location="x", opencv_version="5.1.0"),
    opencv_dir=F.root / "cache/trees/tarball-abc/opencv", contrib_dir=None, opencv_version="5.1.0")
try:
    cm.execute(t.make(F, tree), tree)
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_stops_ninja_and_its_children_and_leaves_the_build_dir_reusable(fakes: Fakes) -> None:
    script = fakes.root / "driver.py"
    script.write_text(
        DRIVER.format(
            tests=str(Path(__file__).parent), repo=str(Path(__file__).parents[2]), root=str(fakes.root)
        )
    )
    pidfile = fakes.root / "ninja.pid"
    env = {**os.environ, "FAKE_NINJA_PIDFILE": str(pidfile), "FAKE_NINJA_SLEEP": "0.2", "FAKE_STEPS": "200"}
    # A test runner started in the background (`cmd &` in a script) inherits SIGINT ignored, and Python
    # then installs no KeyboardInterrupt handler: give the driver the default disposition, as a shell would.
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while not pidfile.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    ninja_pid = int(pidfile.read_text())
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted during build" in err and "is kept" in err
    with pytest.raises(ProcessLookupError):
        os.kill(ninja_pid, 0)
    # reusable: no reconfigure, the build runs again to the end
    pidfile.unlink()
    done = subprocess.run(
        [sys.executable, str(script)], env={**env, "FAKE_NINJA_SLEEP": "0"}, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert "configure: skipped" in done.stderr.decode()
