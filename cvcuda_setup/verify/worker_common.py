"""What the worker's commands share: one-line errors, recorded calls, JSON-safe values (stdlib only).

Runs inside the target interpreter as a module of the worker (see ``worker.py``).
"""

from __future__ import annotations

from typing import Any


def _err(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return " ".join(text.split())[:2000]


def _call(record: dict[str, Any], key: str, fn: Any, *args: Any) -> Any:
    """``record[key] = fn(*args)``; on an exception ``record[key + '_error']`` holds it, None is returned."""
    try:
        value = fn(*args)
    except Exception as exc:
        record[key + "_error"] = _err(exc)
        return None
    record[key] = value
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if hasattr(value, "_asdict"):
        return _jsonable(value._asdict())
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return _jsonable({k: v for k, v in vars(value).items() if not k.startswith("_")})
    try:
        return int(value)
    except (TypeError, ValueError):
        return str(value)
