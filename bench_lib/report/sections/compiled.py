"""Eager against compiled, per run that holds compiled cases: bench_lib.analysis.compiled's claims
verbatim, a table per run and one figure (from the newest such run)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bench_lib.analysis import claims
from bench_lib.contract.units import size_label
from bench_lib.report import compile_plots, tables
from bench_lib.report.sections.layout import bullets, escape, micro, run_section, table, value_cell, wide_figure

if TYPE_CHECKING:
    from bench_lib.analysis.compiled import PairRow
    from bench_lib.report.model import Report, RunSummary

INTRO = ("<p>A compiled case's workload reads <code>mlp:inductor</code>: the same model under "
         "<code>torch.compile</code>, its modes timed in their own rounds (not interleaved: they share one Dynamo "
         "cache, and alternating calls would each pay a guard miss). What it saves is "
         "counted by the same saved-tensor hooks, which see what AOTAutograd keeps. Its first call (the compile, "
         "unless an earlier case compiled the same graph) is recorded and never timed with the pass. Eager and "
         "compiled times come from separate windows. Peak tensor memory is not measured for compiled cases on "
         "CPU: the dispatch tracker would turn compilation off.</p>")


def render(report: Report) -> str:
    holders = [summary for summary in report.summaries if summary.compile_claims]
    return run_section(report, holders, "compiled", "Eager against compiled (torch.compile)", INTRO, _run_parts)


def _run_parts(summary: RunSummary, newest: bool) -> list[str]:
    items = bullets(f"<b>{escape(c.group)}</b>: {escape(c.claim)} "
                    + (f'<b class="{"bad" if c.verdict == claims.FAILS else "good"}">{escape(c.verdict)}</b>. '
                       if c.verdict else "") + f"{escape(c.sentence)}." for c in summary.compile_claims)
    figure = wide_figure(compile_plots.compile_plot(summary.compile_rows)) if newest else ""
    return [items, figure, table(_table(summary.compile_rows), "workload · size")]


def _table(rows: Sequence[PairRow]) -> tables.Table:
    body = [tables.Row(f"{r.workload} {r.device} {r.dtype} n={size_label(r.size)}", "grad", [
        value_cell(r.eager_saved_per_element, "{:.3g}".format),
        value_cell(r.compiled_saved_per_element, "{:.3g}".format),
        value_cell(r.eager_overhead, "{:.2f}×".format), value_cell(r.compiled_overhead, "{:.2f}×".format),
        value_cell(r.eager_seconds, micro), value_cell(r.compiled_seconds, micro),
        value_cell(r.compile_seconds, "{:.2f}".format), value_cell(r.recompiles, str),
        value_cell(r.graph_breaks, str),
    ]) for r in rows]
    return tables.Table("grad forward, eager against compiled: one row per compiled workload and size",
                        ["saved B/element, eager", "compiled", "grad ÷ no_grad, eager", "compiled",
                         "time (µs), eager", "compiled", "first call (s)", "graphs compiled", "graph breaks"], body)
