"""What the page's sections share: the shell and its CSS, the section frame, the table, cell,
list, swatch and figure tags, the collapsed block, and the few text forms more than one section
writes. Each section builds its HTML from these and never from another section.

Text from a run is escaped with ``escape`` (html.escape, quotes included) where it enters the HTML."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from html import escape  # the page's one escaping function: the sections import it from here
from typing import TYPE_CHECKING, Any

from bench_lib.contract.units import number
from bench_lib.report import tables
from bench_lib.report.style import MODE_COLORS

if TYPE_CHECKING:
    from bench_lib.report.model import Report, RunSummary
    from bench_lib.report.scenario_plots import ScenarioPlot

# Longer lists go into a collapsed <details>, so the page stays scannable.
OPEN_ROWS = 40
# A cell of sentences (a verdict's reason): it wraps, where numbers stay on one line, so a table with one
# fits a laptop's width instead of running off it.
PROSE = "prose"

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
th{white-space:normal}
th{background:#f4f4f4}
th.label,td.label{text-align:left}
td.prose{white-space:normal;text-align:left;min-width:14em;max-width:32em}
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
.busy{border-left:5px solid #e09b00;background:#fff6e0}
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


def shell(title: str, parts: Sequence[str], scenarios: bool) -> str:
    """The whole document around the sections' HTML (empty parts, absent sections, left out)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(title)}</title>\n<style>{CSS}{SCENARIO_CSS if scenarios else ''}</style>\n"
            "</head>\n<body>\n<main>\n"
            + "\n".join(part for part in parts if part) + "\n</main>\n</body>\n</html>\n")


def section(anchor: str, title: str, body: str) -> str:
    """A top-level section: the header's links point at ``anchor``."""
    return f'<section id="{anchor}">\n<h2>{escape(title)}</h2>\n{body}\n</section>'


def run_section(report: Report, holders: Sequence[RunSummary], anchor: str, title: str, intro: str,
                run_parts: Callable[[RunSummary, bool], list[str]]) -> str:
    """A section of the runs that hold its figures ("" when none does): its title and intro, then
    each holder's parts (``run_parts(summary, newest)``: the figure is drawn from the newest holder
    only), under its run's heading when there are several."""
    if not holders:
        return ""
    newest = next(run.label for run in report.newest_first() if any(s.run.label == run.label for s in holders))
    parts = [intro]
    for summary in holders:
        if len(holders) > 1:
            parts.append(f"<h3>{escape(summary.run.label)}</h3>")
        parts += [part for part in run_parts(summary, summary.run.label == newest) if part]
    return section(anchor, title, "\n".join(parts))


def table(content: tables.Table, corner: str) -> str:
    head = f'<th class="label">{escape(corner)}</th>' + "".join(f"<th>{escape(c)}</th>" for c in content.columns)
    body = []
    for row in content.rows:
        css = f' class="{row.css}"' if row.css else ""
        colour = row.colour or MODE_COLORS.get(row.mode)
        label = (swatch(colour) if colour else "") + escape(row.label)
        cells = "".join(_cell(cell) for cell in row.cells)
        body.append(f'<tr{css}><td class="label">{label}</td>{cells}</tr>')
    return (f'<div class="scroll"><table><caption>{escape(content.caption)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _cell(cell: tables.Cell) -> str:
    css = f' class="{cell.css}"' if cell.css else ""
    title = f' title="{escape(cell.title)}"' if cell.title else ""
    return f"<td{css}{title}>{escape(cell.text)}</td>"


def value_cell(value: Any, write: Callable[[Any], str]) -> tables.Cell:
    """``write(value)``, or a greyed "-" where the figure was not measured (None)."""
    return tables.Cell("-", "missing") if value is None else tables.Cell(write(value))


def bullets(items: Iterable[str], css: str = "") -> str:
    """A list of items that are HTML already (their text escaped by the caller)."""
    css = f' class="{css}"' if css else ""
    return f"<ul{css}>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def swatch(colour: str) -> str:
    return f'<span class="sw" style="background:{colour}"></span>'


def figure(png_base64: str, title: str, width_px: int, height_px: int, css: str = "") -> str:
    """A PNG inline as a data URI (the page fetches nothing), at its drawn size."""
    css = f' class="{css}"' if css else ""
    return (f'<figure{css}><img src="data:image/png;base64,{png_base64}" alt="{escape(title)}" '
            f'width="{width_px}" height="{height_px}"></figure>')


def wide_figure(plot: ScenarioPlot | None) -> str:
    """A section's one full-width figure ("" when there was nothing to draw)."""
    if plot is None:
        return ""
    return figure(plot.png_base64, plot.title, plot.width_px, plot.height_px, "wide")


def collapsible(html: str, rows: int, what: str) -> str:
    if rows <= OPEN_ROWS:
        return html
    return f"<details><summary>Show {escape(what)} ({rows} rows)</summary>{html}</details>"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def or_dash(value: float, write: Callable[[float], str]) -> str:
    """``write(value)``, or "-" for NaN (a figure one of the runs lacks)."""
    return "-" if value != value else write(value)  # noqa: PLR0124 (NaN is the one value unequal to itself)


def percent_text(value: float) -> str:
    """A spread between processes, as ±%."""
    return or_dash(value, "±{:.0%}".format)


def micro(seconds: float) -> str:
    """Seconds as microseconds, the unit of the sections' per-pass times."""
    return number(seconds * 1e6)


def replicates_text(replicates: int | None) -> str:
    return "replicates not recorded" if replicates is None else plural(replicates, "replicate")
