"""The HTML page: one self-contained file (inline CSS, PNGs as data URIs, no script)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from bench_lib.analysis import claims, compare, throughput
from bench_lib.analysis.derive import BUSY_RUN_SHARE
from bench_lib.analysis.stats import UNSTABLE_REL_IQR
from bench_lib.contract.schema import CONTENDED_FRACTION, MODES
from bench_lib.contract.units import format_bytes, number, size_label, time_unit
from bench_lib.report import (
    compile_plots,
    plots,
    scenario_plots,
    scenario_tables,
    tables,
    throughput_plots,
    variants,
)
from bench_lib.report.style import MODE_COLORS
from bench_lib.scenarios import SCENARIOS

if TYPE_CHECKING:
    from bench_lib.contract.result import Run
    from bench_lib.report.model import Report, RunSummary
    from bench_lib.report.scenario_plots import ScenarioPlot

# A panel costs 0.1-0.2 s on a 2-core machine, and loading plus tables about 0.3 s per 1,000
# cases, all inside a 10 s budget: a large run leaves less time for panels. 32 panels draw
# every group of a quick run (3 workloads x 8 panels); 16 keep a 10,000-case page fast.
MAX_PANELS, MAX_PANELS_LARGE_RUN, LARGE_RUN = 32, 16, 2000
# Longer lists go into a collapsed <details>, so the page stays scannable.
OPEN_ROWS = 40
MAX_CASES_PER_REASON = 30

CSS = """
:root{--fg:#1b1b1b;--muted:#5a5a5a;--line:#d9d9d9}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fff}
main{max-width:1280px;margin:0 auto;padding:12px 16px 48px}
h1{font-size:1.6em;margin:.3em 0 .1em}
h2{font-size:1.3em;border-bottom:1px solid var(--line);padding-bottom:.2em;margin-top:1.8em}
h3{font-size:1.05em;margin:1.2em 0 .3em}
p,li{max-width:75em}
.sub,.note{color:var(--muted)}
nav{display:flex;flex-wrap:wrap;gap:.3em 1em;margin:.6em 0}
.scroll{overflow-x:auto;max-width:100%;margin:.5em 0 1em}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-weight:600;padding:2px 0 4px}
th,td{border:1px solid var(--line);padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f4f4f4}
th.label,td.label{text-align:left}
td.missing{color:#999}
td.unstable{background:#fff1c2}
td.contended{background:#e6e9f5}
tr.slower td{background:#fbe0e0}
tr.faster td{background:#dcf2e3}
.bad{color:#c62828}
.good{color:#2e7d32}
.sw{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.35em}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,400px),1fr));gap:10px;margin:.6em 0}
.plots figure{margin:0}
.plots img{display:block;width:100%;height:auto;border:1px solid #eee}
.box{padding:8px 12px;margin:.6em 0;border-radius:4px}
.warn{border-left:5px solid #c62828;background:#fdecea}
.ok{border-left:5px solid #2e7d32;background:#edf7ed}
details{margin:.6em 0;border:1px solid var(--line);border-radius:6px;padding:4px 10px}
summary{cursor:pointer;font-weight:600;padding:2px 0}
table.env td,table.env th{white-space:normal;overflow-wrap:anywhere;text-align:left;vertical-align:top;min-width:9em}
code{overflow-wrap:anywhere}
@media (max-width:640px){body{font-size:14px}main{padding:8px 10px 32px}table{font-size:12px}h1{font-size:1.35em}}
"""

# Added only to pages that have a Scenarios section, so other pages stay as they were. On a phone a
# figure keeps 600 px and scrolls inside its own box, as wide tables do, rather than shrinking three
# panels past reading.
SCENARIO_CSS = """
.na{border-left:5px solid #757575;background:#f1f1f1}
.verdict ul{margin:.3em 0 0;padding-left:1.2em}
.tag{font-weight:600;margin-right:.5em;white-space:nowrap}
.tag.holds{color:#2e7d32}
.tag.fails{color:#c62828}
.tag.unmeasured{color:#5a5a5a}
figure.wide{margin:.6em 0}
figure.wide img{display:block;max-width:100%;height:auto;border:1px solid #eee}
tr.rejected td{background:#fdecea}
ul.invalid li{overflow-wrap:anywhere}
@media (max-width:640px){figure.wide{overflow-x:auto}figure.wide img{min-width:600px}}
"""


def render(report: Report) -> str:
    # Raw samples are not shown; leaving them out makes the records several times cheaper.
    records = report.cases.drop(columns=["samples"]).to_dict("records")
    groups = tables.group_records(records)
    budget = MAX_PANELS if len(records) <= LARGE_RUN else MAX_PANELS_LARGE_RUN
    plotted, panels = _plots(_newest_groups(report, records), budget)
    runs = [run.label for run in report.loaded.runs]
    body = [
        _header(report),
        _findings(report),
        _scenarios(report),
        _compiled(report),
        _throughput(report),
        _overhead(report),
        _noise(report),
        _comparison(report.comparison) if report.comparison else "",
        _workloads(groups, runs, plotted),
        _skipped(report),
        _environment(report.loaded.runs),
        _notes(report, len(plotted), len(groups), panels, budget),
    ]
    title = f"gradbench report: {', '.join(runs)}"
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(title)}</title>\n<style>{CSS}{SCENARIO_CSS if report.has_scenarios else ''}</style>\n"
            "</head>\n<body>\n<main>\n"
            + "\n".join(part for part in body if part) + "\n</main>\n</body>\n</html>\n")


PlotGroup = tuple[str, Mapping[str, list[Mapping[str, Any]]]]  # run label, records by pass


def _newest_groups(report: Report, records: list[dict[str, Any]]) -> dict[tables.GroupKey, PlotGroup]:
    """Each workload x device x dtype group once, from the newest run that measured it, so
    runs from different machines (a CPU box, a GPU box) each get their plots."""
    chosen: dict[tables.GroupKey, PlotGroup] = {}
    for run in report.newest_first():
        for key, by_pass in tables.group_records(r for r in records if r["run"] == run.label).items():
            chosen.setdefault(key, (run.label, by_pass))
    return dict(sorted(chosen.items()))


def _plots(groups: Mapping[tables.GroupKey, PlotGroup],
           budget: int) -> tuple[dict[tables.GroupKey, tuple[str, list[plots.Plot]]], int]:
    """(run, panels) for as many groups, in order, as the budget allows (a group is never cut)."""
    out: dict[tables.GroupKey, tuple[str, list[plots.Plot]]] = {}
    used = 0
    for key, (run, by_pass) in groups.items():
        if used + plots.panel_count(by_pass) > budget:
            break
        panels = plots.group_plots(" · ".join(key), by_pass)
        out[key] = (run, panels)
        used += len(panels)
    return out, used


def _header(report: Report) -> str:
    runs = report.loaded.runs
    n_cases, n_skipped = len(report.cases), len(report.loaded.skipped)
    items = "".join(
        f"<li><b>{escape(run.label)}</b>: {escape(run.datetime or 'no date')}, "
        f"{escape(str(run.machine_info.get('node', '?')))}, "
        f"torch {escape(str(run.environment.get('torch_version', '?')))}, "
        f"commit {escape(str(run.commit_info.get('id', '?'))[:12])}, {_replicates_text(run.replicates)}"
        f"{INCOMPLETE_MARK if run.complete is False else ''}"
        f"{' (newest: compared with the base run)' if report.comparison and run is report.primary else ''}</li>"
        for run in runs)
    links = [("findings", "Findings")]
    if report.has_scenarios:
        links.append(("scenarios", "Scenarios"))
    links.append(("overhead", "Overhead model"))
    links.append(("noise", "Noise between processes"))
    if report.comparison:
        links.append(("comparison", "Comparison"))
    links += [("workloads", "Per workload"), ("skipped", "Skipped"), ("environment", "Environment"), ("notes", "Notes")]
    nav = "".join(f'<a href="#{anchor}">{name}</a>' for anchor, name in links)
    return (f"<header>\n<h1>What gradient tracking costs</h1>\n"
            f"<p class=\"sub\">gradbench report: {n_cases} measured case{'s' if n_cases != 1 else ''}, "
            f"{n_skipped} skipped{_scenario_count(report)}, from {len(runs)} run{'s' if len(runs) != 1 else ''}:"
            f"</p>\n<ul>{items}</ul>\n<nav>{nav}</nav>\n</header>")


def _scenario_count(report: Report) -> str:
    measured = len(report.scenarios)
    return f", {measured} scenario case{'s' if measured != 1 else ''} measured" if report.has_scenarios else ""


def _findings(report: Report) -> str:
    parts = ['<section id="findings">\n<h2>Findings</h2>']
    several = len(report.summaries) > 1
    for summary in report.summaries:
        if several:
            parts.append(f"<h3>{escape(summary.run.label)}</h3>")
        problems = summary.violations
        if problems:
            items = "".join(f"<li>{escape(p)}</li>" for p in problems[:OPEN_ROWS])
            more = f"<li>and {len(problems) - OPEN_ROWS} more</li>" if len(problems) > OPEN_ROWS else ""
            parts.append(f'<div class="box warn"><b>Physics check failed: {len(problems)} violation'
                         f"{'s' if len(problems) != 1 else ''}.</b> These numbers are artifacts of the harness or "
                         f"the machine, not findings.<ul>{items}{more}</ul></div>")
        elif summary.run.benchmarks:
            own = report.cases_of(summary.run)
            contended = int(own["contended"].sum())
            # A machine busy with other work makes every time suspect: said in the same box, and the box
            # is not green then, whatever the check found.
            busy = (f" But {contended} of {len(own)} cases were timed while other processes used more than "
                    f"{CONTENDED_FRACTION:.0%} of the CPUs: their times are suspect (marked * below); measure on "
                    "a quiet machine." if contended > len(own) * BUSY_RUN_SHARE else "")
            parts.append(f'<div class="box {"warn" if busy else "ok"}"><b>Physics check passed:</b> grad\'s forward '
                         "is never faster than no_grad's or inference_mode's beyond noise, nothing is saved for "
                         f"backward outside grad and detach, and no pass peaks below the bytes it saves.{busy}</div>")
        found = summary.findings
        parts.append("<ul>" + "".join(f"<li>{escape(item.text)}</li>" for item in found.items) + "</ul>")
        if found.groups_shown < found.groups_total:
            parts.append(f'<p class="note">Findings cover the first {found.groups_shown} of {found.groups_total} '
                         "workload × device groups; the tables below cover all of them.</p>")
    return "\n".join(parts) + "\n</section>"


VERDICT_CLASSES = {claims.HOLDS: ("ok", "holds", "Holds."), claims.FAILS: ("warn", "fails", "Does not hold."),
                   claims.NOT_MEASURED: ("na", "unmeasured", "Not measured.")}


def _scenarios(report: Report) -> str:
    """One sub-section per scenario some run holds: the claim, each run's verdict (bench_lib.analysis.claims'
    sentence, verbatim), one figure (from the newest run that measured the scenario), one table
    per run, the combinations autograd rejected and the cases skipped."""
    if not report.has_scenarios:
        return ""
    measured = report.scenarios.to_dict("records")
    invalid = report.loaded.invalid.to_dict("records")
    skipped = report.loaded.scenario_skipped.to_dict("records")
    several = sum(1 for summary in report.summaries if summary.claims) > 1
    parts = ['<section id="scenarios">\n<h2>Scenarios: other autograd practices</h2>',
             "<p>Each scenario measures the variants of one training practice; its claim is checked from the run's "
             "numbers by its module in <code>bench_lib/scenarios/</code>, the check that ends <code>make bench</code>. "
             "A time "
             f"counts as higher or lower only beyond noise: more than {claims.NOISE_TOLERANCE:.0%} apart and outside "
             "the other's quartiles. Verdicts: <span class=\"tag holds\">holds</span> "
             "<span class=\"tag fails\">does not hold</span> <span class=\"tag unmeasured\">not measured</span></p>",
             "<p>In the tables, times marked † are the figures the claims compare: the variants of a group timed "
             "in interleaved rounds, in one shared window (each case's own, separately timed median is in the "
             f"cell's tooltip, and is not compared). Times are medians with the IQR in brackets; ⚠ marks an IQR "
             f"above {UNSTABLE_REL_IQR:.0%} of the median, * a case timed while other processes used more than "
             f"{CONTENDED_FRACTION:.0%} of the CPUs.</p>"]
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
                    parts.append(_figure(figure))
            if records or run_invalid:
                table, corner = scenario_tables.scenario_table(definition, records, run_invalid, variant_styles,
                                                               group_styles)
                parts.append(_table(table, corner))
            if run_invalid:
                parts.append(_invalid(run_invalid))
            run_skipped = [r for r in skipped if r["run"] == label and r["scenario"] == scenario]
            if run_skipped:
                parts.append(_scenario_skips(run_skipped))
    return "\n".join(parts) + "\n</section>"


def _compiled(report: Report) -> str:
    """Eager against compiled, per run that holds compiled cases: bench_lib.analysis.compiled's claims
    verbatim, a table per run and one figure (from the newest such run)."""
    intro = ("<p>A compiled case's workload reads <code>mlp:inductor</code>: the same model under "
             "<code>torch.compile</code>, its modes timed in their own rounds (not interleaved: they share one Dynamo "
             "cache, and alternating calls would each pay a guard miss). What it saves is "
             "counted by the same saved-tensor hooks, which see what AOTAutograd keeps. Its first call (the compile, "
             "unless an earlier case compiled the same graph) is recorded and never timed with the pass. Eager and "
             "compiled times come from separate windows. Peak tensor memory is not measured for compiled cases on "
             "CPU: the dispatch tracker would turn compilation off.</p>")

    def run_parts(summary: RunSummary, newest: bool) -> list[str]:
        items = "".join(f"<li><b>{escape(c.group)}</b>: {escape(c.claim)} "
                        + (f'<b class="{"bad" if c.verdict == claims.FAILS else "good"}">{escape(c.verdict)}</b>. '
                           if c.verdict else "") + f"{escape(c.sentence)}.</li>" for c in summary.compile_claims)
        figure = _figure(compile_plots.compile_plot(summary.compile_rows)) if newest else ""
        return [f"<ul>{items}</ul>", figure, _table(_compile_table(summary.compile_rows), "workload · size")]

    holders = [summary for summary in report.summaries if summary.compile_claims]
    return _run_section(report, holders, "compiled", "Eager against compiled (torch.compile)", intro, run_parts)


def _run_section(report: Report, holders: Sequence[RunSummary], section_id: str, title: str, intro: str,
                 run_parts: Callable[[RunSummary, bool], list[str]]) -> str:
    """A section of the runs that hold its figures ("" when none does): its title and intro, then
    each holder's parts (``run_parts(summary, newest)``: the figure is drawn from the newest holder
    only), under its run's heading when there are several."""
    if not holders:
        return ""
    newest = next(run.label for run in report.newest_first() if any(s.run.label == run.label for s in holders))
    parts = [f'<section id="{section_id}">\n<h2>{escape(title)}</h2>', intro]
    for summary in holders:
        if len(holders) > 1:
            parts.append(f"<h3>{escape(summary.run.label)}</h3>")
        parts += [part for part in run_parts(summary, summary.run.label == newest) if part]
    return "\n".join(parts) + "\n</section>"


def _figure(figure: ScenarioPlot | None) -> str:
    if figure is None:
        return ""
    return (f'<figure class="wide"><img src="data:image/png;base64,{figure.png_base64}" '
            f'alt="{escape(figure.title)}" width="{figure.width_px}" height="{figure.height_px}"></figure>')


def _compile_table(rows: Sequence[Any]) -> tables.Table:
    def text(value: Any, write: Any) -> tables.Cell:
        return tables.Cell("-", "missing") if value is None else tables.Cell(write(value))

    body = [tables.Row(f"{r.workload} {r.device} {r.dtype} n={size_label(r.size)}", "grad", [
        text(r.eager_saved_per_element, lambda v: f"{v:.3g}"), text(r.compiled_saved_per_element, lambda v: f"{v:.3g}"),
        text(r.eager_overhead, lambda v: f"{v:.2f}×"), text(r.compiled_overhead, lambda v: f"{v:.2f}×"),
        text(r.eager_seconds, lambda v: number(v * 1e6)), text(r.compiled_seconds, lambda v: number(v * 1e6)),
        text(r.compile_seconds, lambda v: f"{v:.2f}"), text(r.recompiles, str), text(r.graph_breaks, str),
    ]) for r in rows]
    return tables.Table("grad forward, eager against compiled: one row per compiled workload and size",
                        ["saved B/element, eager", "compiled", "grad ÷ no_grad, eager", "compiled",
                         "time (µs), eager", "compiled", "first call (s)", "graphs compiled", "graph breaks"], body)


def _throughput(report: Report) -> str:
    """Latency against throughput, per run that holds CUDA cases with pipelined figures:
    bench_lib.analysis.throughput's crossovers and grad's overhead verbatim, one figure (from the newest
    such run) and a table per run."""
    holders = [summary for summary in report.summaries if summary.throughput]
    intro = ("<p>Three times per pass. <b>Latency</b> (the tables' median): one pass alone, a synchronize at each "
             "end, the host's launches plus a round trip. <b>Pipelined</b>: passes queued back to back, "
             f"{_batches(holders)} per synchronize, as in a training loop, where the host "
             "queues the next pass while the device runs this one. <b>GPU time</b>: the device's own time for a "
             "pass, between CUDA events, with the L2 cache flushed before it and the host queued ahead. Where "
             f"the GPU time is at least {throughput.DEVICE_BOUND:.0%} of the pipelined time a pass is device-bound: "
             "the host's work, autograd's bookkeeping included, hides behind the device's. Below, it is host-bound "
             "and every microsecond of bookkeeping shows. A flushed L2 can make the GPU time exceed the pipelined "
             "time at sizes that fit in the cache. Each case's pipelined time is measured in its own window, after "
             "its rounds, so a ratio of two modes' pipelined times carries the drift between their windows, which "
             "the interleaved ratios of the latency tables do not.</p>")

    def run_parts(summary: RunSummary, newest: bool) -> list[str]:
        items = "".join(f"<li>{escape(text)}</li>" for text in throughput.sentences(summary.throughput))
        figure = _figure(throughput_plots.throughput_plot(summary.throughput)) if newest else ""
        table = _table(_throughput_table(summary.throughput), "workload · pass · size · mode")
        return [f"<ul>{items}</ul>", figure, table]

    return _run_section(report, holders, "throughput", "Latency against throughput (CUDA)", intro, run_parts)


def _batches(holders: Sequence[Any]) -> str:
    batches = sorted({row.batch for summary in holders for row in summary.throughput})
    return " or ".join(map(str, batches))


def _throughput_table(rows: Sequence[throughput.ThroughputRow]) -> tables.Table:
    def micro(value: float | None) -> tables.Cell:
        return tables.Cell("-", "missing") if value is None else tables.Cell(number(value * 1e6))

    body = [tables.Row(f"{r.workload} {r.pass_} {r.device} {r.dtype} n={size_label(r.size)} · {r.mode}", r.mode, [
        micro(r.latency), micro(r.pipelined), micro(r.gpu),
        tables.Cell("-", "missing") if r.busy is None else tables.Cell(f"{r.busy:.0%}"),
        tables.Cell(r.bound),
    ]) for r in rows]
    return tables.Table("latency, pipelined and GPU time per pass: one row per CUDA case with a pipelined figure",
                        ["latency (µs)", "pipelined (µs)", "GPU (µs)", "GPU busy", "bound by"], body)


def _verdict(claim: claims.ScenarioClaim) -> str:
    box, _tag, title = VERDICT_CLASSES[claim.verdict]
    checks = ""
    if len(claim.checks) > 1:
        checks = "<ul>" + "".join(
            f'<li><span class="tag {VERDICT_CLASSES[c.verdict][1]}">{escape(c.verdict)}</span>{escape(c.group)}</li>'
            for c in claim.checks) + "</ul>"
    return (f'<div class="box verdict {box}" data-verdict="{escape(claim.verdict)}"><b>{title}</b> '
            f'<span class="sentence">{escape(claim.sentence)}</span>{checks}</div>')


def _invalid(entries: Sequence[Mapping[str, Any]]) -> str:
    items = "".join(
        f"<li><code>{escape(e['variant'])}</code> under {escape(e['mode'])} ({escape(e['pass'])}), "
        f"{escape(variants.group_label(variants.group_key(e)))}: <q>{escape(e['error'])}</q></li>"
        for e in entries)
    return ("<p>Combinations autograd rejected (the run records them as invalid, not as failures), "
            f"with PyTorch's message:</p>\n<ul class=\"invalid\">{items}</ul>")


def _scenario_skips(entries: Sequence[Mapping[str, Any]]) -> str:
    by_reason: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        by_reason.setdefault(str(entry["reason"]), []).append(entry)
    items = []
    for reason, group in sorted(by_reason.items()):
        where = sorted({variants.group_label(variants.group_key(e)) for e in group})
        items.append(f"{len(group)} on {', '.join(where)}: {reason}")
    return f'<p class="note">Skipped: {escape("; ".join(items))}.</p>'


INCOMPLETE_MARK = ' <b class="bad">INCOMPLETE: interrupted, or a case failed</b>'


def _replicates_text(replicates: int | None) -> str:
    if replicates is None:
        return "replicates not recorded"
    return f"{replicates} replicate{'s' if replicates != 1 else ''}"


def _noise(report: Report) -> str:
    """Each case's spread between replicate processes in the newest run: the differences between
    runs this machine can resolve."""
    run = report.primary
    head = ('<section id="noise">\n<h2>Noise between processes</h2>\n'
            "<p>A case's median moves from one process to the next (allocator regime, clock, other load) far more "
            "than between the rounds of one process. Shown: the typical factor between two replicates' medians "
            f"of {escape(run.label)}, as ±%. A comparison between runs tells apart changes well above it, "
            "and calls smaller ones inconclusive.</p>")
    cases = report.cases_of(run)
    if cases.empty or (cases["replicates"] < 2).all():
        return head + (f'<p class="note">{escape(run.label)} has {_replicates_text(run.replicates)}: its noise '
                       "between processes is unknown. <code>make bench PRESET=ci</code> (5 replicates) or "
                       "<code>REPEAT=5</code> measures it.</p>\n</section>")
    noise = cases["replicate_noise"].astype(float)
    worst = cases.loc[noise.idxmax()]
    summary = (f"<p>Median case ±{noise.median():.0%}, 90th percentile ±{noise.quantile(0.9):.0%}, worst "
               f"±{noise.max():.0%} ({escape(compare.case_name(worst.to_dict()))}).</p>")
    sizes = sorted(cases["size"].unique())
    rows = []
    for (workload, pass_, mode), members in cases.groupby(["workload", "pass", "mode"], sort=True):
        by_size = dict(zip(members["size"], members["replicate_noise"], strict=True))
        rows.append(tables.Row(f"{workload} · {pass_} · {mode}", mode, [
            tables.Cell(_percent_text(by_size.get(size, float("nan")))) for size in sizes]))
    table = tables.Table(f"noise between replicate processes ({run.replicates} replicates)",
                         [size_label(size) for size in sizes], rows)
    return head + summary + _collapsible(_table(table, "workload · pass · mode"), len(rows),
                                         "the noise table") + "\n</section>"


def _overhead(report: Report) -> str:
    several = len(report.summaries) > 1
    head = ('<section id="overhead">\n<h2>Overhead model: time(n) = a + b·n</h2>\n'
            "<p>Fitted per run and mode to the medians, weighting each size by its relative error. "
            "<i>a</i> is the fixed cost of one call, <i>b</i> the cost per element; "
            "a(grad) − a(no_grad) is autograd's bookkeeping per call, with its 95% interval: from the replicate "
            "processes where a run has several, else from resampling each size's rounds (within one process "
            "only, so narrower than the truth). An interval that reaches zero resolves nothing.</p>")
    rows = []
    for summary in report.summaries:
        for r in summary.fits.to_dict("records"):
            label = f"{r['workload']} · {r['pass']} · {r['device']} · {r['dtype']} · {r['mode']}"
            extra, low, high = r["a_minus_no_grad_us"], r["a_minus_no_grad_low_us"], r["a_minus_no_grad_high_us"]
            rows.append(tables.Row(label + (f" · {summary.run.label}" if several else ""), r["mode"], [
                tables.Cell(str(r["sizes"])), tables.Cell(number(r["a_us"])), tables.Cell(number(r["b_ns"])),
                tables.Cell(number(extra) if extra == extra else "-"),
                tables.Cell(f"{number(low)} to {number(high)}" if low == low else "-")]))
    if not rows:
        return head + '<p class="note">No workload has two or more sizes, so nothing was fitted.</p>\n</section>'
    table = tables.Table("fixed and per-element cost per mode",
                         ["sizes", "a (µs)", "b (ns per element)", "a − a(no_grad) (µs)", "95% CI (µs)"], rows)
    corner = "workload · pass · device · dtype · mode" + (" · run" if several else "")
    return head + _collapsible(_table(table, corner), len(rows), "the fit table") + "\n</section>"


def _time_rows(times: Any) -> tuple[list[str], list[tables.Row], list[tables.Row]]:
    """A time family's columns, its changed rows (slowest first) and the rest."""
    order = {compare.SLOWER: 0, compare.FASTER: 1, compare.INCONCLUSIVE: 2, compare.UNCHANGED: 3}
    ordered = times.assign(_order=times["verdict"].map(order),
                           _key=times["ratio"].where(times["verdict"] != compare.SLOWER, -times["ratio"]))
    ordered = ordered.sort_values(["_order", "_key"], kind="stable")
    scale, unit = time_unit(list(times["base"].dropna()) + list(times["new"].dropna()))
    rows = []
    for r in ordered.to_dict("records"):
        label = f"{r['workload']} · {r['mode']} · {r['pass']} · {size_label(r['size'])} · {r['device']} · {r['dtype']}"
        css = {compare.SLOWER: "slower", compare.FASTER: "faster"}.get(r["verdict"], "")
        rows.append((r["verdict"], tables.Row(label, r["mode"], [
            tables.Cell(number(r["base"] / scale)), tables.Cell(number(r["new"] / scale)),
            tables.Cell(_ratio_text(r["ratio"])), tables.Cell(_interval_text(r)),
            tables.Cell(_percent_text(r["noise"])), tables.Cell(_p_text(r["p_adjusted"])), tables.Cell(r["verdict"]),
            tables.Cell(r["reason"])], css)))
    columns = [f"base ({unit})", f"new ({unit})", "new / base", "95% CI", "noise between processes",
               "p (BH-adjusted)", "verdict", "why"]
    changed = [row for verdict, row in rows if verdict in (compare.SLOWER, compare.FASTER)]
    rest = [row for verdict, row in rows if verdict not in (compare.SLOWER, compare.FASTER)]
    return columns, changed, rest


def _comparison(comparison: compare.Comparison) -> str:
    times = comparison.times
    columns, changed, rest = _time_rows(times)
    counts = ", ".join(f"<b>{comparison.count(v)} {v}</b>" for v in compare.VERDICTS)
    text = (f"<p>{escape(comparison.new.label)} ({comparison.new.replicates} replicates) against base "
            f"{escape(comparison.base.label)} ({comparison.base.replicates} replicates): {len(times)} cases in both; "
            f"{counts}; {comparison.only_base} only in the base, {comparison.only_new} only in the new run.</p>\n"
            "<p>One replicate is one independent process: times vary far more between processes than between the "
            "rounds of one, so each case is compared on its per-replicate medians. base and new are their "
            "geometric means; the 95% CI of new / base is Welch's t interval on the log scale; p is an exact "
            "permutation test, adjusted for testing every case at once (Benjamini-Hochberg, changes at adjusted "
            f"p &lt; {compare.FDR:g}). A case is unchanged when its whole interval lies within the threshold, "
            "and inconclusive when the noise between processes on this machine is too large to tell.</p>")
    parts = ['<section id="comparison">\n<h2>Comparison with the base run</h2>', text]
    if changed:
        parts.append(_table(tables.Table("significant changes, slowest first", columns, changed), "case"))
    if rest:
        parts.append(_collapsible(_table(tables.Table("cases without a significant change", columns, rest), "case"),
                                  len(rest), "the cases without a significant change"))
    parts.append(_pipelined_comparison(comparison))
    parts.append(_ratio_comparison(comparison))
    parts.append(_memory_comparison(comparison))
    return "\n".join(parts) + "\n</section>"


def _pipelined_comparison(comparison: compare.Comparison) -> str:
    """CUDA forward and step passes with pipelined figures in both runs: the same judgement on
    their per-replicate pipelined medians."""
    pipelined = comparison.pipelined
    if pipelined.empty:
        return ""
    columns, changed, rest = _time_rows(pipelined)
    counts = ", ".join(f"{comparison.count(v, 'pipelined')} {v}" for v in compare.VERDICTS)
    parts = ["<h3>Pipelined times (CUDA)</h3>",
             f"<p>The same judgement on each case's pipelined time per replicate (passes queued back to back, as "
             f"in a training loop; see the latency against throughput section): {counts}.</p>"]
    if changed:
        parts.append(_table(tables.Table("significant changes of pipelined time, slowest first", columns, changed),
                            "case"))
    if rest:
        parts.append(_collapsible(_table(tables.Table("pipelined times without a significant change", columns, rest),
                                         "case"), len(rest), "the pipelined times without a significant change"))
    return "\n".join(parts)


def _ratio_comparison(comparison: compare.Comparison) -> str:
    ratios = comparison.ratios
    if ratios.empty:
        return '<p class="note">No forward group has interleaved rounds in both runs: no overhead ratio to compare.</p>'
    rows = [tables.Row(f"{r['workload']} · grad / {r['mode']} · {size_label(r['size'])} · {r['device']} · "
                       f"{r['dtype']}", r["mode"], [
                           tables.Cell(f"{r['base']:.3f}×"), tables.Cell(f"{r['new']:.3f}×"),
                           tables.Cell(_ratio_text(r["ratio"])), tables.Cell(_interval_text(r)),
                           tables.Cell(_percent_text(r["noise"])), tables.Cell(r["verdict"]),
                           tables.Cell(r["reason"])],
                       {compare.SLOWER: "slower", compare.FASTER: "faster"}.get(r["verdict"], ""))
            for r in ratios.to_dict("records")]
    counts = ", ".join(f"{comparison.count(v, 'ratios')} {v}" for v in compare.VERDICTS)
    table = tables.Table("overhead ratios grad / mode (interleaved rounds), base against new",
                         ["base", "new", "new / base", "95% CI", "noise between processes", "verdict", "why"], rows)
    return (f"<h3>Overhead ratios</h3>\n<p>Ratios of modes timed in the same interleaved rounds, where drift "
            f"between processes cancels: {counts}.</p>\n" + _collapsible(_table(table, "group"), len(rows),
                                                                       "the overhead ratios"))


def _memory_comparison(comparison: compare.Comparison) -> str:
    parts = ["<h3>Exact counts and peak memory</h3>"]
    if comparison.counts.empty:
        parts.append("<p>Saved bytes, saved tensors and graph nodes: the same in every common case.</p>")
    else:
        rows = [tables.Row(compare.case_name(r), "", [tables.Cell(str(r["base"])), tables.Cell(str(r["new"]))],
                           "slower") for r in comparison.counts.to_dict("records")]
        parts.append(_table(tables.Table("changed exact counts (saved bytes, saved tensors, graph nodes)",
                                         ["base", "new"], rows), "case · metric"))
    moved = comparison.peaks[comparison.peaks["verdict"] != compare.UNCHANGED]
    parts.append(f"<p>Peak tensor memory: {len(moved)} of {len(comparison.peaks)} cases moved by more than "
                 f"±{comparison.peak_tolerance:.0%}.</p>")
    if len(moved):
        rows = [tables.Row(compare.case_name(r), "", [tables.Cell(format_bytes(r["base"])),
                                                      tables.Cell(format_bytes(r["new"])),
                                                      tables.Cell(_ratio_text(r["ratio"])), tables.Cell(r["verdict"])])
                for r in moved.to_dict("records")]
        parts.append(_table(tables.Table("peak tensor memory beyond the tolerance", ["base", "new", "new / base",
                                                                                     "verdict"], rows), "case"))
    return "\n".join(parts)


def _ratio_text(value: float) -> str:
    return "-" if value != value else f"{value:.3f}×"


def _interval_text(row: Mapping[str, Any]) -> str:
    return "-" if row["ci_low"] != row["ci_low"] else f"{row['ci_low']:.3f}-{row['ci_high']:.3f}"


def _percent_text(value: float) -> str:
    return "-" if value != value else f"±{value:.0%}"


def _p_text(value: float) -> str:
    return "-" if value != value else f"{value:.2g}"


def _workloads(groups: Mapping[tables.GroupKey, Mapping[str, list[Mapping[str, Any]]]], runs: Sequence[str],
               plotted: Mapping[tables.GroupKey, tuple[str, list[plots.Plot]]]) -> str:
    legend = " ".join(f'<span class="sw" style="background:{MODE_COLORS[m]}"></span>{m}' for m in MODES)
    parts = ['<section id="workloads">\n<h2>Per workload</h2>',
             f"<p>Colours, in the plots and the tables: {legend}. Times are medians per pass with the IQR in "
             f"brackets; ⚠ marks an IQR above {UNSTABLE_REL_IQR:.0%} of the median, * a case timed while other "
             f"processes used more than {CONTENDED_FRACTION:.0%} of the CPUs. Hover a cell for details.</p>"]
    if len(plotted) < len(groups):
        parts.append(f'<p class="note">Plots are drawn for the first {len(plotted)} of {len(groups)} groups, to '
                     "keep the page fast to build (see Notes); every group has its tables.</p>")
    for key, by_pass in groups.items():
        title = " · ".join(key)
        n = sum(len(records) for records in by_pass.values())
        inner = []
        if key in plotted:
            run, panels = plotted[key]
            if len(runs) > 1:
                inner.append(f'<p class="note">Plots: run {escape(run)}, the newest that measured this group.</p>')
            inner.append('<div class="plots">' + "".join(
                f'<figure><img src="data:image/png;base64,{p.png_base64}" alt="{escape(p.title)}" '
                f'width="{plots.WIDTH_PX}" height="{plots.HEIGHT_PX}"></figure>' for p in panels) + "</div>")
        for pass_, records in by_pass.items():
            name = f"{title} · {pass_}"
            inner.append(f"<h3>{escape(name)}</h3>")
            inner.append(_table(tables.time_table(records, runs), "mode"))
            speedup = tables.speedup_table(records, runs)
            if speedup:
                inner.append(_table(speedup, "mode"))
            inner.append(_table(tables.memory_table(records, runs), "metric: mode"))
        is_open = " open" if key in plotted else ""
        summary = f"<summary>{escape(title)} ({n} cases)</summary>"
        parts.append(f"<details{is_open}>{summary}\n" + "\n".join(inner) + "\n</details>")
    return "\n".join(parts) + "\n</section>"


def _skipped(report: Report) -> str:
    skipped = report.loaded.skipped
    parts = ['<section id="skipped">\n<h2>Skipped cases</h2>']
    if skipped.empty:
        parts.append("<p>None.</p>")
        return "\n".join(parts) + "\n</section>"
    rows = []
    for (run, reason), group in skipped.groupby(["run", "reason"], sort=True):
        names = [f"{r['workload']} {r['mode']} {r['pass']} {size_label(r['size'])} {r['device']} {r['dtype']}"
                 for r in group.to_dict("records")]
        shown = ", ".join(names[:MAX_CASES_PER_REASON])
        if len(names) > MAX_CASES_PER_REASON:
            shown += f", and {len(names) - MAX_CASES_PER_REASON} more (all in summary.csv)"
        label = reason if len(report.loaded.runs) == 1 else f"{run}: {reason}"
        rows.append(f"<tr><td class=\"label\">{escape(label)}</td><td>{len(names)}</td>"
                    f"<td class=\"label\" style=\"white-space:normal\">{escape(shown)}</td></tr>")
    parts.append('<div class="scroll"><table><thead><tr><th class="label">reason</th><th>cases</th>'
                 '<th class="label">which</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></div>")
    return "\n".join(parts) + "\n</section>"


def _environment(runs: Sequence[Run]) -> str:
    fields = [
        ("run file", lambda r: str(r.path)),
        ("date", lambda r: r.datetime),
        ("machine", lambda r: f"{r.machine_info.get('node', '?')} ({r.machine_id})"),
        ("commit", lambda r: _commit(r.commit_info)),
        ("torch", lambda r: _env(r, "torch_version") + (" (debug build)" if r.environment.get("torch_debug") else "")),
        ("torch git", lambda r: _env(r, "torch_git_version")),
        ("CUDA", lambda r: _env(r, "cuda_version", "none (CPU build)")),
        ("cuDNN", lambda r: _env(r, "cudnn_version", "none")),
        ("GPU", lambda r: ", ".join(r.environment.get("gpu_names") or []) or "none"),
        ("CPU", lambda r: f"{_env(r, 'cpu_model')}; "
                          f"{_env(r, 'logical_cpus')} logical, {_env(r, 'physical_cpus')} physical"),
        ("threads", lambda r: f"{_env(r, 'threads')} intra-op, {_env(r, 'interop_threads')} inter-op"),
        ("allocator", lambda r: _mapping(r.environment.get("allocator"))),
        ("allocator note", lambda r: _env(r, "allocator_note")),
        ("seed", lambda r: _env(r, "seed")),
        ("Python", lambda r: _env(r, "python_version", str(r.machine_info.get("python_version", "?")))),
        ("platform", lambda r: _env(r, "platform")),
        ("pytest-benchmark", lambda r: r.pytest_benchmark_version),
        ("selection", lambda r: json.dumps(r.selection, sort_keys=True) if r.selection is not None else "not recorded"),
        ("cases", lambda r: f"{len(r.benchmarks)} measured, {len(r.skipped)} skipped"
                            + (f"; scenarios: {len(r.scenario_benchmarks)} measured, {len(r.scenario_skipped)} "
                               f"skipped, {len(r.invalid)} rejected by autograd" if r.scenario_cases else "")
                            + (f", {r.ignored_benchmarks} other benchmarks ignored" if r.ignored_benchmarks else "")),
    ]
    head = "".join(f"<th>{escape(run.label)}</th>" for run in runs)
    body = "".join(f"<tr><th>{escape(name)}</th>" + "".join(f"<td>{escape(get(run))}</td>" for run in runs) + "</tr>"
                   for name, get in fields)
    missing = [run.label for run in runs if not run.environment]
    note = f'<p class="note">No gradbench environment recorded in: {escape(", ".join(missing))}.</p>' if missing else ""
    return ('<section id="environment">\n<h2>Environment</h2>\n' + note +
            f'<div class="scroll"><table class="env"><thead><tr><th></th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
            "\n</section>")


def _env(run: Run, key: str, default: str = "?") -> str:
    value = run.environment.get(key)
    return default if value is None else str(value)


def _commit(info: Mapping[str, Any]) -> str:
    if not info:
        return "not recorded"
    text = f"{str(info.get('id', '?'))[:12]} on {info.get('branch', '?')}"
    return text + (" (uncommitted changes)" if info.get("dirty") else "")


def _mapping(value: Any) -> str:
    if not isinstance(value, Mapping) or not value:
        return "not recorded" if value is None else str(value)
    return "; ".join(f"{k}={'unset' if v is None else v}" for k, v in value.items())


def _notes(report: Report, plotted: int, groups: int, panels: int, budget: int) -> str:
    notes = [
        "Times are pytest-benchmark's per-round seconds per pass; medians and IQRs are its own statistics.",
        "Speed-up relative to grad = median(grad) / median(mode) at the same size; above 1, the mode is faster.",
        "Throughput = the input's bytes / median time: the bandwidth the pass achieves reading its input once.",
        "Findings' 95% CIs are percentile bootstraps (1000 resamples, fixed seed) of the ratio of medians.",
        "Plots show each workload × device group from the newest run that measured it; the tables show every run.",
    ]
    if plotted < groups:
        notes.append(f"Plots are drawn for the first {plotted} of {groups} workload × device groups "
                     f"({panels} panels; a budget of {budget} keeps the report fast to build). "
                     "The tables and summary.csv cover every case.")
    if report.has_scenarios:
        notes.append("Scenario cases are shown under Scenarios only, and written to scenarios.csv beside this page "
                     "(one row per case: measured, skipped, or invalid with PyTorch's message); the mode-matrix "
                     "findings, tables, plots and summary.csv leave them out. Scenario plots show the newest run "
                     "that measured the scenario; the verdicts and tables show every run.")
    methods = sorted(set(report.cases["tensor_memory_method"].dropna()) | set(report.cases["rss_method"].dropna()))
    if methods:
        notes.append("Memory was measured with: " + escape(", ".join(methods)) + ".")
    return '<section id="notes">\n<h2>Notes</h2>\n<ul>' + "".join(f"<li>{n}</li>" for n in notes) + "</ul>\n</section>"


def _table(table: tables.Table, corner: str) -> str:
    head = f'<th class="label">{escape(corner)}</th>' + "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = []
    for row in table.rows:
        css = f' class="{row.css}"' if row.css else ""
        colour = row.colour or MODE_COLORS.get(row.mode)
        swatch = f'<span class="sw" style="background:{colour}"></span>' if colour else ""
        cells = "".join(_cell(cell) for cell in row.cells)
        body.append(f'<tr{css}><td class="label">{swatch}{escape(row.label)}</td>{cells}</tr>')
    return (f'<div class="scroll"><table><caption>{escape(table.caption)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _cell(cell: tables.Cell) -> str:
    css = f' class="{cell.css}"' if cell.css else ""
    title = f' title="{escape(cell.title)}"' if cell.title else ""
    return f"<td{css}{title}>{escape(cell.text)}</td>"


def _collapsible(html: str, rows: int, what: str) -> str:
    if rows <= OPEN_ROWS:
        return html
    return f"<details><summary>Show {escape(what)} ({rows} rows)</summary>{html}</details>"

