"""What a benchmark run prints at its end: the mode-matrix summary, eager against compiled,
latency against throughput on CUDA, and the scenario claims.

Printed once per run: by the pytest session (``pytest benchmarks``) or, for replicates, by
``python -m bench_lib bench`` from the merged run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench_lib.analysis import claims, compiled, physics, throughput
from bench_lib.analysis.derive import busy_headline
from bench_lib.contract.result import is_scenario_case
from bench_lib.contract.scenario import Scenario
from bench_lib.report import summary


def run_summary(cases: Sequence[Mapping[str, Any]], invalid: Sequence[Mapping[str, Any]],
                scenarios: Mapping[str, Scenario]) -> list[str]:
    """Lines for ``cases`` (benchmark dicts as saved) and the scenario cases autograd rejected,
    with the claims of ``scenarios`` (the registry)."""
    # Scenario variants share their spec keys; the mode-matrix summary and physics check would mix them.
    matrix = [case for case in cases if not is_scenario_case(case)]
    scenario_cases = [case for case in cases if is_scenario_case(case)]
    lines = ["", *summary.format_summary(matrix)] if matrix else []
    headline = busy_headline(len(physics.contended(cases)), len(cases))
    if headline:  # said first: every figure below is suspect
        lines = ["", headline, *lines]
    checked = compiled.compile_claims(matrix)
    if checked:
        lines += ["", "gradbench eager against compiled (torch.compile)"]
        lines += [f"  {c.group}: {c.claim} " + (f"{c.verdict.upper()}. " if c.verdict else "") + f"{c.sentence}."
                  for c in checked]
    found = throughput.rows(matrix)
    if found:
        lines += ["", "gradbench latency against throughput (CUDA: where each mode becomes device-bound)"]
        lines += [f"  {text}" for text in throughput.sentences(found)]
    if scenario_cases or invalid:
        lines += ["", "gradbench scenarios: each claim checked from this run's numbers"]
        lines += [f"  {claim.scenario}: {claim.verdict.upper()}. {claim.sentence}"
                  for claim in claims.check_claims(scenario_cases, invalid, scenarios).values()
                  if claim.checks]  # the scenarios this run measured (or saw rejected)
    return lines
