"""Compare two runs, with verdicts drawn from the variance between replicate processes.

A case's median moves by 1.1-1.7x from one process to the next on an ordinary machine while
the rounds of one process agree within a few %, so a test over rounds calls pure process noise
a change (p = 1e-58 between two runs of identical code). Every statistic here therefore treats
one replicate process as one observation. Four families of figures, each with its own gate:

* times: each case's per-replicate medians, on a log scale (a slowdown is a factor). Welch's t
  test and interval of the ratio, Benjamini-Hochberg across all cases of the comparison, and an
  exact permutation test as a distribution-free check: a change is called only where both agree
  (with 5 replicates the exact test alone could never survive the correction for a change
  confined to a few cases; with 2 or 3 it can never reach its level, and says so).
* pipelined times (CUDA forward and step passes, bench_lib.measure.pipeline): each case's per-replicate
  pipelined medians, judged and gated as the times are. On a GPU a pass's latency at small sizes
  is as noisy as the host, while a pipelined figure averages 50 passes per sample.
* overhead ratios: median(grad) / median(mode) per forward group and replicate, from the
  interleaved rounds, where drift cancels; the same tests.
* counts (saved bytes, saved tensors, graph nodes): exact, so any change is a change.
* peak tensor memory: the median over replicates, with a relative tolerance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bench_lib.analysis import stats
from bench_lib.analysis.gates import Gates
from bench_lib.contract.errors import InputError
from bench_lib.contract.result import EXACT_KEYS, SPEC_KEYS

if TYPE_CHECKING:
    import pandas as pd

    from bench_lib.contract.result import Run

# Benjamini-Hochberg level: among the cases reported as changed, at most this share are expected
# to be chance, however many cases a comparison tests.
FDR = 0.05
CONFIDENCE = 0.95
MIN_REPLICATES = 2  # a spread between processes needs two of them
# The distribution-free check: the exact permutation p (unadjusted) must be at most this.
PERMUTATION_LEVEL = 0.05

SLOWER, FASTER, UNCHANGED, INCONCLUSIVE = "slower", "faster", "unchanged", "inconclusive"
VERDICTS = (SLOWER, FASTER, UNCHANGED, INCONCLUSIVE)
COUNT_METRICS = EXACT_KEYS
GROUP_KEYS = ("workload", "pass", "size", "device", "dtype")
REFERENCE_MODE = "grad"

JUDGED = ["base", "new", "ratio", "ci_low", "ci_high", "p_value", "p_adjusted", "p_exact", "noise", "verdict",
          "reason", "base_replicates", "new_replicates"]
TIME_COLUMNS = [*SPEC_KEYS, *JUDGED]
RATIO_COLUMNS = [*GROUP_KEYS, "mode", *JUDGED]
COUNT_COLUMNS = [*SPEC_KEYS, "metric", "base", "new"]
PEAK_COLUMNS = [*SPEC_KEYS, "base", "new", "ratio", "verdict"]


@dataclass(frozen=True)
class Comparison:
    base: Run
    new: Run
    times: pd.DataFrame    # TIME_COLUMNS: one row per case measured in both runs
    pipelined: pd.DataFrame  # TIME_COLUMNS: one row per case with a pipelined figure in every replicate of both
    ratios: pd.DataFrame   # RATIO_COLUMNS: one row per forward group and mode other than grad
    counts: pd.DataFrame   # COUNT_COLUMNS: one row per changed count
    peaks: pd.DataFrame    # PEAK_COLUMNS: one row per case with a known peak in both runs
    only_base: int         # cases measured in the base run only
    only_new: int
    peak_tolerance: float  # what counts as a changed peak

    def count(self, verdict: str, table: str = "times") -> int:
        return int((getattr(self, table)["verdict"] == verdict).sum())


def compare_runs(base: Run, base_cases: pd.DataFrame, new: Run, new_cases: pd.DataFrame, *,
                 gates: Gates = Gates()) -> Comparison:
    """Every family of figures of two runs' common cases, judged at ``gates``' thresholds (a time's
    is the change, 0.10 = 10 %, a comparison must resolve to call a case unchanged)."""
    import pandas as pd

    judged = gates.judged()
    threshold, ratio_threshold, peak_tolerance = judged.time, judged.ratio, judged.peak
    assert threshold is not None and ratio_threshold is not None and peak_tolerance is not None

    merged = base_cases.merge(new_cases, on=list(SPEC_KEYS), suffixes=("_base", "_new"))
    only_base, only_new = len(base_cases) - len(merged), len(new_cases) - len(merged)
    rows = merged.to_dict("records")
    times = _judge_all([({k: r[k] for k in SPEC_KEYS}, r["rep_medians_base"], r["rep_medians_new"]) for r in rows],
                       threshold, TIME_COLUMNS)
    # Each run's replicates that have a pipelined figure (one that ran out of memory has none); a
    # case with one in either run is judged, and reads inconclusive where a run has too few.
    known = [({k: r[k] for k in SPEC_KEYS}, _known(r["rep_pipelined_base"]), _known(r["rep_pipelined_new"]))
             for r in rows]
    pipelined = _judge_all([entry for entry in known if len(entry[1]) or len(entry[2])], threshold, TIME_COLUMNS)
    ratios = _judge_all(_ratio_samples(base_cases, new_cases), ratio_threshold, RATIO_COLUMNS)
    counts = pd.DataFrame([{**{k: r[k] for k in SPEC_KEYS}, "metric": m, "base": r[f"{m}_base"], "new": r[f"{m}_new"]}
                           for r in rows for m in COUNT_METRICS if _changed(r[f"{m}_base"], r[f"{m}_new"])],
                          columns=COUNT_COLUMNS)
    peaks = pd.DataFrame([_peak_row(r, peak_tolerance) for r in rows if _has_peaks(r)], columns=PEAK_COLUMNS)
    return Comparison(base, new, times, pipelined, ratios, counts, peaks, only_base, only_new, peak_tolerance)


def judge(base: Sequence[float], new: Sequence[float], threshold: float) -> dict[str, Any]:
    """Compare one figure's replicate values (all > 0) before BH: ratio new/base and its interval,
    the raw p-value, and the figure's noise between processes (relative, e.g. 0.08 = ±8 %).

    The verdict here is provisional: ``finish_verdicts`` settles it once every p-value is known.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        lb, ln = np.log(np.asarray(base, dtype=float)), np.log(np.asarray(new, dtype=float))
    out = dict(base=math.nan, new=math.nan, ratio=math.nan, ci_low=math.nan, ci_high=math.nan, p_value=math.nan,
               p_adjusted=math.nan, p_exact=math.nan, noise=math.nan, verdict=INCONCLUSIVE, reason="",
               base_replicates=lb.size, new_replicates=ln.size)
    missing = [name for name, values in (("base", lb), ("new", ln)) if values.size == 0]
    if missing:
        out["reason"] = f"no value in the {' and '.join(missing)} run"
        return out
    out.update(base=math.exp(float(lb.mean())), new=math.exp(float(ln.mean())),
               ratio=math.exp(float(ln.mean() - lb.mean())))
    if not (np.all(np.isfinite(lb)) and np.all(np.isfinite(ln))):
        out.update(base=math.nan, new=math.nan, ratio=math.nan,
                   reason="a replicate's value is zero: no ratio can be formed")
        return out
    if min(lb.size, ln.size) < MIN_REPLICATES:
        which = "base" if lb.size < MIN_REPLICATES else "new"
        out["reason"] = (f"the {which} run has {min(lb.size, ln.size)} replicate: its noise between processes is "
                         "unknown (make bench REPEAT=5, or PRESET=ci)")
        return out
    interval = stats.mean_difference_ci(ln, lb, confidence=CONFIDENCE)
    # Pooled standard deviation of the log values: the typical factor between two processes.
    dof = lb.size + ln.size - 2
    pooled = math.sqrt((float(np.sum((lb - lb.mean()) ** 2)) + float(np.sum((ln - ln.mean()) ** 2))) / dof)
    out.update(ci_low=math.exp(interval.low), ci_high=math.exp(interval.high), p_value=stats.welch_p(ln, lb),
               p_exact=stats.permutation_p(ln, lb), noise=math.exp(pooled) - 1.0)
    return out


def finish_verdicts(rows: list[dict[str, Any]], threshold: float) -> None:
    """Benjamini-Hochberg across ``rows`` (in place), then each row's verdict and its reason.

    * slower / faster: Welch's p, adjusted, is below FDR and the exact permutation p is at most
      PERMUTATION_LEVEL;
    * unchanged: not significant, and the whole interval lies within ±threshold;
    * inconclusive: neither, and the reason says why: the noise between processes is too large to
      tell a change of ``threshold`` from none, too few replicates for the exact test to reach its
      level, or a single replicate.
    """
    tested = [row for row in rows if not math.isnan(row["p_value"])]
    for row, adjusted in zip(tested, stats.adjust_p([row["p_value"] for row in tested]), strict=True):
        row["p_adjusted"] = float(adjusted)
        exact_ok = row["p_exact"] <= PERMUTATION_LEVEL
        if adjusted < FDR and exact_ok:
            row["verdict"] = SLOWER if row["ratio"] > 1.0 else FASTER
            row["reason"] = (f"p = {adjusted:.3g} after Benjamini-Hochberg (below {FDR:g}); exact permutation "
                             f"p = {row['p_exact']:.3g}")
        elif row["ci_low"] >= 1.0 / (1.0 + threshold) and row["ci_high"] <= 1.0 + threshold:
            row["verdict"] = UNCHANGED
            row["reason"] = f"the {CONFIDENCE:.0%} interval lies within ±{threshold:.0%}"
        elif adjusted < FDR:
            row["verdict"] = INCONCLUSIVE
            row["reason"] = (f"too few replicates ({row['base_replicates']} and {row['new_replicates']}): the exact "
                             f"permutation test cannot go below p = {row['p_exact']:.3g} (needs <= "
                             f"{PERMUTATION_LEVEL:g}; 5 replicates per run can)")
        else:
            row["verdict"] = INCONCLUSIVE
            row["reason"] = (f"noise ±{row['noise']:.0%} between processes: the {CONFIDENCE:.0%} interval "
                             f"{row['ci_low']:.2f}-{row['ci_high']:.2f} reaches beyond ±{threshold:.0%}")


def _judge_all(samples: list[tuple[dict[str, Any], Any, Any]], threshold: float, columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    rows = [{**keys, **judge(base, new, threshold)} for keys, base, new in samples]
    finish_verdicts(rows, threshold)
    table = pd.DataFrame(rows, columns=columns)
    keys = [c for c in columns if c in (*SPEC_KEYS, "mode")]
    return table.sort_values(keys, kind="stable").reset_index(drop=True)


def _ratio_samples(base: pd.DataFrame, new: pd.DataFrame) -> list[tuple[dict[str, Any], Any, Any]]:
    """Per forward group and mode: the replicates' median(grad)/median(mode), in each run, from
    the interleaved rounds (the modes of one replicate shared one time window)."""
    per_run = [_replicate_ratios(cases) for cases in (base, new)]
    return [(dict(zip((*GROUP_KEYS, "mode"), key, strict=True)), per_run[0][key], per_run[1][key])
            for key in per_run[0] if key in per_run[1]]


def _replicate_ratios(cases: pd.DataFrame) -> dict[tuple[Any, ...], np.ndarray]:
    forward = cases[(cases["pass"] == "forward") & cases["cmp_interleaved"].astype(bool)]
    out = {}
    for group, members in forward.groupby(list(GROUP_KEYS), sort=False):
        by_mode = {row["mode"]: row["rep_cmp"] for row in members.to_dict("records")}
        reference = by_mode.get(REFERENCE_MODE)
        if reference is None:
            continue
        for mode, values in by_mode.items():
            if mode != REFERENCE_MODE and len(values) == len(reference) and np.all(values > 0):
                out[(*group, mode)] = reference / values
    return out


def _known(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def _changed(base: Any, new: Any) -> bool:
    return not _missing(base) and not _missing(new) and base != new


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _has_peaks(row: dict[str, Any]) -> bool:
    return bool(np.isfinite(row["rep_peak_base"]).any() and np.isfinite(row["rep_peak_new"]).any())


def _peak_row(row: dict[str, Any], tolerance: float) -> dict[str, Any]:
    base = float(np.nanmedian(row["rep_peak_base"]))
    new = float(np.nanmedian(row["rep_peak_new"]))
    ratio = new / base if base > 0 else (1.0 if new == 0 else math.inf)
    verdict = "larger" if ratio > 1.0 + tolerance else "smaller" if ratio < 1.0 - tolerance else UNCHANGED
    return {**{k: row[k] for k in SPEC_KEYS}, "base": base, "new": new, "ratio": ratio, "verdict": verdict}


def failures(comparison: Comparison, gates: Gates) -> list[str]:
    """One line per failed gate, naming the cases; empty when every gate holds."""
    lines = []
    if gates.time is not None:
        bad = comparison.times[(comparison.times["verdict"] == SLOWER) & (comparison.times["ratio"] > 1 + gates.time)]
        if len(bad):
            lines.append(f"{len(bad)} case{'s' if len(bad) != 1 else ''} significantly slower by more than "
                         f"{gates.time:.0%}: {_names(bad)}")
        bad = comparison.pipelined[(comparison.pipelined["verdict"] == SLOWER)
                                   & (comparison.pipelined["ratio"] > 1 + gates.time)]
        if len(bad):
            lines.append(f"{len(bad)} pipelined time{'s' if len(bad) != 1 else ''} significantly slower by more than "
                         f"{gates.time:.0%}: {_names(bad)}")
    if gates.ratio is not None:
        bad = comparison.ratios[(comparison.ratios["verdict"] == SLOWER)
                                & (comparison.ratios["ratio"] > 1 + gates.ratio)]
        if len(bad):
            lines.append(f"{len(bad)} overhead ratio{'s' if len(bad) != 1 else ''} grad/mode significantly larger "
                         f"by more than {gates.ratio:.0%}: {_names(bad, ratio=True)}")
    if gates.counts and len(comparison.counts):
        lines.append(f"{len(comparison.counts)} exact count{'s' if len(comparison.counts) != 1 else ''} changed: "
                     f"{_names(comparison.counts)}")
    if gates.peak is not None:
        bad = comparison.peaks[comparison.peaks["ratio"] > 1 + gates.peak]
        if len(bad):
            lines.append(f"{len(bad)} peak tensor memor{'ies' if len(bad) != 1 else 'y'} larger by more than "
                         f"{gates.peak:.0%}: {_names(bad)}")
    return lines


def case_name(row: dict[str, Any], *, ratio: bool = False) -> str:
    """``workload mode pass size device dtype [metric]``; with ``ratio``, the mode reads grad/mode."""
    from bench_lib.contract.units import size_label

    mode = f"{REFERENCE_MODE}/{row['mode']}" if ratio else row.get("mode", "")
    parts = [row["workload"], mode, row["pass"], size_label(int(row["size"])), row["device"],
             row["dtype"], row.get("metric", "")]
    # Run files are input: no control characters (terminal escapes) reach the terminal.
    return "".join(ch if ch.isprintable() else "?" for ch in " ".join(str(part) for part in parts if part))


def _names(table: pd.DataFrame, limit: int = 5, *, ratio: bool = False) -> str:
    names = [case_name(row, ratio=ratio) for row in table.to_dict("records")]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


_PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")


def parse_threshold(text: str, option: str = "--fail-above", *, allow_off: bool = False) -> float | None:
    """"10%" -> 0.10; "off" -> None where allowed. The percent sign is required: a bare "10"
    could mean 10 % or 1000 %."""
    if allow_off and text.strip().lower() == "off":
        return None
    match = _PERCENT.match(text)
    if not match or float(match.group(1)) <= 0:
        allowed = "a percentage above 0 such as 10% or 2.5%" + (", or off" if allow_off else "")
        raise InputError(option, f"expected {allowed}, got {text!r}")
    return float(match.group(1)) / 100.0
