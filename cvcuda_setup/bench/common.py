"""What the pipeline and alloc benchmarks share: option parsing, the GPU gate, the chosen device's arch."""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cvcuda_setup.errors import BuildError, CvCudaSetupError, NoGpuError, ToolchainError, UsageError
from cvcuda_setup.model import GpuDevice
from cvcuda_setup.tools import run_to_file

_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")
MIN_SIDE = 16
MAX_SIDE = 32767


class BenchError(CvCudaSetupError):
    """A benchmark failed at run time, its tool printed no usable JSON, or a correctness check failed."""

    return_code = 1


@dataclass(frozen=True)
class FrameSize:
    width: int
    height: int

    @property
    def text(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def parse_sizes(text: str, option: str = "--sizes") -> tuple[FrameSize, ...]:
    """``"640x480,1920x1080"`` -> sizes; each side 16..32767, no duplicates."""
    sizes: list[FrameSize] = []
    for part in (p for p in text.split(",") if p.strip()):
        match = _SIZE.match(part)
        if not match:
            raise UsageError(
                f"{option} {part.strip()!r} is not WIDTHxHEIGHT", hint="e.g. --sizes 1920x1080,3840x2160"
            )
        size = FrameSize(int(match.group(1)), int(match.group(2)))
        for side in (size.width, size.height):
            if not MIN_SIDE <= side <= MAX_SIDE:
                raise UsageError(f"{option} {size.text}: each side must be {MIN_SIDE}..{MAX_SIDE} pixels")
        if size in sizes:
            raise UsageError(f"{option} names {size.text} twice")
        sizes.append(size)
    if not sizes:
        raise UsageError(f"{option} is empty", hint="e.g. --sizes 1920x1080,3840x2160")
    return tuple(sizes)


def require_gpu(device: int) -> GpuDevice:
    """The device ``device`` as cuda-python sees it; ``NoGpuError`` (exit 2) when there is no CUDA device."""
    from cvcuda_setup.probe.gpu import probe_gpus

    if device < 0:
        raise UsageError(f"--device {device} must be 0 or more")
    probe = probe_gpus()
    if not probe.devices:
        raise NoGpuError(
            f"no CUDA device: {probe.error or 'cuda-python reports 0 devices'}",
            hint="run the benchmark on a host with an NVIDIA GPU and driver",
        )
    for gpu in probe.devices:
        if gpu.index == device:
            if not gpu.can_map_host_memory:
                raise NoGpuError(f"no CUDA device that can map host memory: GPU {device} ({gpu.name}) cannot")
            return gpu
    raise UsageError(
        f"--device {device}: only {len(probe.devices)} CUDA device(s) visible (0..{len(probe.devices) - 1})"
    )


def require_gpus(selection: str) -> list[GpuDevice]:
    """``--device``: an index (that device) or ``all`` (every visible device, in index order)."""
    text = selection.strip().lower()
    if text != "all":
        try:
            index = int(text)
        except ValueError:
            raise UsageError(
                f"--device {selection!r} is not a device index", hint="use 0, 1, ... or 'all'"
            ) from None
        return [require_gpu(index)]
    from cvcuda_setup.probe.gpu import probe_gpus

    probe = probe_gpus()
    if not probe.devices:
        return [require_gpu(0)]  # raises the no-GPU error
    return [require_gpu(gpu.index) for gpu in sorted(probe.devices, key=lambda g: g.index)]


def cuda_archs_of(gpus: list[GpuDevice]) -> str:
    """``CMAKE_CUDA_ARCHITECTURES`` for several devices: the union, e.g. ``"89;90"``."""
    return ";".join(sorted({cuda_arch_of(g) for g in gpus}, key=int))


def cuda_arch_of(gpu: GpuDevice) -> str:
    """``CMAKE_CUDA_ARCHITECTURES`` for one device: ``"90"`` for compute capability 9.0."""
    return f"{gpu.major}{gpu.minor}"


def log_excerpt(path: Path, *, tail: int = 12) -> str:
    """The first ``CMake Error`` block of a log (what went wrong), else its last ``tail`` lines."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for i, line in enumerate(lines):
        if line.startswith("CMake Error"):
            block = [line]
            for follow in lines[i + 1 : i + 8]:
                if not follow.strip() and len(block) > 1:
                    break
                block.append(follow)
            return "\n".join(block).rstrip()
    return "\n".join(lines[-tail:]).rstrip()


def output_target(value: str | None) -> tuple[bool, Path | None]:
    """``--json`` value -> (print JSON to stdout instead of the table, file to write)."""
    if value is None:
        return False, None
    if value == "-":
        return True, None
    return False, Path(value).expanduser()


def run_logged(argv: Sequence[str], log: Path, what: str, env: Mapping[str, str] | None = None) -> float:
    """Run ``argv`` (a list, no shell) with its output appended to ``log``; seconds taken.

    A missing program is a ``ToolchainError``; a non-zero exit a ``BuildError`` with the log's first error.
    """
    start = time.monotonic()
    with log.open("a", encoding="utf-8") as handle:
        handle.write("$ " + shlex.join(list(argv)) + "\n")
        try:
            returncode = run_to_file(argv, handle, env=env)
        except FileNotFoundError:
            raise ToolchainError(f"{argv[0]} not found") from None
    seconds = time.monotonic() - start
    if returncode != 0:
        raise BuildError(f"{what} failed (exit {returncode}); log: {log}\n{log_excerpt(log)}")
    return seconds
