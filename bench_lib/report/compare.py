"""Compare two runs case by case from their raw samples, and gate CI on slowdowns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench_lib.report import stats
from bench_lib.report.errors import InputError
from bench_lib.schema import SPEC_KEYS

if TYPE_CHECKING:
    import pandas as pd

    from bench_lib.report.load import Run

# Thousands of cases are tested at once, so a stricter level than 0.05 keeps the number of
# chance "changes" per comparison small.
ALPHA = 0.01
MIN_SAMPLES = 5  # the normal approximation of Mann-Whitney U is meaningless below this

SLOWER, FASTER, SAME, UNTESTED = "slower", "faster", "no significant change", "too few samples"
COLUMNS = [*SPEC_KEYS, "base_median", "new_median", "ratio", "ci_low", "ci_high", "p_value", "verdict"]


@dataclass(frozen=True)
class Comparison:
    base: Run
    new: Run
    table: pd.DataFrame  # compare_cases' rows
    only_base: int       # cases measured in the base run only
    only_new: int

    def count(self, verdict: str) -> int:
        return int((self.table["verdict"] == verdict).sum())


def compare_runs(base: Run, base_cases: pd.DataFrame, new: Run, new_cases: pd.DataFrame) -> Comparison:
    only_base, only_new = unmatched(base_cases, new_cases)
    return Comparison(base, new, compare_cases(base_cases, new_cases), only_base, only_new)


def compare_cases(base: pd.DataFrame, new: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """One row per case measured in both runs: ratio = median(new)/median(base).

    A change is significant when the Mann-Whitney U test rejects "same distribution" at
    ALPHA and the 95% bootstrap CI of the median ratio excludes 1; both, so that neither a
    shift in spread alone nor a lucky resample makes a verdict.
    """
    import pandas as pd

    merged = base[[*SPEC_KEYS, "median", "samples"]].merge(
        new[[*SPEC_KEYS, "median", "samples"]], on=list(SPEC_KEYS), suffixes=("_base", "_new"))
    rows = [_compare_one(r, seed) for r in merged.to_dict("records")]
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.sort_values([*SPEC_KEYS], kind="stable").reset_index(drop=True)


def _compare_one(r: dict[str, Any], seed: int) -> dict[str, Any]:
    a, b = r["samples_base"], r["samples_new"]
    row = {key: r[key] for key in SPEC_KEYS}
    row.update(base_median=r["median_base"], new_median=r["median_new"], ratio=r["median_new"] / r["median_base"],
               ci_low=float("nan"), ci_high=float("nan"), p_value=float("nan"), verdict=UNTESTED)
    if len(a) < MIN_SAMPLES or len(b) < MIN_SAMPLES:
        return row
    ci = stats.bootstrap_median_ratio_ci(b, a, seed=seed)
    p = stats.mann_whitney_u(b, a).p
    significant = p < ALPHA and ci.excludes(1.0)
    verdict = SAME if not significant else (SLOWER if row["ratio"] > 1 else FASTER)
    row.update(ci_low=ci.low, ci_high=ci.high, p_value=p, verdict=verdict)
    return row


def unmatched(base: pd.DataFrame, new: pd.DataFrame) -> tuple[int, int]:
    """Cases only in the base run and only in the new run."""
    keys = list(SPEC_KEYS)
    both = base[keys].merge(new[keys], on=keys)
    return len(base) - len(both), len(new) - len(both)


def regressions(comparison: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Significant slowdowns by more than ``threshold`` (0.10 = 10 %), worst first."""
    bad = comparison[(comparison["verdict"] == SLOWER) & (comparison["ratio"] > 1.0 + threshold)]
    return bad.sort_values("ratio", ascending=False)


_PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")


def parse_threshold(text: str) -> float:
    """"10%" -> 0.10. The percent sign is required: a bare "10" could mean 10 % or 1000 %."""
    match = _PERCENT.match(text)
    if not match:
        raise InputError("--fail-above", f"expected a percentage such as 10% or 2.5%, got {text!r}")
    return float(match.group(1)) / 100.0
