"""What a newcomer does, as README.md says it, on a machine without a GPU (``nox -s newcomer``; CI runs it).

1. ``git clone`` of this checkout into a temporary folder (its committed HEAD: uncommitted changes are not
   part of the clone, commit them first), a new venv made by the ``python3`` on PATH;
2. README's install command exactly as written (the part of the main job's line before the first ``&&``),
   run in the clone with the venv's ``bin`` first on PATH;
3. the main job with the ``cpu-test`` recipe (CI has no GPU), from an offline bundle the tool writes itself:
   ``build --recipe cpu-test --bundle B`` (network), then ``build --recipe cpu-test --source B --prefix P``
   (proxies pointed at a closed port, so it cannot reach the network) and ``verify --prefix P`` passing
   (without a GPU every GPU check is skipped with its reason, exit 0, as tests/integration checks);
4. a table of usage errors and bad inputs run as the installed console script: each exits 2, prints no
   traceback, a short message naming the bad value, and writes nothing (HOME, the working folder, the prefix
   and the cache are compared file by file before and after).

HOME and the XDG folders are temporary, so nothing of the user's is read or written; an sccache server the
build starts (``--launcher auto``) runs on a port of its own and is stopped at the end. Each step prints its
time (run with ``-s`` to see them as they happen).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import compiler_cache_env, stop_sccache_server

pytestmark = pytest.mark.newcomer

REPO = Path(__file__).resolve().parents[2]
STEP_TIMEOUT_S = 3600
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing answers, so any download fails at once


@dataclass
class Newcomer:
    root: Path
    clone: Path
    venv: Path
    home: Path
    work: Path
    env: dict[str, str]
    bundle: Path
    prefix: Path
    times: dict[str, float]

    @property
    def tool(self) -> str:
        return str(self.venv / "bin" / "cvcuda-setup")

    @property
    def cache(self) -> Path:
        return self.home / ".cache"


def _clean_env(home: Path) -> dict[str, str]:
    """The caller's environment as a new user's shell has it: no venv, no project settings, temp HOME."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("CVCUDA_", "NOX_"))}
    nox_bin = str(Path(sys.executable).parent)  # the nox session's venv is not on a newcomer's PATH
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", os.defpath).split(os.pathsep) if p != nox_bin)
    env["HOME"] = str(home)
    for var, sub in (
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        env[var] = str(home / sub)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _step(nc: Newcomer, name: str, cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run one step, print and record its time; a failure shows the command and the end of its output."""
    print(f"\n==> {name}: {shlex.join(cmd)}", flush=True)
    start = time.monotonic()
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env or nc.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    nc.times[name] = time.monotonic() - start
    print(f"<== {name}: exit {proc.returncode} in {nc.times[name]:.1f} s", flush=True)
    assert proc.returncode == 0, (
        f"{name} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{proc.stdout[-8000:]}"
    )
    return proc.stdout


def readme_install_command(readme: Path) -> list[str]:
    """README's main-job line (``python3 -m pip install . && cvcuda-setup build ...``) up to the first &&."""
    for line in readme.read_text().splitlines():
        if "pip install ." in line and "cvcuda-setup build" in line:
            return shlex.split(line.split("&&", 1)[0])
    raise AssertionError(f"{readme} has no main-job line with 'pip install .' and 'cvcuda-setup build'")


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Newcomer]:
    root = tmp_path_factory.mktemp("newcomer")
    home, work = root / "home", root / "work"
    home.mkdir()
    work.mkdir()
    env = compiler_cache_env(_clean_env(home), home / ".cache")
    nc = Newcomer(
        root, root / "clone", root / "venv", home, work, env, root / "cpu-test-bundle.tar.xz",
        root / "opt" / "opencv-cpu", {},
    )  # fmt: skip
    total = time.monotonic()
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if dirty:
            print(f"note: {REPO} has uncommitted changes; the clone is HEAD {head[:12]} without them")
        _step(nc, "clone", ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(nc.clone)], cwd=root)
        _step(
            nc,
            "checkout HEAD",
            ["git", "-C", str(nc.clone), "checkout", "--quiet", "--detach", head],
            cwd=root,
        )
        python3 = shutil.which("python3", path=env["PATH"])
        assert python3 is not None, "no python3 on PATH"
        _step(nc, "venv", [python3, "-m", "venv", str(nc.venv)], cwd=root)
        env["PATH"] = os.pathsep.join((str(nc.venv / "bin"), env["PATH"]))
        env["VIRTUAL_ENV"] = str(nc.venv)
        install = readme_install_command(nc.clone / "README.md")
        assert install[:4] == ["python3", "-m", "pip", "install"], install
        _step(nc, "install (README)", install, cwd=nc.clone)
        _step(nc, "bundle", [nc.tool, "build", "--recipe", "cpu-test", "--bundle", str(nc.bundle)], cwd=work)
        offline = dict(env)
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
            offline[var] = DEAD_PROXY
        offline.pop("no_proxy", None)
        offline.pop("NO_PROXY", None)
        cmd = [
            nc.tool,
            "build",
            "--recipe",
            "cpu-test",
            "--source",
            str(nc.bundle),
            "--prefix",
            str(nc.prefix),
        ]
        _step(nc, "build (offline, from the bundle)", cmd, cwd=work, env=offline)
        report = root / "verify.json"
        out = _step(
            nc, "verify", [nc.tool, "verify", "--prefix", str(nc.prefix), "--json", str(report)], cwd=work
        )
        print(out[-4000:])
        nc.times["main job total"] = time.monotonic() - total
        yield nc
    finally:
        stop_sccache_server(env)
        print("\nnewcomer step times:")
        for name, seconds in nc.times.items():
            print(f"  {name:<36} {seconds:8.1f} s")


def test_the_main_job_from_a_fresh_clone_ends_in_verify_passing(newcomer: Newcomer) -> None:
    data = json.loads((newcomer.root / "verify.json").read_text())
    assert data["summary"]["ok"] is True, data["summary"]
    checks = {c["label"]: c for c in data["checks"]}
    assert checks["prefix"]["status"] == "pass" and checks["cv2"]["status"] == "pass", checks["cv2"]
    manifest = json.loads((newcomer.prefix / "share" / "cvcuda-setup" / "manifest.json").read_text())
    assert manifest["recipe"]["name"] == "cpu-test"
    assert manifest["source"]["kind"] == "bundle", manifest["source"]  # built from the bundle, not a download
    # the tool came from the clone's install in the venv, not from the checkout the tests run in
    assert Path(newcomer.tool).is_file()
    where = subprocess.run(
        [str(newcomer.venv / "bin" / "python"), "-c", "import cvcuda_setup; print(cvcuda_setup.__file__)"],
        cwd=newcomer.work, env=newcomer.env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(newcomer.venv), where


# (case id, arguments, the bad value the message must name). "{...}" are filled from the fixture's paths.
USAGE_ERRORS: list[tuple[str, list[str], str]] = [
    ("unknown option", ["build", "--bogus"], "--bogus"),
    ("unknown command", ["frobnicate"], "frobnicate"),
    ("unknown top-level option", ["--bogus"], "--bogus"),
    ("missing value", ["build", "--arch"], "--arch"),
    ("missing value on doctor", ["doctor", "--arch"], "--arch"),
    ("missing value on verify", ["verify", "--json"], "--json"),
    ("missing argument", ["recipes", "show"], "NAME"),
    ("jobs not a number", ["build", "--recipe", "cpu-test", "-j", "abc", "--dry-run"], "abc"),
    ("jobs zero", ["build", "--recipe", "cpu-test", "-j", "0", "--dry-run"], "0"),
    ("bad arch", ["build", "--recipe", "minimal", "--arch", "banana", "--dry-run"], "banana"),
    ("unknown recipe", ["build", "--recipe", "no-such-recipe", "--dry-run"], "no-such-recipe"),
    ("unknown recipe to show", ["recipes", "show", "nope"], "nope"),
    ("recipe file not TOML", ["build", "--recipe", "{bad_toml}", "--dry-run"], "bad.toml"),
    (
        "nonexistent source",
        ["build", "--recipe", "cpu-test", "--source", "{root}/no-such-src"],
        "no-such-src",
    ),
    (
        "prefix is a file",
        ["build", "--recipe", "cpu-test", "--source", "{bundle}", "--prefix", "{afile}"],
        "afile",
    ),
    ("verify prefix is a file", ["verify", "--prefix", "{afile}"], "afile"),
    ("verify prefix missing", ["verify", "--prefix", "{root}/no-such-prefix"], "no-such-prefix"),
    ("bad shell", ["env", "--shell", "powershell"], "powershell"),
    ("bad launcher", ["build", "--recipe", "cpu-test", "--launcher", "distcc", "--dry-run"], "distcc"),
    ("define without =", ["build", "--recipe", "cpu-test", "-D", "NOEQUALS", "--dry-run"], "NOEQUALS"),
    (
        "bad OpenCV version",
        ["build", "--recipe", "cpu-test", "--opencv-version", "banana", "--dry-run"],
        "banana",
    ),
    ("bad sha256", ["build", "--recipe", "cpu-test", "--sha256", "xyz", "--source", "{bundle}"], "xyz"),
    (
        "missing patch",
        ["build", "--recipe", "cpu-test", "--patch", "{root}/no.patch", "--dry-run"],
        "no.patch",
    ),
    ("json without dry run", ["build", "--recipe", "cpu-test", "--json"], "--json"),
    ("bad device", ["verify", "--prefix", "{prefix}", "--device", "abc"], "abc"),
    ("bad repair", ["wheel", "--prefix", "{prefix}", "--repair", "maybe"], "maybe"),
    (
        "python missing",
        ["build", "--recipe", "cpu-test", "--python", "{root}/no-python", "--dry-run"],
        "no-python",
    ),
    ("unknown option on ci", ["ci", "--bogus"], "--bogus"),
    ("unknown bench command", ["bench", "frobnicate"], "frobnicate"),
]


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``roots``: path -> (size, mtime in ns)."""
    out: dict[str, tuple[int, int]] = {}
    for root in roots:
        if not root.exists():
            out[str(root)] = (-1, -1)
            continue
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            out[str(path)] = (st.st_size if not path.is_dir() else 0, st.st_mtime_ns)
    return out


def _fill(arg: str, nc: Newcomer) -> str:
    return arg.format(
        root=nc.root,
        bundle=nc.bundle,
        prefix=nc.prefix,
        afile=nc.root / "afile",
        bad_toml=nc.root / "bad.toml",
    )


@pytest.mark.parametrize(("args", "bad"), [c[1:] for c in USAGE_ERRORS], ids=[c[0] for c in USAGE_ERRORS])
def test_usage_error_exits_2_with_a_short_line_and_writes_nothing(
    newcomer: Newcomer, args: list[str], bad: str
) -> None:
    nc = newcomer
    (nc.root / "bad.toml").write_text("this is [not toml\n")
    (nc.root / "afile").write_text("a file, not a folder\n")
    argv = [nc.tool, *(_fill(a, nc) for a in args)]
    watched = (nc.home, nc.work, nc.prefix, nc.cache)
    before = _snapshot(*watched)
    proc = subprocess.run(
        argv, cwd=nc.work, env=nc.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    output = (proc.stdout + proc.stderr).strip()
    print(f"{shlex.join(argv[1:])}\n  -> exit {proc.returncode}: {output[-600:]}")
    assert "Traceback" not in output, output
    assert proc.returncode == 2, f"exit {proc.returncode}, not 2: {output[-2000:]}"
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 4, f"{len(lines)} lines, not a short message:\n{output}"
    assert bad.lower() in output.lower(), f"the message does not name {bad!r}:\n{output}"
    after = _snapshot(*watched)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert not changed, f"a refused command wrote: {changed[:10]}"


def test_no_step_wrote_outside_the_temporary_folders(newcomer: Newcomer) -> None:
    # the clone holds what git checked out plus pip's build artefacts only (no prefix, no cache)
    status = subprocess.run(
        ["git", "-C", str(newcomer.clone), "status", "--porcelain", "--ignored"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    leftovers = [
        ln for ln in status.splitlines() if not re.search(r"(^|/)(build|[^/]*\.egg-info)/?$", ln[3:])
    ]
    assert not leftovers, leftovers
