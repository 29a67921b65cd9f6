"""Check ``prefix``: the prefix looks like a cvcuda-setup installation (manifest, OpenCV libraries)."""

from __future__ import annotations

from cvcuda_setup.verify.context import Context
from cvcuda_setup.verify.result import CheckResult, Part, failed, passed

ID = "prefix"
TITLE = "Prefix and manifest"


def run(ctx: Context) -> CheckResult:
    parts: list[Part] = []
    warnings: list[str] = []
    m = ctx.manifest
    if m.manifest is None:
        parts.append(
            failed(
                "manifest",
                f"no usable manifest: {m.error}; this prefix was not installed by cvcuda-setup (or is "
                "damaged), so the recipe's intent is unknown and the arch list comes from cv2's build "
                "information",
                path=str(m.path),
            )
        )
    else:
        intended, why = m.cuda_intended()
        arch = m.arch()
        parts.append(
            passed(
                "manifest",
                f"recipe {m.recipe_name or '?'}, OpenCV {m.opencv_version or '?'}",
                path=str(m.path),
                recipe=m.recipe_name,
                opencv_version=m.opencv_version,
                cuda=intended,
                cuda_source=why,
                arch_bin=list(arch.bin) if arch else None,
                arch_ptx=list(arch.ptx) if arch else None,
            )
        )
    libs = sorted(
        str(p)
        for lib in ("lib", "lib64")
        for p in (ctx.prefix / lib).glob("libopencv_core.so*")
        if p.exists()
    )
    if libs:
        parts.append(passed("libraries", f"{len(libs)} libopencv_core file(s)", libopencv_core=libs))
    else:
        parts.append(
            failed("libraries", f"no libopencv_core.so* under {ctx.prefix}/lib: OpenCV is not installed here")
        )
    old = m.moved_from(ctx.prefix)
    if old is not None:
        warnings.append(
            f"the prefix moved: its manifest was written for {old}, this is {ctx.prefix}; paths the manifest "
            "names (cv2, the interpreter, RUNPATHs baked at build time) may still point at the original"
        )
    if not ctx.tool_exists:
        warnings.append(ctx.tool_missing_reason())
    return CheckResult.from_parts(ID, TITLE, parts, warnings=warnings)
