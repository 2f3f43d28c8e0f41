"""The tidy tables written as CSV: one row per case (measured or skipped), one column per metric.

summary.csv holds the mode matrix, scenarios.csv the scenario cases (see scenario_table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bench_lib.analysis import counts as instruction_counts
from bench_lib.contract.result import BY_KEY, INTEGERS, SPEC_KEYS
from bench_lib.contract.schema import MODES
from bench_lib.scenarios import SCENARIOS

if TYPE_CHECKING:
    import pandas as pd

    from bench_lib.contract.result import Run

# Column names carry their unit, so the CSV reads without this code.
_SECONDS = {key: f"{key}_s" for key in ("median", "q1", "q3", "iqr", "min", "max", "mean", "stddev",
                                        "pipelined_median", "gpu_median")}
_ORDER = [
    "run", *SPEC_KEYS, "status", "skip_reason", "elements", "shape", "rounds", "iterations", "rounds_planned",
    *_SECONDS.values(), "rel_iqr", "unstable", "instability", "pipelined_unstable", "replicates", "replicate_noise",
    "background_cpu", "contended", "speedup_vs_grad", "rel_to_no_grad", "input_bytes", "throughput_Bps",
    "peak_tensor_bytes", "retained_tensor_bytes", "peak_rss_bytes", "cuda_peak_reserved_bytes", "saved_bytes",
    "saved_bytes_per_element", "saved_tensor_count", "graph_nodes", "tensor_memory_method", "rss_method",
    # instruction counts (COUNTS=1): per call, grad's less this mode's, the mode's context-entry cost,
    # whether times and counts disagree on this mode's ratio to grad, and how the count was taken
    "instructions_per_call", "grad_minus_mode_instructions", "context_instructions", "counts_disagree",
    "instructions_allocators", "instructions_calls", "instructions_spread", "instructions_note",
]




def _integers(order: list[str]) -> list[str]:
    """The columns of ``order`` that hold whole numbers: pytest-benchmark's counts, and every field
    of the result table whose kind is a count or bytes."""
    return ["size", "rounds", "iterations", *(key for key in order if key in BY_KEY and BY_KEY[key].kind in INTEGERS)]


_INTEGERS = _integers(_ORDER)


def tidy_table(cases: pd.DataFrame, skipped: pd.DataFrame, runs: Sequence[Run] = ()) -> pd.DataFrame:
    """``cases`` with add_derived's columns, and ``skipped``, as one table without raw samples;
    ``runs``: the runs of ``cases``, whose instruction-count records give context_instructions."""
    import pandas as pd

    arrays = ["samples", "cmp_samples", "rep_medians", "rep_cmp", "rep_peak", "rep_rounds", "rep_pipelined"]
    cases = pd.concat([cases, instruction_counts.per_row(cases, runs)], axis=1)
    measured = cases.drop(columns=arrays).rename(columns=_SECONDS).assign(status="measured", skip_reason="")
    skips = skipped.rename(columns={"reason": "skip_reason"}).assign(status="skipped")
    frames = [frame for frame in (measured, skips) if len(frame)]
    table = pd.concat(frames, ignore_index=True) if frames else measured
    table = table.reindex(columns=_ORDER)
    # Skipped rows leave holes; nullable integers keep counts and bytes from turning into floats.
    for column in [*_INTEGERS, "replicates"]:
        table[column] = pd.to_numeric(table[column]).astype("Int64")
    return table


# A spreadsheet runs a cell that starts with one of these as a formula: text from a run file (a
# skip reason, PyTorch's error) is written with a leading apostrophe instead (OWASP's advice).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def to_csv(table: pd.DataFrame) -> str:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    safe = table.copy()
    for column in safe.columns:
        if not (is_numeric_dtype(safe[column]) or is_bool_dtype(safe[column])):
            safe[column] = safe[column].map(_inert)
    return safe.to_csv(index=False, lineterminator="\n")


def _inert(value: object) -> object:
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


# scenarios.csv: one row per scenario case, measured, skipped or rejected by autograd (status
# "invalid", with PyTorch's message as skip_reason). A separate file because a scenario case is a
# different kind of observation: it has a variant, and SPEC_KEYS do not identify it.
_SCENARIO_ORDER = [
    "run", "scenario", "variant", "microbatches", *SPEC_KEYS, "status", "skip_reason", "elements", "shape",
    "rounds", "iterations", "rounds_planned", *_SECONDS.values(), "rel_iqr", "unstable", "background_cpu",
    "contended", "input_bytes", "peak_tensor_bytes", "retained_tensor_bytes", "peak_rss_bytes",
    "cuda_peak_reserved_bytes", "saved_bytes", "saved_tensor_count", "graph_nodes", "parameter_tensors",
    "trainable_parameter_tensors", "trainable_parameter_bytes", "tensor_memory_method", "rss_method",
]
_SCENARIO_INTEGERS = _integers(_SCENARIO_ORDER)


def scenario_table(scenarios: pd.DataFrame, skipped: pd.DataFrame, invalid: pd.DataFrame,
                   runs: Sequence[str]) -> pd.DataFrame:
    """``scenarios`` with add_scenario_derived's columns, ``skipped`` and ``invalid`` as one table,
    sorted by run (in ``runs`` order), scenario, workload, device, dtype, size, variant, mode."""
    import pandas as pd

    measured = scenarios.rename(columns=_SECONDS).assign(status="measured", skip_reason="")
    skips = skipped.rename(columns={"reason": "skip_reason"}).assign(status="skipped")
    rejected = invalid.rename(columns={"error": "skip_reason"}).assign(status="invalid")
    frames = [frame for frame in (measured, skips, rejected) if len(frame)]
    table = pd.concat(frames, ignore_index=True) if frames else measured
    table = table.reindex(columns=_SCENARIO_ORDER)
    if len(table):
        keys = table.assign(_run=table["run"].map({run: i for i, run in enumerate(runs)}),
                            _scenario=table["scenario"].map({s: i for i, s in enumerate(SCENARIOS)}),
                            _variant=[SCENARIOS[s].rank(v) for s, v in zip(table["scenario"], table["variant"])],
                            _mode=table["mode"].map({m: i for i, m in enumerate(MODES)}))
        order = keys.sort_values(["_run", "_scenario", "workload", "device", "dtype", "size", "_variant", "variant",
                                  "_mode"], kind="stable").index
        table = table.loc[order].reset_index(drop=True)
    for column in _SCENARIO_INTEGERS:
        table[column] = pd.to_numeric(table[column]).astype("Int64")
    return table
