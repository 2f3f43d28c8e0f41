"""What a run's instruction counts say (``--gb-counts``, schema 8): autograd's bookkeeping in
instructions, the cost of entering each mode's context, where counts and times disagree, and
whether two runs' counts can be compared at all.

Counts come from one process under callgrind (bench_lib.measure.counts): deterministic to about
0.1-0.8 %, so a difference between modes or runs beyond two percent is real, where times move by 1.3x
between runs on a shared machine. Pure functions on the loaded tables; no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench_lib.contract.schema import MODES

if TYPE_CHECKING:
    import pandas as pd

    from bench_lib.contract.result import Run

GROUP_KEYS = ["workload", "pass", "size", "device", "dtype"]
COUNT = "instructions_per_call"
# What two runs' counts depend on besides the code: the build and interpreter, the CPU (MKL and
# oneDNN pick kernels by it), and how they were counted (valgrind's version, the counting process's
# threads and kernel settings). Counts that differ in any of these are never compared silently.
ENVIRONMENT_KEYS = ("torch_version", "torch_git_version", "python_version", "cpu_model")
COUNTING_KEYS = ("valgrind_version", "threads", "settings")
# Where a mode's time ratio to grad and its count ratio differ by more than this factor, the
# report says that the counts and the times disagree (compare's default time threshold).
DISAGREEMENT = 0.10
# The bookkeeping columns: grad less each mode that builds no graph.
BOOKKEEPING = {"no_grad": "grad_minus_no_grad", "inference_mode": "grad_minus_inference_mode"}


def has_counts(run: Run) -> bool:
    """The run was counted (its counts record exists and names no reason for having none)."""
    return run.counts is not None and run.counts.get("reason") is None


def skipped_reason(run: Run) -> str | None:
    """Why a run asked for counts got none (valgrind missing), else None."""
    return None if run.counts is None else run.counts.get("reason")


def contexts(run: Run) -> dict[str, float]:
    """Instructions of entering and leaving each mode's context around nothing, per call."""
    found = (run.counts or {}).get("context_instructions") or {}
    return {mode: float(found[mode]) for mode in MODES if mode in found}


def context_of(run: Run, mode: str) -> float:
    """The context-entry cost of ``mode`` as the suite enters it: detach runs under enable_grad, as grad."""
    return contexts(run).get("grad" if mode == "detach" else mode, math.nan)


def build_differences(base: Run, new: Run) -> list[str]:
    """What differs between two runs' builds, machines or counting, in words; empty when their
    counts can be compared."""
    out = []
    for key in ENVIRONMENT_KEYS:
        a, b = base.environment.get(key), new.environment.get(key)
        if a != b:
            out.append(f"{key} {a} vs {b}")
    for key in COUNTING_KEYS:
        a, b = (base.counts or {}).get(key), (new.counts or {}).get(key)
        if a != b:
            out.append(f"{key} {_short(a)} vs {_short(b)}")
    return out


def _short(value: Any) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items())) or "{}"
    return str(value)


def table(cases: pd.DataFrame) -> pd.DataFrame:
    """One row per (workload, pass, size, device, dtype) with a count: the instructions per call of
    each mode (a column per mode, NaN where not counted), and the bookkeeping columns."""
    import pandas as pd

    counted = cases[cases[COUNT].notna()] if COUNT in cases else cases.iloc[0:0]
    columns = [*GROUP_KEYS, *MODES, *BOOKKEEPING.values()]
    if counted.empty:
        return pd.DataFrame(columns=columns)
    wide = counted.pivot_table(index=GROUP_KEYS, columns="mode", values=COUNT, aggfunc="first").reset_index()
    for mode in MODES:
        if mode not in wide:
            wide[mode] = math.nan
    for mode, column in BOOKKEEPING.items():
        wide[column] = wide["grad"].astype(float) - wide[mode].astype(float)
    wide = wide.sort_values(GROUP_KEYS, kind="stable").reset_index(drop=True)
    wide.columns.name = None
    return wide[columns]


ROW_COLUMNS = ("grad_minus_mode_instructions", "context_instructions", "counts_disagree")


def per_row(cases: pd.DataFrame, runs: Sequence[Run]) -> pd.DataFrame:
    """ROW_COLUMNS for each row of ``cases`` (every run's), aligned with its index:
    grad_minus_mode_instructions (grad's count less this mode's: the bookkeeping the mode saves, in
    instructions per call; 0 for grad), context_instructions (the run's entry cost of the mode's
    context, as the suite enters it) and counts_disagree (this mode's ratio to grad differs between
    times and counts by more than DISAGREEMENT; null where either is missing)."""
    import pandas as pd

    out = pd.DataFrame({"grad_minus_mode_instructions": math.nan, "context_instructions": math.nan,
                        "counts_disagree": None}, index=cases.index)
    if COUNT not in cases or cases[COUNT].isna().all():
        return out
    keys = ["run", *GROUP_KEYS]
    grad = cases.loc[cases["mode"] == "grad", [*keys, COUNT]].rename(columns={COUNT: "_grad"})
    merged = cases[keys].merge(grad, on=keys, how="left")
    merged.index = cases.index
    out["grad_minus_mode_instructions"] = merged["_grad"].astype(float) - cases[COUNT].astype(float)
    by_label = {run.label: run for run in runs}
    out["context_instructions"] = [context_of(by_label[run], mode) if run in by_label else math.nan
                                   for run, mode in zip(cases["run"], cases["mode"], strict=True)]
    flagged = {(label, d.workload, d.pass_, d.size, d.device, d.dtype, d.mode)
               for label in cases["run"].unique() for d in disagreements(cases[cases["run"] == label])}
    judged = cases[COUNT].notna() & merged["_grad"].notna() & (cases["mode"] != "grad")
    out["counts_disagree"] = [(key in flagged) if ok else None for key, ok in zip(
        zip(cases["run"], cases["workload"], cases["pass"], cases["size"], cases["device"], cases["dtype"],
            cases["mode"], strict=True), judged, strict=True)]
    return out


@dataclass(frozen=True)
class Disagreement:
    """A forward group where grad/mode in times and in instructions differ by more than DISAGREEMENT."""

    workload: str
    pass_: str
    size: int
    device: str
    dtype: str
    mode: str
    time_ratio: float   # median(grad) / median(mode), the interleaved rounds where measured
    count_ratio: float  # instructions(grad) / instructions(mode)

    def sentence(self) -> str:
        from bench_lib.contract.units import size_label

        where = f"{self.workload} {self.pass_} {size_label(self.size)} {self.device}"
        return (f"{where}: grad/{self.mode} is {self.time_ratio:.2f}x in time but {self.count_ratio:.3f}x in "
                "instructions. On a shared machine that is drift; otherwise it is work callgrind does not "
                "count (the kernel's page faults, memory stalls).")


def disagreements(cases: pd.DataFrame, threshold: float = DISAGREEMENT) -> list[Disagreement]:
    """Each (group, mode) whose time ratio to grad and instruction ratio to grad differ by more than
    ``threshold`` (as factors): where the times show a difference the counts do not, or the reverse."""
    out = []
    counted = cases[cases[COUNT].notna()] if COUNT in cases else cases.iloc[0:0]
    for key, members in counted.groupby(GROUP_KEYS, sort=True):
        by_mode = {row["mode"]: row for row in members.to_dict("records")}
        grad = by_mode.get("grad")
        if grad is None:
            continue
        for mode in MODES[1:]:
            other = by_mode.get(mode)
            if other is None or not (grad["cmp_median"] > 0 and other["cmp_median"] > 0 and other[COUNT] > 0):
                continue
            time_ratio = float(grad["cmp_median"]) / float(other["cmp_median"])
            count_ratio = float(grad[COUNT]) / float(other[COUNT])
            if abs(math.log(time_ratio / count_ratio)) > math.log1p(threshold):
                out.append(Disagreement(*key, mode=mode, time_ratio=time_ratio, count_ratio=count_ratio))
    return out


def context_sentence(run: Run) -> str | None:
    """The contexts' entry costs, in one sentence."""
    found = contexts(run)
    if not found:
        return None
    names = {"grad": "torch.enable_grad() (grad, detach)", "no_grad": "torch.no_grad()",
             "inference_mode": "torch.inference_mode()"}
    parts = [f"{names.get(mode, mode)} {found[mode]:,.0f}" for mode in found]
    return ("Entering and leaving the mode's context around nothing, as each call of the suite's pass does, costs "
            + ", ".join(parts) + " instructions per call.")


def bookkeeping_sentences(run: Run, cases: pd.DataFrame) -> list[str]:
    """Per workload and pass at its smallest counted size: grad less no_grad and less inference_mode,
    in instructions per call, with the share of the context-entry difference in it."""
    wide = table(cases)
    if wide.empty:
        return []
    lines = []
    found = contexts(run)
    for (workload, pass_, device, dtype), members in wide.groupby(["workload", "pass", "device", "dtype"],
                                                                   sort=True):
        smallest = members.sort_values("size").iloc[0]
        parts = []
        for mode, column in BOOKKEEPING.items():
            value = smallest[column]
            if math.isnan(value):
                continue
            text = f"grad - {mode} {value:+,.0f}"
            if "grad" in found and mode in found:
                # grad - mode = (its ops' bookkeeping) + (enable_grad's entry - the mode's context's entry)
                contexts_part = found["grad"] - found[mode]
                text += (f" (autograd's bookkeeping in the ops {value - contexts_part:+,.0f}, entering the "
                         f"contexts {contexts_part:+,.0f})")
            parts.append(text)
        if parts:
            from bench_lib.contract.units import size_label

            lines.append(f"{workload} {pass_} {size_label(int(smallest['size']))} {device}: " + "; ".join(parts)
                         + f" instructions per call (grad {smallest['grad']:,.0f}).")
    return lines


def spread_summary(cases: pd.DataFrame) -> float:
    """The largest repeatability spread of a run's counted cases (two batches of the same size)."""
    values = cases["instructions_spread"].dropna().astype(float) if "instructions_spread" in cases else []
    return float(max(values)) if len(values) else math.nan


def counted_runs(runs: Sequence[Run]) -> list[Run]:
    return [run for run in runs if has_counts(run)]
