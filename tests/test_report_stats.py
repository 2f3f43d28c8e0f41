"""The report's statistics against answers worked out by hand (see each test's comment)."""

from __future__ import annotations

import math

import pytest

from bench_lib.report import stats
from bench_lib.report.units import byte_unit, format_bytes, number, size_label, time_unit


def test_stability_flag_is_iqr_over_median_above_ten_percent() -> None:
    assert stats.relative_iqr(1.0, 10.0) == 0.1
    assert not stats.is_unstable(0.1)  # exactly 10 % is not above it
    assert stats.is_unstable(stats.relative_iqr(1.01, 10.0))
    assert stats.relative_iqr(1.0, 0.0) == math.inf
    assert list(stats.relative_iqr([1.0, 3.0], [4.0, 0.0])) == [0.25, math.inf]


def test_mann_whitney_separated_samples() -> None:
    # x all below y: U = 0; mean 4.5, sigma = sqrt(3*3*7/12) = sqrt(5.25);
    # z = (0 - 4.5 + 0.5) / sqrt(5.25) = -1.745743; p = erfc(1.745743 / sqrt 2) = 0.080856.
    result = stats.mann_whitney_u([1, 2, 3], [4, 5, 6])
    assert result.u == 0.0
    assert result.z == pytest.approx(-4.0 / math.sqrt(5.25))
    assert result.p == pytest.approx(0.0808556, abs=1e-7)


def test_mann_whitney_with_ties() -> None:
    # Pooled 1, 2, 2, 2, 3, 3 -> ranks 1, 3, 3, 3, 5.5, 5.5; x = [1, 2, 2] has rank sum 7, U = 7 - 6 = 1.
    # Tie groups of 3 and 2: sum(t^3 - t) = 24 + 6 = 30; 30 / (6*5) = 1;
    # sigma = sqrt(3*3/12 * (7 - 1)) = sqrt(4.5); z = (1 - 4.5 + 0.5) / sqrt(4.5) = -sqrt(2); p = erfc(1).
    result = stats.mann_whitney_u([1, 2, 2], [2, 3, 3])
    assert result.u == 1.0
    assert result.z == pytest.approx(-math.sqrt(2.0))
    assert result.p == pytest.approx(math.erfc(1.0))


def test_mann_whitney_is_symmetric_and_identical_samples_give_p_one() -> None:
    forward = stats.mann_whitney_u([1, 5, 9, 12], [2, 3, 4, 20, 21])
    backward = stats.mann_whitney_u([2, 3, 4, 20, 21], [1, 5, 9, 12])
    assert forward.u + backward.u == 4 * 5
    assert forward.p == pytest.approx(backward.p)
    assert stats.mann_whitney_u([3, 3, 3], [3, 3]).p == 1.0


def test_bootstrap_of_constant_samples_is_the_exact_ratio() -> None:
    ci = stats.bootstrap_median_ratio_ci([2.0] * 5, [1.0] * 7)
    assert (ci.low, ci.high) == (2.0, 2.0)
    assert ci.excludes(1.0) and not ci.excludes(2.0)


def test_bootstrap_is_seeded_and_brackets_the_ratio() -> None:
    numerator = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8]  # median 1.4
    denominator = [0.9, 1.0, 1.1, 1.0, 0.95, 1.05, 1.0]       # median 1.0
    first = stats.bootstrap_median_ratio_ci(numerator, denominator, seed=3)
    assert first == stats.bootstrap_median_ratio_ci(numerator, denominator, seed=3)
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
