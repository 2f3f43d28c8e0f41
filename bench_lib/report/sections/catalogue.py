"""The operator catalogue, per run that holds op cases (OPS= or PRESET=ops): bench_lib.analysis.catalogue's
findings verbatim, one figure per device and dtype (from the newest such run), and a table per device
and dtype, one row per op, sorted by saved bytes per element."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bench_lib.analysis import catalogue
from bench_lib.contract.units import size_label
from bench_lib.report import catalogue_plot, tables
from bench_lib.report.sections.layout import bullets, escape, run_section, table, wide_figure

if TYPE_CHECKING:
    from bench_lib.report.model import Report, RunSummary

INTRO = ("<p>Single PyTorch ops (bench_lib/measure/ops.py), each run like a workload: its output reduced "
         "with <code>.mean()</code>, in the four modes, forward and backward. <b>Saved per element</b>: the bytes "
         "autograd keeps for the op's backward under grad, per element of its first operand; the inputs the op "
         "saves count (in a model they are earlier ops' outputs, kept alive by the save), its parameters and "
         "buffers do not. <b>grad/no_grad</b> and <b>grad/inference_mode</b>: the forward's time under grad over "
         "the other mode's, from interleaved rounds. <b>backward/forward</b>: grad's backward time over its "
         "forward's (the forward's from its interleaved rounds). Sorted by saved bytes per element.</p>")


def render(report: Report) -> str:
    holders = [summary for summary in report.summaries if summary.catalogue]
    return run_section(report, holders, "catalogue", "Operator catalogue", INTRO, _run_parts)


def _run_parts(summary: RunSummary, newest: bool) -> list[str]:
    found = summary.catalogue
    size = catalogue.shown_size(found)
    if size is None:
        return []
    parts = [bullets(escape(line) for line in catalogue.findings(found))]
    for device, dtype in dict.fromkeys((row.device, row.dtype) for row in found):
        own = [row for row in found if (row.device, row.dtype) == (device, dtype)]
        if newest:
            parts.append(wide_figure(catalogue_plot.catalogue_plot(own, size)))
        parts.append(table(_table(own, size), f"op · {device} · {dtype}"))
    return parts


def _ratio(value: float) -> tables.Cell:
    return tables.Cell("–" if math.isnan(value) else f"{value:.2f}x")


def _table(found: Sequence[catalogue.OpRow], size: int) -> tables.Table:
    sizes = sorted({row.size for row in found})
    by_key = {(row.op, row.size): row for row in found}
    body = []
    for row in catalogue.at_size(found, size):
        saved = "–" if math.isnan(row.saved_per_element) else f"{row.saved_per_element:.3g}"
        tensors = "–" if math.isnan(row.saved_tensors) else f"{row.saved_tensors:.0f}"
        ratios = [_ratio(by_key[(row.op, s)].grad_over_no_grad if (row.op, s) in by_key else math.nan)
                  for s in sizes]
        body.append(tables.Row(row.op, "grad", [
            tables.Cell(saved), tables.Cell(tensors), *ratios, _ratio(row.grad_over_inference_mode),
            _ratio(row.backward_over_forward)]))
    label = size_label(size)
    return tables.Table(
        f"one row per op; saved figures, grad/inference_mode and backward/forward at {label}",
        ["saved B/element", "saved tensors", *(f"grad/no_grad {size_label(s)}" for s in sizes),
         f"grad/inference_mode {label}", f"backward/forward {label}"], body)
