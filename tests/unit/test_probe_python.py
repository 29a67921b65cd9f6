"""The one interpreter probe: a single script answers the bindings' build, the wheel's tags and the plugin."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest

from cvcuda_setup import pluginenv
from cvcuda_setup.errors import ToolchainError, UsageError
from cvcuda_setup.probe import python as probe_python
from cvcuda_setup.wheel import naming


def test_one_probe_answers_every_caller() -> None:
    found = probe_python.probe_interpreter(None)
    assert found.executable == Path(sys.executable)
    assert found.version_info == sys.version_info[:2]
    assert found.ext_suffix == sysconfig.get_config_var("EXT_SUFFIX")
    assert Path(sysconfig.get_paths()["purelib"]) in found.site_dirs
    info = probe_python.probe_python(None)
    assert (info.executable, info.version, info.include_dir) == (
        found.executable,
        found.version,
        found.include_dir,
    )
    target = pluginenv.probe_target_python(None)
    assert (target.executable, target.version, target.site_dirs) == (
        found.executable,
        found.version,
        found.site_dirs,
    )
    facts = naming.probe_interpreter(None)
    assert (facts.executable, facts.version, facts.numpy_version) == (
        str(found.executable),
        found.version_info,
        found.numpy_version,
    )


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_an_interpreter_that_answers_nonsense_or_fails(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="cannot read"):
        probe_python.probe_interpreter(_script(tmp_path / "python", "echo not-json\n"))
    with pytest.raises(ToolchainError, match="failed to describe itself: boom"):
        probe_python.probe_python(_script(tmp_path / "python2", "echo boom >&2\nexit 3\n"))
    with pytest.raises(UsageError, match="does not exist"):
        pluginenv.probe_target_python(tmp_path / "missing")
