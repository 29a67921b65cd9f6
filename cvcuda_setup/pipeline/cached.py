"""The binary cache around a build (``build --cache oci://HOST/REPO``): a hit installs the pulled prefix
instead of building; a miss builds, then pushes. The registry being down, a refused relocation or a broken
artifact never fails the build: it is said, and the build runs (``binarycache`` does the moving).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cvcuda_setup.console import console
from cvcuda_setup.errors import CvCudaSetupError

if TYPE_CHECKING:
    from cvcuda_setup.cachekey import CacheKey
    from cvcuda_setup.model import BuildPlan
    from cvcuda_setup.oci.ref import OciRef


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def install_from_cache(cache: OciRef | None, plan: BuildPlan, key: CacheKey, *, force: bool) -> bool:
    """True when ``plan.prefix`` now holds the cached binary of ``key``; False: build it."""
    from cvcuda_setup.binarycache import lookup, pull_prefix
    from cvcuda_setup.oci.errors import RegistryUnavailable

    if cache is None:
        return False
    name = cache.repository_url
    if not key.complete:
        console.info(f"binary cache: the key is incomplete ({', '.join(key.unknown)} unknown until fetched)")
        return False
    try:
        ref = lookup(cache, key.digest)
    except RegistryUnavailable as exc:
        console.warn(f"binary cache {name} is unavailable ({exc.message}): building instead")
        return False
    except CvCudaSetupError as exc:
        console.warn(f"binary cache {name}: {exc.message}: building instead")
        return False
    if ref is None:
        console.info(f"binary cache: no binary for key {key.digest[:16]} in {name}: building, then pushing")
        return False
    try:
        with console.step(f"install from the binary cache ({ref})"):
            moved = pull_prefix(ref, plan.prefix, force=force, key_digest=key.digest)
    except CvCudaSetupError as exc:
        console.warn(f"binary cache: {ref} not installed ({exc.message}): building instead")
        return False
    where = " (paths rewritten for this prefix)" if moved.relocated else ""
    console.info(f"installed {_mib(moved.size)} from {ref} in {moved.seconds:.1f} s{where}")
    return True


def push_to_cache(cache: OciRef | None, plan: BuildPlan, key: CacheKey) -> None:
    """Push the built prefix under ``key``; a failure is a warning (the build itself succeeded)."""
    from cvcuda_setup.binarycache import push_prefix

    if cache is None:
        return
    name = cache.repository_url
    if not key.complete:
        console.warn(f"binary cache: not pushed, the key is incomplete ({', '.join(key.unknown)} unknown)")
        return
    try:
        with console.step(f"push to the binary cache ({name})"):
            moved = push_prefix(plan.prefix, cache, key=key.to_json())
    except CvCudaSetupError as exc:
        console.warn(f"binary cache: not pushed ({exc.message})")
        return
    console.info(f"pushed {_mib(moved.size)} as {moved.ref} in {moved.seconds:.1f} s")
