"""Notes: how the page's figures were made, and what it leaves out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_lib.report.sections.layout import bullets, escape, section

if TYPE_CHECKING:
    from bench_lib.report.model import Report
    from bench_lib.report.sections.panels import Panels

NOTES = [
    "Times are pytest-benchmark's per-round seconds per pass; medians and IQRs are its own statistics.",
    "Speed-up relative to grad = median(grad) / median(mode) at the same size; above 1, the mode is faster.",
    "Throughput = the input's bytes / median time: the bandwidth the pass achieves reading its input once.",
    "Findings' 95% CIs are percentile bootstraps (1000 resamples, fixed seed) of the ratio of medians.",
    "Plots show each workload × device group from the newest run that measured it; the tables show every run.",
]


def render(report: Report, panels: Panels) -> str:
    notes = list(NOTES)
    if len(panels.drawn) < len(panels.groups):
        notes.append(f"Plots are drawn for the first {len(panels.drawn)} of {len(panels.groups)} workload × device "
                     f"groups ({panels.used} panels; a budget of {panels.budget} keeps the report fast to build). "
                     "The tables and summary.csv cover every case.")
    if report.has_scenarios:
        notes.append("Scenario cases are shown under Scenarios only, and written to scenarios.csv beside this page "
                     "(one row per case: measured, skipped, or invalid with PyTorch's message); the mode-matrix "
                     "findings, tables, plots and summary.csv leave them out. Scenario plots show the newest run "
                     "that measured the scenario; the verdicts and tables show every run.")
    methods = sorted(set(report.cases["tensor_memory_method"].dropna()) | set(report.cases["rss_method"].dropna()))
    if methods:
        notes.append("Memory was measured with: " + escape(", ".join(methods)) + ".")
    return section("notes", "Notes", bullets(notes))
