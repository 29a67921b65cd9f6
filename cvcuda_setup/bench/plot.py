"""The pipeline plot: time per frame against megapixels, one line per strategy, log-log, copy floor dashed.

matplotlib is optional: ``require_matplotlib()`` is called before a benchmark starts, so a missing package
fails fast with the command that installs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cvcuda_setup.bench.pipeline import STRATEGIES, results
from cvcuda_setup.errors import ToolchainError


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ToolchainError(
            "plotting needs matplotlib, which is not importable", hint="python -m pip install matplotlib"
        ) from None


def plot_pipeline(doc: Mapping[str, Any], path: Path) -> Path:
    """Write the plot of a validated pipeline document to ``path`` (PNG, SVG or PDF by its suffix)."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = results(doc)
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    names = [n for n in STRATEGIES if any(n in r.timings for r in rs)]
    names += sorted({n for r in rs for n in r.timings} - set(names))
    for name in names:
        points = [
            (r.megapixels, r.timings[name])
            for r in rs
            if name in r.timings and r.timings[name].median_ms is not None
        ]
        if not points:
            continue
        xs = [p[0] for p in points]
        ys = [float(p[1].median_ms or 0.0) for p in points]
        lows = [
            y - float(p[1].p10_ms if p[1].p10_ms is not None else y) for y, p in zip(ys, points, strict=True)
        ]
        highs = [
            float(p[1].p90_ms if p[1].p90_ms is not None else y) - y for y, p in zip(ys, points, strict=True)
        ]
        ax.errorbar(xs, ys, yerr=[lows, highs], marker="o", capsize=3, label=name)
    ax.plot(
        [r.megapixels for r in rs], [r.floor_ms for r in rs], linestyle="--", color="gray", label="copy floor"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("megapixels (8-bit gray frame)")
    ax.set_ylabel("ms per frame (median, p10-p90)")
    device = doc.get("device", {}).get("name", "GPU")
    ax.set_title(f"Gaussian 5x5 + Canny per frame on {device}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
