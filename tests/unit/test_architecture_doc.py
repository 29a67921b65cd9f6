"""docs/architecture.md names only functions that exist: each table row's module and the names after it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
MODULE_CELL = re.compile(r"^`([\w/]+)\.py`$")
LEADING_NAMES = re.compile(r"^((?:`[A-Za-z_]\w*`(?:, )?)+)")
DOTTED = re.compile(r"`([a-z_]\w*(?:\.\w+)+)`")


def _module(path: str) -> str:
    return "cvcuda_setup." + path.replace("/", ".")


def named_in_tables() -> list[tuple[str, str]]:
    """(module, name) for every row ``| ... | `mod.py` | `name`, `name` ... |`` of the document."""
    pairs: list[tuple[str, str]] = []
    for line in DOC.read_text().splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        for i, cell in enumerate(cells[:-1]):
            match = MODULE_CELL.match(cell)
            if match is None:
                continue
            names = LEADING_NAMES.match(cells[i + 1])
            if names is not None:
                pairs += [(_module(match.group(1)), n) for n in re.findall(r"`(\w+)`", names.group(1))]
            break
    return pairs


def dotted_references() -> list[str]:
    """``a.b.c`` references whose first part is one of the package's modules or packages."""
    root = DOC.parents[1] / "cvcuda_setup"
    found = []
    for ref in DOTTED.findall(DOC.read_text()):
        head = ref.split(".")[0]
        if not ref.endswith(".py") and ((root / f"{head}.py").is_file() or (root / head).is_dir()):
            found.append(ref)
    return sorted(set(found))


def test_the_document_names_stages() -> None:
    pairs = named_in_tables()
    assert len(pairs) >= 40, pairs  # the tables were parsed, not skipped
    assert ("cvcuda_setup.pipeline.build", "plan_request") in pairs
    assert ("cvcuda_setup.cmake", "execute") in pairs


@pytest.mark.parametrize(("module", "name"), named_in_tables())
def test_each_named_function_exists(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name), f"{module} has no {name} (docs/architecture.md)"


@pytest.mark.parametrize("ref", dotted_references())
def test_each_dotted_reference_exists(ref: str) -> None:
    parts = ref.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module("cvcuda_setup." + ".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            assert hasattr(obj, attr), f"cvcuda_setup.{ref} does not exist (docs/architecture.md)"
            obj = getattr(obj, attr)
        return
    pytest.fail(f"cvcuda_setup.{ref} does not exist (docs/architecture.md)")
