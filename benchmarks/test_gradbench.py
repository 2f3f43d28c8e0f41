"""The gradbench cases: one pytest-benchmark case per workload x pass x size x device x dtype x mode.

The matrix comes from the options in conftest.py; the measurement from bench_lib.runner.
"""

from __future__ import annotations

import torch

from bench_lib import devices
from bench_lib.cases import CaseSpec
from bench_lib.schema import CASE_KEYS
from bench_lib.runner import (
    benchmark_case,
    case_info,
    machine_skip_reason,
    measure_memory,
    prepare,
    unrunnable_reason,
)


INTERLEAVED_KEYS = tuple(key for key in CASE_KEYS if key.startswith("interleaved_"))


def test_gradbench(benchmark, case: CaseSpec, run_state) -> None:  # type: ignore[no-untyped-def]
    reason = machine_skip_reason(case)
    if reason:
        run_state.skip(case, reason)
    benchmark.group = case.group
    device = torch.device(case.device)
    try:
        prepared = prepare(case, run_state.seed)
        benchmark_case(benchmark, prepared, run_state.selection.settings, measure_memory, case_info)
        prepared = None  # one case's tensors at a time
        benchmark.extra_info.update(
            run_state.interleaved_for(case) if case.pass_ == "forward" else dict.fromkeys(INTERLEAVED_KEYS)
        )
        return
    except (RuntimeError, NotImplementedError) as error:
        reason = unrunnable_reason(case, error)
        if reason is None:
            raise
    # Out of the except block: the traceback no longer pins the case's tensors.
    prepared = None
    devices.release_memory(device)
    run_state.skip(case, reason)
