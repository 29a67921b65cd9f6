"""Runs inside the *target* interpreter, under the prefix's env, as ``python -c <this file> CMD REQ RES``.

It imports only the standard library at module level, then numpy, ``cv2`` and ``cvcuda_zerocopy`` inside the
commands: the target interpreter need not have cvcuda-setup installed. Each command reads its request (JSON)
from REQ and writes its result (JSON) to RES; stdout is left to OpenCV (``printShortCudaDeviceInfo`` prints
there), so the parent captures it as text. A command records the errors it meets in its result instead of
raising; an unexpected exception is written as ``{"fatal": ...}``. Interpretation (pass/fail) is the parent's.

Commands: ``cv2info``, ``device``, ``kernel``, ``mapped`` here, ``prepare``, ``pipeline``, ``readimg`` in
``worker_pipeline.py``; the helpers they share are in ``worker_common.py``. ``procs.run_worker`` sends the
three files' sources: the two it imports become modules of their real names before this one runs as
``__main__``, so the ``cvcuda_setup.verify`` imports below work without cvcuda-setup in the interpreter.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

from cvcuda_setup.verify.worker_common import _call, _err, _jsonable
from cvcuda_setup.verify.worker_pipeline import cmd_pipeline, cmd_prepare, cmd_readimg

NO_KERNEL_IMAGE = "no kernel image is available"


# -- cv2info ------------------------------------------------------------------------------------------------


def _sys_path_origins() -> list[dict[str, Any]]:
    import site

    env_entries = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    site_dirs: set[str] = set()
    try:
        site_dirs.update(os.path.abspath(p) for p in site.getsitepackages())
    except AttributeError:  # virtualenv's old site module
        pass
    user = getattr(site, "getusersitepackages", lambda: "")()
    import sysconfig

    stdlib = {os.path.abspath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")}
    stdlib |= {os.path.abspath(os.path.join(p, "lib")) for p in (sys.base_prefix, sys.base_exec_prefix)}
    entries = []
    for i, entry in enumerate(sys.path):
        path = os.path.abspath(entry) if entry else os.getcwd()
        if entry == "":
            origin = "current directory"
        elif path in env_entries:
            origin = "PYTHONPATH"
        elif user and path == os.path.abspath(user):
            origin = "user site-packages"
        elif path in site_dirs:
            origin = "site-packages"
        elif path.endswith(("site-packages", "dist-packages")):
            origin = "site-packages (.pth or venv)"
        elif any(path == p or path.startswith(p + os.sep) for p in stdlib):
            origin = "standard library"
        else:
            origin = "added at startup (.pth or sitecustomize)"
        entries.append({"index": i, "path": path, "origin": origin})
    return entries


def _cv2_candidates(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every sys.path entry that holds a ``cv2`` package or extension, in import order."""
    found = []
    for entry in entries:
        base = entry["path"]
        pkg = os.path.join(base, "cv2", "__init__.py")
        ext = []
        if os.path.isdir(base):
            try:
                ext = [n for n in os.listdir(base) if n.startswith("cv2.") and n.endswith((".so", ".pyd"))]
            except OSError:
                ext = []
        if os.path.isfile(pkg):
            found.append({**entry, "cv2": os.path.join(base, "cv2")})
        elif ext:
            found.append({**entry, "cv2": os.path.join(base, sorted(ext)[0])})
    return found


def _opencv_dists() -> list[dict[str, Any]]:
    """Installed distributions that ship a top-level ``cv2`` or are named opencv*."""
    from importlib import metadata

    out = []
    seen: set[tuple[str, str]] = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or "?"
        files = dist.files or []
        cv2_files = [
            f
            for f in files
            if str(f).replace("\\", "/").split("/")[0] in ("cv2",) or str(f).startswith("cv2.")
        ]
        top_level = (dist.read_text("top_level.txt") or "").split()
        if not cv2_files and "cv2" not in top_level and not name.lower().startswith("opencv"):
            continue
        location = ""
        cv2_path = ""
        try:
            location = os.path.abspath(str(dist.locate_file("")))
            if cv2_files:
                first = str(cv2_files[0]).replace("\\", "/")
                top = first.split("/")[0]
                cv2_path = os.path.abspath(str(dist.locate_file(top)))
        except Exception:  # a broken dist-info: report what we have
            pass
        key = (name.lower(), location)
        if key in seen:
            continue
        seen.add(key)
        out.append(
            {
                "name": name,
                "version": dist.metadata["Version"] or "?",
                "location": location,
                "cv2_path": cv2_path,
                "cv2_exists": bool(cv2_path) and os.path.exists(cv2_path),
            }
        )
    return out


def cmd_cv2info(request: dict[str, Any]) -> dict[str, Any]:
    entries = _sys_path_origins()
    info: dict[str, Any] = {
        "executable": sys.executable,
        "python_version": "{}.{}.{}".format(*sys.version_info[:3]),
        "pythonpath": os.environ.get("PYTHONPATH", ""),
        "sys_path": entries,
        "candidates": _cv2_candidates(entries),
    }
    try:
        info["dists"] = _opencv_dists()
    except Exception as exc:
        info["dists"] = []
        info["dists_error"] = _err(exc)
    try:
        import cv2
    except BaseException as exc:  # ImportError, or a SystemExit/crash-like error from the loader
        info["import_error"] = _err(exc)
    else:
        info["cv2_file"] = os.path.abspath(getattr(cv2, "__file__", "") or "")
        info["cv2_version"] = getattr(cv2, "__version__", "")
        _call(info, "build_information", lambda: cv2.getBuildInformation())
        cuda = getattr(cv2, "cuda", None)
        info["has_cuda_module"] = cuda is not None
        if cuda is not None:
            _call(info, "cuda_device_count", lambda: cuda.getCudaEnabledDeviceCount())
        info["has_cudafilters"] = cuda is not None and hasattr(cuda, "createGaussianFilter")
        info["has_cudaimgproc"] = cuda is not None and hasattr(cuda, "createCannyEdgeDetector")
    try:
        import cvcuda_zerocopy
    except BaseException as exc:
        info["zerocopy_error"] = _err(exc)
    else:
        info["zerocopy_file"] = os.path.abspath(getattr(cvcuda_zerocopy, "__file__", "") or "")
    return info


# -- device / kernel ----------------------------------------------------------------------------------------


def cmd_device(request: dict[str, Any]) -> dict[str, Any]:
    import cv2

    dev = int(request["device"])
    out: dict[str, Any] = {"device": dev}
    count = _call(out, "count", lambda: cv2.cuda.getCudaEnabledDeviceCount())
    if count is None or dev >= count:
        return out
    sys.stdout.flush()
    _call(out, "short_info_called", lambda: cv2.cuda.printShortCudaDeviceInfo(dev) or True)
    sys.stdout.flush()
    try:
        d = cv2.cuda.DeviceInfo(dev)
    except Exception as exc:
        out["device_info_error"] = _err(exc)
        return out
    facts: dict[str, Any] = {}
    # DeviceInfo.name() returns const char* and has no CV_WRAP (OpenCV 4.x and 5.1): Python has no name();
    # the check reads it from printShortCudaDeviceInfo's line instead.
    if hasattr(d, "name"):
        _call(facts, "name", d.name)
    for key, method in (
        ("major", "majorVersion"),
        ("minor", "minorVersion"),
        ("is_compatible", "isCompatible"),
        ("can_map_host_memory", "canMapHostMemory"),
        ("total_memory", "totalMemory"),
        ("integrated", "integrated"),
        ("multiprocessors", "multiProcessorCount"),
    ):
        fn = getattr(d, method, None)
        if fn is None:
            facts[key + "_error"] = f"cv2.cuda.DeviceInfo has no {method}()"
        else:
            _call(facts, key, fn)
    out["device_info"] = _jsonable(facts)
    major, minor = facts.get("major"), facts.get("minor")
    if isinstance(major, int) and isinstance(minor, int):
        archs: dict[str, Any] = {}
        for name in ("has", "hasBin", "hasPtx", "hasEqualOrLessPtx"):
            fn = getattr(cv2.cuda, "TargetArchs_" + name, None)
            if fn is not None:
                _call(archs, name, fn, major, minor)
        out["target_archs"] = archs
    return out


def cmd_kernel(request: dict[str, Any]) -> dict[str, Any]:
    import cv2
    import numpy as np

    dev = int(request["device"])
    out: dict[str, Any] = {"device": dev, "ops": []}
    _call(out, "set_device", lambda: cv2.cuda.setDevice(dev) or True)
    ops = out["ops"]
    try:
        g = cv2.cuda.GpuMat(64, 64, cv2.CV_8UC1)
        g.setTo(37)
        host = g.download()
        ops.append({"op": "GpuMat.setTo", "ok": bool((host == 37).all()), "error": None})
    except Exception as exc:
        ops.append({"op": "GpuMat.setTo", "ok": False, "error": _err(exc)})
    try:
        img = (np.arange(128 * 96, dtype=np.uint32).reshape(96, 128) * 2654435761 % 251).astype(np.uint8)
        src = cv2.cuda.GpuMat()
        src.upload(img)
        filt = cv2.cuda.createGaussianFilter(cv2.CV_8UC1, cv2.CV_8UC1, (5, 5), 1.2)
        got = filt.apply(src).download()
        ref = cv2.GaussianBlur(img, (5, 5), 1.2)
        diff = int(np.abs(got.astype(np.int32) - ref.astype(np.int32)).max())
        ops.append({"op": "cuda Gaussian filter", "ok": diff <= 1, "max_abs_diff": diff, "error": None})
    except Exception as exc:
        ops.append({"op": "cuda Gaussian filter", "ok": False, "error": _err(exc)})
    return out


# -- mapped memory -------------------------------------------------------------------------------------------


def _attributes_of(z: Any, arr: Any) -> Any:
    return _jsonable(z.pointer_attributes(arr))


def _device_pointer_of(z: Any, arr: Any) -> int:
    return int(z.device_pointer(arr))


def cmd_mapped(request: dict[str, Any]) -> dict[str, Any]:
    import gc

    import numpy as np

    dev = int(request["device"])
    out: dict[str, Any] = {"device": dev}
    try:
        import cvcuda_zerocopy as z
    except BaseException as exc:
        out["module_error"] = _err(exc)
        return out
    out["module_file"] = os.path.abspath(getattr(z, "__file__", "") or "")
    if _call(out, "setup_device", lambda: z.setup_device(dev) or True) is None:
        return out
    _call(out, "stats_before", lambda: _jsonable(z.pool_stats()))
    shape = (1024, 1024)
    try:
        arr = z.mapped_empty(shape, np.uint8)
    except Exception as exc:
        out["alloc_error"] = _err(exc)
        return out
    out["alloc"] = {"shape": list(arr.shape), "nbytes": int(arr.nbytes), "host_pointer": int(arr.ctypes.data)}
    _call(out, "attributes", _attributes_of, z, arr)
    _call(out, "device_pointer", _device_pointer_of, z, arr)
    _call(out, "stats_allocated", lambda: _jsonable(z.pool_stats()))
    try:
        arr[...] = 7
        g = z.gpumat(arr)
        out["gpumat_cuda_ptr"] = int(g.cudaPtr())
        seen = g.download()
        out["device_sees_host_write"] = bool((seen == 7).all())
        del g, seen
    except Exception as exc:
        out["gpumat_error"] = _err(exc)
    del arr
    gc.collect()
    _call(out, "stats_freed", lambda: _jsonable(z.pool_stats()))
    _call(out, "trim", lambda: _jsonable(z.trim()))
    _call(out, "stats_trimmed", lambda: _jsonable(z.pool_stats()))
    return out


COMMANDS = {
    "cv2info": cmd_cv2info,
    "device": cmd_device,
    "kernel": cmd_kernel,
    "mapped": cmd_mapped,
    "prepare": cmd_prepare,
    "pipeline": cmd_pipeline,
    "readimg": cmd_readimg,
}


def main(argv: list[str]) -> int:
    command, request_path, result_path = argv[1:4]
    with open(request_path, encoding="utf-8") as fh:
        request = json.load(fh)
    try:
        result = COMMANDS[command](request)
    except BaseException as exc:  # the parent reports it as this command's failure
        result = {"fatal": _err(exc), "traceback": traceback.format_exc()[-4000:]}
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump(_jsonable(result), fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
