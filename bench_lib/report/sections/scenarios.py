"""Scenarios: per scenario some run holds, the claim, each run's verdict, one figure and a table
per run, the combinations autograd rejected and the cases skipped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bench_lib.analysis import claims
from bench_lib.analysis.stats import UNSTABLE_REL_IQR
from bench_lib.contract.schema import CONTENDED_FRACTION
from bench_lib.report import scenario_plots, scenario_tables, variants
from bench_lib.report.sections.layout import bullets, escape, section, table, wide_figure
from bench_lib.scenarios import SCENARIOS

if TYPE_CHECKING:
    from bench_lib.report.model import Report

# verdict: (box class, tag class, title)
VERDICT_CLASSES = {claims.HOLDS: ("ok", "holds", "Holds."), claims.FAILS: ("warn", "fails", "Does not hold."),
                   claims.NOT_MEASURED: ("na", "unmeasured", "Not measured.")}

INTRO = ("<p>Each scenario measures the variants of one training practice; its claim is checked from the run's "
         "numbers by its module in <code>bench_lib/scenarios/</code>, the check that ends <code>make bench</code>. "
         "A time "
         f"counts as higher or lower only beyond noise: more than {claims.NOISE_TOLERANCE:.0%} apart and outside "
         "the other's quartiles. Verdicts: <span class=\"tag holds\">holds</span> "
         "<span class=\"tag fails\">does not hold</span> <span class=\"tag unmeasured\">not measured</span></p>\n"
         "<p>In the tables, times marked † are the figures the claims compare: the variants of a group timed "
         "in interleaved rounds, in one shared window (each case's own, separately timed median is in the "
         f"cell's tooltip, and is not compared). Times are medians with the IQR in brackets; ⚠ marks an IQR "
         f"above {UNSTABLE_REL_IQR:.0%} of the median, * a case timed while other processes used more than "
         f"{CONTENDED_FRACTION:.0%} of the CPUs.</p>")


def render(report: Report) -> str:
    """The claims' verdicts are bench_lib.analysis.claims' sentences, verbatim; the figure is
    drawn from the newest run that measured the scenario."""
    if not report.has_scenarios:
        return ""
    measured = report.scenarios.to_dict("records")
    invalid = report.loaded.invalid.to_dict("records")
    skipped = report.loaded.scenario_skipped.to_dict("records")
    several = sum(1 for summary in report.summaries if summary.claims) > 1
    parts = [INTRO]
    for scenario, definition in SCENARIOS.items():
        holders = [(summary, claim) for summary in report.summaries for claim in summary.claims
                   if claim.scenario == scenario]
        if not holders:
            continue
        own = [r for r in measured if r["scenario"] == scenario]
        rejected = [r for r in invalid if r["scenario"] == scenario]
        variant_styles = variants.styles(definition.ordered([r["variant"] for r in own + rejected]))
        group_styles = variants.styles(variants.group_label(key)
                                       for key in sorted({variants.group_key(r) for r in own + rejected}))
        plot_run = next((run.label for run in report.newest_first() if any(r["run"] == run.label for r in own)), None)
        parts.append(f'<h3 id="scenario-{scenario}">{escape(scenario)}</h3>')
        parts.append(f'<p class="claim"><b>Claim:</b> {escape(holders[0][1].claim)}</p>')
        for summary, claim in holders:
            label = summary.run.label
            if several:
                parts.append(f"<h4>{escape(label)}</h4>")
            parts.append(_verdict(claim))
            records = [r for r in own if r["run"] == label]
            run_invalid = [r for r in rejected if r["run"] == label]
            if label == plot_run:
                figure = scenario_plots.scenario_plot(definition, records, run_invalid, variant_styles, group_styles)
                if figure is not None:
                    if several:
                        parts.append(f'<p class="note">Plot: run {escape(label)}, the newest that measured '
                                     f"{escape(scenario)}.</p>")
                    parts.append(wide_figure(figure))
            if records or run_invalid:
                content, corner = scenario_tables.scenario_table(definition, records, run_invalid, variant_styles,
                                                                 group_styles)
                parts.append(table(content, corner))
            if run_invalid:
                parts.append(_invalid(run_invalid))
            run_skipped = [r for r in skipped if r["run"] == label and r["scenario"] == scenario]
            if run_skipped:
                parts.append(_skips(run_skipped))
    return section("scenarios", "Scenarios: other autograd practices", "\n".join(parts))


def _verdict(claim: claims.ScenarioClaim) -> str:
    box, _tag, title = VERDICT_CLASSES[claim.verdict]
    checks = ""
    if len(claim.checks) > 1:
        checks = bullets(
            f'<span class="tag {VERDICT_CLASSES[c.verdict][1]}">{escape(c.verdict)}</span>{escape(c.group)}'
            for c in claim.checks)
    return (f'<div class="box verdict {box}" data-verdict="{escape(claim.verdict)}"><b>{title}</b> '
            f'<span class="sentence">{escape(claim.sentence)}</span>{checks}</div>')


def _invalid(entries: Sequence[Mapping[str, Any]]) -> str:
    items = bullets([f"<code>{escape(e['variant'])}</code> under {escape(e['mode'])} ({escape(e['pass'])}), "
                     f"{escape(variants.group_label(variants.group_key(e)))}: <q>{escape(e['error'])}</q>"
                     for e in entries], "invalid")
    return ("<p>Combinations autograd rejected (the run records them as invalid, not as failures), "
            f"with PyTorch's message:</p>\n{items}")


def _skips(entries: Sequence[Mapping[str, Any]]) -> str:
    by_reason: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        by_reason.setdefault(str(entry["reason"]), []).append(entry)
    items = []
    for reason, group in sorted(by_reason.items()):
        where = sorted({variants.group_label(variants.group_key(e)) for e in group})
        items.append(f"{len(group)} on {', '.join(where)}: {reason}")
    return f'<p class="note">Skipped: {escape("; ".join(items))}.</p>'
