"""A short Markdown summary to paste into a pull request."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from bench_lib.analysis import catalogue, compare, throughput
from bench_lib.analysis import counts as instruction_counts
from bench_lib.analysis.derive import busy_headline, busy_run
from bench_lib.contract.units import format_seconds, size_label

if TYPE_CHECKING:
    import pandas as pd

    from bench_lib.contract.result import Run
    from bench_lib.report.model import Report, RunSummary

MAX_CHANGES = 10


def render(report: Report, page: Path) -> str:
    lines: list[str] = []
    for summary in report.summaries:
        lines += _run(summary, report.cases_of(summary.run))
    if report.comparison:
        lines += [*_comparison(report.comparison), ""]
    scenarios = f"; scenario cases: `{page.with_name('scenarios.csv')}`" if report.has_scenarios else ""
    lines.append(f"Full report: `{page}` (tidy table: `{page.with_name('summary.csv')}`{scenarios}).")
    return "\n".join(lines) + "\n"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # inline markup; the text never starts a line


def _text(value: object) -> str:
    """Free text from a run file as inert Markdown: no markup, no HTML, no line breaks."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _no_html(" ".join(str(value).split())))


def _no_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _run(summary: RunSummary, cases: pd.DataFrame) -> list[str]:
    run = summary.run
    lines = [f"## gradbench: {run.label}", "",
             f"{len(cases)} cases measured on {_text(run.machine_info.get('node', '?'))}, "
             f"torch {_text(run.environment.get('torch_version', '?'))}, {_text(run.datetime or 'no date')}.", ""]
    headline = busy_headline(int(cases["contended"].sum()), len(cases)) if len(cases) else None
    if headline:  # before the physics check and the findings: every figure below is suspect
        lines[2:2] = [f"**{headline}**", ""]
    problems = summary.violations
    if problems:
        lines.append(f"**Physics check failed: {len(problems)} violation{'s' if len(problems) != 1 else ''}** "
                     "(artifacts, not findings):")
        lines += [f"- {_no_html(p)}" for p in problems[:MAX_CHANGES]]
        if len(problems) > MAX_CHANGES:
            lines.append(f"- and {len(problems) - MAX_CHANGES} more")
        lines.append("")
    elif run.benchmarks:
        contended = int(cases["contended"].sum())
        busy = (f" But {contended} of {len(cases)} cases were timed on a busy machine: their times are suspect."
                if busy_run(contended, len(cases)) else "")
        lines += [f"**Physics check passed.**{busy}", ""]
    lines += ["**Findings**", ""]
    # Findings quote skip reasons and errors from the run file: no raw HTML may reach the PR.
    lines += [f"- {_no_html(item.text)}" for item in summary.findings.items]
    if summary.claims:
        # One line per scenario: bench_lib.analysis.claims' verdict and sentence, as the page shows them.
        lines += ["", "**Scenarios** (each claim checked from the numbers)", ""]
        lines += [f"- {claim.scenario}: **{claim.verdict}**. {_no_html(claim.sentence)}" for claim in summary.claims]
    if summary.compile_claims:
        lines += ["", "**Eager against compiled** (torch.compile)", ""]
        lines += [f"- {_no_html(c.group)}: {c.claim} " + (f"**{c.verdict}**. " if c.verdict else "")
                  + f"{_no_html(c.sentence)}." for c in summary.compile_claims]
    if summary.throughput:
        lines += ["", "**Latency against throughput** (CUDA: where each mode becomes device-bound)", ""]
        lines += [f"- {_no_html(text)}" for text in throughput.sentences(summary.throughput)]
    lines += _catalogue(summary.catalogue)
    lines += _counts(run, cases)
    return lines + [""]


def _catalogue(found: list[catalogue.OpRow]) -> list[str]:
    """The operator catalogue: its findings, and one table row per op at the table's size."""
    size = catalogue.shown_size(found)
    if size is None:
        return []
    lines = ["", "**Operator catalogue** (one row per op, sorted by saved bytes per element)", ""]
    lines += [f"- {_no_html(text)}" for text in catalogue.findings(found)]
    sizes = sorted({row.size for row in found})
    by_key = {(row.op, row.device, row.dtype, row.size): row for row in found}
    lines += ["", f"| op | device | dtype | saved B/element at {size_label(size)} | saved tensors | "
              + " | ".join(f"grad/no_grad {size_label(s)}" for s in sizes)
              + f" | grad/inference_mode {size_label(size)} | backward/forward {size_label(size)} |",
              "|---|---|---|---:|---:|" + "---:|" * len(sizes) + "---:|---:|"]
    for row in catalogue.at_size(found, size):
        ratios = [by_key.get((row.op, row.device, row.dtype, s)) for s in sizes]
        lines.append(f"| {_text(row.op)} | {row.device} | {row.dtype} | {_figure(row.saved_per_element, '{:.3g}')} | "
                     f"{_figure(row.saved_tensors, '{:.0f}')} | "
                     + " | ".join(_figure(r.grad_over_no_grad if r else math.nan, "{:.2f}x") for r in ratios)
                     + f" | {_figure(row.grad_over_inference_mode, '{:.2f}x')} | "
                     f"{_figure(row.backward_over_forward, '{:.2f}x')} |")
    return lines


def _figure(value: float, form: str) -> str:
    return "–" if math.isnan(value) else form.format(value)


def _counts(run: Run, cases: pd.DataFrame) -> list[str]:
    """Instruction counts (COUNTS=1): autograd's bookkeeping in instructions per call, the contexts'
    entry costs, a table per mode and size, and where the counts and the times disagree."""
    if run.counts is None:
        return []
    reason = instruction_counts.skipped_reason(run)
    if reason is not None:
        return ["", f"**Instruction counts**: asked for but not taken: {_text(reason)}."]
    record = run.counts
    lines = ["", f"**Instruction counts** (callgrind, {_text(record.get('valgrind_version') or 'valgrind')}, one "
             f"thread, the harness's {record.get('harness_instructions') or 0:,.0f} instructions per call and the memory "
             "allocators' own instructions left out; "
             f"two counts of a case differ by at most {instruction_counts.spread_summary(cases):.2%}). Autograd's "
             "bookkeeping, in instructions per call:", ""]
    lines += [f"- {_no_html(line)}" for line in instruction_counts.bookkeeping_sentences(run, cases)]
    context = instruction_counts.context_sentence(run)
    if context:
        lines.append(f"- {_no_html(context)}")
    wide = instruction_counts.table(cases)
    if not wide.empty:
        lines += ["", "| case | size | grad | no_grad | inference_mode | detach | grad - no_grad | grad - inference_mode |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in wide.to_dict("records"):
            cells = [_instructions(r[m]) for m in ("grad", "no_grad", "inference_mode", "detach")]
            cells += [_instructions(r[c], signed=True) for c in ("grad_minus_no_grad", "grad_minus_inference_mode")]
            lines.append(f"| {r['workload']} {r['pass']} {r['device']} | {size_label(int(r['size']))} | "
                         + " | ".join(cells) + " |")
    found = instruction_counts.disagreements(cases)
    if found:
        lines += ["", f"Counts and times disagree ({len(found)} of the modes' ratios to grad differ by more than "
                      f"{instruction_counts.DISAGREEMENT:.0%}):", ""]
        lines += [f"- {_no_html(d.sentence())}" for d in found[:MAX_CHANGES]]
        if len(found) > MAX_CHANGES:
            lines.append(f"- and {len(found) - MAX_CHANGES} more")
    elif not wide.empty:
        lines += ["", "Counts and times agree on every mode's ratio to grad (within "
                      f"{instruction_counts.DISAGREEMENT:.0%})."]
    return lines


def _instructions(value: float, signed: bool = False) -> str:
    if value != value:  # NaN: not counted
        return "-"
    return f"{value:+,.0f}" if signed else f"{value:,.0f}"


def _instruction_comparison(comparison: compare.Comparison) -> str:
    table = comparison.instructions
    if table is None or table.empty:
        return ""
    if comparison.build_differences:
        return (f" Instructions per call: not compared ({len(table)} counted cases), the runs' builds differ: "
                f"{_text('; '.join(comparison.build_differences))}.")
    more, fewer = comparison.count(compare.SLOWER, "instructions"), comparison.count(compare.FASTER, "instructions")
    limit = table["threshold"].iloc[0]
    return (f" Instructions per call: {more} more, {fewer} fewer beyond ±{compare.percent(limit)}, of "
            f"{len(table)} counted cases.")


def _comparison(comparison: compare.Comparison) -> list[str]:
    times = comparison.times
    counts = ", ".join(f"{comparison.count(v)} {v}" for v in compare.VERDICTS)
    shifts = "".join(f"Run-level shift of {'pipelined times' if d.family == 'pipelined' else 'times'}: "
                     f"{d.shift:.3f}x (the median over {d.cases} "
                     f"{'controls' if d.source == compare.CONTROLS else 'cases'}"
                     f"{'; each new/base below is relative to it' if d.discounted else ''}"
                     f"{'; beyond the threshold, not judged' if not d.judged else ''}). "
                     for d in comparison.drift if d.cases)
    lines = [f"**{comparison.new.label} against {comparison.base.label}** ({comparison.new.replicates} and "
             f"{comparison.base.replicates} replicates, {comparison.windows}): {counts} (per-replicate medians; "
             f"exact permutation test, Benjamini-Hochberg at {compare.FDR:g}; Welch's 95% interval on the log scale). "
             + shifts
             + (f"Pipelined times (CUDA): {comparison.count(compare.SLOWER, 'pipelined')} slower, "
                f"{comparison.count(compare.FASTER, 'pipelined')} faster of {len(comparison.pipelined)}. "
                if len(comparison.pipelined) else "")
             + f"Overhead ratios: {comparison.count(compare.SLOWER, 'ratios')} larger, "
             f"{comparison.count(compare.FASTER, 'ratios')} smaller. Exact counts changed: {len(comparison.counts)}."
             + _instruction_comparison(comparison)]
    changed = times[times["verdict"].isin([compare.SLOWER, compare.FASTER])]
    if changed.empty:
        return lines
    changed = changed.assign(_size=(changed["ratio"] - 1.0).abs()).sort_values("_size", ascending=False)
    lines += ["", "| case | base | new | new/base | 95% CI | p (BH) |", "|---|---:|---:|---:|---:|---:|"]
    for r in changed.head(MAX_CHANGES).to_dict("records"):
        case = f"{r['workload']} {r['mode']} {r['pass']} {size_label(r['size'])} {r['device']}"
        lines.append(f"| {case} | {format_seconds(r['base'])} | {format_seconds(r['new'])} | "
                     f"{r['ratio']:.3f}x | {r['ci_low']:.3f}-{r['ci_high']:.3f} | {r['p_adjusted']:.2g} |")
    if len(changed) > MAX_CHANGES:
        lines.append(f"\n{len(changed) - MAX_CHANGES} more significant changes in the full report.")
    return lines
