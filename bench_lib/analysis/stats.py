"""Pure statistics for the report and the comparisons, each tested against known answers.

The tests themselves come from scipy.stats (permutation test, Welch's t, the bootstrap,
Benjamini-Hochberg): well-kept implementations, not hand-written ones. scipy is imported
inside the functions, so loading the report's modules stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

# torch.utils.benchmark warns above this relative spread; the report flags the same cases.
UNSTABLE_REL_IQR = 0.10


def relative_iqr(iqr: ArrayLike, median: ArrayLike) -> np.ndarray:
    """IQR/median, elementwise: the spread as a fraction of the typical value (inf where the
    median is zero)."""
    iqr, median = np.asarray(iqr, dtype=float), np.asarray(median, dtype=float)
    out = np.full(np.broadcast(iqr, median).shape, np.inf)
    np.divide(iqr, median, out=out, where=median > 0)
    return out


def is_unstable(rel_iqr: ArrayLike) -> np.ndarray:
    return np.asarray(rel_iqr) > UNSTABLE_REL_IQR


DRIFT, PROCESSES, TAIL, SPREAD = "drift", "processes", "tail", "spread"
# Fewest rounds in which a first and a last quarter can tell drift from scatter.
MIN_DRIFT_ROUNDS = 8


def instability_cause(samples: Sequence[float], segments: Sequence[int] = ()) -> str | None:
    """Why a case's rounds spread, from the rounds in the order they ran (``segments``: how many
    each replicate process ran, in turn, as a merged run pools them). None with fewer than two
    rounds (a run saved without its raw samples).

    * DRIFT: the level moved while one process timed it: the median of the last quarter of its
      rounds is more than UNSTABLE_REL_IQR from the first quarter's (clock or frequency changes,
      other load);
    * PROCESSES: each process's rounds were steady (their own IQR within UNSTABLE_REL_IQR), but
      the processes differed from each other;
    * TAIL: a tail of slow rounds: the upper quartile is more than twice as far from the median
      as the lower (interruptions, a synchronize that waited for a wake-up);
    * SPREAD: scattered both ways.
    """
    values = np.asarray(samples, dtype=float)
    if values.size < 2:
        return None
    lengths = list(segments) if sum(segments) == values.size else [values.size]
    parts = [part for part in np.split(values, np.cumsum(lengths)[:-1]) if part.size]
    for part in parts:
        if part.size >= MIN_DRIFT_ROUNDS:
            quarter = part.size // 4
            first, last = np.median(part[:quarter]), np.median(part[-quarter:])
            if first > 0 and abs(last / first - 1.0) > UNSTABLE_REL_IQR:
                return DRIFT
    if len(parts) > 1 and all(part.size >= 2 and _relative_iqr_of(part) <= UNSTABLE_REL_IQR for part in parts):
        return PROCESSES
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return TAIL if q3 - median > 2.0 * (median - q1) else SPREAD


def _relative_iqr_of(values: np.ndarray) -> float:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return float((q3 - q1) / median) if median > 0 else math.inf


def relative_spread(values: ArrayLike) -> float:
    """The typical factor between two processes' values, minus 1 (0.08 = ±8 %): exp of the
    standard deviation of the logs. NaN with fewer than two values."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(np.asarray(values, dtype=float))
    if logs.size < 2 or not np.all(np.isfinite(logs)):
        return float("nan")
    return float(np.exp(np.std(logs, ddof=1)) - 1.0)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def excludes(self, value: float) -> bool:
        return value < self.low or value > self.high


def bootstrap_median_ratio_ci(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    paired: bool,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap CI of median(numerator)/median(denominator), with a fixed seed so the
    same input always gives the same page.

    ``paired``: sample i of each side comes from the same interleaved round, so rounds are
    resampled as pairs (whatever slowed round i slowed both sides); otherwise the two sides are
    resampled independently.
    """
    from scipy import stats as scipy_stats

    a, b = _nonempty(numerator), _nonempty(denominator)
    if paired and a.size != b.size:
        raise ValueError(f"paired samples must have the same length, got {a.size} and {b.size}")
    if a.size < 2 or b.size < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        ratio = float(np.median(a) / np.median(b))  # nothing to resample
        return Interval(ratio, ratio)

    def ratio_of_medians(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.median(x, axis=axis) / np.median(y, axis=axis)

    result = scipy_stats.bootstrap((a, b), ratio_of_medians, paired=paired, vectorized=True, n_resamples=resamples,
                                   confidence_level=confidence, method="percentile",
                                   rng=np.random.default_rng(seed))
    return Interval(float(result.confidence_interval.low), float(result.confidence_interval.high))


def permutation_p(x: Sequence[float], y: Sequence[float], *, seed: int = 0) -> float:
    """Two-sided permutation test of mean(x) - mean(y), for small samples (replicates): twice the
    smaller one-sided share of splits at least as extreme (scipy's definition).

    Exact, over every split of the pooled values, whenever there are at most 9,999 splits
    (5 against 5 has 252: the smallest p it can give is 2/252 = 0.008); a seeded random
    sample of splits above that.
    """
    from scipy import stats as scipy_stats

    a, b = _nonempty(x), _nonempty(y)

    def mean_difference(u: np.ndarray, v: np.ndarray, axis: int) -> np.ndarray:
        return np.mean(u, axis=axis) - np.mean(v, axis=axis)

    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0  # every value equal: no evidence of a difference
    result = scipy_stats.permutation_test((a, b), mean_difference, permutation_type="independent", vectorized=True,
                                          n_resamples=9999, alternative="two-sided",
                                          rng=np.random.default_rng(seed))
    return float(result.pvalue)


def mean_difference_ci(x: Sequence[float], y: Sequence[float], *, confidence: float = 0.95) -> Interval:
    """Welch's t interval of mean(x) - mean(y), which does not assume equal variances.

    Needs two values per side; with no spread at all the interval is the difference itself.
    """
    from scipy import stats as scipy_stats

    a, b = _nonempty(x), _nonempty(y)
    if a.size < 2 or b.size < 2:
        raise ValueError("a t interval needs at least two values per side")
    difference = float(np.mean(a) - np.mean(b))
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return Interval(difference, difference)
    result = scipy_stats.ttest_ind(a, b, equal_var=False)
    interval = result.confidence_interval(confidence_level=confidence)
    return Interval(float(interval.low), float(interval.high))


def welch_p(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided p of Welch's t test of mean(x) = mean(y) (no equal variances assumed). Unlike an
    exact permutation test, whose smallest p with 5 against 5 is 2/252, it can be small enough to
    survive a correction for many cases when one case moves far beyond its noise."""
    from scipy import stats as scipy_stats

    a, b = _nonempty(x), _nonempty(y)
    if a.size < 2 or b.size < 2:
        raise ValueError("Welch's test needs at least two values per side")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0 if a[0] == b[0] else 0.0
    return float(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue)


def adjust_p(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values: rejecting where adjusted p < q keeps the expected
    share of false "changes" among all reported changes at q, however many cases are tested."""
    from scipy import stats as scipy_stats

    values = np.asarray(p_values, dtype=float)
    if values.size == 0:
        return values
    return np.asarray(scipy_stats.false_discovery_control(values, method="bh"))


@dataclass(frozen=True)
class LinearFit:
    a: float  # intercept: the fixed cost per call, in the unit of y
    b: float  # slope: the cost per unit of x


def fit_linear(x: Sequence[float], y: Sequence[float], weights: Sequence[float] | None = None) -> LinearFit:
    """Weighted least-squares fit of y = a + b*x (weights multiply squared residuals)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError("x and y must be 1-D sequences of the same length")
    if np.unique(xs).size < 2:
        raise ValueError("a line needs at least two distinct x values")
    w = np.ones_like(xs) if weights is None else np.asarray(weights, dtype=float)
    root = np.sqrt(w)
    design = np.column_stack([np.ones_like(xs), xs]) * root[:, None]
    (a, b), *_ = np.linalg.lstsq(design, ys * root, rcond=None)
    return LinearFit(a=float(a), b=float(b))


def fit_overhead(elements: Sequence[float], seconds: Sequence[float]) -> LinearFit:
    """time(n) = a + b*n fitted to relative errors.

    Sizes span several decades: plain least squares would let the largest size's absolute
    residual swamp the small sizes, which are the ones that pin down the fixed cost a.
    Weighting by 1/time^2 makes every size count by its relative error.
    """
    ys = np.asarray(seconds, dtype=float)
    return fit_linear(elements, ys, weights=1.0 / ys**2)


def fixed_costs(elements: ArrayLike, seconds: ArrayLike) -> np.ndarray:
    """fit_overhead's intercept a for many curves at once: ``seconds`` has one row per curve and
    one column per size in ``elements`` (closed-form weighted least squares, weights 1/time^2)."""
    x = np.asarray(elements, dtype=float)
    y = np.asarray(seconds, dtype=float)
    w = 1.0 / y**2
    s0, s1, s2 = w.sum(axis=-1), (w * x).sum(axis=-1), (w * x * x).sum(axis=-1)
    t0, t1 = (w * y).sum(axis=-1), (w * x * y).sum(axis=-1)
    return (s2 * t0 - s1 * t1) / (s0 * s2 - s1 * s1)


def mean_ci(values: Sequence[float], *, confidence: float = 0.95) -> Interval:
    """Student's t interval of the mean of independent values (e.g. one per replicate process)."""
    from scipy import stats as scipy_stats

    v = _nonempty(values)
    if v.size < 2:
        raise ValueError("a t interval needs at least two values")
    if np.ptp(v) == 0:
        return Interval(float(v[0]), float(v[0]))
    interval = scipy_stats.ttest_1samp(v, 0.0).confidence_interval(confidence_level=confidence)
    return Interval(float(interval.low), float(interval.high))


def percentile_interval(values: ArrayLike, *, confidence: float = 0.95) -> Interval:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(np.asarray(values, dtype=float), [tail, 100.0 - tail])
    return Interval(float(low), float(high))


def _nonempty(samples: Sequence[float]) -> np.ndarray:
    values = np.asarray(samples, dtype=float)
    if values.size == 0:
        raise ValueError("samples must be a non-empty sequence of numbers")
    return values
