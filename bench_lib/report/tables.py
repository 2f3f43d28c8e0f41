"""The page's tables, laid out by data keys: rows are modes (and runs), columns are sizes.

Each table has one unit, chosen from its own numbers. Tables hold display text only; the
numbers they come from stay in the tidy DataFrame (and the CSV).
"""

from __future__ import annotations

import math
import numbers
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench_lib.contract.schema import MODES, PASSES
from bench_lib.contract.units import byte_unit, number, size_label, time_unit

MEMORY_METRICS = (
    ("peak_tensor_bytes", "peak tensors"),
    ("retained_tensor_bytes", "retained tensors"),
    ("peak_rss_bytes", "RSS growth"),
    ("saved_bytes", "saved for backward"),
    ("cuda_peak_reserved_bytes", "CUDA reserved growth"),
)


@dataclass(frozen=True)
class Cell:
    text: str
    css: str = ""
    title: str = ""


@dataclass(frozen=True)
class Row:
    label: str
    mode: str  # for the colour swatch (MODE_COLORS)
    cells: list[Cell]
    css: str = ""
    colour: str = ""  # a swatch colour of its own (a scenario's variant), instead of the mode's


@dataclass(frozen=True)
class Table:
    caption: str
    columns: list[str]
    rows: list[Row]


Record = Mapping[str, Any]
GroupKey = tuple[str, str, str]  # workload, device, dtype


def group_records(records: Iterable[Record]) -> dict[GroupKey, dict[str, list[Record]]]:
    """Records by workload x device x dtype, then by pass (in PASSES order)."""
    groups: dict[GroupKey, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        groups[(record["workload"], record["device"], record["dtype"])][record["pass"]].append(record)
    return {key: {p: groups[key][p] for p in PASSES if p in groups[key]} for key in sorted(groups)}


Layout = tuple[list[int], list[tuple[str, str]], dict[tuple[str, str, int], Record]]


def _layout(records: Sequence[Record], runs: Sequence[str]) -> Layout:
    """Sizes (columns), (mode, run) row keys in canonical order, and the record of each cell."""
    cells = {(r["mode"], r["run"], int(r["size"])): r for r in records}
    sizes = sorted({size for _, _, size in cells})
    present = {(mode, run) for mode, run, _ in cells}
    rows = [(mode, run) for mode in MODES for run in runs if (mode, run) in present]
    return sizes, rows, cells


def _row_label(mode: str, run: str, runs: Sequence[str]) -> str:
    return mode if len(runs) == 1 else f"{mode} · {run}"


def time_table(records: Sequence[Record], runs: Sequence[str]) -> Table:
    sizes, rows, cells = _layout(records, runs)
    scale, unit = time_unit(r["cmp_median"] for r in records)
    out = []
    for mode, run in rows:
        row = []
        for size in sizes:
            r = cells.get((mode, run, size))
            if r is None:
                row.append(Cell("-", "missing", "not measured"))
                continue
            # The figure the speed-ups and the physics check use (interleaved rounds where measured).
            text = f"{number(r['cmp_median'] / scale)} [{number((r['cmp_q3'] - r['cmp_q1']) / scale)}]"
            source = "interleaved rounds" if r["cmp_interleaved"] else f"{r['rounds']} rounds"
            tip = f"{source}; q1 {number(r['cmp_q1'] / scale)}, q3 {number(r['cmp_q3'] / scale)} {unit}"
            if r["cmp_interleaved"]:
                tip += f"; timed on its own: {number(r['median'] / scale)} {unit} over {r['rounds']} rounds"
            marks, notes = "", [tip]
            if r["unstable"]:
                marks += " ⚠"
                notes.insert(0, f"IQR is {r['rel_iqr']:.0%} of the median")
            if r["contended"]:
                marks += " *"
                notes.insert(0, f"other processes used {r['background_cpu']:.0%} of the CPUs while it was timed")
            css = "unstable" if r["unstable"] else ("contended" if r["contended"] else "")
            row.append(Cell(text + marks, css, "; ".join(notes)))
        out.append(Row(_row_label(mode, run, runs), mode, row))
    return Table(f"median time per pass [IQR], {unit} (forward: interleaved rounds, as the speed-ups)",
                 [size_label(s) for s in sizes], out)


def speedup_table(records: Sequence[Record], runs: Sequence[str]) -> Table | None:
    """median(grad)/median(mode) per size; None where grad or every other mode is absent."""
    sizes, rows, cells = _layout(records, runs)
    others = [(mode, run) for mode, run in rows if mode != "grad"]
    if not others or not any(mode == "grad" for mode, _ in rows):
        return None
    out = []
    for mode, run in others:
        row = []
        for size in sizes:
            r = cells.get((mode, run, size))
            value = float("nan") if r is None else r["speedup_vs_grad"]
            row.append(Cell("-", "missing") if not _finite(value) else Cell(f"{value:.2f}×", "", ""))
        out.append(Row(_row_label(mode, run, runs), mode, row))
    title = "speed-up vs grad: median(grad) / median(mode), from interleaved rounds where measured"
    return Table(title, [size_label(s) for s in sizes], out)


def memory_table(records: Sequence[Record], runs: Sequence[str]) -> Table:
    sizes, rows, cells = _layout(records, runs)
    metrics = [(key, name) for key, name in MEMORY_METRICS if any(_finite(r[key]) for r in records)]
    scale, unit = byte_unit(float(r[key]) for r in records for key, _ in metrics if _finite(r[key]))
    out = []
    for key, name in metrics:
        for mode, run in rows:
            row = []
            for size in sizes:
                r = cells.get((mode, run, size))
                value = None if r is None else r[key]
                row.append(_bytes_cell(value, scale) if _finite(value) else Cell("-", "missing"))
            out.append(Row(f"{name}: {_row_label(mode, run, runs)}", mode, row))
    return Table(f"memory, {unit}", [size_label(s) for s in sizes], out)


def _bytes_cell(value: float, scale: float) -> Cell:
    """Bytes in the table's unit; amounts too small for it read "<0.001", exact on hover."""
    scaled = float(value) / scale
    text = "<0.001" if 0 < scaled < 0.001 else number(scaled)
    return Cell(text, "", f"{int(value):,} bytes")


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and math.isfinite(value)
