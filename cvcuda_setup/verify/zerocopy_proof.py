"""The zero-copy proof of the pipeline check: what each flow's recorded evidence fails to show.

A correct result alone proves nothing (``Mat::create`` silently falls back to the default allocator when a
custom one throws), so every case must also show that its buffers are host memory with a device alias
(``pointer_attributes``) and that the output GpuMats were written in place (``cudaPtr`` unchanged). These
readers are pure: the worker's and the C++ tool's JSON in, the list of problems out (empty: proven).
"""

from __future__ import annotations

from typing import Any

from cvcuda_setup.verify.check_mapped import is_mapped_host


def python_zero_copy_problems(info: dict[str, Any]) -> list[str]:
    """What is wrong with the Python flow's zero-copy evidence for one case (empty: all proven)."""
    problems = []
    before, after = info.get("before") or {}, info.get("after") or {}
    for name in ("blur", "edges"):
        b, a, r = before.get(name), after.get(name), after.get(f"{name}_returned")
        if b is None or a is None:
            problems.append(f"{name}: no cudaPtr recorded")
        elif a != b or (r is not None and r != b):
            problems.append(
                f"{name}: the output GpuMat was reallocated (cudaPtr {b:#x} -> {a:#x}), not written in place"
            )
    buffers = info.get("buffers") or {}
    for name in ("src", "blur", "edges"):
        buf = buffers.get(name)
        if not isinstance(buf, dict):
            problems.append(f"{name}: no pointer attributes recorded")
            continue
        ok, why = is_mapped_host(buf.get("attributes"), buf.get("gpumat_cuda_ptr"))
        if not ok:
            problems.append(f"{name}: {why}")
    return problems


def _find_flags(value: Any, needle: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if needle in str(k).lower() and isinstance(v, bool):
                found.append((str(k), v))
            found += _find_flags(v, needle)
    elif isinstance(value, list):
        for v in value:
            found += _find_flags(v, needle)
    return found


def _pointer_records(value: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if "type" in value and ("device_pointer" in value or "devicePointer" in value):
            out.append(value)
        for v in value.values():
            out += _pointer_records(v)
    elif isinstance(value, list):
        for v in value:
            out += _pointer_records(v)
    return out


def cpp_zero_copy_problems(data: dict[str, Any]) -> list[str]:
    """What is wrong with the tool's zero-copy evidence for one case (field names read defensively)."""
    if data.get("ok") is False or data.get("error"):
        return [str(data.get("error") or "the tool reports a failure")]
    problems = []
    flags = _find_flags(data, "realloc")
    if not flags:
        problems.append("the tool's output has no reallocation flag, so in-place output is unproven")
    problems += [f"{k} is true: the output GpuMat was reallocated" for k, v in flags if v]
    records = _pointer_records(data)
    if not records:
        problems.append("the tool's output has no pointer attributes, so mapped buffers are unproven")
    for rec in records:
        ok, why = is_mapped_host(rec)
        if not ok:
            problems.append(why)
    return problems
