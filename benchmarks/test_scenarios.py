"""The scenario cases: the other autograd practices, one pytest-benchmark group per scenario group.

The variants come from the options in conftest.py (--gb-scenarios, --gb-microbatches,
--gb-scenario-sizes) and from bench_lib/scenarios/, one module per scenario; each case's life from
conftest.RunState.measure, as for the mode matrix. A variant autograd rejects is recorded in the
run file's ``gradbench.invalid`` and reported as skipped, not failed.
"""

from __future__ import annotations

from bench_lib.contract.scenario import ScenarioSpec


def test_scenario(benchmark, scenario_case: ScenarioSpec, run_state) -> None:  # type: ignore[no-untyped-def]
    run_state.measure(benchmark, scenario_case)
