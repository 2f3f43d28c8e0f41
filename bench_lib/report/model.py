"""The report's model: everything the views show, computed once by bench_lib.report.build."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from bench_lib.analysis import catalogue, claims, compiled, findings, throughput
    from bench_lib.analysis.compare import Comparison
    from bench_lib.contract.result import Run
    from bench_lib.report.load import Loaded


@dataclass(frozen=True)
class RunSummary:
    """What one run says on its own: its overhead model, headline findings, physics check and
    the claims of the scenarios it holds (measured, skipped or rejected), in SCENARIOS order, and
    eager against compiled where it holds compiled cases, latency against throughput where it
    holds CUDA cases with pipelined figures."""

    run: Run
    fits: pd.DataFrame
    findings: findings.Findings
    violations: list[str]
    claims: list[claims.ScenarioClaim]
    compile_claims: list[compiled.CompileClaim]
    compile_rows: list[compiled.PairRow]
    throughput: list[throughput.ThroughputRow]  # CUDA cases with a pipelined figure
    catalogue: list[catalogue.OpRow] = field(default_factory=list)  # the op cases (operator catalogue)


@dataclass(frozen=True)
class Report:
    """Everything the page and the summaries show, computed once."""

    loaded: Loaded
    cases: pd.DataFrame           # every run's cases, with add_derived's columns
    scenarios: pd.DataFrame       # every run's measured scenario cases, with add_scenario_derived's columns
    summaries: list[RunSummary]   # one per run, in the order the runs were named
    comparison: Comparison | None  # the newest run against the base run, if one was given

    @property
    def primary(self) -> Run:
        return self.loaded.primary

    @property
    def has_scenarios(self) -> bool:
        return any(summary.claims for summary in self.summaries)

    def cases_of(self, run: Run) -> pd.DataFrame:
        return self.cases[self.cases["run"] == run.label]

    def newest_first(self) -> list[Run]:
        return sorted(self.loaded.runs, key=lambda run: run.datetime, reverse=True)
