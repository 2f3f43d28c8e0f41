"""The page's header: what it holds, one line per run, and the links to its sections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_lib.analysis.derive import busy_headline
from bench_lib.report.sections import matrix
from bench_lib.report.sections.layout import bullets, escape, plural, replicates_text

if TYPE_CHECKING:
    from bench_lib.contract.result import Run
    from bench_lib.report.model import Report

INCOMPLETE_MARK = ' <b class="bad">INCOMPLETE: interrupted, or a case failed</b>'


def render(report: Report) -> str:
    runs = report.loaded.runs
    items = bullets(_run_line(report, run) for run in runs)
    nav = "".join(f'<a href="#{anchor}">{name}</a>' for anchor, name in _links(report))
    scenarios = f", {plural(len(report.scenarios), 'scenario case')} measured" if report.has_scenarios else ""
    return (f"<header>\n<h1>What gradient tracking costs</h1>\n{_contended(report)}"
            f"<p class=\"sub\">gradbench report: {plural(len(report.cases), 'measured case')}, "
            f"{len(report.loaded.skipped)} skipped{scenarios}, from {plural(len(runs), 'run')}:"
            f"</p>\n{items}\n<nav>{nav}</nav>\n</header>")


def _contended(report: Report) -> str:
    """Each run timed on a busy machine, said before anything else on the page."""
    several = len(report.loaded.runs) > 1
    lines = []
    for run in report.loaded.runs:
        own = report.cases_of(run)
        headline = busy_headline(int(own["contended"].sum()), len(own)) if len(own) else None
        if headline:
            lines.append(f'<p class="bad">{escape(run.label) + ": " if several else ""}{escape(headline)}</p>\n')
    return "".join(lines)


def _run_line(report: Report, run: Run) -> str:
    return (f"<b>{escape(run.label)}</b>: {escape(run.datetime or 'no date')}, "
            f"{escape(str(run.machine_info.get('node', '?')))}, "
            f"torch {escape(str(run.environment.get('torch_version', '?')))}, "
            f"commit {escape(str(run.commit_info.get('id', '?'))[:12])}, {replicates_text(run.replicates)}"
            f"{INCOMPLETE_MARK if run.complete is False else ''}"
            f"{' (newest: compared with the base run)' if report.comparison and run is report.primary else ''}")


def _links(report: Report) -> list[tuple[str, str]]:
    """(anchor, name) of the sections the header links to, in the page's order."""
    links = [("findings", "Findings")]
    if matrix.present(report):
        links.append((matrix.ANCHOR, "Speed-up over grad"))
    links.append(("workloads", "Per workload"))
    if report.has_scenarios:
        links.append(("scenarios", "Scenarios"))
    links.append(("overhead", "Overhead model"))
    if any(summary.catalogue for summary in report.summaries):
        links.append(("catalogue", "Operator catalogue"))
    if any(run.counts is not None for run in report.loaded.runs):
        links.append(("counts", "Instruction counts"))
    links.append(("noise", "Noise between processes"))
    if report.comparison:
        links.append(("comparison", "Comparison"))
    return links + [("skipped", "Skipped"), ("environment", "Environment"),
                    ("notes", "Notes")]
