"""Skipped cases: per run and reason, how many and which."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_lib.contract.units import size_label
from bench_lib.report.sections.layout import escape, section

if TYPE_CHECKING:
    from bench_lib.report.model import Report

# A reason's longer list of cases is cut here (summary.csv holds them all).
MAX_CASES_PER_REASON = 30


def render(report: Report) -> str:
    skipped = report.loaded.skipped
    if skipped.empty:
        return section("skipped", "Skipped cases", "<p>None.</p>")
    rows = []
    for (run, reason), group in skipped.groupby(["run", "reason"], sort=True):
        names = [f"{r['workload']} {r['mode']} {r['pass']} {size_label(r['size'])} {r['device']} {r['dtype']}"
                 for r in group.to_dict("records")]
        shown = ", ".join(names[:MAX_CASES_PER_REASON])
        if len(names) > MAX_CASES_PER_REASON:
            shown += f", and {len(names) - MAX_CASES_PER_REASON} more (all in summary.csv)"
        label = reason if len(report.loaded.runs) == 1 else f"{run}: {reason}"
        rows.append(f"<tr><td class=\"label\">{escape(label)}</td><td>{len(names)}</td>"
                    f"<td class=\"label\" style=\"white-space:normal\">{escape(shown)}</td></tr>")
    return section("skipped", "Skipped cases",
                   '<div class="scroll"><table><thead><tr><th class="label">reason</th><th>cases</th>'
                   '<th class="label">which</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></div>")
