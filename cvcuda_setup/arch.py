"""CUDA architecture selection: ``--arch`` text <-> ``CUDA_ARCH_BIN`` / ``CUDA_ARCH_PTX``.

Accepted forms, comma separated: ``auto`` (every visible GPU's compute capability, their union), ``8.9``,
``9.0+PTX`` (SASS and PTX), ``sm_90`` (SASS), ``compute_90`` (PTX), ``90`` (SASS). Values are checked against
what the chosen nvcc can target (``nvcc --list-gpu-code`` / ``--list-gpu-arch``).

``read_arch_token`` is the one reader of an architecture token: ``--arch`` parsing here, and the readers of
what a build recorded (``cv2.getBuildInformation()``, ``cvconfig.h``, ``OpenCVConfig.cmake``, the manifest)
all go through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cvcuda_setup.errors import ArchError
from cvcuda_setup.model import ArchSelection, GpuDevice

FORMS = "auto, 8.9, 8.6,8.9,9.0, 9.0+PTX, sm_90, compute_90 or 90"

#: Every spelling of one architecture that nvcc, CMake and OpenCV write: ``9.0``, ``90``, ``120``, ``sm_90``,
#: ``compute_90``, ``90-real``, ``8.6-virtual``, ``9.0a``, ``100f``.
_TOKEN = re.compile(r"^(sm_|compute_)?(\d{1,2})(\.?)(\d)([af]?)(-real|-virtual)?$")


@dataclass(frozen=True)
class ArchToken:
    """One architecture token, read."""

    #: The compute capability, dotted: ``"9.0"``, ``"12.0"``.
    capability: str
    #: ``"sm_"``, ``"compute_"`` or ``""``.
    prefix: str = ""
    #: Written with a dot (``9.0``) rather than compact (``90``).
    dotted: bool = False
    #: The arch-specific / family variant: ``""``, ``"a"`` or ``"f"``.
    variant: str = ""
    #: CMake's ``CMAKE_CUDA_ARCHITECTURES`` suffix: ``""``, ``"-real"`` or ``"-virtual"``.
    cmake_kind: str = ""

    @property
    def compact(self) -> str:
        """``"90"``, ``"90a"``, ``"120"``: the number nvcc and wheel labels use."""
        return _code(self.capability) + self.variant


def read_arch_token(token: object) -> ArchToken | None:
    """Read one architecture token in any spelling nvcc, CMake or OpenCV write; None when it is not one."""
    match = _TOKEN.match(str(token).strip().lower())
    if match is None or int(match.group(2)) < 1:
        return None
    prefix, major, dot, minor, variant, kind = match.groups()
    return ArchToken(
        capability=f"{int(major)}.{minor}",
        prefix=prefix or "",
        dotted=bool(dot),
        variant=variant,
        cmake_kind=kind or "",
    )


def _sort_key(value: str) -> tuple[int, int]:
    major, minor = value.split(".")
    return int(major), int(minor)


def _unique_sorted(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(values), key=_sort_key))


def _parse_token(token: str, whole: str) -> tuple[list[str], list[str]]:
    """One comma-separated item -> (bin values, ptx values)."""
    text = token.strip()
    with_ptx = False
    if text.upper().endswith("+PTX"):
        text, with_ptx = text[:-4], True
    lowered = text.lower()
    read = read_arch_token(lowered)
    if read is not None and read.variant and not read.cmake_kind:
        raise ArchError(
            f"--arch {whole!r}: {token!r} is an arch-specific (a/f) target, "
            "which OpenCV's CUDA_ARCH_BIN does not take",
            hint=f"use the plain capability, e.g. {re.sub(r'[af]$', '', lowered)}",
        )
    # --arch takes 8.9, 89, sm_89 and compute_89: no CMake suffix, no prefix on a dotted value
    plain = read is not None and not read.variant and not read.cmake_kind
    if read is not None and plain and not (read.prefix and read.dotted):
        if read.prefix != "compute_":
            return [read.capability], [read.capability] if with_ptx else []
        if not with_ptx:  # compute_90+PTX says PTX twice
            return [], [read.capability]
    raise ArchError(f"--arch {whole!r}: cannot read {token!r} as a CUDA architecture", hint=f"use {FORMS}")


def parse_arch(
    text: str, devices: Sequence[GpuDevice] = (), *, probe_error: str | None = None
) -> ArchSelection:
    """Parse ``--arch``; for ``auto`` the caller passes the visible GPUs (``probe_gpus().devices``)."""
    whole = text.strip()
    if not whole:
        raise ArchError("--arch is empty", hint=f"use {FORMS}")
    if whole.lower() == "auto":
        if not devices:
            why = f" ({probe_error})" if probe_error else ""
            raise ArchError(
                f"--arch auto found no CUDA device on this host{why}",
                hint="pass the target GPUs explicitly, e.g. --arch 8.9 or --arch 8.6,9.0+PTX",
            )
        caps = _unique_sorted(d.capability for d in devices)
        return ArchSelection(bin=caps, ptx=(), origin="auto", requested=whole, devices=tuple(devices))
    bins: list[str] = []
    ptxs: list[str] = []
    for token in re.split(r"[,;\s]+", whole):
        if not token:
            continue
        if token.lower() == "auto":
            raise ArchError(
                f"--arch {whole!r}: 'auto' cannot be combined with other values", hint="use it alone"
            )
        b, p = _parse_token(token, whole)
        bins += b
        ptxs += p
    return ArchSelection(
        bin=_unique_sorted(bins),
        ptx=_unique_sorted(ptxs),
        origin="explicit",
        requested=whole,
        devices=tuple(devices),
    )


def _code(value: str) -> str:
    return value.replace(".", "")


def validate_arch(
    selection: ArchSelection, gpu_codes: Sequence[str], gpu_archs: Sequence[str], *, nvcc: str
) -> ArchSelection:
    """Check every value against nvcc's lists; return the selection marked validated.

    ``gpu_codes`` is what ``nvcc --list-gpu-code`` prints (``sm_75`` ...), ``gpu_archs`` what
    ``nvcc --list-gpu-arch`` prints (``compute_75`` ...).
    """
    sm = {c for c in gpu_codes if c.startswith("sm_")}
    compute = {c for c in gpu_archs if c.startswith("compute_")}
    supported = ", ".join(sorted({f"{c[3:-1]}.{c[-1]}" for c in sm}, key=_sort_key))
    source = "detected GPU" if selection.origin == "auto" else "--arch value"
    for value in selection.bin:
        if f"sm_{_code(value)}" not in sm:
            raise ArchError(
                f"{source} {value} cannot be targeted by {nvcc} (it builds for {supported})",
                hint=_unsupported_hint(value, supported),
            )
    for value in selection.ptx:
        if f"compute_{_code(value)}" not in compute:
            raise ArchError(
                f"{source} {value}+PTX cannot be targeted by {nvcc} (it builds for {supported})",
                hint=_unsupported_hint(value, supported),
            )
    return ArchSelection(
        bin=selection.bin,
        ptx=selection.ptx,
        origin=selection.origin,
        requested=selection.requested,
        devices=selection.devices,
        validated=True,
    )


def _unsupported_hint(value: str, supported: str) -> str:
    lowest = supported.split(", ")[0] if supported else ""
    if lowest and _sort_key(value) < _sort_key(lowest):
        return (
            f"this CUDA toolkit dropped {value}; use an older toolkit for that GPU, or pick from {supported}"
        )
    return (
        f"use a newer CUDA toolkit for {value}, or pick from {supported} "
        "(add +PTX to the newest to JIT on newer GPUs)"
    )


def arch_flag_for(major: int, minor: int) -> str:
    """The ``--arch`` value that makes a build run on a device of this capability."""
    return f"{major}.{minor}"
