"""The table of one scenario in one run: a row per variant (per variant and mode for inplace), a
column per figure the claim is about, each column in one unit chosen from its own numbers.

Rows a claim compares sit next to each other, and every ratio is against the scenario's
reference variant (variants.REFERENCE) in the same group (and mode), as bench_lib.claims
compares them. Cases autograd rejected get a row too, saying so.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench_lib.report.stats import UNSTABLE_REL_IQR
from bench_lib.report.tables import Cell, Row, Table
from bench_lib.report.variants import REFERENCE, GroupKey, Style, group_key, group_label, ordered_variants
from bench_lib.units import byte_unit, number, time_unit

Record = Mapping[str, Any]
INPLACE_MODES = ("grad", "no_grad", "inference_mode")
# Marks the time columns: they hold the figure the claim compares (see the legend above the tables).
TIME_MARK = " †"
REJECTED = "rejected by autograd"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "time" (median [IQR]), "bytes", "count", "ratio" (×), "fraction" or "text"
    value: Callable[[Record, Record | None], Any]  # (the row's record, the reference's) -> value


def _ratio(key: str) -> Callable[[Record, Record | None], float | None]:
    def value(record: Record, reference: Record | None) -> float | None:
        if reference is None or not reference[key]:
            return None
        return float(record[key]) / float(reference[key])
    return value


def _get(key: str) -> Callable[[Record, Record | None], Any]:
    return lambda record, _reference: record[key]


COLUMNS: dict[str, tuple[Column, ...]] = {
    "accumulation": (
        Column("peak tensors", "bytes", _get("peak_tensor_bytes")),
        Column("peak ÷ peak(k=1)", "fraction", _ratio("peak_tensor_bytes")),
        Column("1/k", "fraction", lambda record, _ref: 1.0 / int(record["microbatches"])),
        Column("saved, one micro-batch", "bytes", _get("saved_bytes")),
        Column("time per effective batch [IQR]", "time", _get("cmp_median")),
        Column("time ÷ time(k=1)", "ratio", _ratio("cmp_median")),
    ),
    "zero_grad": (
        Column("training step [IQR]", "time", _get("cmp_median")),
        Column("time ÷ zero_", "ratio", _ratio("cmp_median")),
        Column("peak tensors", "bytes", _get("peak_tensor_bytes")),
        Column("one set of gradients", "bytes", _get("trainable_parameter_bytes")),
        Column("parameter tensors", "count", _get("parameter_tensors")),
    ),
    "freezing": (
        Column("trainable tensors", "text",
               lambda r, _ref: f"{_count(r['trainable_parameter_tensors'])} of {_count(r['parameter_tensors'])}"),
        Column("gradients", "bytes", _get("trainable_parameter_bytes")),
        Column("graph nodes", "count", _get("graph_nodes")),
        Column("saved for backward", "bytes", _get("saved_bytes")),
        Column("peak tensors", "bytes", _get("peak_tensor_bytes")),
        Column("backward [IQR]", "time", _get("cmp_median")),
        Column("time ÷ all_trainable", "ratio", _ratio("cmp_median")),
    ),
    "inplace": (
        Column("pass", "text", _get("pass")),
        Column("time per pass [IQR]", "time", _get("cmp_median")),
        Column("time ÷ relu", "ratio", _ratio("cmp_median")),
        Column("peak tensors", "bytes", _get("peak_tensor_bytes")),
        Column("saved for backward", "bytes", _get("saved_bytes")),
        Column("graph nodes", "count", _get("graph_nodes")),
        Column("outcome", "text", lambda r, _ref: REJECTED if "error" in r else "measured"),
    ),
}
ROWS = {"accumulation": "k (micro-batches)", "zero_grad": "variant", "freezing": "variant", "inplace": "variant · mode"}
CAPTIONS = {
    "accumulation": "one row per micro-batch count k; ratios against k=1 (the full batch)",
    "zero_grad": "one row per way of resetting the gradients; ratios against zero_",
    "freezing": "one row per set of frozen layers; ratios against all_trainable",
    "inplace": "one row per variant and mode; ratios against relu in the same mode",
}


@dataclass(frozen=True)
class _Line:
    group: GroupKey
    label: str
    record: Record  # a measured case, or an invalid entry (it has "error")
    reference: Record | None
    colour: str


def scenario_table(scenario: str, records: Sequence[Record], invalid: Sequence[Record],
                   variant_styles: Mapping[str, Style], group_styles: Mapping[str, Style]) -> tuple[Table, str]:
    """The table and its corner heading (what a row is)."""
    lines = _lines(scenario, records, invalid, variant_styles, group_styles)
    several = len({line.group for line in lines}) > 1
    columns = COLUMNS.get(scenario, COLUMNS["zero_grad"])
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
    corner = ("group · " if several else "") + ROWS.get(scenario, "variant")
    return Table(f"{scenario}: {CAPTIONS.get(scenario, 'one row per variant')}", headers, rows), corner


def _lines(scenario: str, records: Sequence[Record], invalid: Sequence[Record],
           variant_styles: Mapping[str, Style], group_styles: Mapping[str, Style]) -> list[_Line]:
    everything = [*records, *invalid]
    groups = sorted({group_key(r) for r in everything})
    variants = ordered_variants(scenario, (r["variant"] for r in everything))
    several = len(groups) > 1
    by_key = {(group_key(r), r["variant"], r["mode"]): r for r in everything}
    modes = [m for m in INPLACE_MODES if any(r["mode"] == m for r in everything)]
    modes += sorted({str(r["mode"]) for r in everything} - set(modes))
    lines = []
    for group in groups:
        for variant in variants:
            for mode in modes:
                record = by_key.get((group, variant, mode))
                if record is None:
                    continue
                reference = by_key.get((group, REFERENCE.get(scenario, ""), mode))
                if reference is not None and "error" in reference:
                    reference = None
                if scenario == "accumulation":
                    # Lines in the plot are groups, not variants: colour rows by group when there are several.
                    colour = group_styles[group_label(group)][0] if several else ""
                else:
                    colour = variant_styles[variant][0]
                label = f"{variant} · {mode}" if scenario == "inplace" else variant
                lines.append(_Line(group, label, record, reference, colour))
    return lines


Formatter = Callable[[Record, Any], Cell]


def _format(column: Column, measured: Sequence[_Line]) -> tuple[str, Formatter]:
    """The column's header (with its unit) and how it writes a cell."""
    values = [column.value(line.record, line.reference) for line in measured]
    figures = [float(v) for v in values if _finite(v)]
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
    if record["cmp_rel_iqr"] > UNSTABLE_REL_IQR:
        marks += " ⚠"
        css = "unstable"
        notes.insert(0, f"IQR is {record['cmp_rel_iqr']:.0%} of the median (above {UNSTABLE_REL_IQR:.0%})")
    if record["contended"]:
        marks += " *"
        css = css or "contended"
        notes.insert(0, f"other processes used {record['background_cpu']:.0%} of the CPUs while it was timed")
    return Cell(text + marks, css, "; ".join(notes))


def _bytes_cell(value: Any, scale: float) -> Cell:
    if not _finite(value):
        return Cell("-", "missing", "not measured")
    scaled = float(value) / scale
    return Cell("<0.001" if 0 < scaled < 0.001 else number(scaled), "", f"{int(value):,} bytes")


def _plain(value: Any, write: Callable[[float], str]) -> Cell:
    return Cell(write(float(value))) if _finite(value) else Cell("-", "missing")


def _finite(value: Any) -> bool:  # numpy numbers too: records come from a DataFrame
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _text_cell(text: str) -> Cell:
    return Cell(text, "label")  # text reads left-aligned, as the row labels do


def _count(value: Any) -> str:
    return str(int(value)) if _finite(value) else "?"
