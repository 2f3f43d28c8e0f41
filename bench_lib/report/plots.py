"""Matplotlib figures for the page, returned as base64 PNG so the page needs no other file.

One small figure per panel: on a phone the panels stack, on a laptop they flow into a
grid, and each stays readable. Figures are built on matplotlib.figure.Figure directly
(Agg canvas, no pyplot), so no global figure state is shared or leaked between panels.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from bench_lib.contract.schema import MODES
from bench_lib.contract.units import byte_unit, number, size_label, time_unit
from bench_lib.report.style import MODE_COLORS, MODE_MARKERS

Record = Mapping[str, Any]
FIGSIZE = (5.0, 3.4)  # inches
DPI = 100
WIDTH_PX, HEIGHT_PX = int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI)


@dataclass(frozen=True)
class Plot:
    title: str
    png_base64: str


def group_plots(title: str, by_pass: Mapping[str, Sequence[Record]]) -> list[Plot]:
    """The panels of one workload x device x dtype group of a single run."""
    return [draw() for draw in _panels(title, by_pass)]


def panel_count(by_pass: Mapping[str, Sequence[Record]]) -> int:
    """How many panels group_plots would draw, without drawing them (for the page's budget)."""
    return len(_panels("", by_pass))


def _panels(title: str, by_pass: Mapping[str, Sequence[Record]]) -> list[Callable[[], Plot]]:
    panels: list[Callable[[], Plot]] = [
        partial(_time_panel, f"{title} · {pass_}", records) for pass_, records in by_pass.items()]
    forward = by_pass.get("forward", [])
    if any(r["mode"] == "no_grad" for r in forward) and len({r["mode"] for r in forward}) > 1:
        panels.append(partial(_relative_panel, f"{title} · forward", forward))
    if forward:
        panels.append(partial(_throughput_panel, f"{title} · forward", forward))
    for key, name in (("peak_tensor_bytes", "peak tensor memory"), ("peak_rss_bytes", "RSS growth"),
                      ("saved_bytes", "saved for backward")):
        if any(_positive(r[key]) for r in forward):
            panels.append(partial(_memory_panel, f"{title} · forward · {name}", forward, key, name))
    return panels


Series = dict[str, tuple[list[float], list[float]]]  # mode: (elements, values)


def _series(records: Sequence[Record], value: Callable[[Record], float | None]) -> Series:
    """Per mode, in MODES order: elements and values, sorted by size, missing values left out."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for mode in MODES:
        points = sorted((r["elements"], value(r)) for r in records if r["mode"] == mode)
        points = [(x, y) for x, y in points if y is not None]
        if points:
            out[mode] = ([float(x) for x, _ in points], [float(y) for _, y in points])
    return out


def _new_axes(title: str, ylabel: str, logy: bool = True) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Fixed margins: a layout engine measures every tick label and would triple the cost.
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)  # raster output without pyplot or any GUI backend
    fig.subplots_adjust(left=0.17, right=0.97, bottom=0.15, top=0.9)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10)
    ax.set_xscale("log", base=2)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("elements in the input")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    return fig, ax


def _line(ax: Any, mode: str, xs: list[float], ys: list[float]) -> None:
    ax.plot(xs, ys, color=MODE_COLORS[mode], marker=MODE_MARKERS[mode], markersize=4, linewidth=1.5, label=mode)


def _time_panel(title: str, records: Sequence[Record]) -> Plot:
    scale, unit = time_unit(r["cmp_median"] for r in records)
    fig, ax = _new_axes(f"{title}: time per pass", f"median time ({unit})")
    # The tables' figures: interleaved rounds where measured.
    q1 = _series(records, lambda r: r["cmp_q1"] / scale)
    q3 = _series(records, lambda r: r["cmp_q3"] / scale)
    for mode, (xs, ys) in _series(records, lambda r: r["cmp_median"] / scale).items():
        _line(ax, mode, xs, ys)
        ax.fill_between(xs, q1[mode][1], q3[mode][1], color=MODE_COLORS[mode], alpha=0.15, linewidth=0)
    ax.legend(fontsize=8, title="line: median; band: IQR", title_fontsize=7)
    return _render(fig, f"{title}: time per pass")


def _relative_panel(title: str, records: Sequence[Record]) -> Plot:
    fig, ax = _new_axes(f"{title}: time relative to no_grad", "median(mode) / median(no_grad)", logy=False)
    for mode, (xs, ys) in _series(records, lambda r: _finite_or_none(r["rel_to_no_grad"])).items():
        _line(ax, mode, xs, ys)
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.legend(fontsize=8)
    return _render(fig, f"{title}: time relative to no_grad")


def _throughput_panel(title: str, records: Sequence[Record]) -> Plot:
    fig, ax = _new_axes(f"{title}: achieved throughput", "input bytes / median time (GB/s)")
    for mode, (xs, ys) in _series(records, lambda r: _finite_or_none(r["throughput_Bps"] / 1e9)).items():
        _line(ax, mode, xs, ys)
    ax.legend(fontsize=8)
    return _render(fig, f"{title}: achieved throughput")


def _memory_panel(title: str, records: Sequence[Record], key: str, name: str) -> Plot:
    scale, unit = byte_unit(float(r[key]) for r in records if _positive(r[key]))
    fig, ax = _new_axes(title, f"{name} ({unit})")
    zero = []
    for mode, (xs, ys) in _series(records, lambda r: float(r[key]) / scale if _positive(r[key]) else None).items():
        _line(ax, mode, xs, ys)
    # A log axis cannot show zero; say which modes measured none instead of hiding them.
    for mode in MODES:
        values = [r[key] for r in records if r["mode"] == mode]
        if values and not any(_positive(v) for v in values) and all(v is not None for v in values):
            zero.append(mode)
    if zero:
        ax.plot([], [], linestyle="none", label=f"0 at every size: {', '.join(zero)}")
    ax.legend(fontsize=8)
    return _render(fig, title)


def _render(fig: Any, title: str) -> Plot:
    _label_ticks(fig.axes[0])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return Plot(title=title, png_base64=base64.b64encode(buffer.getvalue()).decode("ascii"))


def size_axis(ax: Any, sizes: Sequence[int]) -> None:
    """The x axis of a panel against input elements: log2, a tick at each measured size, 2^k."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(sorted(sizes)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: size_label(int(round(v)))))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("input elements")


def _label_ticks(ax: Any) -> None:
    """x ticks as 2^k, at most about 8; y ticks as plain numbers (mathtext labels such as
    $10^{-4}$ are parsed one by one and cost more than the rest of the figure)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

    # The measured sizes themselves when there are few; otherwise about 8 powers of two.
    sizes = sorted({x for line in ax.get_lines() for x in line.get_xdata()})
    if 0 < len(sizes) <= 8:
        ax.xaxis.set_major_locator(FixedLocator(sizes))
    else:
        ax.xaxis.set_major_locator(LogLocator(base=2, numticks=9))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: size_label(int(round(x))) if x >= 1 else ""))
    ax.xaxis.set_minor_locator(NullLocator())
    if ax.get_yscale() == "log":
        low, high = ax.get_ylim()
        if high / low < 4:  # one size, or values within a few percent: give the ticks room
            centre = math.sqrt(low * high)
            low, high = centre / 2, centre * 2
            ax.set_ylim(low, high)
        # Within two decades or so, powers of ten alone would leave one labelled tick or none.
        subs = (1.0, 2.0, 5.0) if math.log10(high / low) < 2.5 else (1.0,)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: number(y)))
        # Minor ticks on a log axis are dozens of artists each; majors carry the grid.
        ax.yaxis.set_minor_locator(NullLocator())


def _positive(value: Any) -> bool:
    return value is not None and value == value and value > 0


def _finite_or_none(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
