"""Comparison with the base run: bench_lib.analysis.compare's verdicts on the times, the pipelined
times, the overhead ratios, the exact counts and the peak memory of the cases both runs hold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bench_lib.analysis import compare
from bench_lib.contract.units import format_bytes, number, size_label, time_unit
from bench_lib.report import tables
from bench_lib.report.sections.layout import PROSE, collapsible, escape, or_dash, percent_text, section, table

if TYPE_CHECKING:
    import pandas as pd

    from bench_lib.report.model import Report

# A changed row's colour, by its verdict.
ROW_CSS = {compare.SLOWER: "slower", compare.FASTER: "faster"}
METHOD = ("<p>One replicate is one independent process: times vary far more between processes than between the "
          "rounds of one, so each case is compared on its per-replicate medians. base and new are their "
          "geometric means; the 95% CI of new / base is Welch's t interval on the log scale; p is an exact "
          "permutation test, adjusted for testing every case at once (Benjamini-Hochberg, changes at adjusted "
          f"p &lt; {compare.FDR:g}). A case is unchanged when its whole interval lies within the threshold, "
          "and inconclusive when the noise between processes on this machine is too large to tell.</p>")


def render(report: Report) -> str:
    comparison = report.comparison
    if not comparison:
        return ""
    times = comparison.times
    counts = ", ".join(f"<b>{count}</b>" for count in _counts(comparison, "times"))
    text = (f"<p>{escape(comparison.new.label)} ({comparison.new.replicates} replicates) against base "
            f"{escape(comparison.base.label)} ({comparison.base.replicates} replicates): {len(times)} cases in both; "
            f"{counts}; {comparison.only_base} only in the base, {comparison.only_new} only in the new run.</p>\n"
            + METHOD)
    parts = [text, *_time_tables(times, "significant changes", "cases without a significant change",
                                 "the cases without a significant change"),
             _pipelined(comparison), _ratios(comparison), _memory(comparison)]
    return section("comparison", "Comparison with the base run", "\n".join(parts))


def _pipelined(comparison: compare.Comparison) -> str:
    """CUDA forward and step passes with pipelined figures in both runs: the same judgement on
    their per-replicate pipelined medians."""
    if comparison.pipelined.empty:
        return ""
    parts = ["<h3>Pipelined times (CUDA)</h3>",
             ("<p>The same judgement on each case's pipelined time per replicate (passes queued back to back, as "
              "in a training loop; see the latency against throughput section): "
              f"{', '.join(_counts(comparison, 'pipelined'))}.</p>"),
             *_time_tables(comparison.pipelined, "significant changes of pipelined time",
                           "pipelined times without a significant change",
                           "the pipelined times without a significant change")]
    return "\n".join(parts)


def _counts(comparison: compare.Comparison, family: str) -> list[str]:
    """"N verdict" for each verdict, in compare.VERDICTS' order."""
    return [f"{comparison.count(verdict, family)} {verdict}" for verdict in compare.VERDICTS]


def _time_tables(times: pd.DataFrame, changed_caption: str, rest_caption: str, rest_name: str) -> list[str]:
    """A time family's table of significant changes, slowest first, and its table of the rest
    (collapsed when long); a table without rows is left out."""
    order = {compare.SLOWER: 0, compare.FASTER: 1, compare.INCONCLUSIVE: 2, compare.UNCHANGED: 3}
    ordered = times.assign(_order=times["verdict"].map(order),
                           _key=times["ratio"].where(times["verdict"] != compare.SLOWER, -times["ratio"]))
    ordered = ordered.sort_values(["_order", "_key"], kind="stable")
    scale, unit = time_unit(list(times["base"].dropna()) + list(times["new"].dropna()))
    changed, rest = [], []
    for r in ordered.to_dict("records"):
        label = f"{r['workload']} · {r['mode']} · {r['pass']} · {size_label(r['size'])} · {r['device']} · {r['dtype']}"
        row = tables.Row(label, r["mode"], [
            tables.Cell(number(r["base"] / scale)), tables.Cell(number(r["new"] / scale)),
            tables.Cell(_ratio_text(r["ratio"])), tables.Cell(_interval_text(r)),
            tables.Cell(percent_text(r["noise"])), tables.Cell(or_dash(r["p_adjusted"], "{:.2g}".format)),
            tables.Cell(r["verdict"]), tables.Cell(r["reason"], PROSE)], ROW_CSS.get(r["verdict"], ""))
        (changed if r["verdict"] in ROW_CSS else rest).append(row)
    columns = [f"base ({unit})", f"new ({unit})", "new / base", "95% CI", "noise between processes",
               "p (BH-adjusted)", "verdict", "why"]
    parts = []
    if changed:
        parts.append(table(tables.Table(f"{changed_caption}, slowest first", columns, changed), "case"))
    if rest:
        parts.append(collapsible(table(tables.Table(rest_caption, columns, rest), "case"), len(rest), rest_name))
    return parts


def _ratios(comparison: compare.Comparison) -> str:
    ratios = comparison.ratios
    if ratios.empty:
        return '<p class="note">No forward group has interleaved rounds in both runs: no overhead ratio to compare.</p>'
    rows = [tables.Row(f"{r['workload']} · grad / {r['mode']} · {size_label(r['size'])} · {r['device']} · "
                       f"{r['dtype']}", r["mode"], [
                           tables.Cell(f"{r['base']:.3f}×"), tables.Cell(f"{r['new']:.3f}×"),
                           tables.Cell(_ratio_text(r["ratio"])), tables.Cell(_interval_text(r)),
                           tables.Cell(percent_text(r["noise"])), tables.Cell(r["verdict"]),
                           tables.Cell(r["reason"], PROSE)],
                       ROW_CSS.get(r["verdict"], ""))
            for r in ratios.to_dict("records")]
    content = tables.Table("overhead ratios grad / mode (interleaved rounds), base against new",
                           ["base", "new", "new / base", "95% CI", "noise between processes", "verdict", "why"], rows)
    return (f"<h3>Overhead ratios</h3>\n<p>Ratios of modes timed in the same interleaved rounds, where drift "
            f"between processes cancels: {', '.join(_counts(comparison, 'ratios'))}.</p>\n"
            + collapsible(table(content, "group"), len(rows), "the overhead ratios"))


def _memory(comparison: compare.Comparison) -> str:
    parts = ["<h3>Exact counts and peak memory</h3>"]
    if comparison.counts.empty:
        parts.append("<p>Saved bytes, saved tensors and graph nodes: the same in every common case.</p>")
    else:
        rows = [tables.Row(compare.case_name(r), "", [tables.Cell(str(r["base"])), tables.Cell(str(r["new"]))],
                           "slower") for r in comparison.counts.to_dict("records")]
        parts.append(table(tables.Table("changed exact counts (saved bytes, saved tensors, graph nodes)",
                                        ["base", "new"], rows), "case · metric"))
    moved = comparison.peaks[comparison.peaks["verdict"] != compare.UNCHANGED]
    parts.append(f"<p>Peak tensor memory: {len(moved)} of {len(comparison.peaks)} cases moved by more than "
                 f"±{comparison.peak_tolerance:.0%}.</p>")
    if len(moved):
        rows = [tables.Row(compare.case_name(r), "", [tables.Cell(format_bytes(r["base"])),
                                                      tables.Cell(format_bytes(r["new"])),
                                                      tables.Cell(_ratio_text(r["ratio"])), tables.Cell(r["verdict"])])
                for r in moved.to_dict("records")]
        parts.append(table(tables.Table("peak tensor memory beyond the tolerance",
                                        ["base", "new", "new / base", "verdict"], rows), "case"))
    return "\n".join(parts)


def _ratio_text(value: float) -> str:
    return or_dash(value, "{:.3f}×".format)


def _interval_text(row: Mapping[str, Any]) -> str:
    return or_dash(row["ci_low"], lambda low: f"{low:.3f}-{row['ci_high']:.3f}")
