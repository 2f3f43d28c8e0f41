"""Per workload: each workload x device x dtype group, its plots (where the budget allowed them)
and, per pass, its time, speed-up and memory tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_lib.analysis.stats import UNSTABLE_REL_IQR
from bench_lib.contract.schema import CONTENDED_FRACTION, MODES
from bench_lib.report import plots, tables
from bench_lib.report.sections.layout import escape, figure, section, swatch, table
from bench_lib.report.style import MODE_COLORS

if TYPE_CHECKING:
    from bench_lib.report.model import Report
    from bench_lib.report.sections.panels import Panels


def render(report: Report, panels: Panels) -> str:
    runs = [run.label for run in report.loaded.runs]
    legend = " ".join(f"{swatch(MODE_COLORS[m])}{m}" for m in MODES)
    parts = [(f"<p>Colours, in the plots and the tables: {legend}. Times are medians per pass with the IQR in "
              f"brackets; ⚠ marks an IQR above {UNSTABLE_REL_IQR:.0%} of the median, * a case timed while other "
              f"processes used more than {CONTENDED_FRACTION:.0%} of the CPUs. Hover a cell for details.</p>")]
    if len(panels.drawn) < len(panels.groups):
        parts.append(f'<p class="note">Plots are drawn for the first {len(panels.drawn)} of {len(panels.groups)} '
                     "groups, to keep the page fast to build (see Notes); every group has its tables.</p>")
    for key, by_pass in panels.groups.items():
        title = " · ".join(key)
        n = sum(len(records) for records in by_pass.values())
        inner = []
        if key in panels.drawn:
            run, drawn = panels.drawn[key]
            if len(runs) > 1:
                inner.append(f'<p class="note">Plots: run {escape(run)}, the newest that measured this group.</p>')
            inner.append('<div class="plots">' + "".join(
                figure(p.png_base64, p.title, plots.WIDTH_PX, plots.HEIGHT_PX) for p in drawn) + "</div>")
        for pass_, records in by_pass.items():
            inner.append(f"<h3>{escape(f'{title} · {pass_}')}</h3>")
            inner.append(table(tables.time_table(records, runs), "mode"))
            speedup = tables.speedup_table(records, runs)
            if speedup:
                inner.append(table(speedup, "mode"))
            inner.append(table(tables.memory_table(records, runs), "metric: mode"))
        is_open = " open" if key in panels.drawn else ""
        parts.append(f"<details{is_open}><summary>{escape(title)} ({n} cases)</summary>\n" + "\n".join(inner)
                     + "\n</details>")
    return section("workloads", "Per workload", "\n".join(parts))
