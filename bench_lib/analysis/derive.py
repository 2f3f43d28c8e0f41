"""Per-case metrics derived from the loaded table: spread, ratios between modes, throughput."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bench_lib.analysis.stats import instability_cause, is_unstable, relative_iqr, relative_spread
from bench_lib.contract.schema import CONTENDED_FRACTION

if TYPE_CHECKING:
    import pandas as pd

# Above this share of contended cases, the run as a whole was timed on a busy machine (the page's
# and the Markdown's physics line say so).
BUSY_RUN_SHARE = 0.25
# Fewest blocks whose quartiles say anything about the pipelined figure's stability (bench_lib.measure.pipeline
# times at least 5).
MIN_JUDGED_BLOCKS = 5

# A case's peers in other modes: same run, workload, pass, size, device and dtype.
PEER_KEYS = ["run", "workload", "pass", "size", "device", "dtype"]


def add_derived(cases: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``cases`` with cmp_q1, cmp_q3, rel_iqr, unstable (of the compared figures), instability
    (stats.instability_cause of an unstable case), pipelined_unstable (null without a pipelined
    figure), contended, throughput_Bps, speedup_vs_grad, rel_to_no_grad, replicates and replicate_noise.

    speedup_vs_grad = median(grad)/median(mode) and rel_to_no_grad = median(mode)/median(no_grad),
    at the same size, on the comparison medians (interleaved rounds where measured, see load);
    empty where the peer mode was not measured.
    """
    out = cases.copy()
    # The figures a case is shown and compared by (cmp_*: CaseResult.compared, the interleaved-or-own
    # rule): its quartiles too, so a table's median, its IQR and its ⚠ all describe one set of rounds.
    out["rel_iqr"] = relative_iqr(out["cmp_q3"].astype(float) - out["cmp_q1"].astype(float),
                                  out["cmp_median"].astype(float))
    out["unstable"] = is_unstable(out["rel_iqr"])
    out["instability"] = [instability_cause(samples, rounds) if unstable else None
                          for samples, rounds, unstable in zip(out["cmp_samples"], out["rep_rounds"], out["unstable"],
                                                               strict=True)]
    # CUDA forward and step passes: the pipelined figure's own spread, a sample per block of passes.
    pipelined = relative_iqr(out["pipelined_q3"].astype(float) - out["pipelined_q1"].astype(float),
                             out["pipelined_median"].astype(float))
    judged = out["pipelined_rounds"].astype(float).fillna(0) >= MIN_JUDGED_BLOCKS
    out["pipelined_unstable"] = np.where(judged, is_unstable(pipelined), None)
    # Timed while other processes used a tenth of the CPUs or more: the times are suspect.
    out["contended"] = out["background_cpu"].astype(float).fillna(0.0) > CONTENDED_FRACTION
    compared = out["cmp_median"].astype(float)
    # On the compared median (interleaved where measured), as the tables and the other plots: a case's
    # own median, timed in its own window, made one mode's throughput a different figure from the rest.
    out["throughput_Bps"] = out["input_bytes"].astype(float) / compared.where(compared > 0)
    out["speedup_vs_grad"] = _peer_median(out, "grad") / compared.where(compared > 0)
    out["rel_to_no_grad"] = compared / _peer_median(out, "no_grad").where(lambda s: s > 0)
    # The spread of the per-replicate medians: what a comparison between runs must see through.
    out["replicates"] = [len(values) for values in out["rep_medians"]]
    out["replicate_noise"] = [relative_spread(values) for values in out["rep_medians"]]
    return out


def _peer_median(cases: pd.DataFrame, mode: str) -> pd.Series:
    peers = cases.loc[cases["mode"] == mode, [*PEER_KEYS, "cmp_median"]].rename(columns={"cmp_median": "peer"})
    merged = cases[PEER_KEYS].merge(peers, on=PEER_KEYS, how="left")
    merged.index = cases.index
    return merged["peer"].astype(float)


def add_scenario_derived(scenarios: pd.DataFrame) -> pd.DataFrame:
    """A copy of the scenario table with rel_iqr, unstable and contended, as add_derived has them.

    The mode-matrix ratios do not apply (a scenario's variants are compared by bench_lib.analysis.claims).
    """
    out = scenarios.copy()
    median = out["median"].astype(float)
    out["rel_iqr"] = relative_iqr(out["iqr"].astype(float), median)
    out["unstable"] = is_unstable(out["rel_iqr"])
    out["contended"] = out["background_cpu"].astype(float).fillna(0.0) > CONTENDED_FRACTION
    # The figures the claims compare (cmp_*, read by the loader with CaseResult.compared): the tables
    # show these, so a claim and its table name one number.
    out["cmp_rel_iqr"] = relative_iqr(out["cmp_q3"].astype(float) - out["cmp_q1"].astype(float),
                                      out["cmp_median"].astype(float))
    out["cmp_unstable"] = is_unstable(out["cmp_rel_iqr"])
    return out


def busy_run(contended: int, cases: int) -> bool:
    """The run as a whole was timed on a busy machine: more than BUSY_RUN_SHARE of its cases were
    contended, so its times are suspect even where the physics check passed."""
    return contended > cases * BUSY_RUN_SHARE


def busy_headline(contended: int, cases: int) -> str | None:
    """What a run's headline says first when busy_run: how much of it was contended, and what that means."""
    if not busy_run(contended, cases):
        return None
    return (f"CONTENDED RUN: {contended} of {cases} cases were timed while other processes used more than "
            f"{CONTENDED_FRACTION:.0%} of the CPUs; their times, ratios and fits are suspect. "
            "Measure on a quiet machine.")
