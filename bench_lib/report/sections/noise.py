"""Noise between processes: each case's spread between the replicate processes of the newest run,
the differences between runs this machine can resolve."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_lib.analysis import compare
from bench_lib.contract.units import size_label
from bench_lib.report import tables
from bench_lib.report.sections.layout import collapsible, escape, percent_text, replicates_text, section, table

if TYPE_CHECKING:
    from bench_lib.report.model import Report


def render(report: Report) -> str:
    run = report.primary
    intro = ("<p>A case's median moves from one process to the next (allocator regime, clock, other load) far more "
             "than between the rounds of one process. Shown: the typical factor between two replicates' medians "
             f"of {escape(run.label)}, as ±%. A comparison between runs tells apart changes well above it, "
             "and calls smaller ones inconclusive.</p>")
    cases = report.cases_of(run)
    if cases.empty or (cases["replicates"] < 2).all():
        unknown = (f'<p class="note">{escape(run.label)} has {replicates_text(run.replicates)}: its noise '
                   "between processes is unknown. <code>make bench PRESET=ci</code> (5 replicates) or "
                   "<code>REPEAT=5</code> measures it.</p>")
        return section("noise", "Noise between processes", intro + unknown)
    noise = cases["replicate_noise"].astype(float)
    worst = cases.loc[noise.idxmax()]
    summary = (f"<p>Median case ±{noise.median():.0%}, 90th percentile ±{noise.quantile(0.9):.0%}, worst "
               f"±{noise.max():.0%} ({escape(compare.case_name(worst.to_dict()))}).</p>")
    sizes = sorted(cases["size"].unique())
    rows = []
    for (workload, pass_, mode), members in cases.groupby(["workload", "pass", "mode"], sort=True):
        by_size = dict(zip(members["size"], members["replicate_noise"], strict=True))
        rows.append(tables.Row(f"{workload} · {pass_} · {mode}", mode, [
            tables.Cell(percent_text(by_size.get(size, float("nan")))) for size in sizes]))
    content = tables.Table(f"noise between replicate processes ({run.replicates} replicates)",
                           [size_label(size) for size in sizes], rows)
    body = summary + collapsible(table(content, "workload · pass · mode"), len(rows), "the noise table")
    return section("noise", "Noise between processes", intro + body)
