"""One figure for eager against compiled: saved bytes per input element and the grad forward's
median time against size, eager dashed and compiled solid, a colour per compiled workload.
Built like scenario_plots.py: matplotlib.figure.Figure on an Agg canvas, fixed margins."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from bench_lib.analysis.compiled import PairRow
from bench_lib.contract.units import time_unit
from bench_lib.report.plots import size_axis
from bench_lib.report.scenario_plots import ScenarioPlot
from bench_lib.report.style import VARIANT_COLORS

WIDTH, HEIGHT, DPI = 9.0, 3.6, 100  # inches, inches, pixels per inch


def compile_plot(rows: Sequence[PairRow]) -> ScenarioPlot | None:
    """The figure of one run's eager/compiled pairs; None when it has none."""
    if not rows:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.74, wspace=0.3)
    title = "eager against compiled · grad forward"
    fig.text(0.01, 0.975, title, ha="left", va="top", fontsize=10, fontweight="bold")
    saved, time = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    scale, unit = time_unit(v for r in rows for v in (r.eager_seconds, r.compiled_seconds) if v is not None)
    groups = list(dict.fromkeys((r.workload, r.device, r.dtype) for r in rows))
    sizes = sorted({r.size for r in rows})
    for index, group in enumerate(groups):
        own = sorted((r for r in rows if (r.workload, r.device, r.dtype) == group), key=lambda r: r.size)
        colour = VARIANT_COLORS[index % len(VARIANT_COLORS)]
        where = f" {group[1]} {group[2]}" if len({(g[1], g[2]) for g in groups}) > 1 else ""
        eager_label = group[0].partition(":")[0] + where
        x = [r.size for r in own]
        for ax, compiled, eager in (
            (saved, [r.compiled_saved_per_element for r in own], [r.eager_saved_per_element for r in own]),
            (time, [_scaled(r.compiled_seconds, scale) for r in own], [_scaled(r.eager_seconds, scale) for r in own]),
        ):
            ax.plot(x, compiled, color=colour, marker="o", linewidth=1.8, label=group[0] + where)
            ax.plot(x, eager, color=colour, marker="s", linewidth=1.2, linestyle="--", label=f"{eager_label} (eager)")
    saved.set_title("saved for backward per input element", fontsize=10)
    saved.set_ylabel("bytes per element")
    saved.set_ylim(bottom=0)
    time.set_title("grad forward time (median, own rounds)", fontsize=10)
    time.set_ylabel(f"median time ({unit})")
    time.set_yscale("log")
    for ax in (saved, time):
        size_axis(ax, sizes)
        ax.grid(True, alpha=0.3)
    handles, labels = saved.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(4, len(labels)), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.92))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return ScenarioPlot(f"{title}: saved bytes per element and time against size, eager and compiled",
                        base64.b64encode(buffer.getvalue()).decode("ascii"), int(WIDTH * DPI), int(HEIGHT * DPI))


def _scaled(seconds: float | None, scale: float) -> float:
    return float("nan") if seconds is None else seconds / scale
