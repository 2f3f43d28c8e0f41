"""Checks that a run's numbers obey the physics of the modes (README.md, "Why the numbers can be trusted").

A violation is an artifact of the harness or the machine, not a finding. Works on the run
file's benchmark dicts only, so the live summary and the report share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench_lib.contract.cases import op_name
from bench_lib.contract.result import CaseResult, Times
from bench_lib.contract.schema import CONTENDED_FRACTION
from bench_lib.contract.units import format_seconds

# The one rule of "beyond noise", for the physics check, the claims and compiled against eager: a
# median more than NOISE_TOLERANCE away from the other's, and outside the other's middle half.
# On a shared 2-core machine, run-to-run drift alone moves a median by 10-20 %, so the times
# compared are each case's interleaved rounds where it has them, as the tables show (comparable_times).
NOISE_TOLERANCE = 0.05
NO_GRAPH_MODES = ("no_grad", "inference_mode")
# How a CUDA-graph case's (reduce-overhead) peak tensor memory is measured since the pool is read:
# its graphs' private pool plus the pass's own allocations (bench_lib.measure.memory.CudaGraphPoolProbe).
CUDA_GRAPH_POOL_METHOD = "cuda-graph-pool"
CUDA_GRAPHS = "reduce-overhead"


def pass_peak_rule_applies(case: CaseResult) -> bool:
    """Whether "a pass that runs the forward peaks at least at its saved bytes" can be checked on
    ``case``'s peak tensor memory. Not for a CUDA-graph case measured before its pool was read
    (schema 7 and older, method cuda-allocator): its replay allocates nothing new, since its saved
    tensors live in the pool recorded before the pass, so its figure is the pass's few new bytes
    (1,536 B against 12,582,912 B saved on an H200) and says nothing about them."""
    return not (case.compile == CUDA_GRAPHS and case.tensor_memory_method != CUDA_GRAPH_POOL_METHOD)


def slower_beyond_noise(a: Times, b: Times) -> bool:
    """a's median is above b's by more than the tolerance and above b's third quartile."""
    return a.median > b.median * (1 + NOISE_TOLERANCE) and a.median > b.q3


def faster_beyond_noise(a: Times, b: Times) -> bool:
    """a's median is below b's by more than the tolerance and below b's first quartile."""
    return a.median < b.median * (1 - NOISE_TOLERANCE) and a.median < b.q1


def _background(case: CaseResult) -> float:
    return float(case.background_cpu or 0.0)


def contended(cases: Iterable[Mapping[str, Any]]) -> list[tuple[str, float]]:
    """(case name, share of CPUs used by others) for every case timed on a busy machine, busiest first."""
    results = [CaseResult.of(bench) for bench in cases]
    busy = [(case.name, _background(case)) for case in results if _background(case) > CONTENDED_FRACTION]
    return sorted(busy, key=lambda item: -item[1])


def comparable_times(a: CaseResult, b: CaseResult) -> tuple[str, Times, Times]:
    """Median and quartiles of two cases of one group: each case's compared figures
    (CaseResult.compared: its interleaved rounds where it has them, else its own), the figures
    the tables and plots show, so a check and the view beside it name one number. The source
    says which: "interleaved" when both have them (they shared one time window, so drift of the
    machine's speed cancels), "sequential" when neither, "mixed" otherwise.
    """
    both = a.has_interleaved + b.has_interleaved
    return ("sequential", "mixed", "interleaved")[both], a.compared, b.compared


def notes(cases: Iterable[Mapping[str, Any]]) -> list[str]:
    """What the physics check could not check, one line each (not violations)."""
    unchecked = [case.name for case in map(CaseResult.of, cases)
                 if case.pass_ != "backward" and case.peak_tensor_bytes is not None and not pass_peak_rule_applies(case)]
    if not unchecked:
        return []
    note = (f"peak tensor memory against saved bytes not checked on {len(unchecked)} CUDA-graph case"
            f"{'s' if len(unchecked) != 1 else ''} ({unchecked[0]}{', ...' if len(unchecked) > 1 else ''}): "
            "the run predates the graph-pool figure, and a replay allocates nothing new (its saved "
            "tensors live in the pool recorded before the pass)")
    return [note]


def violations(cases: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per broken rule; empty when the run is consistent."""
    problems: list[str] = []
    by_key: dict[tuple[object, ...], dict[str, CaseResult]] = {}
    for case in map(CaseResult.of, cases):
        by_key.setdefault((case.workload, case.pass_, case.size, case.device, case.dtype), {})[case.mode] = case
        if case.mode in NO_GRAPH_MODES and case.saved_bytes != 0:
            problems.append(f"{case.name}: {case.saved_bytes} bytes saved for backward under {case.mode}")
        # Saved tensors are made during a forward and live until backward, so a pass that runs
        # the forward must peak at least that high.
        # A CUDA-graph case's peak is its graphs' pool, where the saved tensors live: the same rule.
        # An op case's saved bytes count the inputs it saves, made before the pass: no such rule.
        peak = case.peak_tensor_bytes
        if (case.pass_ != "backward" and peak is not None and peak < (case.saved_bytes or 0)
                and pass_peak_rule_applies(case) and op_name(case.workload) is None):
            problems.append(
                f"{case.name}: peak tensor memory {peak} bytes is below "
                f"the {case.saved_bytes} bytes saved for backward"
                + (" (its CUDA graph pool)" if case.tensor_memory_method == CUDA_GRAPH_POOL_METHOD else "")
            )
    for (workload, pass_, size, device, dtype), modes in sorted(by_key.items(), key=lambda item: str(item[0])):
        if pass_ != "forward" or "grad" not in modes:
            continue
        for other_name in NO_GRAPH_MODES:
            if other_name not in modes:
                continue
            source, grad, other = comparable_times(modes["grad"], modes[other_name])
            if faster_beyond_noise(grad, other):
                busy = max(_background(modes["grad"]), _background(modes[other_name]))
                problems.append(
                    f"{workload} forward n={size} {device} {dtype}: grad median {format_seconds(grad.median)} "
                    f"is below {other_name} median {format_seconds(other.median)} beyond noise ({source} rounds)"
                    + (f" (other processes used {busy:.0%} of the CPUs)" if busy > CONTENDED_FRACTION else "")
                )
    return problems
