"""The overhead model: each run's fit of time(n) = a + b·n per mode, with autograd's fixed cost
per call against no_grad's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_lib.contract.units import number
from bench_lib.report import tables
from bench_lib.report.sections.layout import collapsible, or_dash, section, table

if TYPE_CHECKING:
    from bench_lib.report.model import Report

INTRO = ("<p>Fitted per run and mode to the medians the tables show (interleaved where measured), weighting each size by its relative error. "
         "<i>a</i> is the fixed cost of one call, <i>b</i> the cost per element; "
         "a(grad) − a(no_grad) is autograd's bookkeeping per call, with its 95% interval: from the replicate "
         "processes where a run has several, else from resampling each size's rounds (within one process "
         "only, so narrower than the truth). An interval that reaches zero resolves nothing, and neither does a fit "
         "of cases timed on a busy machine, one with a fixed cost below zero, or one whose a − a(no_grad) exceeds "
         "the whole pass: the last column says which.</p>")


def render(report: Report) -> str:
    several = len(report.summaries) > 1
    rows = []
    for summary in report.summaries:
        for r in summary.fits.to_dict("records"):
            label = f"{r['workload']} · {r['pass']} · {r['device']} · {r['dtype']} · {r['mode']}"
            rows.append(tables.Row(label + (f" · {summary.run.label}" if several else ""), r["mode"], [
                tables.Cell(str(r["sizes"])), tables.Cell(number(r["a_us"])), tables.Cell(number(r["b_ns"])),
                tables.Cell(or_dash(r["a_minus_no_grad_us"], number)),
                tables.Cell(_interval(r["a_minus_no_grad_low_us"], r["a_minus_no_grad_high_us"])),
                tables.Cell(r["unresolved"] or "yes", "unstable" if r["unresolved"] else "")]))
    if not rows:
        body = '<p class="note">No workload has two or more sizes, so nothing was fitted.</p>'
    else:
        content = tables.Table("fixed and per-element cost per mode",
                               ["sizes", "a (µs)", "b (ns per element)", "a − a(no_grad) (µs)", "95% CI (µs)",
                                "resolved"], rows)
        corner = "workload · pass · device · dtype · mode" + (" · run" if several else "")
        body = collapsible(table(content, corner), len(rows), "the fit table")
    return section("overhead", "Overhead model: time(n) = a + b·n", INTRO + body)


def _interval(low: float, high: float) -> str:
    return or_dash(low, lambda _: f"{number(low)} to {number(high)}")
