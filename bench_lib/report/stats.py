"""Pure statistics for the report, each tested against hand-computed answers.

No scipy: the few tests needed are short enough to write down, and a dependency for them
would outweigh them.
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
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap CI of median(numerator)/median(denominator).

    The two samples are resampled independently (they come from different rounds), with a
    fixed seed so the same input always gives the same page.
    """
    a, b = _nonempty(numerator), _nonempty(denominator)
    rng = np.random.default_rng(seed)
    med_a = np.median(a[rng.integers(0, a.size, size=(resamples, a.size))], axis=1)
    med_b = np.median(b[rng.integers(0, b.size, size=(resamples, b.size))], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = med_a / med_b
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    return Interval(float(low), float(high))


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample: pairs (x, y) with x > y, ties counting 1/2
    z: float
    p: float  # two-sided


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U test, normal approximation with tie and continuity correction.

    The approximation is poor below about 8 samples per side; benchmark runs have more.
    """
    a, b = _nonempty(x), _nonempty(y)
    n1, n2 = a.size, b.size
    ranks, tie_sizes = _ranks(np.concatenate([a, b]))
    u = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    n = n1 + n2
    mean = n1 * n2 / 2.0
    tie_term = float(np.sum(tie_sizes**3 - tie_sizes)) / (n * (n - 1))
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term))
    if sigma == 0.0:  # every value equal: no evidence of a difference
        return MannWhitney(u=u, z=0.0, p=1.0)
    delta = u - mean
    z = (delta - math.copysign(0.5, delta)) / sigma if abs(delta) >= 0.5 else 0.0
    return MannWhitney(u=u, z=z, p=min(1.0, math.erfc(abs(z) / math.sqrt(2.0))))


def _ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks (1-based) and the size of every group of tied values."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    sizes = np.diff(np.r_[starts, values.size])
    average = starts + (sizes + 1) / 2.0  # mean of ranks start+1 .. start+size
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(average, sizes)
    return ranks, sizes.astype(float)


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


def _nonempty(samples: Sequence[float]) -> np.ndarray:
    values = np.asarray(samples, dtype=float)
    if values.size == 0:
        raise ValueError("samples must be a non-empty sequence of numbers")
    return values
