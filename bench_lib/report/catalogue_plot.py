"""One figure for the operator catalogue: saved bytes per element per op, and grad's forward over
no_grad's per op at the smallest and the table's size, one bar per op. Built like throughput_plots.py."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

from bench_lib.analysis.catalogue import OpRow, at_size
from bench_lib.contract.units import size_label
from bench_lib.report.scenario_plots import ScenarioPlot
from bench_lib.report.style import MODE_COLORS

WIDTH, DPI = 10.0, 100  # inches, pixels per inch
ROW_INCHES = 0.22  # per op


def catalogue_plot(found: Sequence[OpRow], size: int) -> ScenarioPlot | None:
    """The figure of one device and dtype's rows, ops in the table's order (``found`` at ``size``
    first); None without rows."""
    shown = at_size(found, size)
    if not shown:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [row.op for row in shown]
    height = 1.6 + ROW_INCHES * len(names)
    fig = Figure(figsize=(WIDTH, height), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.13, right=0.98, bottom=1.0 / height, top=1 - 0.75 / height, wspace=0.35)
    title = f"operator catalogue · {shown[0].device} {shown[0].dtype}"
    fig.text(0.01, 1 - 0.1 / height, title, ha="left", va="top", fontsize=10, fontweight="bold")
    positions = list(range(len(names)))

    saved = fig.add_subplot(1, 2, 1)
    saved.barh(positions, [0.0 if math.isnan(r.saved_per_element) else r.saved_per_element for r in shown],
               color=MODE_COLORS.get("grad", "#1f77b4"))
    saved.set_yticks(positions, names, fontsize=8)
    saved.invert_yaxis()
    saved.set_xlabel("bytes saved for backward per input element (grad)")
    saved.set_title(f"saved per element at {size_label(size)}", fontsize=10)
    saved.grid(True, axis="x", alpha=0.3)

    ratio = fig.add_subplot(1, 2, 2, sharey=saved)
    smallest = min(row.size for row in found)
    sizes = list(dict.fromkeys((smallest, size)))
    height_each = 0.8 / len(sizes)
    for index, ratio_size in enumerate(sizes):
        by_op = {row.op: row.grad_over_no_grad for row in at_size(found, ratio_size)}
        offsets = [p - 0.4 + height_each * (index + 0.5) for p in positions]
        ratio.barh(offsets, [by_op.get(name, math.nan) for name in names], height=height_each,
                   color=("#9ecae1", "#08519c")[index], label=size_label(ratio_size))
    ratio.axvline(1.0, color="#666666", linestyle="--", linewidth=1.0)
    ratio.set_xlabel("grad forward ÷ no_grad forward (interleaved)")
    ratio.set_title("overhead ratio", fontsize=10, loc="right")
    ratio.tick_params(axis="y", labelleft=False)
    ratio.grid(True, axis="x", alpha=0.3)
    lowest = min((r.grad_over_no_grad for r in found if not math.isnan(r.grad_over_no_grad)), default=1.0)
    ratio.set_xlim(left=min(0.8, lowest - 0.05))  # the differences from 1 are what matters
    ratio.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.04), ncol=len(sizes))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return ScenarioPlot(f"{title}: saved bytes per element, and grad's forward time over no_grad's, per op",
                        base64.b64encode(buffer.getvalue()).decode("ascii"), int(WIDTH * DPI), int(height * DPI))
