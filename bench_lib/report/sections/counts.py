"""Instruction counts (runs made with ``COUNTS=1``): each counted case's instructions per call per mode
and size, autograd's bookkeeping in instructions (grad less no_grad, grad less inference_mode),
the contexts' entry costs, and where the counts and the times disagree."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from bench_lib.analysis import counts
from bench_lib.contract.units import size_label
from bench_lib.report import tables
from bench_lib.report.sections.layout import bullets, collapsible, escape, section, table

if TYPE_CHECKING:
    from bench_lib.contract.result import Run
    from bench_lib.report.model import Report

INTRO = ("<p>Instructions one call of each case's timed pass executes on the CPU, counted under valgrind's "
         "callgrind in one process per run (one thread; MKL's SSE4.2 kernels, since valgrind emulates FMA "
         "slowly), with the harness's own instructions taken off, and the memory allocators' own (malloc's "
         "and Python's: their path length depends on the heap's history; the calls into them still count, and "
         "summary.csv has them apart). Counts repeat within a fraction of a percent "
         "where times move by tens of percent on a shared machine, so at small sizes they show autograd's "
         "host-side bookkeeping without noise. They count user-space instructions only: not the kernel's page "
         "faults, not memory stalls, not a GPU's work.</p>")


def render(report: Report) -> str:
    runs = [run for run in report.newest_first() if run.counts is not None]
    if not runs:
        return ""
    parts = [_run(report, run, several=len(runs) > 1) for run in runs]
    return section("counts", "Instruction counts (callgrind)", INTRO + "".join(parts))


def _run(report: Report, run: Run, several: bool) -> str:
    head = f"<h3>{escape(run.label)}</h3>" if several else ""
    reason = counts.skipped_reason(run)
    if reason is not None:
        return head + f'<p class="note">Counts were asked for but not taken: {escape(reason)}.</p>'
    cases = report.cases_of(run)
    wide = counts.table(cases)
    record = run.counts or {}
    facts = [f"{record.get('valgrind_version') or 'valgrind'}, {record.get('cases', 0)} cases counted in "
             f"{record.get('seconds', math.nan):.0f} s (valgrind's start-up included); the harness's "
             f"{record.get('harness_instructions', math.nan):,.0f} instructions per call subtracted, checked by an "
             f"empty call that reads {record.get('empty_instructions', math.nan):+,.0f}; the largest spread between "
             f"two counts of one case {counts.spread_summary(cases):.3%}."]
    context = counts.context_sentence(run)
    if context:
        facts.append(context)
    facts += counts.bookkeeping_sentences(run, cases)
    body = head + bullets(escape(line) for line in facts)
    if not wide.empty:
        body += collapsible(table(_counts_table(wide), "workload · pass · device · dtype · mode"),
                            len(wide), "the instruction counts")
    found = counts.disagreements(cases)
    if found:
        body += (f"<p>Where the counts and the times disagree (grad/mode differs by more than "
                 f"{counts.DISAGREEMENT:.0%} between them):</p>" + bullets(escape(d.sentence()) for d in found))
    else:
        body += "<p>Counts and times agree on every mode's ratio to grad (within 10%).</p>"
    return body


def _counts_table(wide) -> tables.Table:  # type: ignore[no-untyped-def]
    sizes = sorted(wide["size"].unique())
    rows = []
    for (workload, pass_, device, dtype), members in wide.groupby(["workload", "pass", "device", "dtype"], sort=True):
        by_size = {int(r["size"]): r for r in members.to_dict("records")}
        label = f"{workload} · {pass_} · {device} · {dtype}"
        for column, mode in [*((mode, mode) for mode in ("grad", "no_grad", "inference_mode", "detach")),
                             ("grad_minus_no_grad", "grad"), ("grad_minus_inference_mode", "grad")]:
            values = [by_size[size][column] if size in by_size else math.nan for size in sizes]
            if all(math.isnan(v) for v in values):
                continue
            name = column.replace("_minus_", " − ") if "_minus_" in column else column
            signed = "_minus_" in column
            rows.append(tables.Row(f"{label} · {name}", mode, [
                tables.Cell("–" if math.isnan(v) else (f"{v:+,.0f}" if signed else f"{v:,.0f}")) for v in values]))
    return tables.Table("instructions per call", [size_label(int(size)) for size in sizes], rows)
