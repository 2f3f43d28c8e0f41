"""What a benchmark run prints at its end: the mode-matrix summary, eager against compiled,
latency against throughput on CUDA, and the scenario claims.

Printed once per run: by the pytest session (``pytest benchmarks``) or, for replicates, by
``python -m bench_lib bench`` from the merged run.
"""

from __future__ import annotations

import textwrap
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
        lines = ["", *wrapped(headline, ""), *lines]
    checked = compiled.compile_claims(matrix)
    if checked:
        lines += ["", "gradbench eager against compiled (torch.compile)"]
        for c in checked:
            lines += wrapped(f"{c.group}: {c.claim} " + (f"{c.verdict.upper()}. " if c.verdict else "")
                             + f"{c.sentence}.", "  ")
    found = throughput.rows(matrix)
    if found:
        lines += ["", "gradbench latency against throughput (CUDA: where each mode becomes device-bound)"]
        lines += [f"  {text}" for text in throughput.sentences(found)]
    if scenario_cases or invalid:
        lines += ["", "gradbench scenarios: each claim checked from this run's numbers"]
        for claim in claims.check_claims(scenario_cases, invalid, scenarios).values():
            if not claim.checks:
                continue  # a scenario this run neither measured nor saw rejected
            # The verdict on a line of its own, then each group's figures and reasons, wrapped: one
            # line of every group's sentences ran to 590 characters.
            lines.append(f"  {claim.scenario}: {claim.verdict.upper()}")
            several = len({check.verdict for check in claim.checks}) > 1
            for check in claim.checks:
                verdict = f" ({check.verdict})" if several else ""
                lines += wrapped(f"{check.group}{verdict}: {check.sentence}.", "    ")
    return lines


# A terminal line's width: longer sentences continue on indented lines.
WIDTH = 100


def wrapped(text: str, indent: str) -> list[str]:
    """``text`` in lines of at most WIDTH characters (a word longer than that stays whole), the
    continuation lines indented two more spaces."""
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=False, break_on_hyphens=False)
