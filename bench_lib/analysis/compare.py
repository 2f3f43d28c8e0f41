"""Compare two runs, with verdicts drawn from the variance between replicate processes.

A case's median moves by 1.1-1.7x from one process to the next on an ordinary machine while
the rounds of one process agree within a few %, so a test over rounds calls pure process noise
a change (p = 1e-58 between two runs of identical code). Every statistic here therefore treats
one replicate process as one observation. Five families of figures, each with its own gate:

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
* instructions per call (``--gb-counts``, one callgrind process per run): deterministic to a
  fraction of a percent, so no statistics: a case whose count moved beyond the threshold (2 %)
  changed. Counts from different builds, machines or counting settings are never compared
  silently: every row then reads "inconclusive", naming the difference (analysis.counts).

The judged families (times, pipelined times, ratios) share one set of columns (JUDGED) and one
verdict rule (``finish_verdicts``); the test that produced a row's figures is its ``test`` column,
so a family judged by another test (a paired one: ``pairs`` instead of replicates) is one more
entry of FAMILIES with rows of the same columns.

Runs measured in separate time windows share the machine's drift case by case: a whole run can
come out 1.3x slower with no change of code. Each time family's run-level shift (the median
new/base over the control cases, or over every case when none is marked) is shown as one figure,
and each case is judged relative to it; a shift beyond the threshold that no control vouches for
is itself not judged (README: "Comparing runs").
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bench_lib.analysis import counts as instruction_counts
from bench_lib.analysis import paired, stats

# Rule and parse_threshold are re-exported: the command line and the tests import them from here.
from bench_lib.analysis.gates import (  # noqa: F401
    CONFIRMING_REPLICATES,
    PERMUTATION_LEVEL,
    CaseRules,
    Gates,
    Rule,
    min_permutation_p,
    parse_threshold,
)
from bench_lib.contract import exits
from bench_lib.contract.exits import Exit
from bench_lib.contract.result import EXACT_KEYS, SPEC_KEYS

if TYPE_CHECKING:
    import pandas as pd

    from bench_lib.contract.result import Run

# Benjamini-Hochberg level: among the cases reported as changed, at most this share are expected
# to be chance, however many cases a comparison tests.
FDR = 0.05
CONFIDENCE = 0.95
MIN_REPLICATES = 2  # a spread between processes needs two of them

SLOWER, FASTER, UNCHANGED, INCONCLUSIVE = "slower", "faster", "unchanged", "inconclusive"
# The whole interval lies beyond the threshold, but the test could not confirm it (too few
# replicates for the exact test, or not significant once every case is accounted for).
LIKELY_SLOWER, LIKELY_FASTER = "likely slower", "likely faster"
VERDICTS = (SLOWER, FASTER, UNCHANGED, LIKELY_SLOWER, LIKELY_FASTER, INCONCLUSIVE)
JUDGED_VERDICTS = (SLOWER, FASTER, UNCHANGED)  # the others: not judged
COUNT_METRICS = EXACT_KEYS
GROUP_KEYS = ("workload", "pass", "size", "device", "dtype")
REFERENCE_MODE = "grad"

# The test of a replicate-based row: Welch's t (interval, p) with the exact permutation check.
REPLICATE_TEST = "welch+permutation"
# Per test: what its samples are called and the name of its exact test, for the reasons.
EXACT_TEST = {REPLICATE_TEST: "the exact permutation test", paired.TEST: "the exact signed-rank test"}

SEPARATE, ONE_SESSION = "separate time windows", "one session (time-matched A/B)"
CONTROLS, ALL_CASES = "controls", "all cases"

JUDGED = ["base", "new", "ratio", "ci_low", "ci_high", "p_value", "p_adjusted", "p_exact", "p_min", "noise",
          "verdict", "reason", "base_replicates", "new_replicates", "test", "pairs", "threshold", "gated", "shift"]
TIME_COLUMNS = [*SPEC_KEYS, *JUDGED]
RATIO_COLUMNS = [*GROUP_KEYS, "mode", *JUDGED]
COUNT_COLUMNS = [*SPEC_KEYS, "metric", "base", "new"]
PEAK_COLUMNS = [*SPEC_KEYS, "base", "new", "ratio", "verdict"]


@dataclass(frozen=True)
class Family:
    """A family of judged rows (JUDGED columns) and its gate."""

    name: str          # as the JSON names it
    table: str         # the Comparison attribute that holds its rows
    title: str         # the terminal's heading
    unit: str          # one row, in words ("case": "3 cases")
    gate: str          # the Gates field that gates it
    failure: str       # what a failing row is: "significantly slower"
    ratio_names: bool = False  # rows are named grad/mode (case_name's ratio form)
    drifts: bool = True        # separate time windows shift it as a whole (not where drift cancels)
    optional: bool = False     # left out of the terminal's lines when it has no row
    case_rules: bool = True    # per-case thresholds (--threshold GLOB=PCT) apply to its rows
    statistics: bool = True    # judged by significance tests (Benjamini-Hochberg); False: by the threshold alone


# A family judged by another test (a paired A/B: the ``test`` and ``pairs`` columns say so) is one
# more entry here, with a Comparison attribute holding its rows; the verdicts (finish_verdicts),
# the gates (failures), the outcome, the terminal's lines and the JSON read this tuple.
FAMILIES = (
    Family("time", "times", "times", "case", "time", "significantly slower"),
    Family("pipelined", "pipelined", "pipelined times (CUDA)", "pipelined time", "time", "significantly slower",
           optional=True),
    Family("ratio", "ratios", "overhead ratios grad/mode", "overhead ratio", "ratio",
           "grad/mode significantly larger", ratio_names=True, drifts=False),
    # Instruction counts (--gb-counts): no statistics, its own threshold (Gates.instructions); "slower"
    # reads "more instructions per call beyond the threshold", "faster" fewer.
    Family("instructions", "instructions", "instructions per call (callgrind)", "counted case", "instructions",
           "with more instructions per call", drifts=False, optional=True, case_rules=False, statistics=False),
)
COUNT_TEST = "callgrind count"


@dataclass(frozen=True)
class Drift:
    """A time family's run-level shift: the median ratio new/base over ``cases`` cases (the
    controls, or every case with values in both runs), with the quartiles of those ratios."""

    family: str
    shift: float
    q1: float
    q3: float
    cases: int
    source: str        # CONTROLS or ALL_CASES
    discounted: bool   # each case is judged relative to it (runs in separate time windows)
    threshold: float   # the family's threshold

    @property
    def beyond(self) -> bool:
        return self.shift > 1.0 + self.threshold or self.shift < 1.0 / (1.0 + self.threshold)

    @property
    def judged(self) -> bool:
        """False where separate time windows leave a shift beyond the threshold that no control
        vouches for: the machine's drift and a change of every case look the same."""
        return not (self.discounted and self.source == ALL_CASES and self.beyond)


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
    windows: str = SEPARATE          # SEPARATE or ONE_SESSION
    drift: tuple[Drift, ...] = ()    # per time family with rows
    rules: CaseRules = CaseRules()   # the per-case thresholds and controls it was judged with
    # TIME_COLUMNS: one row per case with an instruction count in both runs (None: neither run counted)
    instructions: pd.DataFrame | None = None
    # What differs between the runs' builds, machines or counting (analysis.counts): counts not compared
    build_differences: tuple[str, ...] = ()

    def count(self, verdict: str, table: str = "times") -> int:
        return int((getattr(self, table)["verdict"] == verdict).sum())

    def table(self, family: Family) -> pd.DataFrame:
        """The family's rows; an empty table where the comparison has none (None)."""
        table = getattr(self, family.table, None)
        if table is None:
            import pandas as pd

            return pd.DataFrame(columns=TIME_COLUMNS)
        return table


def windows(base: Run, new: Run) -> str:
    """ONE_SESSION when both runs carry the same time-matched A/B pairing, else SEPARATE."""
    a, b = base.pairing, new.pairing
    return ONE_SESSION if a is not None and b is not None and a.get("id") == b.get("id") else SEPARATE


def compare_runs(base: Run, base_cases: pd.DataFrame, new: Run, new_cases: pd.DataFrame, *,
                 gates: Gates = Gates(), rules: CaseRules = CaseRules()) -> Comparison:
    """Every family of figures of two runs' common cases, judged at ``gates``' thresholds (a time's
    is the change, 0.10 = 10 %, a comparison must resolve to call a case unchanged), or at a
    case's own threshold where ``rules`` give one."""
    import pandas as pd

    judged = gates.judged()
    threshold, ratio_threshold, peak_tolerance = judged.time, judged.ratio, judged.peak
    assert threshold is not None and ratio_threshold is not None and peak_tolerance is not None
    session = windows(base, new)
    discount = session == SEPARATE

    merged = base_cases.merge(new_cases, on=list(SPEC_KEYS), suffixes=("_base", "_new"))
    only_base, only_new = len(base_cases) - len(merged), len(new_cases) - len(merged)
    rows = merged.to_dict("records")
    family = {f.name: f for f in FAMILIES}
    if session == ONE_SESSION:
        # A time-matched A/B: each case's times are its pairs of blocks, tested across pairs; a case
        # without pairs (a scenario, a compiled case) reads as not judged, with that reason.
        times, time_drift = _judge_all(
            [({k: r[k] for k in SPEC_KEYS}, _blocks(r["paired_data_base"]), _blocks(r["paired_data_new"]))
             for r in rows], threshold, TIME_COLUMNS, family["time"], rules, discount,
            judge=functools.partial(judge_paired, generations=int((base.pairing or {}).get("generations", 1))))
    else:
        times, time_drift = _judge_all(
            [({k: r[k] for k in SPEC_KEYS}, r["rep_medians_base"], r["rep_medians_new"]) for r in rows],
            threshold, TIME_COLUMNS, family["time"], rules, discount)
    # Each run's replicates that have a pipelined figure (one that ran out of memory has none); a
    # case with one in either run is judged, and reads inconclusive where a run has too few.
    known = [({k: r[k] for k in SPEC_KEYS}, _known(r["rep_pipelined_base"]), _known(r["rep_pipelined_new"]))
             for r in rows]
    pipelined, pipelined_drift = _judge_all([entry for entry in known if len(entry[1]) or len(entry[2])],
                                            threshold, TIME_COLUMNS, family["pipelined"], rules, discount)
    ratios, _ = _judge_all(_ratio_samples(base_cases, new_cases), ratio_threshold, RATIO_COLUMNS, family["ratio"],
                           rules, discount)
    counts = pd.DataFrame([{**{k: r[k] for k in SPEC_KEYS}, "metric": m, "base": r[f"{m}_base"], "new": r[f"{m}_new"]}
                           for r in rows for m in COUNT_METRICS if _changed(r[f"{m}_base"], r[f"{m}_new"])],
                          columns=COUNT_COLUMNS)
    peaks = pd.DataFrame([_peak_row(r, peak_tolerance) for r in rows if _has_peaks(r)], columns=PEAK_COLUMNS)
    drift = tuple(d for d in (time_drift, pipelined_drift) if d is not None)
    differences = tuple(instruction_counts.build_differences(base, new))
    instructions = _instruction_rows(rows, judged.instructions, differences)  # type: ignore[arg-type]
    return Comparison(base, new, times, pipelined, ratios, counts, peaks, only_base, only_new, peak_tolerance,
                      session, drift, rules, instructions, differences)


def _instruction_rows(rows: list[dict[str, Any]], threshold: float, differences: tuple[str, ...]) -> pd.DataFrame:
    """One row per case counted in both runs, judged by judge_instructions."""
    import pandas as pd

    key = instruction_counts.COUNT
    judged = [{k: r[k] for k in SPEC_KEYS} | judge_instructions(
        r.get(f"{key}_base"), r.get(f"{key}_new"), threshold, differences,
        spread=max(_number(r.get("instructions_spread_base")), _number(r.get("instructions_spread_new"))))
        for r in rows if not _missing(r.get(f"{key}_base")) and not _missing(r.get(f"{key}_new"))]
    table = pd.DataFrame(judged, columns=TIME_COLUMNS)
    return table.sort_values(list(SPEC_KEYS), kind="stable").reset_index(drop=True)


def _number(value: Any) -> float:
    return 0.0 if _missing(value) else float(value)


def judge_instructions(base: float, new: float, threshold: float, differences: Sequence[str] = (), *,
                       spread: float = 0.0) -> dict[str, Any]:
    """A case's instructions per call in two runs (JUDGED columns): a count is deterministic, so a
    change beyond ``threshold`` is a change (slower: more instructions; faster: fewer); counts from
    runs whose builds differ (``differences``) are not judged (inconclusive, naming them)."""
    ratio = new / base if base > 0 else math.inf
    out = dict(base=float(base), new=float(new), ratio=ratio, ci_low=math.nan, ci_high=math.nan, p_value=math.nan,
               p_adjusted=math.nan, p_exact=math.nan, p_min=math.nan, noise=spread, verdict=UNCHANGED, reason="",
               base_replicates=1, new_replicates=1, test=COUNT_TEST, pairs=None, threshold=threshold, gated=True,
               shift=1.0)
    change = f"{ratio - 1.0:+.2%} instructions per call ({base:,.0f} -> {new:,.0f})"
    if differences:
        out.update(verdict=INCONCLUSIVE, reason=f"{change}, not judged: the runs' builds differ "
                                                f"({'; '.join(differences)}), and counts from different builds, "
                                                "machines or counting settings are not compared")
    elif ratio > 1.0 + threshold or ratio < 1.0 / (1.0 + threshold):
        out.update(verdict=SLOWER if ratio > 1.0 else FASTER,
                   reason=f"{change}: beyond ±{percent(threshold)} (counts repeat within a fraction of that)")
    else:
        out.update(reason=f"{change}: within ±{percent(threshold)}")
    return out


def judge(base: Sequence[float], new: Sequence[float], threshold: float, *, shift: float = 1.0) -> dict[str, Any]:
    """Compare one figure's replicate values (all > 0) before BH: ratio new/base and its interval,
    the raw p-value, the smallest p the exact test can give with these replicates, and the figure's
    noise between processes (relative, e.g. 0.08 = ±8 %). With ``shift`` (a run-level factor),
    ratio, interval and tests are of new/base relative to it; base and new stay as measured.

    The verdict here is provisional: ``finish_verdicts`` settles it once every p-value is known.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        lb, ln = np.log(np.asarray(base, dtype=float)), np.log(np.asarray(new, dtype=float))
    out = dict(base=math.nan, new=math.nan, ratio=math.nan, ci_low=math.nan, ci_high=math.nan, p_value=math.nan,
               p_adjusted=math.nan, p_exact=math.nan, p_min=math.nan, noise=math.nan, verdict=INCONCLUSIVE,
               reason="", base_replicates=lb.size, new_replicates=ln.size, test=REPLICATE_TEST, pairs=None,
               threshold=threshold, gated=True, shift=shift)
    missing = [name for name, values in (("base", lb), ("new", ln)) if values.size == 0]
    if missing:
        out["reason"] = f"no value in the {' and '.join(missing)} run"
        return out
    log_shift = math.log(shift)
    out.update(base=math.exp(float(lb.mean())), new=math.exp(float(ln.mean())),
               ratio=math.exp(float(ln.mean() - lb.mean()) - log_shift))
    if not (np.all(np.isfinite(lb)) and np.all(np.isfinite(ln))):
        out.update(base=math.nan, new=math.nan, ratio=math.nan,
                   reason="a replicate's value is zero: no ratio can be formed")
        return out
    if min(lb.size, ln.size) < MIN_REPLICATES:
        which = "base" if lb.size < MIN_REPLICATES else "new"
        out["reason"] = (f"the {which} run has {min(lb.size, ln.size)} replicate: its noise between processes is "
                         "unknown (make bench REPEAT=5, or PRESET=ci)")
        return out
    relative = ln - log_shift
    interval = stats.mean_difference_ci(relative, lb, confidence=CONFIDENCE)
    # Pooled standard deviation of the log values: the typical factor between two processes.
    dof = lb.size + ln.size - 2
    pooled = math.sqrt((float(np.sum((lb - lb.mean()) ** 2)) + float(np.sum((ln - ln.mean()) ** 2))) / dof)
    out.update(ci_low=math.exp(interval.low), ci_high=math.exp(interval.high), p_value=stats.welch_p(relative, lb),
               p_exact=stats.permutation_p(relative, lb), p_min=min_permutation_p(lb.size, ln.size),
               noise=math.exp(pooled) - 1.0)
    return out


def judge_paired(base: Sequence[float], new: Sequence[float], threshold: float, *, shift: float = 1.0,
                 generations: int = 1) -> dict[str, Any]:
    """``judge``'s row for a case of a time-matched A/B: its pairs of blocks (base[i], new[i]) from
    ``generations`` pairs of worker processes, and the exact signed-rank test across pairs, every
    generation's (analysis.paired), whose p is exact itself."""
    judged = paired.judge_pairs(base, new, CONFIDENCE, generations)
    pairs = int(judged["pairs"])  # type: ignore[call-overload]
    out = dict(judged, p_adjusted=math.nan, p_exact=judged["p_value"], p_min=min(1.0, 2.0 / 2**(pairs // generations)),
               verdict=INCONCLUSIVE, reason="", base_replicates=len(base), new_replicates=len(new),
               threshold=threshold, gated=True, shift=shift)
    if pairs < paired.MIN_PAIRS or math.isnan(float(judged["p_value"])):  # type: ignore[arg-type]
        out.update(p_value=math.nan, reason=f"{pairs} time-matched pairs (a case the A/B did not time, or a side "
                                            f"could not run it): {paired.MIN_PAIRS} are the fewest a test can use")
    return out


def _blocks(value: Any) -> list[float]:
    """A case's paired blocks from the loader's table (a list, or null where the A/B did not time it)."""
    return list(value) if isinstance(value, (list, tuple)) else []




def finish_verdicts(rows: list[dict[str, Any]], threshold: float, unit: str = "case") -> None:
    """Benjamini-Hochberg across ``rows`` (in place), then each row's verdict and its reason, at
    the row's own ``threshold`` where it has one (else ``threshold``). A row holds the JUDGED
    columns: p_value (the test's own p), p_exact (an exact test's p: the same as p_value for an
    exact test) and p_min (the smallest p_exact its samples allow).

    * slower / faster: p_value, adjusted, is below FDR and p_exact is at most PERMUTATION_LEVEL
      (the interval then excludes 1: the same test at the same level);
    * unchanged: not significant, and the whole interval lies within ±threshold;
    * likely slower / likely faster: not significant, but the whole interval lies beyond the
      threshold; the reason says what kept the test from confirming it (too few replicates for
      the exact test, or the correction across cases);
    * inconclusive: the interval straddles the threshold; the reason says why it is that wide:
      noise between processes (with its figure), and too few replicates where that is so.

    So a verdict and its interval never disagree: unchanged lies within, likely lies beyond,
    inconclusive straddles the threshold, and slower or faster excludes 1.
    """
    tested = [row for row in rows if not math.isnan(row["p_value"])]
    for row, adjusted in zip(tested, stats.adjust_p([row["p_value"] for row in tested]), strict=True):
        row["p_adjusted"] = float(adjusted)
        row["verdict"], row["reason"] = _verdict(row, float(row.get("threshold", threshold)), len(tested), unit)


def _verdict(row: dict[str, Any], threshold: float, tested: int, unit: str) -> tuple[str, str]:
    up, down = 1.0 + threshold, 1.0 / (1.0 + threshold)
    low, high, ratio = row["ci_low"], row["ci_high"], row["ratio"]
    shift = row.get("shift", 1.0)
    relative = f" of the run-level shift {shift:.3f}x" if shift != 1.0 else ""
    interval = f"the {CONFIDENCE:.0%} interval {low:.3f}-{high:.3f}"
    exact = EXACT_TEST.get(row.get("test", REPLICATE_TEST), "the exact test")
    if row["p_adjusted"] < FDR and row["p_exact"] <= PERMUTATION_LEVEL:
        reason = (f"p = {row['p_adjusted']:.3g} after Benjamini-Hochberg (below {FDR:g}); "
                  f"{exact.removeprefix('the ')} p = {row['p_exact']:.3g}")
        if down <= ratio <= up:
            reason += f"; by less than the ±{percent(threshold)} threshold{relative}"
        return (SLOWER if ratio > 1.0 else FASTER), reason
    if low >= down and high <= up:
        return UNCHANGED, f"the {CONFIDENCE:.0%} interval lies within ±{percent(threshold)}{relative}"
    samples = _samples(row)
    if low > up or high < down:
        verdict = LIKELY_SLOWER if low > up else LIKELY_FASTER
        side = f"+{percent(threshold)}" if low > up else f"-{percent(threshold)}"
        if row["p_min"] > PERMUTATION_LEVEL:
            why = (f"not enough {samples.split()[-1]} to confirm: with {samples} {exact} cannot go below "
                   f"p = {row['p_min']:.3g} (it needs <= {PERMUTATION_LEVEL:g}; {_enough(row)} can)")
        elif row["p_exact"] > PERMUTATION_LEVEL:
            why = f"not confirmed: {exact} gives p = {row['p_exact']:.3g} (it needs <= {PERMUTATION_LEVEL:g})"
        else:
            why = (f"not confirmed: p = {row['p_value']:.3g} is {row['p_adjusted']:.3g} after Benjamini-Hochberg "
                   f"across {tested} {unit}s (it needs < {FDR:g})")
        return verdict, f"{verdict}, {why}; {interval} lies beyond {side}{relative}"
    between = "the blocks of a pair" if row.get("test") == paired.TEST else "processes"
    noise = f"noise ±{percent(row['noise'])} between {between}"
    if row["p_min"] > PERMUTATION_LEVEL:
        return INCONCLUSIVE, (f"too few {samples.split()[-1]} ({samples}: {exact} cannot go below "
                              f"p = {row['p_min']:.3g}; {_enough(row)} can reach {PERMUTATION_LEVEL:g}) and {noise}: "
                              f"{interval} reaches beyond ±{percent(threshold)}{relative}")
    return INCONCLUSIVE, f"{noise}: {interval} reaches beyond ±{percent(threshold)}{relative}"


def _samples(row: dict[str, Any]) -> str:
    """"2 and 2 replicates", or "5 pairs" for a paired row."""
    pairs = row.get("pairs")
    if pairs is not None and not math.isnan(pairs):
        return f"{int(pairs)} pairs"
    return f"{row['base_replicates']} and {row['new_replicates']} replicates"


def _enough(row: dict[str, Any]) -> str:
    return f"{CONFIRMING_REPLICATES} replicates per run" if row.get("test", REPLICATE_TEST) == REPLICATE_TEST \
        else "more pairs"


def percent(value: float) -> str:
    """0.10 -> "10%", 0.025 -> "2.5%", 0.004 -> "0.4%": two significant digits below 10 %, so a
    small figure never reads as 0 %."""
    if math.isnan(value):
        return "?%"
    scaled = value * 100.0
    return f"{scaled:.0f}%" if abs(scaled) >= 10 or scaled == 0 else f"{scaled:.2g}%"


def _judge_all(samples: list[tuple[dict[str, Any], Any, Any]], threshold: float, columns: list[str],
               family: Family, rules: CaseRules, discount: bool,
               judge: Callable[..., dict[str, Any]] = judge) -> tuple[pd.DataFrame, Drift | None]:
    import pandas as pd

    names = [case_name(keys, ratio=family.ratio_names) for keys, _, _ in samples]
    drift = _drift(family, samples, names, rules, threshold, discount) if family.drifts and samples else None
    shift = drift.shift if drift is not None and drift.discounted else 1.0
    rows = []
    for (keys, base, new), name in zip(samples, names, strict=True):
        own, gated = rules.threshold_for(name, threshold)
        rows.append({**keys, **judge(base, new, own, shift=shift), "threshold": own, "gated": gated})
    finish_verdicts(rows, threshold, family.unit)
    table = pd.DataFrame(rows, columns=columns)
    keys = [c for c in columns if c in (*SPEC_KEYS, "mode")]
    return table.sort_values(keys, kind="stable").reset_index(drop=True), drift


def _drift(family: Family, samples: list[tuple[dict[str, Any], Any, Any]], names: list[str], rules: CaseRules,
           threshold: float, discount: bool) -> Drift:
    """The run-level shift: the median of the cases' log ratios (mean log new - mean log base)
    over the controls that have values in both runs, or over every such case when none does."""
    logs = [_log_ratio(base, new) for _, base, new in samples]
    usable = [i for i, value in enumerate(logs) if math.isfinite(value)]
    controls = [i for i in usable if rules.is_control(names[i])]
    pool, source = (controls, CONTROLS) if controls else (usable, ALL_CASES)
    if not pool:
        return Drift(family.name, 1.0, math.nan, math.nan, 0, source, False, threshold)
    q1, median, q3 = np.exp(np.percentile([logs[i] for i in pool], [25, 50, 75]))
    return Drift(family.name, float(median), float(q1), float(q3), len(pool), source, discount, threshold)


def _log_ratio(base: Any, new: Any) -> float:
    b, n = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if b.size == 0 or n.size == 0 or not (np.all(b > 0) and np.all(n > 0)):
        return math.nan
    return float(np.log(n).mean() - np.log(b).mean())


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
    # Peaks measured two ways (a CUDA-graph case's pool against an older run's replay allocations)
    # are not one figure: not compared.
    same_method = row.get("tensor_memory_method_base") == row.get("tensor_memory_method_new")
    return same_method and bool(np.isfinite(row["rep_peak_base"]).any() and np.isfinite(row["rep_peak_new"]).any())


def _peak_row(row: dict[str, Any], tolerance: float) -> dict[str, Any]:
    base = float(np.nanmedian(row["rep_peak_base"]))
    new = float(np.nanmedian(row["rep_peak_new"]))
    ratio = new / base if base > 0 else (1.0 if new == 0 else math.inf)
    verdict = "larger" if ratio > 1.0 + tolerance else "smaller" if ratio < 1.0 - tolerance else UNCHANGED
    return {**{k: row[k] for k in SPEC_KEYS}, "base": base, "new": new, "ratio": ratio, "verdict": verdict}


def _failing(comparison: Comparison, family: Family, limit: float) -> tuple[pd.DataFrame, list[float]]:
    """A family's rows that fail its gate at ``limit`` (or at their own threshold): significantly
    slower (larger) by more than it, and not turned off case by case."""
    table = comparison.table(family)
    keep, thresholds = [], []
    for row in table.to_dict("records"):
        own, gated = comparison.rules.threshold_for(case_name(row, ratio=family.ratio_names), limit) \
            if family.case_rules else (limit, bool(row["gated"]))
        failed = gated and row["verdict"] == SLOWER and row["ratio"] > 1.0 + own
        keep.append(failed)
        if failed:
            thresholds.append(own)
    return table[keep] if len(table) else table, thresholds


def failures(comparison: Comparison, gates: Gates) -> list[str]:
    """One line per failed gate, naming the cases; empty when every gate holds."""
    lines = []
    for family in FAMILIES:
        limit = getattr(gates, family.gate)
        if limit is None:
            continue
        bad, thresholds = _failing(comparison, family, limit)
        if len(bad):
            by = percent(thresholds[0]) if len(set(thresholds)) == 1 else "their thresholds"
            lines.append(f"{len(bad)} {family.unit}{'s' if len(bad) != 1 else ''} {family.failure} by more than "
                         f"{by}: {_names(bad, ratio=family.ratio_names)}")
    if gates.counts and len(comparison.counts):
        lines.append(f"{len(comparison.counts)} exact count{'s' if len(comparison.counts) != 1 else ''} changed: "
                     f"{_names(comparison.counts)}")
    if gates.peak is not None:
        bad = comparison.peaks[comparison.peaks["ratio"] > 1 + gates.peak]
        if len(bad):
            lines.append(f"{len(bad)} peak tensor memor{'ies' if len(bad) != 1 else 'y'} larger by more than "
                         f"{percent(gates.peak)}: {_names(bad)}")
    return lines


@dataclass(frozen=True)
class Tally:
    """One judged family's verdicts, and which of its rows a gate was waiting on."""

    rows: int
    verdicts: dict[str, int]  # every verdict, every row
    gated: int                # rows a gate judges (its gate on, the case not turned off)
    judged: int               # of those, how many got a verdict (slower, faster, unchanged)

    @property
    def not_judged(self) -> int:
        return self.gated - self.judged


@dataclass(frozen=True)
class Outcome:
    """What a comparison adds up to: the failed gates, what could not be judged, the exit code and
    the one line that says so."""

    code: int
    failures: list[str]
    tallies: dict[str, Tally]     # per judged family with rows
    unjudged: tuple[Drift, ...]   # run-level shifts that could not be judged, their gate on
    line: str


def outcome(comparison: Comparison, gates: Gates) -> Outcome:
    """REGRESSION (exit 1) when a gate fails; else NOT_JUDGED (3) when a gated row has no verdict
    (likely slower or faster, inconclusive) or a run-level shift could not be judged; else OK (0)."""
    failed = failures(comparison, gates)
    tallies = {}
    for family in FAMILIES:
        table = comparison.table(family)
        if table.empty:
            continue
        on = getattr(gates, family.gate) is not None
        gated = table[table["gated"].astype(bool)] if on else table.iloc[0:0]
        tallies[family.name] = Tally(len(table), {v: int((table["verdict"] == v).sum()) for v in VERDICTS},
                                     len(gated), int(gated["verdict"].isin(JUDGED_VERDICTS).sum()))
    time_gated = gates.time is not None
    unjudged = tuple(d for d in comparison.drift if not d.judged and time_gated)
    missing = sum(t.not_judged for t in tallies.values())
    code = Exit.REGRESSION if failed else Exit.NOT_JUDGED if missing or unjudged else Exit.OK
    return Outcome(int(code), failed, tallies, unjudged, _summary_line(code, failed, tallies, unjudged, comparison,
                                                                        gates))


def _summary_line(code: int, failed: list[str], tallies: dict[str, Tally], unjudged: tuple[Drift, ...],
                  comparison: Comparison, gates: Gates) -> str:
    """The last line of ``compare``: the outcome, what was judged and what not, and why."""
    families = {f.name: f for f in FAMILIES}
    judged = ", ".join(f"{t.judged} of {t.gated} {_plural(families[name].unit, t.gated)}"
                       for name, t in tallies.items() if t.gated) or "no gated case"
    missing = sum(t.not_judged for t in tallies.values())
    why: dict[str, int] = {}
    for name, tally in tallies.items():
        if tally.gated:
            table = comparison.table(families[name])
            for verdict in table[table["gated"].astype(bool)]["verdict"]:
                if verdict not in JUDGED_VERDICTS:
                    why[verdict] = why.get(verdict, 0) + 1
    not_judged = (f"{missing} not judged ({', '.join(f'{n} {v}' for v, n in sorted(why.items(), key=_by_verdict))})"
                  if missing else "none left unjudged")
    shifts = "".join(f"; the run-level shift of {families[d.family].title.removesuffix(' (CUDA)')}, {d.shift:.3f}x "
                     f"over {d.cases} {_plural('case', d.cases)}, lies beyond ±{percent(d.threshold)} and could not "
                     "be judged (separate time windows, no control marked)" for d in unjudged)
    if code == Exit.REGRESSION:
        return (f"REGRESSION: {len(failed)} {_plural('gate', len(failed))} failed (the FAIL lines above); judged "
                f"{judged}; {not_judged}{shifts} [exit {code}]")
    if code == Exit.NOT_JUDGED:
        return (f"NOT JUDGED: no gate failed, but not everything gated could be judged: judged {judged}; "
                f"{not_judged}{shifts} [exit {code}]")
    return (f"OK: every gate holds and every gated case was judged: {judged} (gates: {gate_summary(gates)}) "
            f"[exit {code}]")


def _plural(unit: str, count: int) -> str:
    return unit if count == 1 else f"{unit}s"


def _by_verdict(item: tuple[str, int]) -> int:
    return VERDICTS.index(item[0])


def gate_summary(gates: Gates) -> str:
    def pct(value: float | None) -> str:
        return "off" if value is None else percent(value)

    return (f"times and pipelined times {pct(gates.time)}, overhead ratios {pct(gates.ratio)}, "
            f"peak memory {pct(gates.peak)}, counts {'exact' if gates.counts else 'off'}, "
            f"instructions {pct(gates.instructions)}")


def case_name(row: dict[str, Any], *, ratio: bool = False) -> str:
    """``workload mode pass size device dtype [metric]``, the size as 2^N where it is a power of
    two (e.g. ``mlp grad forward 2^14 cpu float32``); with ``ratio``, the mode reads grad/mode.
    Per-case thresholds and controls match this name (fnmatch)."""
    from bench_lib.contract.units import size_label

    mode = f"{REFERENCE_MODE}/{row['mode']}" if ratio else row.get("mode", "")
    parts = [row["workload"], mode, row["pass"], size_label(int(row["size"])), row["device"],
             row["dtype"], row.get("metric", "")]
    # Run files are input: no control characters (terminal escapes) reach the terminal.
    return "".join(ch if ch.isprintable() else "?" for ch in " ".join(str(part) for part in parts if part))


def _names(table: pd.DataFrame, limit: int = 5, *, ratio: bool = False) -> str:
    names = [case_name(row, ratio=ratio) for row in table.to_dict("records")]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


# The JSON of ``compare --json``: its format name and version (README: "compare --json").
JSON_FORMAT, JSON_VERSION = "gradbench-compare", 1


def to_json(comparison: Comparison, gates: Gates, result: Outcome, version: str) -> dict[str, Any]:
    """Every verdict with its figures, and the summary, as plain JSON values (NaN as null)."""
    verdicts = []
    for family in FAMILIES:
        limit = getattr(gates, family.gate)
        bad, _ = _failing(comparison, family, limit) if limit is not None else (None, [])
        failing = set(bad.index) if bad is not None else set()
        for index, row in comparison.table(family).iterrows():
            record = row.to_dict()
            verdicts.append(_verdict_record(
                record, family.name, case_name(record, ratio=family.ratio_names), record["verdict"],
                judged=record["verdict"] in JUDGED_VERDICTS, fails=index in failing,
                figures={k: record[k] for k in JUDGED if k not in ("verdict", "reason")}, reason=record["reason"]))
    for record in comparison.counts.to_dict("records"):
        base, new = record["base"], record["new"]
        verdicts.append(_verdict_record(
            record, "count", case_name(record), "changed", judged=True, fails=gates.counts,
            figures={"base": base, "new": new, "ratio": new / base if base else None, "test": "exact",
                     "threshold": 0.0, "gated": gates.counts},
            reason=f"{record['metric']} is exact: {base} -> {new}"))
    for record in comparison.peaks.to_dict("records"):
        fails = gates.peak is not None and record["ratio"] > 1 + gates.peak
        verdicts.append(_verdict_record(
            record, "peak", case_name(record), record["verdict"], judged=True, fails=fails,
            figures={"base": record["base"], "new": record["new"], "ratio": record["ratio"],
                     "test": "median over replicates", "threshold": comparison.peak_tolerance,
                     "gated": gates.peak is not None},
            reason=f"peak tensor bytes {record['base']:.0f} -> {record['new']:.0f} (tolerance "
                   f"±{percent(comparison.peak_tolerance)})"))
    families = {name: {"rows": t.rows, "gated": t.gated, "judged": t.judged, "not_judged": t.not_judged,
                       "verdicts": t.verdicts} for name, t in result.tallies.items()}
    families["count"] = {"rows": len(comparison.counts), "gated": len(comparison.counts) if gates.counts else 0,
                         "judged": len(comparison.counts), "not_judged": 0,
                         "verdicts": {"changed": len(comparison.counts)}}
    peak_verdicts = {v: int((comparison.peaks["verdict"] == v).sum()) for v in ("larger", "smaller", UNCHANGED)}
    families["peak"] = {"rows": len(comparison.peaks), "gated": len(comparison.peaks) if gates.peak is not None else 0,
                        "judged": len(comparison.peaks), "not_judged": 0, "verdicts": peak_verdicts}
    doc = {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "gradbench": version,
        "base": _run_record(comparison.base),
        "new": _run_record(comparison.new),
        "windows": comparison.windows,
        "cases_in_both": len(comparison.times),
        "only_base": comparison.only_base,
        "only_new": comparison.only_new,
        "gates": {"time": gates.time, "ratio": gates.ratio, "peak": gates.peak, "counts": gates.counts,
                  "instructions": gates.instructions},
        "build_differences": "; ".join(comparison.build_differences) or None,
        "thresholds": [{"glob": r.glob, "threshold": r.threshold, "source": r.source}
                       for r in comparison.rules.thresholds],
        "controls": list(comparison.rules.controls),
        "verdicts": verdicts,
        "summary": {
            "exit_code": result.code,
            "exit": exits.name(result.code),
            "line": result.line,
            "failures": list(result.failures),
            "families": families,
            "drift": [{"family": d.family, "shift": d.shift, "q1": d.q1, "q3": d.q3, "cases": d.cases,
                       "source": d.source, "discounted": d.discounted, "threshold": d.threshold,
                       "judged": d.judged} for d in comparison.drift],
        },
    }
    return _plain(doc)


VERDICT_FIGURES = ("base", "new", "ratio", "ci_low", "ci_high", "p_value", "p_adjusted", "p_exact", "p_min", "noise",
                   "test", "base_replicates", "new_replicates", "pairs", "threshold", "gated", "shift")


def _verdict_record(row: dict[str, Any], family: str, name: str, verdict: str, *, judged: bool, fails: bool,
                    figures: dict[str, Any], reason: str) -> dict[str, Any]:
    spec = {k: row[k] for k in (*GROUP_KEYS, "mode") if k in row}
    if "metric" in row:
        spec["metric"] = row["metric"]
    return {"case": name, "family": family, "spec": spec, "verdict": verdict, "judged": judged, "fails": fails,
            **{k: figures.get(k) for k in VERDICT_FIGURES}, "reason": reason}


def _run_record(run: Run) -> dict[str, Any]:
    return {"label": run.label, "path": str(run.path), "replicates": run.replicates,
            "pairing": dict(run.pairing) if run.pairing is not None else None}


def _plain(value: Any) -> Any:
    """JSON values: numpy scalars as Python's, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
