"""The mode matrix at a glance: "how much faster is no_grad than grad at my sizes?" One table per
device x dtype: per workload and mode, the forward pass's speed-up over grad at each size and the
bytes it saves for backward per input element. The figures are the analysis layer's
(speedup_vs_grad: interleaved rounds where measured, else the case's own; saved_bytes_per_element).
Op cases are left to the operator catalogue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench_lib.analysis.catalogue import is_op_case
from bench_lib.contract.result import is_finite_number
from bench_lib.contract.schema import CONTENDED_FRACTION, MODES
from bench_lib.contract.units import number, size_label
from bench_lib.report import tables
from bench_lib.report.sections.layout import collapsible, section, table

if TYPE_CHECKING:
    import pandas as pd

    from bench_lib.report.model import Report

ANCHOR, TITLE = "matrix", "Speed-up over grad at each size"
PASS = "forward"  # the one pass every mode runs

INTRO = ("<p>The forward pass per workload and mode: <b>speed-up</b> = median(grad) / median(mode) at the same "
         "size (1.00× for grad itself; from interleaved rounds where measured, as the tables under Per workload), "
         "then the <b>bytes saved for backward per input element</b>. * marks a case timed while other processes "
         f"used more than {CONTENDED_FRACTION:.0%} of the CPUs. Hover a cell for which rounds it comes from.</p>")


def present(report: Report) -> bool:
    """Whether the page has this section (the header links to it)."""
    return not _forward(report).empty


def _forward(report: Report) -> pd.DataFrame:
    cases = report.cases
    if cases.empty:
        return cases
    return cases[(cases["pass"] == PASS) & ~is_op_case(cases)]


def render(report: Report) -> str:
    forward = _forward(report)
    if forward.empty:
        return ""
    runs = [run.label for run in report.loaded.runs]
    parts = [INTRO]
    for (device, dtype), group in forward.groupby(["device", "dtype"], sort=True):
        content = _table(group.drop(columns=["samples"]).to_dict("records"), runs, f"{device} · {dtype}")
        html = table(content, "workload · mode" + (" · run" if len(runs) > 1 else ""))
        parts.append(collapsible(html, len(content.rows), f"the {device} · {dtype} table"))
    return section(ANCHOR, TITLE, "\n".join(parts))


def _table(records: list[dict[str, Any]], runs: list[str], where: str) -> tables.Table:
    cells = {(r["workload"], r["mode"], r["run"], int(r["size"])): r for r in records}
    sizes = sorted({key[3] for key in cells})
    workloads = sorted({key[0] for key in cells})
    rows = []
    for workload in workloads:
        for mode in MODES:
            for run in runs:
                if not any((workload, mode, run, size) in cells for size in sizes):
                    continue
                label = f"{workload} · {mode}" + (f" · {run}" if len(runs) > 1 else "")
                rows.append(tables.Row(label, mode, [_cell(cells.get((workload, mode, run, size)))
                                                     for size in sizes]))
    return tables.Table(f"{where}: speed-up vs grad · saved bytes per element (forward)",
                        [size_label(size) for size in sizes], rows)


def _cell(record: dict[str, Any] | None) -> tables.Cell:
    if record is None:
        return tables.Cell("-", "missing", "not measured")
    speedup, saved = record["speedup_vs_grad"], record["saved_bytes_per_element"]
    speedup_text = f"{speedup:.2f}×" if is_finite_number(speedup) else "-"
    saved_text = f"{number(saved)} B" if is_finite_number(saved) else "- B"
    source = "interleaved rounds" if record["cmp_interleaved"] else f"its own {record['rounds']} rounds"
    marks = " *" if record["contended"] else ""
    return tables.Cell(f"{speedup_text} · {saved_text}{marks}", "contended" if record["contended"] else "",
                       f"speed-up from {source}" + (f"; saved for backward: {number(saved)} B per element"
                                                    if is_finite_number(saved) else ""))
