"""The table of one scenario in one run: a row per variant (and mode and pass, where the scenario
has several), a column per figure the claim is about (Scenario.columns), each column in one unit
chosen from its own numbers.

Rows a claim compares sit next to each other, and every ratio is against the scenario's
reference variant in the same group, mode and pass, as its claim compares them. Cases autograd
rejected get a row too, saying so.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench_lib.analysis.stats import UNSTABLE_REL_IQR
from bench_lib.contract.scenario import Column, Scenario
from bench_lib.contract.schema import MODES, PASSES
from bench_lib.contract.units import byte_unit, number, time_unit
from bench_lib.report.tables import Cell, Row, Table
from bench_lib.report.variants import GroupKey, Style, group_key, group_label

Record = Mapping[str, Any]
# Marks the time columns: they hold the figure the claim compares (see the legend above the tables).
TIME_MARK = " †"
REJECTED = "rejected by autograd"


@dataclass(frozen=True)
class _Line:
    group: GroupKey
    label: str
    record: Record  # a measured case, or an invalid entry (it has "error")
    reference: Record | None
    colour: str


def scenario_table(scenario: Scenario, records: Sequence[Record], invalid: Sequence[Record],
                   variant_styles: Mapping[str, Style], group_styles: Mapping[str, Style]) -> tuple[Table, str]:
    """The table and its corner heading (what a row is)."""
    lines = _lines(scenario, records, invalid, variant_styles, group_styles)
    several = len({line.group for line in lines}) > 1
    columns = scenario.columns
    measured = [line for line in lines if "error" not in line.record]
    headers, formatters = [], []
    for column in columns:
        header, formatter = _format(column, measured)
        headers.append(header)
        formatters.append(formatter)
    rows = []
    for line in lines:
        label = f"{group_label(line.group)} · {line.label}" if several else line.label
        rejected = "error" in line.record
        cells = []
        for column, formatter in zip(columns, formatters, strict=True):
            if rejected and column.kind != "text":
                cells.append(Cell("-", "missing", REJECTED))
            else:
                cells.append(formatter(line.record, line.reference))
        rows.append(Row(label, "", cells, "rejected" if rejected else "", line.colour))
    corner = ("group · " if several else "") + scenario.rows
    return Table(f"{scenario.name}: {scenario.caption}", headers, rows), corner


def slots(records: Sequence[Record]) -> list[tuple[str, str]]:
    """The (mode, pass) pairs of a scenario's records, modes in the matrix's order: what a variant
    is measured in. The table's rows and the plot's slots both follow it."""
    pairs = {(str(r["mode"]), str(r["pass"])) for r in records}
    return sorted(pairs, key=lambda pair: (_index(MODES, pair[0]), _index(PASSES, pair[1]), pair))


def _index(known: tuple[str, ...], name: str) -> int:
    return known.index(name) if name in known else len(known)


def _lines(scenario: Scenario, records: Sequence[Record], invalid: Sequence[Record],
           variant_styles: Mapping[str, Style], group_styles: Mapping[str, Style]) -> list[_Line]:
    everything = [*records, *invalid]
    groups = sorted({group_key(r) for r in everything})
    variants = scenario.ordered([r["variant"] for r in everything])
    several = len(groups) > 1
    by_key = {(group_key(r), r["variant"], r["mode"], r["pass"]): r for r in everything}
    pairs = slots(everything)
    several_modes = len({mode for mode, _ in pairs}) > 1
    # A row names its pass when passes differ at all ("depth=1 · grad" twice, for forward and backward, is
    # ambiguous), unless the table has a column for it.
    several_passes = (len({pass_ for _, pass_ in pairs}) > 1
                      and all(column.name != "pass" for column in scenario.columns))
    lines = []
    for group in groups:
        for variant in variants:
            for mode, pass_ in pairs:
                record = by_key.get((group, variant, mode, pass_))
                if record is None:
                    continue
                reference = by_key.get((group, scenario.reference, mode, pass_))
                if reference is not None and "error" in reference:
                    reference = None
                if scenario.plot.layout == "lines":
                    # Lines in the plot are groups, not variants: colour rows by group when there are several.
                    colour = group_styles[group_label(group)][0] if several else ""
                else:
                    colour = variant_styles[variant][0]
                label = variant + (f" · {mode}" if several_modes else "") + (f" · {pass_}" if several_passes else "")
                lines.append(_Line(group, label, record, reference, colour))
    return lines


Formatter = Callable[[Record, Any], Cell]


def _format(column: Column, measured: Sequence[_Line]) -> tuple[str, Formatter]:
    """The column's header (with its unit) and how it writes a cell."""
    values = [column.value(line.record, line.reference) for line in measured]
    figures = [float(v) for v in values if finite(v)]
    if column.kind == "time":
        scale, unit = time_unit(figures)
        return f"{column.name} ({unit}){TIME_MARK}", lambda record, _ref: _time_cell(record, scale, unit)
    if column.kind == "bytes":
        scale, unit = byte_unit(figures)
        return f"{column.name} ({unit})", lambda record, ref: _bytes_cell(column.value(record, ref), scale)
    if column.kind == "count":
        return column.name, lambda record, ref: _plain(column.value(record, ref), lambda v: f"{int(v)}")
    if column.kind == "ratio":
        return column.name, lambda record, ref: _plain(column.value(record, ref), lambda v: f"{v:.2f}×")
    if column.kind == "fraction":
        return column.name, lambda record, ref: _plain(column.value(record, ref), lambda v: f"{v:.2f}")
    return column.name, lambda record, ref: _text_cell(str(column.value(record, ref)))


def _time_cell(record: Record, scale: float, unit: str) -> Cell:
    """The claims' figure (interleaved where measured), with the case's own median as a secondary
    note: the two differ when the machine drifted between cases, and only the first is compared."""
    iqr = record["cmp_q3"] - record["cmp_q1"]
    text = f"{number(record['cmp_median'] / scale)} [{number(iqr / scale)}]"
    source = "interleaved rounds" if record["cmp_interleaved"] else f"{record['rounds']} rounds"
    notes = [f"{source}; q1 {number(record['cmp_q1'] / scale)}, q3 {number(record['cmp_q3'] / scale)} {unit}"]
    if record["cmp_interleaved"]:
        notes.append(f"timed on its own (not compared): median {number(record['median'] / scale)} {unit} "
                     f"over {record['rounds']} rounds")
    marks, css = "", ""
    if record["cmp_unstable"]:
        marks += " ⚠"
        css = "unstable"
        notes.insert(0, f"IQR is {record['cmp_rel_iqr']:.0%} of the median (above {UNSTABLE_REL_IQR:.0%})")
    if record["contended"]:
        marks += " *"
        css = css or "contended"
        notes.insert(0, f"other processes used {record['background_cpu']:.0%} of the CPUs while it was timed")
    return Cell(text + marks, css, "; ".join(notes))


def _bytes_cell(value: Any, scale: float) -> Cell:
    if not finite(value):
        return Cell("-", "missing", "not measured")
    scaled = float(value) / scale
    return Cell("<0.001" if 0 < scaled < 0.001 else number(scaled), "", f"{int(value):,} bytes")


def _plain(value: Any, write: Callable[[float], str]) -> Cell:
    return Cell(write(float(value))) if finite(value) else Cell("-", "missing")


def finite(value: Any) -> bool:
    """A number to show or plot: numpy numbers too, since records come from a DataFrame, where a
    run without the figure holds NaN."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _text_cell(text: str) -> Cell:
    return Cell(text, "label")  # text reads left-aligned, as the row labels do
