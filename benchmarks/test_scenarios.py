"""The scenario cases: the other autograd practices, one pytest-benchmark group per scenario.

The variants come from the options in conftest.py (--gb-scenarios, --gb-microbatches,
--gb-scenario-sizes); what each one runs, from bench_lib.scenarios; the measurement, from
bench_lib.runner, as for the mode matrix. A variant autograd rejects is recorded in the run
file's ``gradbench.invalid`` and reported as skipped, not failed.
"""

from __future__ import annotations

import pytest
import torch

from bench_lib import devices
from bench_lib.runner import benchmark_case, unrunnable_reason
from bench_lib.scenarios import (
    ScenarioSpec,
    autograd_rejection,
    machine_skip_reason,
    measure_scenario_memory,
    prepare_scenario,
    scenario_case_info,
)


def test_scenario(benchmark, scenario_case: ScenarioSpec, run_state) -> None:  # type: ignore[no-untyped-def]
    spec = scenario_case
    reason = machine_skip_reason(spec)
    if reason:
        run_state.skip(spec, reason)
    benchmark.group = spec.group
    device = torch.device(spec.device)
    preset = run_state.selection.settings
    try:
        prepared = prepare_scenario(spec, run_state.seed)
        # Its first run is where autograd rejects an invalid variant.
        benchmark_case(benchmark, prepared, preset, measure_scenario_memory, scenario_case_info)
        prepared = None  # one case's tensors at a time
        benchmark.extra_info.update(run_state.scenario_interleaved_for(spec))
        return
    except (RuntimeError, NotImplementedError) as error:
        rejection = autograd_rejection(error)
        reason = None if rejection else unrunnable_reason(spec.case, error)
        if rejection is None and reason is None:
            raise
    # Out of the except block: the traceback no longer pins the case's tensors.
    prepared = None
    devices.release_memory(device)
    if rejection is not None:
        run_state.record_invalid(spec, rejection)
        pytest.skip(f"invalid in {spec.mode}: {rejection}")
    run_state.skip(spec, reason)
