"""Runs the checks in order and returns the ``Report``.

Order: prefix, cv2, gpu (whole prefix), then per device: device_info, arch, mapped, pipeline, then
opencv_tests. Without a CUDA device, or for a prefix whose recipe is CPU-only, every per-device check is one
``skip`` with that reason. A check that raises (a bug here, not in the prefix) is reported as a failure of
that check, so one broken check never hides the others.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cvcuda_setup import __version__
from cvcuda_setup.errors import UsageError
from cvcuda_setup.probe.python import probe_python
from cvcuda_setup.verify import (
    check_arch,
    check_consumer,
    check_cv2,
    check_device,
    check_gpu,
    check_mapped,
    check_opencv_tests,
    check_pipeline,
    check_prefix,
    gpus,
)
from cvcuda_setup.verify.context import (
    Context,
    VerifyOptions,
    choose_python,
    read_manifest_json,
    resolve_env,
)
from cvcuda_setup.verify.procs import TOOL_NAME
from cvcuda_setup.verify.result import CheckResult, Report, failed

#: The per-device checks, in report order.
DEVICE_CHECKS = (check_device, check_arch, check_mapped, check_pipeline)

Log = Callable[[str], None]


def build_context(options: VerifyOptions, work: Path) -> Context:
    prefix = options.prefix.expanduser()
    if not prefix.exists():
        raise UsageError(
            f"--prefix {options.prefix} does not exist", hint="give the prefix of an installation"
        )
    if not prefix.is_dir():
        raise UsageError(
            f"--prefix {options.prefix} is not a directory", hint="give the prefix of an installation"
        )
    if options.images_dir is not None and not options.images_dir.is_dir():
        raise UsageError(
            f"--images {options.images_dir} is not a directory", hint="give a folder of image files"
        )
    prefix = prefix.resolve()
    manifest = read_manifest_json(prefix)
    python = choose_python(options, manifest)
    version = probe_python(python).version
    prefix_env, prefix_env_source = resolve_env(prefix, manifest, version, os.environ)
    if options.wheel:
        # Nothing of the prefix on PYTHONPATH or LD_LIBRARY_PATH: the wheel's cv2 must load its own copies of
        # the OpenCV libraries (RUNPATH $ORIGIN); the check tool finds the prefix's through its RUNPATH.
        env = dict(os.environ)
        env_source = f"the caller's environment (--wheel: cv2 from {python}'s own site-packages)"
    else:
        env, env_source = dict(prefix_env), prefix_env_source
    return Context(
        options=options,
        prefix=prefix,
        manifest=manifest,
        python=python,
        python_version=version,
        env=env,
        tool=prefix / "bin" / TOOL_NAME,
        work=work,
        env_source=env_source,
        prefix_env=prefix_env,
    )


def _timed(
    check_id: str, title: str, device: int | None, fn: Callable[..., CheckResult], *args: Any
) -> CheckResult:
    start = time.monotonic()
    try:
        result = fn(*args)
    except Exception as exc:
        part = failed("internal", f"the check itself raised {type(exc).__name__}: {exc}")
        result = CheckResult.from_parts(check_id, title, [part], device=device)
    return replace(result, duration_s=time.monotonic() - start)


def _artifacts(checks: list[CheckResult]) -> list[str]:
    return [f for c in checks for p in c.parts if p.name == "artifacts" for f in p.figures.get("files", [])]


def run_checks(ctx: Context, log: Log) -> tuple[list[CheckResult], Any]:
    checks: list[CheckResult] = []

    def add(result: CheckResult) -> None:
        checks.append(result)
        line = f"{result.label}: {result.status} ({result.duration_s:.1f} s)"
        bad = [p for p in result.parts if p.status == "fail"]
        if bad:  # the reason goes to the log as it happens, not only to the final table
            line += " -- " + "; ".join(f"{p.name}: {p.reason}" for p in bad)
        log(line)

    add(_timed(check_prefix.ID, check_prefix.TITLE, None, check_prefix.run, ctx))
    add(_timed(check_cv2.ID, check_cv2.TITLE, None, check_cv2.run, ctx))
    inventory = gpus.discover(ctx)
    add(check_gpu.run(inventory, require_gpu=ctx.options.require_gpu))
    add(
        _timed(
            check_consumer.ID,
            check_consumer.TITLE,
            None,
            lambda: check_consumer.run(ctx, gpu_available=inventory.available),
        )
    )
    skip_reason = inventory.reason if not inventory.available else ctx.cuda_skip_reason()
    short = "no CUDA device (see the gpu check)" if not inventory.available else (skip_reason or "")
    if skip_reason:
        for module in DEVICE_CHECKS:
            add(CheckResult.skip(module.ID, module.TITLE, short))
    else:
        for device in gpus.select_devices(inventory, ctx.options.device):
            for module in DEVICE_CHECKS:
                add(_timed(module.ID, module.TITLE, device.index, module.run, ctx, device))
    single = None if ctx.options.device == "all" else int(ctx.options.device)
    every = [d.index for d in gpus.select_devices(inventory, ctx.options.device)] if not skip_reason else None
    add(
        _timed(
            check_opencv_tests.ID,
            check_opencv_tests.TITLE,
            None,
            lambda: check_opencv_tests.run(
                ctx, device=single, gpu_reason=short if skip_reason else None, devices=every
            ),
        )
    )
    return checks, inventory


def run_verify(options: VerifyOptions, *, log: Log | None = None) -> Report:
    """Run every check against ``options.prefix``; bad options raise ``UsageError`` before anything runs."""
    start = time.monotonic()
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="cvcuda-verify-") as tmp:
        ctx = build_context(options, Path(tmp))
        checks, inventory = run_checks(ctx, log or (lambda _msg: None))
    return Report(
        prefix=str(ctx.prefix),
        python=ctx.python,
        device_request=str(options.device),
        inventory=inventory,
        checks=tuple(checks),
        require_gpu=options.require_gpu,
        tool_version=__version__,
        created=created,
        duration_s=time.monotonic() - start,
        artifacts=tuple(_artifacts(checks)),
        artifacts_dir=str(options.out_dir) if options.out_dir else None,
    )
