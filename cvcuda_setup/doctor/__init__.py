"""Preflight: is this host ready to build a recipe? Findings (ok / warn / error), each with its fix.

``run_doctor`` probes (GPUs, toolkit, compilers, disks, Python) and checks the facts, including the OpenCV x
CUDA compatibility table in ``compat.toml``. ``exit_code``: 0 all ok, 1 warnings only, 2 any error.
docs/doctor.md lists every finding and the ``--json`` schema.
"""

from __future__ import annotations

from cvcuda_setup.doctor.findings import SCHEMA, Finding, exit_code, to_document
from cvcuda_setup.doctor.render import render
from cvcuda_setup.doctor.runner import run_doctor

__all__ = ["SCHEMA", "Finding", "exit_code", "render", "run_doctor", "to_document"]
