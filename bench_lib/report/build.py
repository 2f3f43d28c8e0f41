"""From run files to the three report files: the pipeline, with no rendering of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench_lib import physics
from bench_lib.report import findings
from bench_lib.report.compare import Comparison, compare_runs
from bench_lib.report.derive import add_derived
from bench_lib.report.load import Loaded, Run, load_runs
from bench_lib.report.output import write_atomic

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RunSummary:
    """What one run says on its own: its overhead model, headline findings and physics check."""

    run: Run
    fits: pd.DataFrame
    findings: findings.Findings
    violations: list[str]


@dataclass(frozen=True)
class Report:
    """Everything the page and the summaries show, computed once."""

    loaded: Loaded
    cases: pd.DataFrame           # every run's cases, with add_derived's columns
    summaries: list[RunSummary]   # one per run, in the order the runs were named
    comparison: Comparison | None  # the newest run against the base run, if one was given

    @property
    def primary(self) -> Run:
        return self.loaded.primary

    def cases_of(self, run: Run) -> pd.DataFrame:
        return self.cases[self.cases["run"] == run.label]

    def newest_first(self) -> list[Run]:
        return sorted(self.loaded.runs, key=lambda run: run.datetime, reverse=True)


def analyse(run_paths: Sequence[Path], base_path: Path | None = None) -> Report:
    loaded = load_runs(run_paths)
    cases = add_derived(loaded.cases)
    summaries = []
    for run in loaded.runs:
        own = cases[cases["run"] == run.label]
        fits = findings.overhead_fits(own)
        found = findings.compute(own, loaded.skipped[loaded.skipped["run"] == run.label], fits)
        summaries.append(RunSummary(run, fits, found, physics.violations(run.benchmarks)))
    comparison = None
    if base_path is not None:
        base = load_runs([base_path])
        primary = loaded.primary
        comparison = compare_runs(base.runs[0], base.cases, primary, cases[cases["run"] == primary.label])
    return Report(loaded, cases, summaries, comparison)


def write_report(report: Report, out: Path) -> list[Path]:
    """index.html (at ``out``), summary.csv and summary.md beside it; returns their paths.

    Everything is rendered before the first file is written, so a rendering error leaves
    every previous file as it was.
    """
    from bench_lib.report import markdown, page, tidy

    csv_path, md_path = out.with_name("summary.csv"), out.with_name("summary.md")
    texts = {
        csv_path: tidy.to_csv(tidy.tidy_table(report.cases, report.loaded.skipped)),
        md_path: markdown.render(report, out),
        out: page.render(report),
    }
    for path, text in texts.items():
        write_atomic(path, text)
    return list(texts)
