"""The progress lines' time left: estimated from the cases that ran, over those still to run."""

from __future__ import annotations

import pytest

from bench_lib.measure import plugin
from bench_lib.measure.plugin import Progress


def test_time_left_counts_only_the_cases_that_will_run(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(plugin.time, "monotonic", lambda: now[0])
    # Ten cases, every other one skipped (a CUDA case on a machine without one): five to measure.
    ids = [f"t[case-{i}]" for i in range(10)]
    progress = Progress(total=10, will_run=frozenset(ids[0::2]), started=100.0)
    now[0] = 104.0  # the first measured case took 4 s; the skip after it took none
    assert progress.step(ids[0]) == "gradbench:  1/10 cases, 4 s elapsed, about 16 s left (case-0)"
    assert progress.step(ids[1]) == "gradbench:  2/10 cases, 4 s elapsed, about 16 s left (case-1)"


def test_a_skip_before_any_measured_case_gives_no_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin.time, "monotonic", lambda: 0.0)
    progress = Progress(total=2, will_run=frozenset({"t[b]"}), started=0.0)
    assert progress.step("t[a]") == "gradbench: 1/2 cases, 0 s elapsed, time left not known yet (a)"
