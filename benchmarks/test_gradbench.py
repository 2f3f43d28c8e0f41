"""The gradbench cases: one pytest-benchmark case per workload x pass x size x device x dtype x mode.

The matrix comes from the options in conftest.py; each case's life (skips, measurement,
interleaved rounds) from conftest.RunState.measure, the same as for the scenarios.
"""

from __future__ import annotations

from bench_lib.contract.cases import CaseSpec


def test_gradbench(benchmark, case: CaseSpec, run_state) -> None:  # type: ignore[no-untyped-def]
    run_state.measure(benchmark, case)
