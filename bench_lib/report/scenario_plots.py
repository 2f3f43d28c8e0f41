"""One figure per scenario and run: the figures its claim is about, in two or three panels.

A figure rather than one panel per metric because a claim ties its metrics together (memory
falls while time rises); the panels share the variants' colours, which the page's table uses
too. Built like plots.py: matplotlib.figure.Figure on an Agg canvas, fixed margins (no layout
engine), no mathtext.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench_lib.contract.scenario import Panel, Scenario, variant_number
from bench_lib.contract.units import byte_unit, number, time_unit
from bench_lib.report.scenario_tables import finite, slots
from bench_lib.report.style import VARIANT_COLORS
from bench_lib.report.variants import GroupKey, Style, group_key, group_label, short_labels

Record = Mapping[str, Any]
PANEL_WIDTH, HEIGHT, DPI = 4.1, 3.5, 100  # inches, inches, pixels per inch: three panels fit the page
# Margins in inches, whatever the number of panels.
LEFT, RIGHT, BOTTOM, TOP = 0.8, 0.2, 0.75, 0.6
# Above this ratio between the largest and smallest value a panel uses a log axis; below it a
# linear axis from zero, which shows "half the memory" as half the height.
LOG_ABOVE = 30.0
REJECTED_COLOR = "#c62828"
# A lines plot's legend fits the title's row up to this many entries; more go in rows of this many
# under the panels, each row this many inches high.
LEGEND_IN_TITLE_ROW, LEGEND_ROW = 3, 0.22
# Above this many bars in a panel their value labels would collide; the table has the numbers.
MAX_LABELLED_BARS = 9


@dataclass(frozen=True)
class ScenarioPlot:
    title: str
    png_base64: str
    width_px: int
    height_px: int


def scenario_plot(scenario: Scenario, records: Sequence[Record], invalid: Sequence[Record],
                  variant_styles: Mapping[str, Style], group_styles: Mapping[str, Style]) -> ScenarioPlot | None:
    """The figure of one run's measured cases of ``scenario``; None when nothing was measured.

    ``invalid``: the run's rejected cases of the scenario (marked where their bars would be).
    ``variant_styles`` and ``group_styles`` (by group label) come from variants.styles, so the
    page's table uses the same colours.
    """
    if not records:
        return None
    groups = sorted({group_key(r) for r in records} | {group_key(r) for r in invalid})  # as claims orders them
    # The title names what the groups share; ticks and legends only what tells them apart.
    common, short = short_labels(groups)
    title = f"{scenario.name} · {common}"
    if scenario.plot.layout == "lines":
        return _lines(title, scenario, records, groups, short, group_styles)
    if scenario.plot.layout == "bars_by_mode":
        return _bars_by_mode(title, scenario, records, invalid, groups, short, variant_styles)
    return _variant_bars(title, scenario, records, groups, short, variant_styles)


# --- figure scaffolding ---------------------------------------------------------------------------


def _figure(panels: int, title: str, panel_width: float = PANEL_WIDTH) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = panel_width * panels
    fig = Figure(figsize=(width, HEIGHT), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=LEFT / width, right=1 - RIGHT / width, bottom=BOTTOM / HEIGHT, top=1 - TOP / HEIGHT,
                        wspace=0.38)
    fig.text(0.01, 0.975, title, ha="left", va="top", fontsize=10, fontweight="bold")
    axes = [fig.add_subplot(1, panels, i + 1) for i in range(panels)]
    for ax in axes:
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    return fig, axes


def _render(fig: Any, title: str) -> ScenarioPlot:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    width, height = fig.get_size_inches()
    return ScenarioPlot(title, base64.b64encode(buffer.getvalue()).decode("ascii"),
                        int(round(width * DPI)), int(round(height * DPI)))


def _y_axis(ax: Any, values: Sequence[float], label: str, headroom: float = 1.15) -> None:
    """Linear from zero, or log when the values span more than LOG_ABOVE (several sizes)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    ax.set_ylabel(label)
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if not positive:
        ax.set_ylim(0, 1)
        return
    low, high = min(positive), max(positive)
    if high / low > LOG_ABOVE:
        ax.set_yscale("log")
        ax.set_ylim(low / 2, high * 2)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: number(y)))
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        ax.set_ylim(0, high * headroom)


def _time_scale(records: Sequence[Record]) -> tuple[float, str]:
    return time_unit(float(r["cmp_median"]) for r in records)


def _iqr(records: Sequence[Record], scale: float) -> tuple[list[float], list[float], list[float]]:
    """The claims' medians (interleaved where measured, as in the tables) and the distances down to
    q1 and up to q3, in ``scale``: error bars from quartiles."""
    medians = [float(r["cmp_median"]) / scale for r in records]
    below = [max(0.0, m - float(r["cmp_q1"]) / scale) for m, r in zip(medians, records, strict=True)]
    above = [max(0.0, float(r["cmp_q3"]) / scale - m) for m, r in zip(medians, records, strict=True)]
    return medians, below, above


# --- lines against the variants' numbers ("k=4" -> 4) ------------------------------------------------


def _lines(title: str, scenario: Scenario, records: Sequence[Record], groups: Sequence[GroupKey],
           short: Mapping[GroupKey, str], group_styles: Mapping[str, Style]) -> ScenarioPlot:
    """A line per group (and mode and pass, where the scenario has several) in each panel."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    panels = scenario.plot.panels
    fig, axes = _figure(len(panels), title)
    numbered = [r for r in records if variant_number(str(r["variant"])) is not None]
    pairs = slots(numbered)
    lines = [(key, pair) for key in groups for pair in pairs]
    several = len({key for key in groups if any(group_key(r) == key for r in numbered)}) > 1
    dashes = ["-", ":", "-."]
    xs: set[int] = set()
    handles: list[Any] = []
    labels: list[str] = []
    for ax, panel in zip(axes, panels, strict=True):
        scale, unit = _scale(panel, numbered)
        tops: list[float] = []
        for key, (mode, pass_) in lines:
            rows = sorted((r for r in numbered if group_key(r) == key and (r["mode"], r["pass"]) == (mode, pass_)
                           and finite(r[panel.key])), key=lambda r: variant_number(str(r["variant"])) or 0)
            if not rows:
                continue
            # One group: a colour per mode and pass. Several: a colour per group, a dash per mode and pass.
            slot = pairs.index((mode, pass_))
            colour = group_styles[group_label(key)][0] if several else VARIANT_COLORS[slot % len(VARIANT_COLORS)]
            style = dashes[slot % len(dashes)] if several else "-"
            x = [variant_number(str(r["variant"])) or 0 for r in rows]
            xs.update(x)
            label = " ".join(([short[key]] if several else []) + ([f"{mode} {pass_}"] if len(pairs) > 1 else [])) \
                or "measured"
            if panel.kind == "time":
                medians, below, above = _iqr(rows, scale)
                drawn = ax.errorbar(x, medians, yerr=[below, above], color=colour, marker="o", markersize=5,
                                    linewidth=1.8, linestyle=style, capsize=3)
                tops += [m + a for m, a in zip(medians, above, strict=True)]
                handle = drawn.lines[0]
            else:
                values = [float(r[panel.key]) / scale for r in rows]
                (handle,) = ax.plot(x, values, color=colour, marker="o", markersize=5, linewidth=1.8, linestyle=style)
                tops += values
            if ax is axes[0]:
                handles.append(handle)
                labels.append(label)
        ax.set_title(panel.title, fontsize=10)
        _y_axis(ax, tops, f"{panel.ylabel} ({unit})" if unit else panel.ylabel)
    if len(labels) <= LEGEND_IN_TITLE_ROW:
        # In the title's row, off the data: the same colours in every panel.
        fig.legend(handles, labels, loc="upper right", ncol=max(1, len(labels)), fontsize=8, frameon=False,
                   bbox_to_anchor=(0.995, 0.99), handlelength=2.0, columnspacing=1.2)
    else:  # more lines (groups x modes and passes): rows of their own under the panels
        rows = math.ceil(len(labels) / LEGEND_IN_TITLE_ROW)
        width, height = fig.get_size_inches()
        fig.set_size_inches(width, height + LEGEND_ROW * rows)
        fig.subplots_adjust(bottom=(BOTTOM + LEGEND_ROW * rows) / (height + LEGEND_ROW * rows),
                            top=1 - TOP / (height + LEGEND_ROW * rows))
        fig.legend(handles, labels, loc="lower center", ncol=LEGEND_IN_TITLE_ROW, fontsize=8, frameon=False,
                   bbox_to_anchor=(0.5, 0.005), handlelength=2.0, columnspacing=1.2)
    for ax in axes:
        if not xs:
            continue
        if scenario.plot.x_log:
            ax.set_xscale("log", base=2)
            ax.set_xlim(min(xs) / 1.3, max(xs) * 1.3)
        else:
            ax.set_xlim(0, max(xs) * 1.05)
        ax.xaxis.set_major_locator(FixedLocator(sorted(xs)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: str(int(round(x)))))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(scenario.plot.x_label)
        ax.grid(True, axis="x", alpha=0.3)
    return _render(fig, f"{title}: {', '.join(panel.title for panel in panels)} against "
                        f"{scenario.plot.x_label or 'the variant'}")


def _scale(panel: Panel, records: Sequence[Record]) -> tuple[float, str]:
    """A panel's scale (units per plotted 1) and unit; counts are plotted as they are."""
    if panel.kind == "time":
        return _time_scale(records)
    if panel.kind == "bytes":
        return byte_unit(float(r[panel.key]) for r in records if finite(r[panel.key]))
    return 1.0, ""


# --- the other scenarios: bars per variant -----------------------------------------------------------

def _variant_bars(title: str, scenario: Scenario, records: Sequence[Record], groups: Sequence[GroupKey],
                  short: Mapping[GroupKey, str], variant_styles: Mapping[str, Style]) -> ScenarioPlot:
    panels = scenario.plot.panels
    fig, axes = _figure(len(panels), title)
    variants = scenario.ordered([r["variant"] for r in records])
    cells = {(group_key(r), r["variant"]): r for r in records}
    categories = [short[key] for key in groups]
    scales = [_bar_panel(ax, panel, categories, variants, variant_styles, records,
                         lambda i, variant: cells.get((groups[i], variant)))
              for ax, panel in zip(axes, panels, strict=True)]
    for ax, panel, scale in zip(axes, panels, scales, strict=True):
        values = [r[panel.line[0]] for r in records if r[panel.line[0]]] if panel.line else []
        if panel.line and len(groups) == 1 and values:
            line = ax.axhline(values[0] / scale, color="#333333", linestyle="--", linewidth=1, label=panel.line[1])
            ax.legend(handles=[line], fontsize=8, loc="upper center")
    if len(groups) > 1:  # the groups name the slots, so the variants need a legend
        _variant_legend(fig, variants, variant_styles)
    return _render(fig, f"{title}: {', '.join(panel.title for panel in panels)} per variant")


def _variant_legend(fig: Any, variants: Sequence[str], variant_styles: Mapping[str, Style]) -> None:
    """In the title's row, on the right: the plot area stays free."""
    fig.legend([_patch(variant_styles[v]) for v in variants], list(variants), loc="upper right", ncol=len(variants),
               fontsize=8, frameon=False, bbox_to_anchor=(0.995, 0.99), handlelength=1.6, columnspacing=1.2)


def _bars_by_mode(title: str, scenario: Scenario, records: Sequence[Record], invalid: Sequence[Record],
                  groups: Sequence[GroupKey], short: Mapping[GroupKey, str],
                  variant_styles: Mapping[str, Style]) -> ScenarioPlot:
    everything = [*records, *invalid]
    variants = scenario.ordered([r["variant"] for r in everything])
    places = [(key, mode, pass_) for key in groups for mode, pass_ in slots(everything)]
    panels = scenario.plot.panels
    # Several sizes: wider panels, so that each slot's mode name still fits under it.
    fig, axes = _figure(len(panels), title, PANEL_WIDTH * min(1.5, max(1.0, len(places) / 3)))
    several = len(groups) > 1
    categories = [f"{mode}\n({pass_})" + (f"\n{short[key]}" if several else "") for key, mode, pass_ in places]
    cells = {(group_key(r), r["mode"], r["pass"], r["variant"]): r for r in records}
    rejected = {(group_key(r), r["mode"], r["pass"], r["variant"]) for r in invalid}
    for ax, panel in zip(axes, panels, strict=True):
        _bar_panel(ax, panel, categories, variants, variant_styles, records,
                   lambda i, variant: cells.get((*places[i], variant)),
                   lambda i, variant: (*places[i], variant) in rejected)
        ax.set_xlabel("mode (pass timed)")
    _variant_legend(fig, variants, variant_styles)
    return _render(fig, f"{title}: {' and '.join(panel.title for panel in panels)} per variant and mode")


def _patch(style: Style) -> Any:
    from matplotlib.patches import Patch

    colour, hatch = style
    return Patch(facecolor=colour, hatch=hatch, edgecolor="#333333", linewidth=0.6)


def _bar_panel(ax: Any, panel: Panel, categories: Sequence[str], variants: Sequence[str],
               variant_styles: Mapping[str, Style], records: Sequence[Record],
               cell: Callable[[int, str], Record | None],
               is_rejected: Callable[[int, str], bool] = lambda i, variant: False) -> float:
    """Bars per category (a group, or a mode) and variant, coloured by variant; returns the
    panel's scale (units per plotted 1). With a single category the variants name the bars
    themselves; otherwise the categories name the slots and the figure's legend the colours."""
    from matplotlib.transforms import blended_transform_factory

    name, kind, key = panel.title, panel.kind, panel.key
    scale, unit = _scale(panel, records)
    ylabel = f"{panel.ylabel} ({unit})" if unit else panel.ylabel
    # One category: a slot per variant, so that its name fits under its bar. Several: the variants
    # side by side within each category's slot.
    single = len(categories) == 1
    width = 0.7 if single else 0.8 / len(variants)
    ticks: list[float] = []
    tops: list[float] = []
    # x in data coordinates, y in axes coordinates: a mark at the foot of an empty slot.
    foot = blended_transform_factory(ax.transData, ax.transAxes)
    for j, variant in enumerate(variants):
        colour, hatch = variant_styles[variant]
        xs: list[float] = []
        ys: list[float] = []
        below: list[float] = []
        above: list[float] = []
        for i in range(len(categories)):
            x = float(j) if single else i + (j - (len(variants) - 1) / 2) * width
            ticks.append(x)
            record = cell(i, variant)
            if record is None or not finite(record[key]):
                if is_rejected(i, variant):
                    ax.text(x, 0.03, "rejected", transform=foot, rotation=90, ha="center", va="bottom", fontsize=8,
                            color=REJECTED_COLOR, fontweight="bold")
                continue
            xs.append(x)
            if kind == "time":
                (median,), (low,), (high,) = _iqr([record], scale)
                ys.append(median)
                below.append(low)
                above.append(high)
            else:
                ys.append(float(record[key]) / scale)
        if not xs:
            continue
        bars = ax.bar(xs, ys, width if single else width * 0.9, color=colour, hatch=hatch, edgecolor="#333333",
                      linewidth=0.6,
                      label=variant)
        if kind == "time":
            ax.errorbar(xs, ys, yerr=[below, above], fmt="none", ecolor="#222222", elinewidth=1, capsize=3)
            tops += [y + a for y, a in zip(ys, above, strict=True)]
        else:
            if len(variants) * len(categories) <= MAX_LABELLED_BARS:
                ax.bar_label(bars, labels=[f"{y:.3g}" if kind == "bytes" else str(int(y)) for y in ys], fontsize=7,
                             padding=2)
            tops += ys
    ax.set_title(name, fontsize=10)
    _y_axis(ax, tops, ylabel, headroom=1.3)  # room for the bars' labels (and a legend)
    if single:
        ax.set_xticks(ticks, list(variants), fontsize=8)
        ax.set_xlabel("variant")
    else:
        ax.set_xticks(range(len(categories)), list(categories), fontsize=8 if len(categories) <= 3 else 7)
    ax.set_xlim(-0.6, (len(variants) if single else len(categories)) - 0.4)
    _wrap_if_crowded(ax)
    return scale


def _wrap_if_crowded(ax: Any) -> None:
    """Tick labels that would overlap side by side (input_tracking's four variant names under one
    panel) are wrapped onto two lines, at the word break nearest their middle."""
    renderer = ax.figure.canvas.get_renderer()
    labels = ax.get_xticklabels()
    boxes = sorted((label.get_window_extent(renderer) for label in labels if label.get_text()), key=lambda box: box.x0)
    if any(left.x1 > right.x0 for left, right in zip(boxes, boxes[1:])):
        ax.set_xticks(ax.get_xticks(), [_two_lines(label.get_text()) for label in labels],
                      fontsize=labels[0].get_fontsize())


def _two_lines(text: str) -> str:
    """``text`` broken after the "_", space or hyphen nearest its middle (as it is, without one)."""
    breaks = [i + 1 for i, char in enumerate(text[:-1]) if char in "_ -"]
    if not breaks:
        return text
    cut = min(breaks, key=lambda i: abs(i - len(text) / 2))
    return f"{text[:cut].rstrip()}\n{text[cut:]}"
