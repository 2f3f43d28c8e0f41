"""Findings: per run, the physics check's box and the headline findings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_lib.analysis.derive import busy_run
from bench_lib.contract.schema import CONTENDED_FRACTION
from bench_lib.report.sections.layout import OPEN_ROWS, bullets, escape, plural, section

if TYPE_CHECKING:
    from bench_lib.report.model import Report, RunSummary


def render(report: Report) -> str:
    parts = []
    several = len(report.summaries) > 1
    for summary in report.summaries:
        if several:
            parts.append(f"<h3>{escape(summary.run.label)}</h3>")
        box = _physics(report, summary)
        if box:
            parts.append(box)
        found = summary.findings
        parts.append(bullets(escape(item.text) for item in found.items))
        if found.groups_shown < found.groups_total:
            parts.append(f'<p class="note">Findings cover the first {found.groups_shown} of {found.groups_total} '
                         "workload × device groups; the tables below cover all of them.</p>")
    return section("findings", "Findings", "\n".join(parts))


def _physics(report: Report, summary: RunSummary) -> str:
    """The physics check's box ("" for a run without measured cases)."""
    problems = summary.violations
    if problems:
        items = [escape(p) for p in problems[:OPEN_ROWS]]
        if len(problems) > OPEN_ROWS:
            items.append(f"and {len(problems) - OPEN_ROWS} more")
        return (f'<div class="box warn"><b>Physics check failed: {plural(len(problems), "violation")}.</b> '
                f"These numbers are artifacts of the harness or the machine, not findings.{bullets(items)}</div>")
    if not summary.run.benchmarks:
        return ""
    own = report.cases_of(summary.run)
    contended = int(own["contended"].sum())
    # A check that passed is shown as passed (green); a machine busy with other work, which makes
    # every time suspect, gets a box of its own.
    busy = (f'<div class="box busy"><b>Busy machine:</b> {contended} of {len(own)} cases were timed while other '
            f"processes used more than {CONTENDED_FRACTION:.0%} of the CPUs: their times are suspect (marked * "
            "below); measure on a quiet machine.</div>" if busy_run(contended, len(own)) else "")
    return ('<div class="box ok"><b>Physics check passed:</b> grad\'s forward '
            "is never faster than no_grad's or inference_mode's beyond noise, nothing is saved for "
            f"backward outside grad and detach, and no pass peaks below the bytes it saves.</div>{busy}")
