"""The paired test of a time-matched A/B comparison (bench_lib.commands.ab).

Each case is timed in pairs of blocks, one block of each checkout, a fraction of a second apart,
so that a pair samples one stretch of the machine's drift. The figure per pair is the log of the
ratio of the two blocks' medians (new over base); the test is across pairs.

Why Wilcoxon's signed-rank test, exact, with the Hodges-Lehmann interval: the machine's slow
stretches sometimes hit one block of a pair and not the other, which makes a few pairs' ratios
wild. A t test on the log ratios lets such a pair widen the interval of every case it touches;
the signed-rank test uses ranks, so one wild pair counts as one pair. The interval is the one
that inverts the same test (the Walsh averages between the test's critical ranks), so the
verdict and the interval cannot contradict each other: the interval excludes a ratio of 1
exactly when the test's two-sided p is at most 1 - CONFIDENCE.

With n pairs the smallest two-sided p the test can give is 2 / 2^n: n >= 6 to reach 0.05 at all,
and n >= 12 (p >= 0.00049) so that a single changed case among ~66 survives the
Benjamini-Hochberg correction that compare applies across cases (0.05 / 66 = 0.00076).

Generations: the pairs come from several pairs of worker processes (commands.ab). A process can
sit in a slow regime for a case for its whole life, and then all of that process's pairs agree
on a difference that is not the code's. So each generation is tested on its own pairs, and the
case's test is the intersection-union of them: its p is the largest generation's p (and 1 where
two generations point opposite ways), its interval the hull of theirs. A change must show in
every generation; with 10 pairs a generation, p can reach 2/2^10 = 0.002, enough for a change
that touches several cases to survive the correction across cases, not a lone one among 66.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

TEST = "wilcoxon signed-rank, paired blocks"
MIN_PAIRS = 6  # the fewest pairs whose exact test can reach p = 0.05 (2/2^6 = 0.031)


@lru_cache(maxsize=None)
def _null_counts(n: int) -> tuple[int, ...]:
    """How many of the 2^n sign patterns give each signed-rank sum W+ = 0 .. n(n+1)/2."""
    counts = [1]
    for rank in range(1, n + 1):
        longer = counts + [0] * rank
        for total, ways in enumerate(counts):
            longer[total + rank] += ways
        counts = longer
    return tuple(counts)


def signed_rank_p(log_ratios: Sequence[float]) -> float:
    """The exact two-sided p of Wilcoxon's signed-rank test that the log ratios centre on 0."""
    values = np.asarray(log_ratios, dtype=float)
    values = values[values != 0.0]
    n = values.size
    if n == 0:
        return 1.0
    ranks = _ranks(np.abs(values))
    w_plus = float(ranks[values > 0].sum())
    counts = _null_counts(n)
    total = 2**n
    mean = n * (n + 1) / 4
    # Two-sided: sign patterns at least as far from the mean as the one observed (ties in |x|
    # give half-ranks; the nearest integer sum on the far side is taken, conservatively).
    distance = abs(w_plus - mean)
    low, high = math.floor(mean - distance + 1e-9), math.ceil(mean + distance - 1e-9)
    extreme = sum(counts[: low + 1]) + sum(counts[high:])
    return min(1.0, extreme / total)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, dtype=float)
    ranks[order] = np.arange(1, values.size + 1, dtype=float)
    for value in np.unique(values):
        tied = values == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def hodges_lehmann(log_ratios: Sequence[float], confidence: float) -> tuple[float, float, float]:
    """The Hodges-Lehmann estimate of the log ratios' centre (the median of the Walsh averages) and
    the exact interval that inverts the signed-rank test at ``confidence``: (estimate, low, high).
    Where n pairs are too few for that confidence, the interval is the whole range (-inf, inf)."""
    values = np.asarray(log_ratios, dtype=float)
    n = values.size
    i, j = np.triu_indices(n)
    walsh = np.sort((values[i] + values[j]) / 2.0)
    estimate = float(np.median(walsh))
    counts = _null_counts(n)
    total, alpha = 2**n, 1.0 - confidence
    # k: the largest number of Walsh averages cut from each end with P(W+ < k) <= alpha / 2.
    cumulative, k = 0, 0
    for w, ways in enumerate(counts):
        if (cumulative + ways) / total > alpha / 2:
            break
        cumulative += ways
        k = w + 1
    if k == 0:
        return estimate, -math.inf, math.inf
    return estimate, float(walsh[k - 1]), float(walsh[walsh.size - k])


def judge_pairs(base_blocks: Sequence[float], new_blocks: Sequence[float], confidence: float,
                generations: int = 1) -> dict[str, object]:
    """One case's paired figures before the correction across cases: the ratio new/base, its
    interval and p, by the intersection-union over the ``generations`` equal, consecutive parts of
    the pairs (the p the largest of theirs, the interval their hull, the ratio the Hodges-Lehmann
    estimate nearest to 1 among theirs: the change all of them show), and the typical factor
    between the two blocks of a pair beyond the estimate (``noise``, e.g. 0.03 = ±3 %)."""
    base, new = np.asarray(base_blocks, dtype=float), np.asarray(new_blocks, dtype=float)
    pairs = min(base.size, new.size)
    out: dict[str, object] = {"pairs": pairs, "test": TEST, "base": math.nan, "new": math.nan, "ratio": math.nan,
                              "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan, "noise": math.nan}
    if pairs == 0 or base.size != new.size or not (np.all(base > 0) and np.all(new > 0)) or pairs % generations:
        return out
    logs = np.log(new) - np.log(base)
    pooled = hodges_lehmann(logs, confidence)[0]
    parts = [hodges_lehmann(part, confidence) for part in np.split(logs, generations)]
    p_values = [signed_rank_p(part) for part in np.split(logs, generations)]
    opposite = min(part[0] for part in parts) < 0 < max(part[0] for part in parts)
    # The change every generation shows: the estimate nearest to none (identical code once read
    # 1.23x pooled from a first pair of processes at 1.6x and a second at 1.003x).
    estimate = pooled if opposite else min((part[0] for part in parts), key=abs)
    out.update(base=float(np.median(base)), new=float(np.median(new)), ratio=math.exp(estimate),
               ci_low=math.exp(min(part[1] for part in parts)), ci_high=math.exp(max(part[2] for part in parts)),
               p_value=1.0 if opposite else max(p_values),
               noise=math.exp(float(np.median(np.abs(logs - estimate)))) - 1.0)
    return out
