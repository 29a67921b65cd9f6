"""The process boundary of verify: the C++ check tool and the Python worker, each run as a subprocess.

Both return a ``ProcResult``; nothing here decides pass or fail. A missing executable, a timeout, a crash
(signal) or output that is not JSON becomes ``error`` (a one-line description), never an exception, so a check
can report it as its failure.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from cvcuda_setup.tools import capture

TOOL_NAME = "cvcuda-zerocopy-check"
WORKER_FILE = Path(__file__).with_name("worker.py")
#: The modules the worker imports, in import order: made modules of their real names in the target
#: interpreter (which need not have cvcuda-setup) before ``worker.py`` runs as ``__main__``.
WORKER_MODULES = ("worker_common", "worker_pipeline")

_BOOT = """import sys, types
for _name, _file, _text in {modules!r}:
    _module = types.ModuleType(_name)
    _module.__file__ = _file
    sys.modules[_name] = _module
    exec(compile(_text, _file, "exec"), _module.__dict__)
del _name, _file, _text, _module
exec(compile({main!r}, {main_file!r}, "exec"))
"""


def worker_source() -> str:
    """The ``python -c`` program: the worker's modules registered, then ``worker.py`` as ``__main__``."""
    modules = [
        (f"cvcuda_setup.verify.{name}", name + ".py", WORKER_FILE.with_name(name + ".py").read_text("utf-8"))
        for name in WORKER_MODULES
    ]
    main = WORKER_FILE.read_text(encoding="utf-8")
    return _BOOT.format(modules=modules, main=main, main_file=WORKER_FILE.name)


_serial = count()


@dataclass(frozen=True)
class ProcResult:
    argv: list[str]
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    #: The JSON object the process produced (the tool: on stdout; the worker: in its result file).
    data: dict[str, Any] | None = None
    #: Why there is no usable result (not found, timed out, crashed, no JSON); None when ``data`` is set.
    error: str | None = None
    duration_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def stderr_tail(self, lines: int = 3) -> str:
        tail = [line for line in self.stderr.strip().splitlines() if line.strip()][-lines:]
        return " | ".join(tail)

    def describe_failure(self) -> str:
        """``error`` plus the end of stderr, for a check's reason."""
        text = self.error or f"exit code {self.returncode}"
        tail = self.stderr_tail()
        return f"{text} (stderr: {tail})" if tail else text


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def parse_json_output(text: str) -> dict[str, Any] | None:
    """The JSON object in a tool's stdout: the whole text, else the last line that is an object, else None.

    OpenCV may print warnings before the tool's JSON, so a line-by-line fallback is needed.
    """
    stripped = text.strip()
    if not stripped:
        return None
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    for line in reversed(stripped.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    start = stripped.find("{")
    if start > 0:
        try:
            value = json.loads(stripped[start:])
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None
    return None


def run_process(argv: Sequence[str], env: Mapping[str, str], timeout: float, cwd: Path | None) -> ProcResult:
    """Run ``argv`` (a list, never a shell string), capturing its output; failing to run sets ``error``."""
    start = time.monotonic()
    args = [str(a) for a in argv]
    try:
        proc = capture(args, env=env, cwd=cwd, timeout=timeout)
    except FileNotFoundError:
        return ProcResult(args, None, error=f"{args[0]} not found", duration_s=time.monotonic() - start)
    except PermissionError:
        return ProcResult(
            args, None, error=f"{args[0]} is not executable", duration_s=time.monotonic() - start
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return ProcResult(
            args,
            None,
            out,
            err,
            error=f"timed out after {timeout:.0f} s",
            duration_s=time.monotonic() - start,
        )
    return ProcResult(args, proc.returncode, proc.stdout, proc.stderr, duration_s=time.monotonic() - start)


def run_tool(
    tool: Path, args: Sequence[str], env: Mapping[str, str], *, timeout: float = 120.0
) -> ProcResult:
    """Run the C++ check tool; its JSON is read from stdout whatever the exit code (3 and 4 carry JSON)."""
    res = run_process([str(tool), *args], env, timeout, None)
    if res.error:
        return res
    data = parse_json_output(res.stdout)
    if data is None:
        error = f"{tool.name} {' '.join(args[:1])} {_exit_text(res.returncode or 0)} and printed no JSON"
        return ProcResult(res.argv, res.returncode, res.stdout, res.stderr, None, error, res.duration_s)
    return ProcResult(res.argv, res.returncode, res.stdout, res.stderr, data, None, res.duration_s)


def run_worker(
    python: str,
    command: str,
    request: Mapping[str, Any],
    *,
    work: Path,
    env: Mapping[str, str],
    timeout: float = 300.0,
) -> ProcResult:
    """Run one worker command in the target interpreter (``python -c <worker source> CMD REQ RES``).

    The working directory is an empty folder of its own, so the current directory on ``sys.path`` holds
    nothing that could be imported instead of the real modules.
    """
    n = next(_serial)
    cwd = work / f"worker-{n:03d}-{command}"
    cwd.mkdir(parents=True, exist_ok=False)
    req = work / f"worker-{n:03d}-{command}.request.json"
    res_path = work / f"worker-{n:03d}-{command}.result.json"
    req.write_text(json.dumps(dict(request)), encoding="utf-8")
    res = run_process([python, "-c", worker_source(), command, str(req), str(res_path)], env, timeout, cwd)
    # The argv holds the whole worker source; keep the report readable.
    argv = [python, "-c", f"<{WORKER_FILE.name}>", command, str(req), str(res_path)]
    if res.error:
        return ProcResult(argv, res.returncode, res.stdout, res.stderr, None, res.error, res.duration_s)
    data: Any = None
    if res_path.is_file():
        try:
            data = json.loads(res_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            data = None
    if not isinstance(data, dict):
        error = f"the {command} worker {_exit_text(res.returncode or 0)} without a result"
        return ProcResult(argv, res.returncode, res.stdout, res.stderr, None, error, res.duration_s)
    if "fatal" in data:
        error = f"the {command} worker raised {data['fatal']}"
        return ProcResult(argv, res.returncode, res.stdout, res.stderr, data, error, res.duration_s)
    return ProcResult(argv, res.returncode, res.stdout, res.stderr, data, None, res.duration_s)
