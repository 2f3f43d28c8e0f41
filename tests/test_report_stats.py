"""The report's statistics against answers worked out by hand (see each test's comment)."""

from __future__ import annotations

import itertools
import math

import pytest

from bench_lib.analysis import stats
from bench_lib.contract.units import byte_unit, format_bytes, number, size_label, time_unit


def test_stability_flag_is_iqr_over_median_above_ten_percent() -> None:
    assert stats.relative_iqr(1.0, 10.0) == 0.1
    assert not stats.is_unstable(0.1)  # exactly 10 % is not above it
    assert stats.is_unstable(stats.relative_iqr(1.01, 10.0))
    assert stats.relative_iqr(1.0, 0.0) == math.inf
    assert list(stats.relative_iqr([1.0, 3.0], [4.0, 0.0])) == [0.25, math.inf]


def test_permutation_test_is_exact_for_small_samples() -> None:
    # Fully separated 5 against 5: of the C(10, 5) = 252 equally likely splits, only the observed
    # one and its mirror are as extreme, so the exact two-sided p is 2/252 (no normal approximation,
    # which could not go below 0.01 here).
    assert stats.permutation_p([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]) == pytest.approx(2 / 252)
    # 3 against 3: 20 splits, p = 2/20.
    assert stats.permutation_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)
    assert stats.permutation_p([3, 3, 3], [3, 3]) == 1.0  # nothing to tell apart


def test_permutation_test_matches_brute_force_enumeration() -> None:
    x, y = [0.1, 0.5, 0.4, 0.9], [0.3, 0.2, 0.05, 0.15, 0.25]
    # Two-sided as scipy defines it: twice the smaller one-sided share of splits at least as extreme.
    pooled = x + y
    observed = sum(x) / 4 - sum(y) / 5
    splits = list(itertools.combinations(range(9), 4))
    differences = [sum(pooled[i] for i in chosen) / 4 - sum(pooled[i] for i in range(9) if i not in chosen) / 5
                   for chosen in splits]
    greater = sum(d >= observed - 1e-12 for d in differences) / len(splits)
    less = sum(d <= observed + 1e-12 for d in differences) / len(splits)
    assert stats.permutation_p(x, y) == pytest.approx(min(1.0, 2 * min(greater, less)))


def test_welch_interval_by_hand() -> None:
    # Means 2 and 5, variances 1 and 1, n = 3 each: standard error sqrt(1/3 + 1/3) = 0.816497;
    # Welch's degrees of freedom (2/3)^2 / (2 * (1/3)^2 / 2) = 4; t(0.975, 4) = 2.776445.
    interval = stats.mean_difference_ci([1, 2, 3], [4, 5, 6])
    assert interval.low == pytest.approx(-3 - 2.776445 * 0.816497, abs=1e-5)
    assert interval.high == pytest.approx(-3 + 2.776445 * 0.816497, abs=1e-5)
    assert stats.mean_difference_ci([2, 2], [1, 1]) == stats.Interval(1.0, 1.0)  # no spread at all
    with pytest.raises(ValueError, match="two values per side"):
        stats.mean_difference_ci([1.0], [1.0, 2.0])


def test_benjamini_hochberg_by_hand() -> None:
    # Sorted p 0.005, 0.01, 0.03, 0.04 (m = 4) -> p*m/rank = 0.02, 0.02, 0.04, 0.04, then the running
    # minimum from the largest rank down leaves them so; back in the input order:
    adjusted = stats.adjust_p([0.01, 0.04, 0.03, 0.005])
    assert list(adjusted) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert stats.adjust_p([]).size == 0


def test_relative_spread_is_the_typical_factor_between_processes() -> None:
    # logs 0 and 0.2: sample standard deviation 0.2 / sqrt(2) = 0.141421.
    assert stats.relative_spread([1.0, math.exp(0.2)]) == pytest.approx(math.exp(0.2 / math.sqrt(2)) - 1)
    assert math.isnan(stats.relative_spread([1.0]))
    assert math.isnan(stats.relative_spread([1.0, 0.0]))


def test_paired_bootstrap_sees_through_drift_that_the_independent_one_cannot() -> None:
    # Each round's drift (a factor 1-3) hits both sides alike; side a is always exactly 1.2x side b.
    drift = [1.0, 3.0, 1.5, 2.5, 1.2, 2.0, 2.8, 1.1, 1.7, 2.2]
    a, b = [1.2 * d for d in drift], drift
    paired = stats.bootstrap_median_ratio_ci(a, b, paired=True)
    assert paired.low == pytest.approx(1.2) and paired.high == pytest.approx(1.2)
    independent = stats.bootstrap_median_ratio_ci(a, b, paired=False)
    assert independent.low < 1.0 < 1.2 < independent.high  # the drift swamps the ratio
    with pytest.raises(ValueError, match="same length"):
        stats.bootstrap_median_ratio_ci([1.0, 2.0], [1.0], paired=True)


def test_bootstrap_of_constant_samples_is_the_exact_ratio() -> None:
    ci = stats.bootstrap_median_ratio_ci([2.0] * 5, [1.0] * 7, paired=False)
    assert (ci.low, ci.high) == (2.0, 2.0)
    assert ci.excludes(1.0) and not ci.excludes(2.0)


def test_bootstrap_is_seeded_and_brackets_the_ratio() -> None:
    numerator = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8]  # median 1.4
    denominator = [0.9, 1.0, 1.1, 1.0, 0.95, 1.05, 1.0]       # median 1.0
    first = stats.bootstrap_median_ratio_ci(numerator, denominator, paired=False, seed=3)
    assert first == stats.bootstrap_median_ratio_ci(numerator, denominator, paired=False, seed=3)
    assert first.low <= 1.4 <= first.high
    assert 1.1 / 1.1 <= first.low and first.high <= 1.8 / 0.9  # bounded by extreme resamples


def test_linear_fit_recovers_an_exact_line() -> None:
    fit = stats.fit_linear([0, 1, 2, 3], [1, 3, 5, 7])  # y = 1 + 2x
    assert fit.a == pytest.approx(1.0) and fit.b == pytest.approx(2.0)


def test_least_squares_by_hand() -> None:
    # x = 0, 1, 2; y = 0, 2, 1: means 1 and 1; b = sum(dx*dy) / sum(dx^2) = ((-1)(-1) + 0*1 + 1*0) / 2 = 0.5;
    # a = mean y - b * mean x = 0.5.
    fit = stats.fit_linear([0, 1, 2], [0, 2, 1])
    assert fit.a == pytest.approx(0.5) and fit.b == pytest.approx(0.5)


def test_weights_pull_the_fit_towards_heavy_points() -> None:
    # Weight 0 on the middle point leaves the line through the other two: y = 0 + 0.5x.
    fit = stats.fit_linear([0, 1, 2], [0, 2, 1], weights=[1, 0, 1])
    assert fit.a == pytest.approx(0.0, abs=1e-12) and fit.b == pytest.approx(0.5)


def test_overhead_fit_recovers_fixed_and_per_element_cost() -> None:
    # 20 us per call plus 0.5 ns per element, sizes 2^10 .. 2^24.
    n = [2.0**k for k in range(10, 25, 2)]
    fit = stats.fit_overhead(n, [20e-6 + 0.5e-9 * x for x in n])
    assert fit.a == pytest.approx(20e-6, rel=1e-9) and fit.b == pytest.approx(0.5e-9, rel=1e-9)


def test_linear_fit_needs_two_distinct_sizes() -> None:
    with pytest.raises(ValueError, match="two distinct"):
        stats.fit_linear([5, 5], [1, 2])


def test_units_and_number_formatting() -> None:
    assert time_unit([3e-5, 2.0]) == (1e-6, "µs")
    assert time_unit([0.5e-9]) == (1e-9, "ns")
    assert byte_unit([0, 3 * 2**20]) == (2**20, "MiB")
    assert format_bytes(64 * 2**20) == "64.0 MiB" and format_bytes(12) == "12 B"
    assert [number(v) for v in (1234.5, 12.345, 0.12345, 0.0)] == ["1234", "12.3", "0.123", "0"]
    assert size_label(1024) == "2^10" and size_label(1000) == "1000"


def test_fixed_costs_match_the_overhead_fit_curve_by_curve() -> None:
    xs = [1024.0, 16384.0, 262144.0]
    curves = [[30e-6, 38e-6, 160e-6], [20e-6, 29e-6, 150e-6]]
    vectorised = stats.fixed_costs(xs, curves)
    assert list(vectorised) == pytest.approx([stats.fit_overhead(xs, ys).a for ys in curves], rel=1e-9)


def test_mean_interval_by_hand() -> None:
    # Mean 2, sample sd 1, n = 3: 2 ± t(0.975, 2) · 1/sqrt(3) = 2 ± 4.302653 · 0.577350.
    interval = stats.mean_ci([1.0, 2.0, 3.0])
    assert interval.low == pytest.approx(2 - 4.302653 * 0.577350, abs=1e-5)
    assert interval.high == pytest.approx(2 + 4.302653 * 0.577350, abs=1e-5)


def test_instability_cause_tells_drift_from_a_tail_from_scatter():
    from bench_lib.analysis.stats import DRIFT, SPREAD, TAIL, instability_cause

    level = [1.0, 1.02, 0.98, 1.01] * 5
    assert instability_cause(level[:10] + [1.3 * v for v in level[10:]]) == DRIFT  # the level moved
    slow = [1.0, 1.01, 0.99, 1.0, 1.6, 1.0, 0.99, 1.01, 1.7, 1.0, 1.8, 1.01]
    assert instability_cause(slow) == TAIL
    assert instability_cause([0.8, 1.0, 1.2, 0.9, 1.1, 1.0, 0.85, 1.15, 1.0, 1.2, 1.0, 0.8]) == SPREAD
    # Too few rounds for quarters: a step up is not called drift (it is a tail here).
    assert instability_cause([1.0, 1.0, 1.0, 1.0, 1.5, 1.5]) == TAIL
    # No raw samples (a run saved without them): no cause.
    assert instability_cause([]) is None and instability_cause([1.0]) is None


def test_instability_cause_looks_for_drift_within_each_replicate():
    from bench_lib.analysis.stats import DRIFT, SPREAD, instability_cause

    steady = [0.8, 1.0, 1.2, 0.9, 1.1, 1.0, 0.85, 1.15, 1.0, 1.2, 1.0, 0.8]
    # Two processes at levels 1 and 1.3: drift when read as one sequence, not within either.
    pooled = steady + [1.3 * v for v in steady]
    assert instability_cause(pooled) == DRIFT
    assert instability_cause(pooled, [12, 12]) == SPREAD  # each process scatters by 20 % itself
    # Lengths that do not add up are ignored: the samples are read as one sequence.
    assert instability_cause(pooled, [12, 5]) == DRIFT


def test_steady_processes_at_different_levels_differ_between_processes():
    from bench_lib.analysis.stats import PROCESSES, instability_cause

    steady = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0]
    levels = (1.0, 1.25, 0.9)
    assert instability_cause([level * v for level in levels for v in steady], [10, 10, 10]) == PROCESSES
