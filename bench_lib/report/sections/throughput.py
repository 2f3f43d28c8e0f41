"""Latency against throughput, per run that holds CUDA cases with pipelined figures:
bench_lib.analysis.throughput's crossovers and grad's overhead verbatim, one figure (from the
newest such run) and a table per run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bench_lib.analysis import throughput
from bench_lib.contract.units import size_label
from bench_lib.report import tables, throughput_plots
from bench_lib.report.sections.layout import bullets, escape, micro, run_section, table, value_cell, wide_figure

if TYPE_CHECKING:
    from bench_lib.report.model import Report, RunSummary


def render(report: Report) -> str:
    holders = [summary for summary in report.summaries if summary.throughput]
    intro = ("<p>Three times per pass. <b>Latency</b> (the tables' median): one pass alone, a synchronize at each "
             "end, the host's launches plus a round trip. <b>Pipelined</b>: passes queued back to back, "
             f"{_batches(holders)} per synchronize, as in a training loop, where the host "
             "queues the next pass while the device runs this one. <b>GPU time</b>: the device's own time for a "
             "pass, between CUDA events, with the L2 cache flushed before it and the host queued ahead. Where "
             f"the GPU time is at least {throughput.DEVICE_BOUND:.0%} of the pipelined time a pass is device-bound: "
             "the host's work, autograd's bookkeeping included, hides behind the device's. Below, it is host-bound "
             "and every microsecond of bookkeeping shows. A flushed L2 can make the GPU time exceed the pipelined "
             "time at sizes that fit in the cache. Each case's pipelined time is measured in its own window, after "
             "its rounds, so a ratio of two modes' pipelined times carries the drift between their windows, which "
             "the interleaved ratios of the latency tables do not.</p>")
    return run_section(report, holders, "throughput", "Latency against throughput (CUDA)", intro, _run_parts)


def _run_parts(summary: RunSummary, newest: bool) -> list[str]:
    items = bullets(escape(text) for text in throughput.sentences(summary.throughput))
    figure = wide_figure(throughput_plots.throughput_plot(summary.throughput)) if newest else ""
    return [items, figure, table(_table(summary.throughput), "workload · pass · size · mode")]


def _batches(holders: Sequence[RunSummary]) -> str:
    batches = sorted({row.batch for summary in holders for row in summary.throughput})
    return " or ".join(map(str, batches))


def _table(rows: Sequence[throughput.ThroughputRow]) -> tables.Table:
    body = [tables.Row(f"{r.workload} {r.pass_} {r.device} {r.dtype} n={size_label(r.size)} · {r.mode}", r.mode, [
        value_cell(r.latency, micro), value_cell(r.pipelined, micro), value_cell(r.gpu, micro),
        value_cell(r.busy, "{:.0%}".format), tables.Cell(r.bound),
    ]) for r in rows]
    return tables.Table("latency, pipelined and GPU time per pass: one row per CUDA case with a pipelined figure",
                        ["latency (µs)", "pipelined (µs)", "GPU (µs)", "GPU busy", "bound by"], body)
