"""The page's sections come in the order README's "The report" states, the mode-matrix answer first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench_lib.report import page
from bench_lib.report.build import analyse

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"

# (runs, base): between them every section but the instruction counts' (no fixture is counted).
PAGES = [
    (["report_small.json"], "report_base.json"),
    (["report_scenarios.json"], None),
    (["report_ops.json"], None),
    (["real_h200_cuda_graphs.json"], None),
]


def readme_order() -> list[str]:
    """The bold section names of README's list under "The page shows, in this order:"."""
    text = (ROOT / "README.md").read_text()
    report = text[text.index("## The report"):]
    listed = report[report.index("The page shows, in this order:"):report.index("\n\n", report.index("\n- "))]
    return re.findall(r"\*\*(.+?)\*\*", listed)


def page_titles(runs: list[str], base: str | None) -> list[str]:
    report = analyse([DATA / r for r in runs], DATA / base if base else None)
    return re.findall(r"<h2>(.*?)</h2>", page.render(report))


def named(title: str, names: list[str]) -> str:
    """The README name a section's title starts with."""
    matches = [name for name in names if title.startswith(name)]
    assert len(matches) == 1, f"page section {title!r} is named by {matches} in README"
    return matches[0]


@pytest.fixture(scope="module")
def titles() -> list[list[str]]:
    return [page_titles(runs, base) for runs, base in PAGES]


def test_every_page_follows_readmes_order(titles: list[list[str]]) -> None:
    names = readme_order()
    for shown in titles:
        in_page = [named(title, names) for title in shown]
        assert in_page == [name for name in names if name in in_page]


def test_readme_names_only_sections_the_page_has(titles: list[list[str]]) -> None:
    names = readme_order()
    seen = {named(title, names) for shown in titles for title in shown}
    # The instruction counts need a counted run; its section's title is checked against its source.
    assert set(names) - seen == {"Instruction counts"}
    assert 'section("counts", "Instruction counts' in (ROOT / "bench_lib/report/sections/counts.py").read_text()


def test_the_speedup_table_comes_right_after_the_findings(titles: list[list[str]]) -> None:
    mode_matrix_pages = [shown for shown in titles if "Speed-up over grad at each size" in shown]
    assert len(mode_matrix_pages) == 3  # the ops-only run has no mode-matrix workload: the catalogue answers there
    for shown in mode_matrix_pages:
        assert shown[:3] == ["Findings", "Speed-up over grad at each size", "Per workload"]


def test_the_speedup_table_shows_the_compared_medians_and_saved_bytes_per_element() -> None:
    report = analyse([DATA / "report_small.json"], None)
    html = page.render(report)
    section = html[html.index('<section id="matrix">'):html.index("</section>", html.index('<section id="matrix">'))]
    cases = report.cases.set_index(["workload", "pass", "mode", "size"])
    grad = cases.loc[("mlp", "forward", "grad", 2 ** 10), "cmp_median"]
    no_grad = cases.loc[("mlp", "forward", "no_grad", 2 ** 10)]
    row = section[section.index("mlp · no_grad</td>"):]
    first_cell = re.search(r"<td[^>]*>([^<]*)</td>", row[len("mlp · no_grad</td>"):]).group(1)
    assert first_cell == f"{grad / no_grad['cmp_median']:.2f}× · {no_grad['saved_bytes_per_element']:.0f} B"
    assert "mlp · grad" in section and "1.00× · 8.00 B" in section
