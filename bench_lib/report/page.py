"""The HTML page: one self-contained file (inline CSS, PNGs as data URIs, no script).

One module per section in bench_lib.report.sections, each taking the report's model and returning
its HTML ("" when the page has no such section); bench_lib.report.sections.layout holds what they
share. This module only puts them in order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_lib.report.sections import (
    catalogue,
    comparison,
    compiled,
    counts,
    environment,
    findings,
    header,
    layout,
    matrix,
    noise,
    notes,
    overhead,
    panels,
    scenarios,
    skipped,
    throughput,
    workloads,
)

if TYPE_CHECKING:
    from bench_lib.report.model import Report


def render(report: Report) -> str:
    drawn = panels.draw(report)
    body = [
        header.render(report),
        findings.render(report),
        matrix.render(report),
        workloads.render(report, drawn),
        scenarios.render(report),
        compiled.render(report),
        throughput.render(report),
        overhead.render(report),
        catalogue.render(report),
        counts.render(report),
        noise.render(report),
        comparison.render(report),
        skipped.render(report),
        environment.render(report),
        notes.render(report, drawn),
    ]
    title = f"gradbench report: {', '.join(run.label for run in report.loaded.runs)}"
    return layout.shell(title, body, report.has_scenarios)
