"""Which per-workload groups get plots, drawn once for the page: Per workload shows them, Notes
says how many the budget allowed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench_lib.report import plots, tables

if TYPE_CHECKING:
    from bench_lib.report.model import Report

# A panel costs 0.1-0.2 s on a 2-core machine, and loading plus tables about 0.3 s per 1,000
# cases, all inside a 10 s budget: a large run leaves less time for panels. 32 panels draw
# every group of a quick run (3 workloads x 8 panels); 16 keep a 10,000-case page fast.
MAX_PANELS, MAX_PANELS_LARGE_RUN, LARGE_RUN = 32, 16, 2000

ByPass = Mapping[str, list[Mapping[str, Any]]]  # a group's records, by pass


@dataclass(frozen=True)
class Panels:
    groups: dict[tables.GroupKey, ByPass]  # every run's records, per workload x device x dtype group
    drawn: dict[tables.GroupKey, tuple[str, list[plots.Plot]]]  # (run label, panels) of the groups plotted
    used: int  # panels drawn
    budget: int


def draw(report: Report) -> Panels:
    """Panels for as many groups, in order, as the budget allows (a group is never cut), each from
    the newest run that measured it."""
    # Raw samples are not shown; leaving them out makes the records several times cheaper.
    records = report.cases.drop(columns=["samples"]).to_dict("records")
    budget = MAX_PANELS if len(records) <= LARGE_RUN else MAX_PANELS_LARGE_RUN
    drawn: dict[tables.GroupKey, tuple[str, list[plots.Plot]]] = {}
    used = 0
    for key, (run, by_pass) in _newest_groups(report, records).items():
        if used + plots.panel_count(by_pass) > budget:
            break
        panels = plots.group_plots(" · ".join(key), by_pass)
        drawn[key] = (run, panels)
        used += len(panels)
    return Panels(tables.group_records(records), drawn, used, budget)


def _newest_groups(report: Report, records: list[dict[str, Any]]) -> dict[tables.GroupKey, tuple[str, ByPass]]:
    """Each group once, from the newest run that measured it, so runs from different machines (a
    CPU box, a GPU box) each get their plots."""
    chosen: dict[tables.GroupKey, tuple[str, ByPass]] = {}
    for run in report.newest_first():
        for key, by_pass in tables.group_records(r for r in records if r["run"] == run.label).items():
            chosen.setdefault(key, (run.label, by_pass))
    return dict(sorted(chosen.items()))
