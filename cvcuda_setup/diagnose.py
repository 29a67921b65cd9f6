"""Known failure patterns in configure/build/install logs -> a fix hint; and the first real error lines.

Each pattern is matched against the whole log (CMake wraps its messages at about 80 columns, so the
regular expressions allow any whitespace, newlines included, between words). ``diagnose`` returns every
pattern that matched, in table order (the most specific causes first); ``first_errors`` picks the lines
worth showing from a log of thousands.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: Options that turn off the OpenCV component bundled in ``3rdparty/<dir>``.
_THIRDPARTY_OPTIONS = {
    "zlib": "BUILD_ZLIB=OFF (uses the system zlib)",
    "zlib-ng": "BUILD_ZLIB=OFF (uses the system zlib)",
    "libpng": "WITH_PNG=OFF",
    "libspng": "WITH_SPNG=OFF",
    "libjpeg": "WITH_JPEG=OFF",
    "libjpeg-turbo": "WITH_JPEG=OFF",
    "libtiff": "WITH_TIFF=OFF",
    "libwebp": "WITH_WEBP=OFF",
    "openjpeg": "WITH_OPENJPEG=OFF",
    "libjasper": "WITH_JASPER=OFF",
    "openexr": "WITH_OPENEXR=OFF",
    "protobuf": "WITH_PROTOBUF=OFF",
    "flatbuffers": "WITH_FLATBUFFERS=OFF",
    "ittnotify": "WITH_ITT=OFF",
    "ippicv": "WITH_IPP=OFF",
    "carotene": "WITH_CAROTENE=OFF",
    "kleidicv": "WITH_KLEIDICV=OFF",
    "fastcv": "WITH_FASTCV=OFF",
    "cpufeatures": "(Android only)",
    "libtengine": "WITH_TENGINE=OFF",
    "ade": "WITH_ADE=OFF",
    "dlpack": "(always needed by core in 5.x: keep it in the bundle)",
}

#: CUDA libraries OpenCV links, by the names they appear under in errors.
_CUDA_LIBS = {
    "npp": ("NPP", "libnpp-dev", "cudaarithm, cudafilters, cudaimgproc and cudawarping need it"),
    "cublas": ("cuBLAS", "libcublas-dev", "or build with -D WITH_CUBLAS=OFF"),
    "cufft": ("cuFFT", "libcufft-dev", "or build with -D WITH_CUFFT=OFF"),
    "cudnn": ("cuDNN", "cudnn9-cuda-<major>", "or build with -D WITH_CUDNN=OFF -D OPENCV_DNN_CUDA=OFF"),
}


@dataclass(frozen=True)
class Diagnosis:
    #: Stable id of the pattern (``host-compiler``, ``missing-npp``, ...).
    id: str
    #: What to do about it, one line.
    hint: str
    #: The log text that matched, whitespace collapsed.
    evidence: str


@dataclass(frozen=True)
class Context:
    """Facts of the run that make hints concrete."""

    jobs: int | None = None
    cuda_version: str | None = None


Hinter = Callable[[re.Match[str], Context], str]


@dataclass(frozen=True)
class Pattern:
    id: str
    regex: re.Pattern[str]
    hint: Hinter


def _w(text: str) -> str:
    """A phrase as a regex where every space matches any run of whitespace (CMake wraps lines)."""
    return r"\s+".join(re.escape(word) for word in text.split())


def _host_compiler(m: re.Match[str], ctx: Context) -> str:
    if m.group("gcc"):
        n = m.group("gcc")
        return (
            f"nvcc accepts gcc {n} at most: install g++-{n} (or older) and rebuild with "
            f"-D CUDA_HOST_COMPILER=/usr/bin/g++-{n} (OpenCV's FindCUDA path; "
            "-D CMAKE_CUDA_HOST_COMPILER=... with ENABLE_CUDA_FIRST_CLASS_LANGUAGE=ON); "
            "`cvcuda-setup doctor` shows the accepted range"
        )
    n = m.group("clang") or "?"
    return (
        f"nvcc accepts clang older than {n}: rebuild with "
        "-D CUDA_HOST_COMPILER=<a supported clang++ or g++>; `cvcuda-setup doctor` shows the accepted range"
    )


def _gpu_arch(m: re.Match[str], ctx: Context) -> str:
    arch = m.group("arch")
    digits = re.sub(r"\D", "", arch)
    cap = f"{digits[:-1]}.{digits[-1]}" if len(digits) >= 2 else arch
    return (
        f"this nvcc cannot compile for {arch} (compute capability {cap}): choose --arch from "
        "`nvcc --list-gpu-code` (e.g. --arch 9.0), or use a CUDA toolkit that still supports it"
    )


def _opencv_arch(m: re.Match[str], ctx: Context) -> str:
    return (
        f"OpenCV's CMake refuses compute capability {m.group('cap')} for this nvcc: drop it from --arch "
        "(`nvcc --list-gpu-code` lists what it accepts)"
    )


def _killed(m: re.Match[str], ctx: Context) -> str:
    fewer = f"--jobs {max(1, ctx.jobs // 2)}" if ctx.jobs and ctx.jobs > 1 else "fewer --jobs (e.g. --jobs 2)"
    return (
        "a compiler was killed, almost always for lack of memory: rebuild with "
        f"{fewer}; one nvcc job on OpenCV's CUDA sources can need 2-4 GB (the build dir is kept, so it "
        "continues where it stopped)"
    )


def _cuda_lib(key: str) -> Hinter:
    label, package, extra = _CUDA_LIBS[key]

    def hint(m: re.Match[str], ctx: Context) -> str:
        ver = ctx.cuda_version
        if "<major>" in package:
            pkg = package.replace("<major>", ver.split(".")[0]) if ver else package
        else:
            pkg = f"{package}-{'-'.join(ver.split('.')[:2])}" if ver else f"{package}-<X-Y>"
        where = f"CUDA {ver or 'X.Y'} (NVIDIA's package {pkg})"
        return f"{label} was not found: install {label} for {where}, {extra}"

    return hint


def _no_modules(m: re.Match[str], ctx: Context) -> str:
    path = m.group("path")
    return (
        f"{path} holds no OpenCV modules: the opencv_contrib tree is missing or incomplete; use a source "
        "that has opencv_contrib (--source sdist or git), or a recipe with contrib = false"
    )


def _missing_module_dir(m: re.Match[str], ctx: Context) -> str:
    path = m.group("path")
    return (
        f"the module directory {path} does not exist in this source: use a full source (--source sdist), or "
        "rebuild the bundle for this recipe (`cvcuda-setup build --recipe <name> --bundle <file>`)"
    )


def _thirdparty(m: re.Match[str], ctx: Context) -> str:
    path = m.group("path")
    rel = path[path.index("3rdparty/") :].rstrip("/")
    name = rel.split("/")[1] if rel.count("/") >= 1 else rel
    option = _THIRDPARTY_OPTIONS.get(name)
    turn_off = f", or build with -D {option}" if option and "=" in option else ""
    return (
        f"the pruned source has no {rel}: add {rel!r} to the recipe's bundle_keep and write the bundle again"
        f"{turn_off}"
    )


def _python_headers(m: re.Match[str], ctx: Context) -> str:
    return (
        "Python.h is missing: install the development headers of the interpreter the bindings are built for "
        "(e.g. apt install python3-dev), or pass --python with one that has them"
    )


def _no_cuda_compiler(m: re.Match[str], ctx: Context) -> str:
    return (
        "CMake did not find the CUDA toolkit: put nvcc on PATH or set CUDA_HOME, or pass "
        "-D CUDA_TOOLKIT_ROOT_DIR=/usr/local/cuda"
    )


def _disk_full(m: re.Match[str], ctx: Context) -> str:
    return "the disk is full: free space in the build directory's file system (a CUDA build needs 10-20 GB)"


def _lib_regex(stem: str) -> str:
    return (
        rf"(?:CUDA_{stem}\w*_LIBRARY(?:\s*\(ADVANCED\))?\s+linked\s+by\s+target"
        rf"|cannot\s+find\s+-l{stem}\w*"
        rf"|{stem}\w*\.h:\s+No\s+such\s+file"
        rf"|lib{stem}\w*\.so[.\d]*:\s+cannot\s+open)"
    )


PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "host-compiler",
        re.compile(
            r"unsupported\s+(?:GNU\s+version!\s+gcc\s+versions\s+later\s+than\s+(?P<gcc>\d+)"
            r"|clang\s+version!\s+clang\s+version\s+must\s+be\s+less\s+than\s+(?P<clang>\d+))"
        ),
        _host_compiler,
    ),
    Pattern(
        "gpu-arch",
        re.compile(r"Unsupported\s+gpu\s+architecture\s+'(?P<arch>(?:compute|sm|lto)_\w+)'"),
        _gpu_arch,
    ),
    Pattern(
        "gpu-arch",
        re.compile(r"CUDA:\s+(?P<cap>[\d.]+)\s+compute\s+capability\s+is\s+not\s+supported"),
        _opencv_arch,
    ),
    Pattern(
        "killed",
        re.compile(
            r"Killed\s+signal\s+terminated\s+program\s+\w+"
            r"|internal\s+compiler\s+error:\s+Killed"
            r"|died\s+due\s+to\s+signal\s+9"
            r"|virtual\s+memory\s+exhausted"
            r"|out\s+of\s+memory\s+allocating"
            r"|cc1plus:\s+out\s+of\s+memory"
        ),
        _killed,
    ),
    Pattern("missing-npp", re.compile(_lib_regex("npp")), _cuda_lib("npp")),
    Pattern(
        "missing-cublas",
        re.compile(_lib_regex("cublas") + "|" + _w("CUDA backend requires cuBLAS")),
        _cuda_lib("cublas"),
    ),
    Pattern("missing-cufft", re.compile(_lib_regex("cufft")), _cuda_lib("cufft")),
    Pattern(
        "missing-cudnn",
        re.compile(
            r"(?:CUDNN_LIBRARY|CUDA_cudnn_LIBRARY)(?:\s*\(ADVANCED\))?\s+linked\s+by\s+target"
            r"|cannot\s+find\s+-lcudnn\w*|cudnn\w*\.h:\s+No\s+such\s+file"
            r"|" + _w("CUDA backend requires cuDNN")
        ),
        _cuda_lib("cudnn"),
    ),
    Pattern(
        "missing-3rdparty",
        re.compile(
            r"add_subdirectory\s+given\s+source\s+\"(?P<path>[^\"]*3rdparty/[^\"]*)\"\s+which\s+is\s+not\s+an"
            r"\s+existing\s+directory"
        ),
        _thirdparty,
    ),
    Pattern(
        "missing-contrib",
        re.compile(r"No\s+modules\s+has\s+been\s+found:\s+(?P<path>\S+)"),
        _no_modules,
    ),
    Pattern(
        "missing-module-dir",
        re.compile(
            r"add_subdirectory\s+given\s+source\s+\"(?P<path>[^\"]*modules/[^\"]*)\"\s+which\s+is\s+not\s+an"
            r"\s+existing\s+directory"
        ),
        _missing_module_dir,
    ),
    Pattern("python-headers", re.compile(r"Python\.h:\s+No\s+such\s+file\s+or\s+directory"), _python_headers),
    Pattern(
        "no-cuda",
        re.compile(
            r"CUDA:\s+Not\s+detected!|Could\s+NOT\s+find\s+CUDA\b|No\s+CMAKE_CUDA_COMPILER\s+could\s+be\s+found"
        ),
        _no_cuda_compiler,
    ),
    Pattern("disk-full", re.compile(r"No\s+space\s+left\s+on\s+device"), _disk_full),
)


def diagnose(text: str, context: Context | None = None) -> list[Diagnosis]:
    """Every known cause found in ``text``, most specific first; one entry per pattern id."""
    ctx = context or Context()
    found: dict[str, Diagnosis] = {}
    for pattern in PATTERNS:
        if pattern.id in found:
            continue
        match = pattern.regex.search(text)
        if match:
            evidence = " ".join(match.group(0).split())
            found[pattern.id] = Diagnosis(pattern.id, pattern.hint(match, ctx), evidence)
    return list(found.values())


_ERROR_LINE = re.compile(
    r"\berror:|\bError:|CMake Error|^FAILED:|fatal error|\bKilled\b|nvcc fatal|internal compiler error"
    r"|undefined reference to|cannot find -l|No space left on device|ninja: error|#error"
)
_NOISE = re.compile(r"^\s*(?:--\s|\[\d+/\d+\]\s|#\s)|Performing Test|-Werror|\bwarning:")
_MAX_LINE = 400


def first_errors(text: str, limit: int = 12) -> list[str]:
    """The first real error lines of a log: compiler errors, ``FAILED:`` targets, ``CMake Error`` blocks.

    A ``CMake Error`` line brings its indented continuation lines (the message itself); ninja status lines,
    ``-- `` status messages and warnings are skipped; duplicates appear once.
    """
    lines = text.splitlines()
    out: list[str] = []
    seen: set[str] = set()

    def add(line: str) -> None:
        line = line.rstrip()
        if len(line) > _MAX_LINE:
            line = line[: _MAX_LINE - 3] + "..."
        if line.strip() and line not in seen:
            seen.add(line)
            out.append(line)

    i = 0
    while i < len(lines) and len(out) < limit:
        line = lines[i]
        if _ERROR_LINE.search(line) and not _NOISE.search(line):
            add(line)
            if line.startswith("CMake Error"):
                j = i + 1
                while j < len(lines) and j <= i + 6 and lines[j].startswith("  ") and len(out) < limit:
                    add(lines[j])
                    j += 1
                i = j
                continue
        i += 1
    return out
