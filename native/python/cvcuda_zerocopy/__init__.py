"""cvcuda_zerocopy: pinned, GPU-mapped host memory for numpy and ``cv2.cuda``, shared with the C++ plugin.

    import numpy as np, cv2, cvcuda_zerocopy as z

    z.setup_device(0)                              # once, before other CUDA work
    src = z.mapped_empty((1080, 1920), np.uint8)   # pinned + mapped, from the shared pool
    dst = z.mapped_empty((1080, 1920), np.uint8)
    src[...] = frame                               # the CPU writes, the GPU reads the same bytes
    g_src, g_dst = z.gpumat(src), z.gpumat(dst)    # cv2.cuda.GpuMat headers over the device aliases
    gauss = cv2.cuda.createGaussianFilter(cv2.CV_8UC1, cv2.CV_8UC1, (5, 5), 1.2)
    gauss.apply(g_src, dst=g_dst)
    cv2.cuda.Stream.Null().waitForCompletion()     # dst now holds the result; no copy was made

Lifetimes: an array from ``mapped_empty`` keeps its block alive (numpy holds the buffer); the block goes back
to the pool when the last array or view of it is gone. A GpuMat from ``gpumat`` does *not* own the memory
(exactly like ``cv2.cuda.createGpuMatFromCudaMemory``): keep the array alive while the GpuMat is in use.
``register`` makes existing memory mapped until the returned handle is closed (use it as a context manager).
"""

from __future__ import annotations

import math
from typing import Any

from cvcuda_zerocopy import _native
from cvcuda_zerocopy._native import (
    MAPPED,
    PORTABLE,
    VERSION,
    WRITE_COMBINED,
    CudaError,
    MappedBuffer,
    Registration,
)

__version__ = VERSION

__all__ = [
    "MAPPED",
    "PORTABLE",
    "WRITE_COMBINED",
    "CudaError",
    "MappedBuffer",
    "Registration",
    "describe",
    "device_count",
    "device_pointer",
    "gpumat",
    "is_mapped",
    "mapped_buffer",
    "mapped_empty",
    "mapped_zeros",
    "pointer_attributes",
    "pool_stats",
    "register",
    "row_alignment_bytes",
    "set_pool_limit",
    "setup_device",
    "synchronize_pending",
    "trim",
]

#: numpy dtype name -> name of the OpenCV depth constant (looked up in cv2, so OpenCV 4 lacks the 5.x ones).
_DEPTHS = {
    "uint8": "CV_8U",
    "int8": "CV_8S",
    "uint16": "CV_16U",
    "int16": "CV_16S",
    "int32": "CV_32S",
    "float32": "CV_32F",
    "float64": "CV_64F",
    "float16": "CV_16F",
    "uint32": "CV_32U",
    "uint64": "CV_64U",
    "int64": "CV_64S",
    "bool": "CV_Bool",
}
_CV_CN_MAX = 512


def _flags(write_combined: bool, portable: bool) -> int:
    return int(MAPPED) | (int(WRITE_COMBINED) if write_combined else 0) | (int(PORTABLE) if portable else 0)


def _shape(shape: Any) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    out = []
    for d in dims:
        if not isinstance(d, int) and not hasattr(d, "__index__"):
            raise TypeError(f"shape entries must be integers, got {d!r}")
        value = int(d.__index__()) if not isinstance(d, int) else d
        if value < 0:
            raise ValueError(f"negative dimension {value} in shape {tuple(dims)}")
        out.append(value)
    return tuple(out)


def mapped_empty(
    shape: Any,
    dtype: Any = "uint8",
    *,
    write_combined: bool = False,
    portable: bool = False,
    pooled: bool = True,
    row_alignment: int | None = None,
) -> Any:
    """An uninitialised ndarray in pinned, mapped host memory from the shared pool.

    ``write_combined``: fast for the GPU to read and the CPU to write, very slow for the CPU to read.
    ``portable``: mapped for every device's context. ``pooled=False``: a fresh cudaHostAlloc, freed at once
    on release. A zero-size shape gives an ordinary empty array (there is nothing to map).

    Rows of a 2-D (HxW) or 3-D (HxWxC) image are padded like C++ ``texture_mat``'s: ``strides[0]`` is
    rounded up to ``row_alignment`` bytes, by default (None) the device's texturePitchAlignment
    (``row_alignment_bytes()``, 32 on current GPUs). CUDA functions that read through a texture
    (``cv2.cuda`` Canny, remap, ...) refuse a GpuMat whose step is not a multiple of it. Rows that already
    are (640 x uint8) stay C-contiguous; pass ``row_alignment=1`` for a C-contiguous array when no texture
    will read it.
    """
    import numpy as np

    dt = np.dtype(dtype)
    dims = _shape(shape)
    count = math.prod(dims)
    nbytes = count * dt.itemsize
    if nbytes == 0:
        return np.empty(dims, dt)
    flags = _flags(write_combined, portable)
    if len(dims) not in (2, 3):
        return np.frombuffer(_native.alloc(nbytes, flags, pooled), dtype=dt, count=count).reshape(dims)
    align = row_alignment if row_alignment is not None else row_alignment_bytes()
    if align < 1 or align & (align - 1):
        raise ValueError(f"row_alignment={align} is not a power of two (use 1 for C-contiguous rows)")
    row = nbytes // dims[0]
    step = -(-row // align) * align
    buf = _native.alloc(step * dims[0], flags, pooled)
    strides = (step, *np.empty(dims[1:], dt).strides)
    return np.ndarray(dims, dtype=dt, buffer=buf, strides=strides)


def row_alignment_bytes() -> int:
    """Bytes that ``mapped_empty`` (and C++ ``texture_mat``) round row steps up to on this device."""
    return int(_native.row_alignment())


def mapped_buffer(arr: Any) -> MappedBuffer | None:
    """The pooled block behind an array from ``mapped_empty`` (flags, capacity, device), else None."""
    obj = arr
    for _ in range(64):  # views of views of ...; numpy keeps a memoryview of the buffer at the bottom
        if isinstance(obj, MappedBuffer):
            return obj
        if isinstance(obj, memoryview):
            obj = obj.obj
        else:
            obj = getattr(obj, "base", None)
        if obj is None:
            return None
    return None


def mapped_zeros(shape: Any, dtype: Any = "uint8", **kwargs: Any) -> Any:
    """Like ``mapped_empty``, filled with zeros (pooled blocks may hold old data)."""
    arr = mapped_empty(shape, dtype, **kwargs)
    arr[...] = 0
    return arr


def _address(obj: Any) -> int:
    if isinstance(obj, int) and not isinstance(obj, bool):
        return obj
    iface = getattr(obj, "__array_interface__", None)
    if iface is None:
        raise TypeError(f"expected a numpy array (or an address), got {type(obj).__name__}")
    if int(getattr(obj, "size", 1)) == 0:
        raise ValueError("the array is empty: it has no memory to map")
    return int(iface["data"][0])


def _extent(arr: Any) -> tuple[int, int]:
    """(lowest address, bytes) of the memory an array's elements span (strides of either sign)."""
    low = high = _address(arr)
    for n, stride in zip(arr.shape, arr.strides, strict=True):
        span = (n - 1) * stride
        if span < 0:
            low += span
        else:
            high += span
    return low, high - low + arr.dtype.itemsize


def device_pointer(arr: Any) -> int:
    """The device alias of ``arr``'s first element (an int address); refuses memory that is not mapped."""
    return int(_native.device_pointer(_address(arr)))


def pointer_attributes(arr: Any) -> dict[str, Any]:
    """cudaPointerGetAttributes for ``arr``'s first element.

    ``{"type": "host"|"device"|"managed"|"unregistered", "type_code": 1, "device": 0,
    "device_pointer": int, "host_pointer": int}``; mapped memory is type ``host`` with a non-zero alias.
    """
    return dict(_native.pointer_attributes(_address(arr)))


def is_mapped(arr: Any) -> bool:
    """True when ``arr`` is pinned host memory with a device alias on the current device."""
    try:
        attrs = pointer_attributes(arr)
    except (RuntimeError, ValueError, TypeError):
        return False
    return attrs["type"] == "host" and bool(attrs["device_pointer"])


def register(arr: Any, *, portable: bool = False) -> Registration:
    """Map existing memory (cudaHostRegister, mapped) until the handle is closed; keeps ``arr`` alive.

        with z.register(frame):
            g = z.gpumat(frame)
            ...                    # GPU work, synchronised before the block ends

    Memory that is already mapped (e.g. from ``mapped_empty``) needs nothing: ``handle.registered`` is False.
    """
    low, nbytes = _extent(arr)
    return Registration(low, nbytes, MAPPED | (PORTABLE if portable else 0), arr)


def gpumat(arr: Any) -> Any:
    """A ``cv2.cuda.GpuMat`` over the device alias of a mapped 2-D (HxW) or 3-D (HxWxC) array.

    Rows may be padded (``strides[0]`` is the step) but the pixels of a row must be packed. The GpuMat does
    not own the memory: keep ``arr`` alive while it is used.
    """
    import cv2
    import numpy as np

    if not isinstance(arr, np.ndarray):
        raise TypeError(f"gpumat needs a numpy array, got {type(arr).__name__}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"gpumat needs a 2-D (HxW) or 3-D (HxWxC) array, got shape {arr.shape}")
    rows, cols = int(arr.shape[0]), int(arr.shape[1])
    channels = int(arr.shape[2]) if arr.ndim == 3 else 1
    if rows == 0 or cols == 0 or channels == 0:
        raise ValueError(f"gpumat needs a non-empty array, got shape {arr.shape}")
    if channels > _CV_CN_MAX:
        raise ValueError(f"{channels} channels: OpenCV allows at most {_CV_CN_MAX}")
    name = _DEPTHS.get(arr.dtype.name)
    depth = getattr(cv2, name, None) if name else None
    if depth is None:
        raise ValueError(f"dtype {arr.dtype} has no OpenCV depth in this cv2 ({cv2.__version__})")
    item = arr.dtype.itemsize
    packed = arr.strides[1] == channels * item and (arr.ndim == 2 or arr.strides[2] == item)
    if not packed:
        raise ValueError(f"the pixels of a row must be packed for a GpuMat; strides {arr.strides} are not")
    step = int(arr.strides[0])
    if rows > 1 and step < cols * channels * item:
        raise ValueError(f"row step {step} is smaller than a row ({cols * channels * item} bytes)")
    cv_type = cv2.CV_MAKETYPE(depth, channels)
    return cv2.cuda.createGpuMatFromCudaMemory(rows, cols, cv_type, device_pointer(arr), step)


def pool_stats() -> dict[str, int]:
    """Counters of the pool shared with C++: bytes_held, bytes_in_use, bytes_cached, hits, misses, ..."""
    return dict(_native.pool_stats())


def trim(keep_bytes: int = 0) -> int:
    """Free cached (idle) pinned blocks until at most ``keep_bytes`` stay cached; returns the bytes freed."""
    return int(_native.trim(keep_bytes))


def synchronize_pending() -> None:
    """Wait for the GPU work recorded on released blocks, so they are reusable at once.

    A released block is reused only after an event recorded on the legacy default stream at its release
    (and every recorded use) has completed; work on a non-blocking stream is not ordered with that stream:
    synchronize it before the last array over the block goes away.
    """
    _native.synchronize_pending()


def set_pool_limit(nbytes: int) -> None:
    """Bound the cached (idle) bytes; releases beyond it go straight back to CUDA. 0 disables caching."""
    _native.set_pool_limit(nbytes)


def setup_device(index: int = 0) -> dict[str, Any]:
    """One-time, thread-safe set-up of ``index`` for mapped memory; makes it this thread's current device.

    Returns what was found (name, compute capability, canMapHostMemory, unified addressing, the device flags
    before and after, and a ``note`` explaining why mapped memory works). Raises CudaError (no device, no
    driver) or RuntimeError/ValueError (bad index, device cannot map host memory).
    """
    return dict(_native.setup_device(index))


def device_count() -> int:
    """The number of CUDA devices (0 without a device or driver; never raises)."""
    count, _error = _native.device_count()
    return int(count)


def describe() -> dict[str, Any]:
    """The library's version line and the CUDA driver/runtime versions."""
    return dict(_native.describe())
