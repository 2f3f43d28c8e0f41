"""The tidy table written as CSV: one row per case (measured or skipped), one column per metric."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench_lib.schema import SPEC_KEYS

if TYPE_CHECKING:
    import pandas as pd

# Column names carry their unit, so the CSV reads without this code.
_SECONDS = {key: f"{key}_s" for key in ("median", "q1", "q3", "iqr", "min", "max", "mean", "stddev")}
_ORDER = [
    "run", *SPEC_KEYS, "status", "skip_reason", "elements", "shape", "rounds", "iterations", "rounds_planned",
    *_SECONDS.values(), "rel_iqr", "unstable", "background_cpu", "contended", "speedup_vs_grad", "rel_to_no_grad",
    "input_bytes", "throughput_Bps",
    "peak_tensor_bytes", "retained_tensor_bytes", "peak_rss_bytes", "cuda_peak_reserved_bytes", "saved_bytes",
    "saved_tensor_count", "graph_nodes", "tensor_memory_method", "rss_method",
]


_INTEGERS = ["size", "elements", "rounds", "iterations", "rounds_planned", "input_bytes", "peak_tensor_bytes",
             "retained_tensor_bytes", "peak_rss_bytes", "cuda_peak_reserved_bytes", "saved_bytes",
             "saved_tensor_count", "graph_nodes"]


def tidy_table(cases: pd.DataFrame, skipped: pd.DataFrame) -> pd.DataFrame:
    """``cases`` with add_derived's columns, and ``skipped``, as one table without raw samples."""
    import pandas as pd

    measured = cases.drop(columns=["samples"]).rename(columns=_SECONDS).assign(status="measured", skip_reason="")
    skips = skipped.rename(columns={"reason": "skip_reason"}).assign(status="skipped")
    frames = [frame for frame in (measured, skips) if len(frame)]
    table = pd.concat(frames, ignore_index=True) if frames else measured
    table = table.reindex(columns=_ORDER)
    # Skipped rows leave holes; nullable integers keep counts and bytes from turning into floats.
    for column in _INTEGERS:
        table[column] = pd.to_numeric(table[column]).astype("Int64")
    return table


def to_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False, lineterminator="\n")
