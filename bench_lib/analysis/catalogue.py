"""The operator catalogue's figures: one row per op, device, dtype and size of a run, and the
findings in words computed from them (the page, summary.md and the README read these)."""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench_lib.contract.cases import OP_PREFIX, op_name
from bench_lib.contract.units import format_bytes, size_label

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class OpRow:
    op: str
    device: str
    dtype: str
    size: int
    elements: int                  # of the op's first operand (the size, rounded by the op's shape rule)
    saved_bytes: float             # under grad, forward; nan where grad forward was not measured
    saved_tensors: float
    grad_over_no_grad: float       # forward medians, interleaved where both have them (cmp_median)
    grad_over_inference_mode: float
    # grad backward's median (its own rounds) over grad forward's (interleaved where measured: a forward's
    # own rounds can catch a slow stretch the interleaved ones share with the other modes)
    backward_over_forward: float
    interleaved: bool              # the forward ratios come from interleaved rounds

    @property
    def saved_per_element(self) -> float:
        return self.saved_bytes / self.elements if self.elements else math.nan


def is_op_case(cases: pd.DataFrame) -> pd.Series:
    """Which rows of ``cases`` are op cases (workload op.NAME): the catalogue's, not the mode matrix's."""
    return cases["workload"].astype(str).str.startswith(OP_PREFIX)


def rows(cases: pd.DataFrame) -> list[OpRow]:
    """The op cases of ``cases`` (one run, add_derived's columns) as catalogue rows, sorted by saved
    bytes per element (most first), then by op name; one row per op, device, dtype and size."""
    ops = cases[is_op_case(cases)]
    found = []
    for (workload, device, dtype, size), group in ops.groupby(["workload", "device", "dtype", "size"], sort=True):
        by = {(r["mode"], r["pass"]): r for r in group.to_dict("records")}
        forward, backward = by.get(("grad", "forward")), by.get(("grad", "backward"))
        no_grad, inference = by.get(("no_grad", "forward")), by.get(("inference_mode", "forward"))
        found.append(OpRow(
            op=str(op_name(str(workload))), device=str(device), dtype=str(dtype), size=int(size),
            elements=int(forward["elements"]) if forward else int(group["elements"].iloc[0]),
            saved_bytes=_number(forward, "saved_bytes"), saved_tensors=_number(forward, "saved_tensor_count"),
            grad_over_no_grad=_number(forward, "rel_to_no_grad"),
            grad_over_inference_mode=_number(inference, "speedup_vs_grad"),
            backward_over_forward=_number(backward, "cmp_median") / _number(forward, "cmp_median"),
            interleaved=bool(forward and no_grad and forward["cmp_interleaved"] and no_grad["cmp_interleaved"]),
        ))
    return sorted(found, key=lambda r: (-_or(r.saved_per_element, -1.0), r.op, r.device, r.dtype, r.size))


def at_size(found: Sequence[OpRow], size: int) -> list[OpRow]:
    return [row for row in found if row.size == size]


def shown_size(found: Sequence[OpRow]) -> int | None:
    """The size the catalogue's table and findings are read at: the largest every op was measured
    at (the overhead ratios at the others are in summary.csv and the per-size columns)."""
    sizes: dict[int, set[str]] = {}
    for row in found:
        sizes.setdefault(row.size, set()).add(row.op)
    every = {row.op for row in found}
    complete = [size for size, names in sizes.items() if names == every]
    return max(complete or sizes, default=None)


def findings(found: Sequence[OpRow]) -> list[str]:
    """A few sentences from the numbers, at ``shown_size``, per device and dtype."""
    size = shown_size(found)
    if size is None:
        return []
    lines = []
    for device, dtype in dict.fromkeys((r.device, r.dtype) for r in found):
        own = [r for r in at_size(found, size) if (r.device, r.dtype) == (device, dtype)]
        saved = [r for r in own if not math.isnan(r.saved_bytes)]
        where = f"on {device} {dtype} at {size_label(size)}"
        if saved:
            nothing = sorted(r.op for r in saved if r.saved_bytes == 0)
            most = max(saved, key=lambda r: (r.saved_per_element, r.op))
            lines.append(f"Of {len(saved)} ops {where}, {len(nothing)} save{'s' if len(nothing) == 1 else ''} "
                         "nothing for backward"
                         + (f" ({', '.join(nothing)})" if nothing else "")
                         + f"; the most per element under grad is {most.op}'s {most.saved_per_element:.3g} B "
                         f"({format_bytes(int(most.saved_bytes))} in {int(most.saved_tensors)} tensors).")
        # Grad's overhead per call is largest, relative to the work, at the smallest size.
        smallest = min(r.size for r in found if (r.device, r.dtype) == (device, dtype))
        for ratio_size in dict.fromkeys((smallest, size)):
            ratios = [r for r in at_size(found, ratio_size) if (r.device, r.dtype) == (device, dtype)
                      and not math.isnan(r.grad_over_no_grad)]
            if not ratios:
                continue
            worst = max(ratios, key=lambda r: r.grad_over_no_grad)
            least = min(ratios, key=lambda r: r.grad_over_no_grad)
            interleaved = sum(r.interleaved for r in ratios)
            source = ("interleaved rounds" if interleaved == len(ratios) else "each mode's own rounds" if not interleaved
                      else f"interleaved rounds for {interleaved} of {len(ratios)} ops")
            lines.append(f"Grad's forward on {device} {dtype} at {size_label(ratio_size)} costs from "
                         f"{least.grad_over_no_grad:.2f}x no_grad's ({least.op}) to {worst.grad_over_no_grad:.2f}x "
                         f"({worst.op}), median {statistics.median([r.grad_over_no_grad for r in ratios]):.2f}x "
                         f"({source}).")
        backward = [r for r in own if not math.isnan(r.backward_over_forward)]
        if backward:
            heavy = max(backward, key=lambda r: r.backward_over_forward)
            lines.append(f"Backward {where} takes {statistics.median([r.backward_over_forward for r in backward]):.2f}x the "
                         f"forward's time at the median op, most for {heavy.op} ({heavy.backward_over_forward:.2f}x).")
    return lines


def _number(record: dict[str, object] | None, key: str) -> float:
    value = record.get(key) if record else None
    return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else math.nan


def _or(value: float, default: float) -> float:
    return default if math.isnan(value) else value
