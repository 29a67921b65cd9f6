"""Finding cmake/ninja, and the one subprocess helper every build step goes through.

cmake and ninja come from the PyPI ``cmake``/``ninja`` packages when they are installed
(``cmake.CMAKE_BIN_DIR``, ``ninja.BIN_DIR``: versions this tool pins), else from PATH.

``run`` prints the command shell-quoted, resolves the executable on the PATH the child will see, raises
``ToolchainError`` when it is missing, merges stdout and stderr into one stream (order kept), tees every
line to a log file and to a callback, and runs the child in its own process group so that Ctrl-C stops
the whole tree (ninja and its compilers) cleanly before ``KeyboardInterrupt`` goes on up.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cvcuda_setup.console import console
from cvcuda_setup.errors import ToolchainError

#: Seconds to wait after SIGINT, then after SIGTERM, before the process group gets SIGKILL.
STOP_GRACE_S = (10.0, 5.0)


def _pypi_bin(name: str) -> Path | None:
    try:
        if name == "cmake":
            import cmake

            bin_dir = Path(cmake.CMAKE_BIN_DIR)
        elif name == "ninja":
            import ninja

            bin_dir = Path(ninja.BIN_DIR)
        else:
            return None
    except (ImportError, AttributeError):
        return None
    exe = bin_dir / name
    return exe if exe.is_file() and os.access(exe, os.X_OK) else None


def find_tool(name: str, *, hint: str) -> Path:
    """The PyPI package's binary (cmake, ninja) first, else PATH; ``ToolchainError`` when neither has it."""
    found = _pypi_bin(name)
    if found is not None:
        return found
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    raise ToolchainError(f"{name} not found (neither the PyPI {name} package nor PATH has it)", hint=hint)


def find_cmake() -> Path:
    return find_tool("cmake", hint="python -m pip install cmake")


def find_ninja() -> Path:
    return find_tool("ninja", hint="python -m pip install ninja")


def resolve_executable(name: str, env: Mapping[str, str] | None = None) -> Path:
    """An absolute path for ``name`` on the PATH the child will get; ``ToolchainError`` when absent."""
    if os.sep in name:
        path = Path(name)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ToolchainError(f"{name} does not exist or is not executable")
    search = (env if env is not None else os.environ).get("PATH", os.defpath)
    found = shutil.which(name, path=search)
    if not found:
        raise ToolchainError(f"{name} not found on PATH", hint=f"install {name} or put it on PATH")
    return Path(found)


@dataclass(frozen=True)
class RunResult:
    cmd: tuple[str, ...]
    returncode: int
    #: Seconds from start to exit.
    duration: float
    #: Every output line (stdout and stderr merged), only when ``capture=True``.
    output: str = ""


def capture(
    cmd: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (an argument list) to the end with stdin closed and stdout/stderr captured as text.

    Never raises on the exit status; a missing program (``OSError``) or ``subprocess.TimeoutExpired`` goes
    to the caller, which words it for its own step. The one place short commands (probes, checks) run.
    """
    return subprocess.run(
        [str(a) for a in cmd],
        env=None if env is None else dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


def run_to_file(cmd: Sequence[str], handle: IO[str], *, env: Mapping[str, str] | None = None) -> int:
    """Run ``cmd`` with stdout and stderr (merged) written to the open file ``handle``; its exit status."""
    handle.flush()
    proc = subprocess.run(
        list(cmd),
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=None if env is None else dict(env),
        check=False,
    )
    return proc.returncode


def run_split(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    on_stderr: Callable[[str], None] | None = None,
) -> tuple[int, str]:
    """Run ``cmd`` with stdout captured whole (a document) and stderr streamed line by line to
    ``on_stderr``; ``(exit status, stdout)``. ``OSError`` when it cannot start; on ``timeout`` the child is
    killed and ``subprocess.TimeoutExpired`` raised."""
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env=None if env is None else dict(env),
    )
    chunks: list[str] = []

    def pump_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if on_stderr is not None:
                on_stderr(line.rstrip("\n"))

    def collect_stdout() -> None:
        assert proc.stdout is not None
        chunks.append(proc.stdout.read())

    readers = [threading.Thread(target=f, daemon=True) for f in (pump_stderr, collect_stdout)]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    finally:
        for reader in readers:
            reader.join(timeout=10)
    return proc.returncode, "".join(chunks)


def _tee(stream: IO[bytes], sink: IO[str], on_line: Callable[[str], None] | None) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        sink.write(line + "\n")
        sink.flush()
        if on_line is not None:
            on_line(line)
    stream.close()


def run_teed(
    cmd: Sequence[str],
    *,
    stdout_sink: IO[str],
    stderr_sink: IO[str],
    env: Mapping[str, str] | None = None,
    on_stdout: Callable[[str], None] | None = None,
    on_stderr: Callable[[str], None] | None = None,
) -> int:
    """Run ``cmd`` in its own process group with stdout and stderr each teed, line by line, to its open
    file and its callback; the exit status (negative: killed by that signal). ``OSError`` when it cannot
    start; Ctrl-C (any exception while waiting) stops the process group and goes on up."""
    proc = subprocess.Popen(
        list(cmd),
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    threads = [
        threading.Thread(target=_tee, args=(proc.stdout, stdout_sink, on_stdout), daemon=True),
        threading.Thread(target=_tee, args=(proc.stderr, stderr_sink, on_stderr), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        return proc.wait()
    except BaseException:
        _stop_group(proc)
        raise
    finally:
        for t in threads:
            t.join(timeout=10)


def stop_group(proc: subprocess.Popen[Any]) -> None:
    """Stop ``proc``'s process group (started with ``start_new_session=True``): SIGINT, SIGTERM, SIGKILL."""
    _stop_group(proc)


def _stop_group(proc: subprocess.Popen[Any]) -> None:
    """SIGINT the child's process group, then SIGTERM, then SIGKILL, each after a grace period."""
    for sig, grace in (
        (signal.SIGINT, STOP_GRACE_S[0]),
        (signal.SIGTERM, STOP_GRACE_S[1]),
        (signal.SIGKILL, 5.0),
    ):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    # the group leader may be gone while children it started linger: make sure none remains
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    on_line: Callable[[str], None] | None = None,
    capture: bool = False,
    echo: bool = True,
) -> RunResult:
    """Run ``cmd`` (an argument list), stream its merged output; returns the exit status, never raises on it.

    ``log`` is (re)written with a header naming the command, then every line. ``on_line`` gets each line
    without its newline. Ctrl-C stops the child's process group and re-raises ``KeyboardInterrupt``.
    """
    args = [str(a) for a in cmd]
    full_env = dict(os.environ if env is None else env)
    exe = resolve_executable(args[0], full_env)
    if echo:
        console.info("$ " + shlex.join(args))
    log_file: IO[str] | None = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log_file = log.open(
            "w", encoding="utf-8", errors="replace", buffering=1
        )  # line by line: a kill loses nothing
        log_file.write(
            f"# {time.strftime('%Y-%m-%d %H:%M:%S')} cwd={cwd or Path.cwd()}\n# $ {shlex.join(args)}\n"
        )
        log_file.flush()
    captured: list[str] = []
    stopped = False
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            [str(exe), *args[1:]],
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        if log_file is not None:
            log_file.close()
        raise ToolchainError(f"cannot run {exe}: {exc.strerror}") from None
    try:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if log_file is not None:
                log_file.write(line + "\n")
            if capture:
                captured.append(line)
            if on_line is not None:
                on_line(line)
        returncode = proc.wait()
    except BaseException:
        stopped = True
        _stop_group(proc)
        raise
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
        if log_file is not None:
            if stopped:
                log_file.write(f"# stopped after {time.monotonic() - start:.1f} s (interrupted)\n")
            else:
                log_file.write(f"# exit status {proc.returncode} after {time.monotonic() - start:.1f} s\n")
            log_file.close()
    return RunResult(tuple(args), returncode, time.monotonic() - start, "\n".join(captured))
