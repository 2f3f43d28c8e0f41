"""From run files to the report's files: load -> model (bench_lib.report.model) -> views -> files.

The views (page, markdown, tidy) import the model, never this module."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench_lib.analysis import catalogue, claims, compiled, findings, physics, throughput
from bench_lib.analysis.compare import compare_runs
from bench_lib.analysis.derive import add_derived, add_scenario_derived
from bench_lib.contract.result import Run, cases_of
from bench_lib.report.load import load_runs
from bench_lib.report.model import Report, RunSummary
from bench_lib.report.output import write_set
from bench_lib.scenarios import SCENARIOS


def analyse(run_paths: Sequence[Path], base_path: Path | None = None) -> Report:
    loaded = load_runs(run_paths)
    cases = add_derived(loaded.cases)
    summaries = []
    for run in loaded.runs:
        own = cases[cases["run"] == run.label]
        fits = findings.overhead_fits(own)
        found = findings.compute(own, loaded.skipped[loaded.skipped["run"] == run.label], fits,
                                 scenario_cases=len(run.scenario_benchmarks))
        summaries.append(RunSummary(run, fits, found, physics.violations(run.benchmarks), scenario_claims(run),
                                    compiled.compile_claims(run.benchmarks), compiled.pair_rows(run.benchmarks),
                                    throughput.rows(run.benchmarks), catalogue.rows(own)))
    comparison = None
    if base_path is not None:
        base = load_runs([base_path])
        primary = loaded.primary
        comparison = compare_runs(base.runs[0], base.cases, primary, cases[cases["run"] == primary.label])
    return Report(loaded, cases, add_scenario_derived(loaded.scenarios), summaries, comparison)


def scenario_claims(run: Run) -> list[claims.ScenarioClaim]:
    """bench_lib.analysis.claims' verdicts, from the saved dicts as check_run reads them, for the scenarios
    the run holds at all; a scenario it did not select is left out, not shown as "not measured"."""
    present = {entry["scenario"] for entry in run.scenario_skipped} | {entry["scenario"] for entry in run.invalid}
    present |= {case.scenario for case in cases_of(run.scenario_benchmarks)}
    checked = claims.check_claims(run.scenario_benchmarks, run.invalid, SCENARIOS)
    return [checked[scenario] for scenario in SCENARIOS if scenario in present]


def write_report(report: Report, out: Path) -> list[Path]:
    """index.html (at ``out``), summary.csv, scenarios.csv and summary.md beside it; returns their paths.

    scenarios.csv is written for every report (only its header when no run has scenarios), so a
    stale one from an earlier report never sits beside a page that does not show it.
    Everything is rendered before the first file is written, and the files are replaced as one
    set, so an error leaves every previous file as it was.
    """
    from bench_lib.report import markdown, page, tidy

    csv_path, md_path = out.with_name("summary.csv"), out.with_name("summary.md")
    scenarios_path = out.with_name("scenarios.csv")
    loaded = report.loaded
    texts = {
        csv_path: tidy.to_csv(tidy.tidy_table(report.cases, loaded.skipped, loaded.runs)),
        scenarios_path: tidy.to_csv(tidy.scenario_table(report.scenarios, loaded.scenario_skipped, loaded.invalid,
                                                        [run.label for run in loaded.runs])),
        md_path: markdown.render(report, out),
        out: page.render(report),
    }
    write_set(texts)
    return list(texts)
