"""Check ``pipeline``: the zero-copy Gaussian 5x5 (sigma 1.2) + Canny 50/150 on mapped memory, C++ and Python.

Each image case runs through both flows and is compared with the CPU reference computed in the target
interpreter: ``cv2.GaussianBlur(img, (5, 5), 1.2)`` then ``cv2.Canny(blur, 50, 150)`` (aperture 3, L1
gradient, the CUDA detector's defaults; Canny runs on the blurred image, as in the CUDA flow). A case passes
when the blur is within 1 grey level everywhere, the edge maps reach F1 >= 0.99 at 1 px tolerance, and the
zero-copy proof holds: every buffer is host memory with a device alias (``pointer_attributes``) and the output
GpuMats were not reallocated (``cudaPtr`` unchanged). The proof matters because ``Mat::create`` silently falls
back to the default allocator when a custom one throws, so a correct result alone proves nothing.

Inputs: generated patterns (``images.py``), the photos of the source tree's ``samples/data`` when the manifest
names a source that still has them, and ``--images DIR``. Photos are read in the target interpreter with
``cv2.imread`` as greyscale; one that this build cannot decode (say a JPEG without the JPEG codec) is listed,
not failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cvcuda_setup.verify import images
from cvcuda_setup.verify.compare import MIN_F1, MIN_F1_END_TO_END, blur_difference, edge_f1
from cvcuda_setup.verify.context import Context
from cvcuda_setup.verify.images import ImageCase
from cvcuda_setup.verify.result import CheckResult, DeviceFacts, Part, failed, passed
from cvcuda_setup.verify.zerocopy_proof import cpp_zero_copy_problems, python_zero_copy_problems

ID = "pipeline"
TITLE = "Zero-copy blur + Canny vs CPU"
#: The zero-copy proof readers (``zerocopy_proof``) are re-exported for their callers.
__all__ = [
    "ID",
    "TITLE",
    "Prepared",
    "PreparedCase",
    "compare_case",
    "cpp_zero_copy_problems",
    "prepare",
    "python_zero_copy_problems",
    "run",
    "summarize",
]

#: Per-case timeout of the C++ tool, and of the whole Python flow for one device.
TOOL_TIMEOUT_S = 180.0
WORKER_TIMEOUT_S = 900.0


@dataclass
class PreparedCase:
    case: ImageCase
    dir: Path
    ok: bool = False
    error: str | None = None
    width: int = 0
    height: int = 0

    @property
    def input_npy(self) -> Path:
        return self.dir / "input.npy"

    @property
    def input_png(self) -> Path:
        return self.dir / "input.png"

    @property
    def ref_blur_npy(self) -> Path:
        return self.dir / "cpu_blur.npy"

    @property
    def ref_edges_npy(self) -> Path:
        return self.dir / "cpu_edges.npy"

    def out(self, flow: str, device: int, what: str, ext: str = "npy") -> Path:
        return self.dir / f"{flow}{device}_{what}.{ext}"


@dataclass
class Prepared:
    cases: list[PreparedCase]
    figures: dict[str, Any]
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def usable(self) -> list[PreparedCase]:
        return [c for c in self.cases if c.ok]


def sample_dirs(ctx: Context) -> list[Path]:
    """``samples/data`` of the manifest's source tree (or a bundle's kept part), and one in the prefix."""
    found: list[Path] = []
    for root in ctx.manifest.source_dirs():
        for sub in ("samples/data", "opencv/samples/data"):
            if (root / sub).is_dir():
                found.append(root / sub)
    found += sorted(p for p in ctx.prefix.glob("share/opencv*/samples/data") if p.is_dir())
    return list(dict.fromkeys(found))


def collect_cases(ctx: Context) -> tuple[list[ImageCase], dict[str, Any]]:
    cases = images.generated_cases(sizes=ctx.options.sizes)
    dirs = sample_dirs(ctx) if ctx.options.sample_photos else []
    for d in dirs:
        cases += images.file_cases(images.find_photos(d), label="samples")
    if ctx.options.images_dir is not None:
        cases += images.file_cases(images.find_photos(ctx.options.images_dir), label="images")
    figures = {
        "generated": sum(1 for c in cases if c.kind == "generated"),
        "files": sum(1 for c in cases if c.kind == "file"),
        "sample_dirs": [str(d) for d in dirs],
        "images_dir": str(ctx.options.images_dir) if ctx.options.images_dir else None,
    }
    return cases, figures


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def prepare(ctx: Context) -> Prepared:
    """Inputs and CPU references for every case (once per run, shared by all devices)."""
    if "pipeline" in ctx._cache:
        cached: Prepared = ctx._cache["pipeline"]
        return cached
    cases, figures = collect_cases(ctx)
    root = ctx.work / "pipeline"
    prepared: list[PreparedCase] = []
    requests = []
    for i, case in enumerate(cases):
        pc = PreparedCase(case, root / f"{i:03d}-{_safe(case.name)}")
        pc.dir.mkdir(parents=True, exist_ok=True)
        source = case.source
        if case.kind == "generated":
            source = str(pc.dir / "source.npy")
            np.save(source, images.generate(case.source, case.width, case.height))
        prepared.append(pc)
        requests.append(
            {
                "name": case.name,
                "source": source,
                "input_npy": str(pc.input_npy),
                "ref_blur_npy": str(pc.ref_blur_npy),
                "ref_edges_npy": str(pc.ref_edges_npy),
            }
        )
    res = ctx.run_worker("prepare", {"cases": requests}, timeout=WORKER_TIMEOUT_S)
    result = Prepared(prepared, figures)
    if res.error is not None or res.data is None:
        result.error = f"preparing the inputs failed: {res.describe_failure()}"
    else:
        for pc, r in zip(prepared, res.data.get("cases") or [], strict=False):
            pc.ok, pc.error = bool(r.get("ok")), r.get("error")
            pc.width, pc.height = int(r.get("width") or 0), int(r.get("height") or 0)
            if pc.ok:
                images.write_png(pc.input_png, np.load(pc.input_npy))
        bad_generated = [pc for pc in prepared if pc.case.kind == "generated" and not pc.ok]
        unreadable = [pc for pc in prepared if pc.case.kind == "file" and not pc.ok]
        if bad_generated:
            result.error = f"{bad_generated[0].case.name}: {bad_generated[0].error}"
        if unreadable:
            result.warnings.append(
                f"{len(unreadable)} image file(s) skipped, e.g. "
                f"{unreadable[0].case.name}: {unreadable[0].error}"
            )
        figures["skipped_files"] = [{"name": pc.case.name, "error": pc.error} for pc in unreadable]
    ctx._cache["pipeline"] = result
    return result


# -- per-case evaluation -------------------------------------------------------------------------------


def compare_case(
    pc: PreparedCase, blur_path: Path, edges_path: Path, stage_edges_path: Path | None = None
) -> dict[str, Any]:
    """The GPU outputs against the CPU reference, stage by stage.

    The blur must be within 1 grey level of the CPU blur everywhere. The edges are scored (F1 at 1-pixel
    tolerance) against the CPU Canny of the *GPU's* blur (``stage_edges_path``) when given: that is the
    Canny stage's reference, since a blur allowed to differ by 1 level moves some edges near the thresholds
    by itself. The end-to-end score (against the CPU Canny of the CPU blur) is reported beside it as
    ``edges_end_to_end``; it must reach MIN_F1_END_TO_END then, and MIN_F1 when no stage reference is given.
    """
    ref_blur, ref_edges = np.load(pc.ref_blur_npy), np.load(pc.ref_edges_npy)
    try:
        gpu_edges = np.load(edges_path)
        blur = blur_difference(np.load(blur_path), ref_blur)
        end_to_end = edge_f1(
            gpu_edges, ref_edges, min_f1=MIN_F1_END_TO_END if stage_edges_path is not None else MIN_F1
        )
        stage = edge_f1(gpu_edges, np.load(stage_edges_path)) if stage_edges_path is not None else None
    except (ValueError, OSError) as exc:
        return {"ok": False, "problems": [str(exc)]}
    edges = stage if stage is not None else end_to_end
    problems = []
    if not blur.passed:
        problems.append(
            f"blur differs by up to {blur.max_abs} grey levels ({blur.pixels_over} px over {blur.tolerance})"
        )
    if not edges.passed:
        against = "the CPU Canny of the GPU blur" if stage is not None else "the CPU reference"
        problems.append(
            f"edge F1 {edges.f1:.4f} < {edges.min_f1} against {against} "
            f"(precision {edges.precision:.4f}, recall {edges.recall:.4f})"
        )
    if stage is not None and not end_to_end.passed:
        problems.append(
            f"edge F1 end to end {end_to_end.f1:.4f} < {end_to_end.min_f1} against the CPU reference "
            f"(precision {end_to_end.precision:.4f}, recall {end_to_end.recall:.4f})"
        )
    return {
        "ok": not problems,
        "problems": problems,
        "blur": blur.to_json(),
        "edges": edges.to_json(),
        "edges_reference": "cpu_canny_of_gpu_blur" if stage is not None else "cpu_pipeline",
        "edges_end_to_end": end_to_end.to_json(),
    }


def summarize(flow: str, results: list[dict[str, Any]]) -> Part:
    """One part for a flow from its per-case results."""
    bad = [r for r in results if not r.get("ok")]
    if not results:
        return failed(flow, "no case ran")
    f1s = [r["edges"]["f1"] for r in results if "edges" in r]
    e2e = [r["edges_end_to_end"]["f1"] for r in results if "edges_end_to_end" in r]
    blur_max = max((r["blur"]["max_abs"] for r in results if "blur" in r), default=None)
    figures = {
        "cases": results,
        "min_f1": min(f1s) if f1s else None,
        "min_f1_end_to_end": min(e2e) if e2e else None,
        "blur_max_abs": blur_max,
    }
    if bad:
        shown = "; ".join(f"{r['name']}: {', '.join(r.get('problems') or ['failed'])}" for r in bad[:3])
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        return failed(flow, f"{len(bad)} of {len(results)} cases failed: {shown}{more}", **figures)
    end_to_end = f" (end to end {min(e2e):.4f})" if e2e else ""
    return passed(
        flow,
        f"{len(results)} cases zero-copy; blur max diff {blur_max}, min edge F1 {min(f1s):.4f}{end_to_end}",
        **figures,
    )


# -- the two flows -------------------------------------------------------------------------------------


def run_python(ctx: Context, prep: Prepared, device: int) -> Part:
    cases = prep.usable
    request = {
        "device": device,
        "cases": [
            {
                "name": pc.case.name,
                "input_npy": str(pc.input_npy),
                "blur_npy": str(pc.out("python", device, "blur")),
                "edges_npy": str(pc.out("python", device, "edges")),
                "stage_edges_npy": str(pc.out("python", device, "stage_edges")),
            }
            for pc in cases
        ],
    }
    res = ctx.run_worker("pipeline", request, timeout=WORKER_TIMEOUT_S)
    if res.error is not None or res.data is None:
        return failed("python", res.describe_failure())
    data = res.data
    for key, what in (
        ("module_error", "cvcuda_zerocopy does not import"),
        ("cv2_error", "cv2"),
        ("setup_error", "setup"),
    ):
        if key in data:
            return failed("python", f"{what}: {data[key]}")
    by_name = {c.get("name"): c for c in data.get("cases") or []}
    results = []
    for pc in cases:
        info = by_name.get(pc.case.name) or {"ok": False, "error": "no result"}
        entry: dict[str, Any] = {"name": pc.case.name, "width": pc.width, "height": pc.height}
        if not info.get("ok"):
            entry.update(ok=False, problems=[str(info.get("error"))])
        else:
            cmp = compare_case(
                pc,
                pc.out("python", device, "blur"),
                pc.out("python", device, "edges"),
                pc.out("python", device, "stage_edges"),
            )
            problems = python_zero_copy_problems(info) + list(cmp.get("problems") or [])
            entry.update(cmp, ok=not problems, problems=problems)
        results.append(entry)
    return summarize("python", results)


def run_cpp(ctx: Context, prep: Prepared, device: int) -> Part:
    if not ctx.tool_exists:
        return failed("cpp", ctx.tool_missing_reason())
    results: list[dict[str, Any]] = []
    outputs: list[tuple[PreparedCase, dict[str, Any]]] = []
    for pc in prep.usable:
        entry: dict[str, Any] = {"name": pc.case.name, "width": pc.width, "height": pc.height}
        res = ctx.run_tool(
            "pipeline",
            "--device",
            str(device),
            "--input",
            str(pc.input_png),
            "--out-blur",
            str(pc.out("cpp", device, "blur", "png")),
            "--out-edges",
            str(pc.out("cpp", device, "edges", "png")),
            timeout=TOOL_TIMEOUT_S,
        )
        if res.data is None:
            entry.update(ok=False, problems=[res.describe_failure()])
        elif res.returncode == 4:
            return failed(
                "cpp", f"the tool's OpenCV lacks the CUDA modules: {res.data.get('error')}", tool=res.data
            )
        elif res.returncode != 0:
            entry.update(
                ok=False,
                problems=[str(res.data.get("error") or f"exit code {res.returncode}")],
                tool=res.data,
            )
        else:
            entry.update(ok=True, problems=cpp_zero_copy_problems(res.data), tool=res.data)
            outputs.append((pc, entry))
        results.append(entry)
    items = []
    for pc, _ in outputs:
        for what in ("blur", "edges"):
            item = {"src": str(pc.out("cpp", device, what, "png")), "dst": str(pc.out("cpp", device, what))}
            if what == "blur":  # the Canny stage's reference: the CPU Canny of the GPU's blur
                item["canny_npy"] = str(pc.out("cpp", device, "stage_edges"))
            items.append(item)
    if items:
        rres = ctx.run_worker("readimg", {"items": items}, timeout=WORKER_TIMEOUT_S)
        read = {i.get("src"): i for i in (rres.data or {}).get("items") or []}
        for pc, entry in outputs:
            blur_png, edges_png = (
                str(pc.out("cpp", device, "blur", "png")),
                str(pc.out("cpp", device, "edges", "png")),
            )
            unread = [p for p in (blur_png, edges_png) if not (read.get(p) or {}).get("ok")]
            if unread:
                why = (read.get(unread[0]) or {}).get("error") or rres.describe_failure()
                entry["problems"] = [*entry["problems"], f"cannot read the tool's output {unread[0]}: {why}"]
            else:
                cmp = compare_case(
                    pc,
                    pc.out("cpp", device, "blur"),
                    pc.out("cpp", device, "edges"),
                    pc.out("cpp", device, "stage_edges"),
                )
                entry.update({k: v for k, v in cmp.items() if k not in ("ok", "problems")})
                entry["problems"] = [*entry["problems"], *cmp.get("problems", [])]
            entry["ok"] = not entry["problems"]
    return summarize("cpp", results)


def write_artifacts(ctx: Context, prep: Prepared, device: int) -> list[str]:
    """The input and every output of one case, as PNGs in ``--out`` (first photo, else the first pattern)."""
    out_dir = ctx.options.out_dir
    if out_dir is None or ctx._cache.get("artifacts_written"):
        return []
    usable = prep.usable
    pick = next((pc for pc in usable if pc.case.kind == "file"), usable[0] if usable else None)
    if pick is None:
        return []
    ctx._cache["artifacts_written"] = True
    stem = f"pipeline-{_safe(pick.case.name.replace('/', '-'))}"
    sources = {
        "input": pick.input_npy,
        "cpu_blur": pick.ref_blur_npy,
        "cpu_edges": pick.ref_edges_npy,
        f"python_blur_gpu{device}": pick.out("python", device, "blur"),
        f"python_edges_gpu{device}": pick.out("python", device, "edges"),
        f"cpp_blur_gpu{device}": pick.out("cpp", device, "blur"),
        f"cpp_edges_gpu{device}": pick.out("cpp", device, "edges"),
    }
    written = []
    for label, npy in sources.items():
        if npy.is_file():
            written.append(str(images.write_png(out_dir / f"{stem}-{label}.png", np.load(npy))))
    return written


def run(ctx: Context, device: DeviceFacts) -> CheckResult:
    probe = ctx.cv2info()
    if probe.error is not None or "import_error" in (probe.data or {}):
        why = (probe.data or {}).get("import_error") or probe.describe_failure()
        part = failed("inputs", f"cv2 does not import under the prefix's env ({why}); see the cv2 check")
        return CheckResult.from_parts(ID, TITLE, [part], device=device.index)
    prep = prepare(ctx)
    parts: list[Part] = []
    counts = {**prep.figures, "usable": len(prep.usable), "prepared": len(prep.cases)}
    if prep.error is not None or not prep.usable:
        parts.append(failed("inputs", prep.error or "no usable input image", **counts))
        return CheckResult.from_parts(ID, TITLE, parts, device=device.index, warnings=prep.warnings)
    parts.append(
        passed(
            "inputs",
            f"{len(prep.usable)} cases ({counts['generated']} generated, {counts['files']} files)",
            **counts,
        )
    )
    parts.append(run_python(ctx, prep, device.index))
    parts.append(run_cpp(ctx, prep, device.index))
    artifacts = write_artifacts(ctx, prep, device.index)
    if artifacts:
        parts.append(
            passed("artifacts", f"{len(artifacts)} images in {ctx.options.out_dir}", files=artifacts)
        )
    return CheckResult.from_parts(ID, TITLE, parts, device=device.index, warnings=prep.warnings)
