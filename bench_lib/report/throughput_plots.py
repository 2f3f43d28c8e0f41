"""One figure for latency against throughput: the device's share of a pipelined pass against size,
a panel per workload and pass, a line per mode, the device-bound threshold dashed. A mode crosses
from host-bound to device-bound where its line crosses the threshold. Built like compile_plots.py."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from bench_lib.analysis.throughput import DEVICE_BOUND, ThroughputRow
from bench_lib.contract.schema import MODES
from bench_lib.report.plots import size_axis
from bench_lib.report.scenario_plots import ScenarioPlot
from bench_lib.report.style import MODE_COLORS, MODE_MARKERS

PANEL_WIDTH, HEIGHT, DPI = 3.2, 3.4, 100  # inches, inches, pixels per inch
MAX_PANELS = 6


def throughput_plot(rows: Sequence[ThroughputRow]) -> ScenarioPlot | None:
    """The figure of one run's CUDA throughput rows; None when none has a GPU time."""
    groups = list(dict.fromkeys(r.group for r in rows if r.busy is not None))[:MAX_PANELS]
    if not groups:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    width = max(6.0, PANEL_WIDTH * len(groups))
    fig = Figure(figsize=(width, HEIGHT), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.9 / width, right=1 - 0.15 / width, bottom=0.24, top=0.72, wspace=0.3)
    title = "latency against throughput · the device's share of a pipelined pass"
    fig.text(0.01, 0.975, title, ha="left", va="top", fontsize=10, fontweight="bold")
    several = len({(g[2], g[3]) for g in groups}) > 1
    top = max(1.2, 1.05 * max(r.busy for r in rows if r.busy is not None))  # one scale for every panel
    for index, group in enumerate(groups):
        ax = fig.add_subplot(1, len(groups), index + 1)
        own = [r for r in rows if r.group == group and r.busy is not None]
        for mode in sorted({r.mode for r in own}, key=lambda m: MODES.index(m) if m in MODES else len(MODES)):
            line = sorted((r for r in own if r.mode == mode), key=lambda r: r.size)
            ax.plot([r.size for r in line], [r.busy for r in line], color=MODE_COLORS.get(mode, "#000000"),
                    marker=MODE_MARKERS.get(mode, "o"), linewidth=1.6, label=mode)
        ax.axhline(DEVICE_BOUND, color="#666666", linestyle="--", linewidth=1.0,
                   label=f"device-bound from {DEVICE_BOUND:.0%}")
        size_axis(ax, {r.size for r in own})
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylim(0, top)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.set_title(f"{group[0]} {group[1]}" + (f" · {group[2]} {group[3]}" if several else ""), fontsize=10)
        if index == 0:
            ax.set_ylabel("GPU time ÷ pipelined time")
        ax.grid(True, alpha=0.3)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.9))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return ScenarioPlot(f"{title}, against size, a line per mode; above the dashed line a pass is device-bound",
                        base64.b64encode(buffer.getvalue()).decode("ascii"), int(width * DPI), int(HEIGHT * DPI))
