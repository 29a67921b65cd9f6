"""``cvcuda-setup verify``: the checks that gate a GPU host or CI image (one module per check).

Entry point: ``run_verify(VerifyOptions(prefix=...)) -> Report``; ``report`` renders it as JSON, JUnit XML
or a table. See docs/verify.md for each check, the JSON schema and the exit codes.
"""

from __future__ import annotations

from cvcuda_setup.verify.context import VerifyOptions, parse_device
from cvcuda_setup.verify.result import SCHEMA, CheckResult, Part, Report
from cvcuda_setup.verify.runner import run_verify

__all__ = ["SCHEMA", "CheckResult", "Part", "Report", "VerifyOptions", "parse_device", "run_verify"]
