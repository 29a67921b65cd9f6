"""A Registration <-> owner reference cycle is collected by the cyclic GC, and collecting it unregisters.

Builds the plugin like test_plugin_gpu.py (its ``built`` fixture), then in a fresh interpreter: an owner
object holds a numpy array and the Registration of that array, which holds the owner (``owner=``): a cycle.
After ``del`` the owner is still alive (only the GC can free it); after ``gc.collect()`` the weakref is dead,
the range is no longer pinned, and registering it again makes a new registration (the registry entry is gone).
Skipped without a GPU (tests/conftest.py) or without a CUDA OpenCV prefix (the fixture says which).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.gpu.test_plugin_gpu import Built, built  # noqa: F401  (the fixture, shared)

pytestmark = pytest.mark.gpu

PY_CYCLE = textwrap.dedent(
    """
    import gc, json, weakref
    import numpy as np
    import cvcuda_zerocopy as z
    from cvcuda_zerocopy import _native

    z.setup_device(0)
    gc.disable()  # no collection before the explicit one

    class Owner:
        pass

    data = np.zeros(1 << 22, np.uint8)  # 4 MiB: its own pages
    owner = Owner()
    owner.data = data
    owner.reg = _native.Registration(data.ctypes.data, data.nbytes, z.MAPPED, owner)  # owner -> reg -> owner
    out = {}
    out["tracked"] = gc.is_tracked(owner.reg)
    out["registered"] = owner.reg.registered
    out["mapped_inside"] = z.is_mapped(data)
    ref = weakref.ref(owner)
    del owner
    out["alive_before_collect"] = ref() is not None
    out["collected"] = gc.collect()
    out["alive_after_collect"] = ref() is not None
    out["mapped_after"] = z.is_mapped(data)
    out["type_after"] = z.pointer_attributes(data)["type"]
    again = z.register(data)
    out["registers_again"] = again.registered
    again.close()
    print(json.dumps(out))
    """
)


def test_registration_owner_cycle_is_collected_and_unregistered(built: Built) -> None:  # noqa: F811
    proc = subprocess.run(
        [sys.executable, "-c", PY_CYCLE], capture_output=True, text=True, timeout=300, env=built.env()
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tracked"] is True and out["registered"] is True and out["mapped_inside"] is True
    assert out["alive_before_collect"] is True  # a real cycle: refcounting alone does not free it
    assert out["collected"] >= 2 and out["alive_after_collect"] is False
    assert out["mapped_after"] is False and out["type_after"] == "unregistered"
    assert out["registers_again"] is True
