"""The Scenarios section: bench_lib.analysis.claims' verdicts on the page, one figure and one table per
scenario, and nothing at all for runs without scenarios."""

from __future__ import annotations

import copy
import html
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import report_fixtures

from bench_lib.analysis import claims
from bench_lib.report.build import analyse, write_report
from bench_lib.scenarios import SCENARIOS

DATA = Path(__file__).parent / "data"
VERDICT = re.compile(r'<div class="box verdict (\w+)" data-verdict="([^"]+)"><b>[^<]+</b> '
                     r'<span class="sentence">([^<]*)</span>')


def _render(tmp_path: Path, *docs: dict[str, Any]) -> tuple[str, Path]:
    paths = []
    for i, doc in enumerate(docs):
        path = tmp_path / f"000{i + 1}_run.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    out = tmp_path / "reports" / "index.html"
    write_report(analyse(paths), out)
    return out.read_text(), out.parent


def _section(page: str, scenario: str) -> str:
    start = page.index(f'<h3 id="scenario-{scenario}">')
    end = page.find("<h3 ", start + 1)
    return page[start:end if end != -1 else page.index("</section>", start)]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "index.html"
    write_report(analyse([DATA / "report_scenarios.json"]), out)
    return out.read_text()


def _checked(doc: dict[str, Any]) -> dict[str, claims.ScenarioClaim]:
    """check_run's claims of the scenarios the run holds (the fixture has the first four)."""
    return {name: claim for name, claim in claims.check_run(doc, SCENARIOS).items() if claim.checks}


def test_each_verdict_on_the_page_is_check_runs_sentence(page: str) -> None:
    expected = _checked(json.loads((DATA / "report_scenarios.json").read_text()))
    shown = {}
    for scenario in expected:
        box, verdict, sentence = VERDICT.search(_section(page, scenario)).groups()
        shown[scenario] = (verdict, html.unescape(sentence))
        assert box == {claims.HOLDS: "ok", claims.FAILS: "warn", claims.NOT_MEASURED: "na"}[verdict]
    assert shown == {s: (c.verdict, c.sentence) for s, c in expected.items()}
    # The fixture's numbers are chosen so that both colours appear.
    assert [shown[s][0] for s in ("accumulation", "zero_grad", "freezing", "inplace")] == [
        claims.HOLDS, claims.HOLDS, claims.FAILS, claims.HOLDS]
    assert "times suspect" in shown["zero_grad"][1]  # its accumulate variant ran on a busy machine


def test_one_figure_and_one_table_per_scenario(page: str) -> None:
    section = re.search(r'<section id="scenarios">.*?</section>', page, re.S).group(0)
    assert section.count("<img ") == 4 and section.count("<table>") == 4
    assert page.index('<section id="findings">') < page.index('<section id="scenarios">') < page.index(
        '<section id="overhead">')
    nav = re.search(r"<nav>.*?</nav>", page).group(0)
    assert nav.index("#findings") < nav.index("#scenarios") < nav.index("#overhead")
    inplace = _section(page, "inplace")
    # Both rejected combinations: a row each in the table, and PyTorch's message in full.
    assert inplace.count('<tr class="rejected">') == 2
    assert inplace.count(html.escape(report_fixtures.INPLACE_ERROR)) == 2
    assert "Skipped: 3 on deep_mlp n=2^12 cuda float32: CUDA is not available" in _section(page, "zero_grad")
    # One unit per column, in its header.
    accumulation = _section(page, "accumulation")
    assert "<th>peak tensors (MiB)</th>" in accumulation
    assert "<th>time per effective batch [IQR] (ms) †</th>" in accumulation


def test_summary_md_has_one_line_per_claim_and_scenarios_csv_every_case(tmp_path: Path) -> None:
    out = tmp_path / "index.html"
    write_report(analyse([DATA / "report_scenarios.json"]), out)
    expected = _checked(json.loads((DATA / "report_scenarios.json").read_text()))
    md = (tmp_path / "summary.md").read_text().splitlines()
    for scenario, claim in expected.items():
        assert f"- {scenario}: **{claim.verdict}**. {claim.sentence}" in md
    rows = (tmp_path / "scenarios.csv").read_text().splitlines()
    statuses = [row.split(",")[10] for row in rows[1:]]
    assert rows[0].split(",")[10] == "status"
    assert (statuses.count("measured"), statuses.count("skipped"), statuses.count("invalid")) == (17, 3, 2)


def test_a_scenario_with_too_few_variants_is_grey(tmp_path: Path) -> None:
    doc = json.loads((DATA / "report_scenarios.json").read_text())
    doc["benchmarks"] = [b for b in doc["benchmarks"] if b["extra_info"].get("variant") in (None, "accumulate")]
    doc["gradbench"].update(invalid=[], skipped=[])
    page, _ = _render(tmp_path, doc)
    assert page.count('<div class="box verdict') == 1
    box, verdict, sentence = VERDICT.search(_section(page, "zero_grad")).groups()
    assert (box, verdict) == ("na", claims.NOT_MEASURED)
    assert html.unescape(sentence).startswith("deep_mlp n=2^12 cpu float32: needs zero_ and set_to_none")
    assert '<h3 id="scenario-accumulation">' not in page  # not in the run: no sub-section


def test_runs_without_scenarios_have_no_section_and_render_as_before(tmp_path: Path) -> None:
    # A schema 2 run made with --gb-scenarios=none reads exactly as the same cases in schema 1.
    old = json.loads((DATA / "report_small.json").read_text())
    new = copy.deepcopy(old)
    new["gradbench"].update(schema_version=2, invalid=[],
                            scenario_selection={"scenarios": [], "microbatches": [1, 2, 4, 8], "sizes": {}})
    pages = []
    for name, doc in (("old", old), ("new", new)):
        folder = tmp_path / name / "Linux-CPython-3.11-64bit"  # the machine id is the folder name
        folder.mkdir(parents=True)
        page, reports = _render(folder, doc)
        pages.append(page.replace(str(folder), "<dir>"))
        assert (reports / "scenarios.csv").read_text().count("\n") == 1
    assert pages[0] == pages[1]
    assert 'id="scenarios"' not in pages[0] and "#scenarios" not in pages[0] and "Scenario" not in pages[0]


def test_several_runs_get_a_verdict_and_a_table_each_and_one_figure(tmp_path: Path) -> None:
    doc = json.loads((DATA / "report_scenarios.json").read_text())
    older = copy.deepcopy(doc)
    older["datetime"] = "2026-01-09T10:00:00.000000+00:00"
    page, _ = _render(tmp_path, older, doc)
    section = re.search(r'<section id="scenarios">.*?</section>', page, re.S).group(0)
    assert section.count('<div class="box verdict') == 8 and section.count("<table>") == 8
    assert section.count("<img ") == 4
    assert section.count("<h4>0002_run</h4>") == 4  # the newest run, which the figures show
    assert "Plot: run 0002_run, the newest that measured accumulation." in section


def test_a_run_copied_into_storage_renders_from_the_command_line(tmp_path: Path) -> None:
    # The same path `make report` takes: python -m bench_lib report on the latest run.
    from bench_lib.commands import cli

    machine = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    machine.mkdir(parents=True)
    shutil.copy(DATA / "report_scenarios.json", machine / "0001_quick.json")
    out = tmp_path / "reports" / "index.html"
    assert cli.main(["report", "--storage", str(tmp_path / ".benchmarks"), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["index.html", "scenarios.csv", "summary.csv",
                                                            "summary.md"]


def test_two_sizes_of_every_scenario_share_one_figure_and_one_table(tmp_path: Path) -> None:
    doc = json.loads((DATA / "report_scenarios.json").read_text())
    larger = []
    for bench in doc["benchmarks"]:
        if "scenario" in bench["extra_info"]:
            copied = copy.deepcopy(bench)
            copied["extra_info"].update(size=4 * bench["extra_info"]["size"],
                                        peak_tensor_bytes=4 * bench["extra_info"]["peak_tensor_bytes"])
            copied["name"] += "-x4"
            larger.append(copied)
    doc["benchmarks"] += larger
    doc["gradbench"]["invalid"] += [{**entry, "size": 4 * entry["size"]} for entry in doc["gradbench"]["invalid"]]
    page, _ = _render(tmp_path, doc)
    section = re.search(r'<section id="scenarios">.*?</section>', page, re.S).group(0)
    assert section.count("<img ") == 4 and section.count("<table>") == 4
    expected = _checked(doc)
    for scenario, claim in expected.items():
        assert len(claim.checks) == 2
        part = _section(page, scenario)
        assert html.unescape(VERDICT.search(part).group(3)) == claim.sentence
        assert part.count('<span class="tag ') == 2  # a verdict per group
    # Rows name their group when there are several.
    swatch = '<span class="sw" style="background:#E69F00"></span>'
    assert f'<td class="label">{swatch}tanh_relu n=2^18 cpu float32 · relu · grad' in page


def test_a_run_of_scenarios_alone_says_where_its_measurements_are(tmp_path: Path) -> None:
    doc = json.loads((DATA / "report_scenarios.json").read_text())
    doc["benchmarks"] = [b for b in doc["benchmarks"] if "scenario" in b["extra_info"]]
    page, _ = _render(tmp_path, doc)
    assert "No mode-matrix case was measured in this run; its 17 measured scenario cases are under Scenarios." in page
    assert "Nothing was measured" not in page and page.count('<div class="box verdict') == 4


def test_each_table_time_is_the_figure_its_claim_compares() -> None:
    # The claims compare interleaved medians; the tables must show those, not the per-case medians
    # (which the fixture makes differ wherever the machine "drifted" between cases).
    from bench_lib.contract.result import CaseResult
    from bench_lib.contract.units import number, time_unit
    from bench_lib.report import scenario_tables, variants

    doc = json.loads((DATA / "report_scenarios.json").read_text())
    compared = {(b["extra_info"]["scenario"], b["extra_info"]["variant"], b["extra_info"]["mode"]):
                CaseResult.of(b).compared_median for b in doc["benchmarks"] if "scenario" in b["extra_info"]}
    differing = [key for key, value in compared.items() if value != next(
        b["stats"]["median"] for b in doc["benchmarks"] if "scenario" in b["extra_info"]
        and (b["extra_info"]["scenario"], b["extra_info"]["variant"], b["extra_info"]["mode"]) == key)]
    assert differing  # otherwise this test could not tell the two figures apart
    report = analyse([DATA / "report_scenarios.json"])
    for scenario in ("accumulation", "zero_grad", "freezing", "inplace"):
        records = [r for r in report.scenarios.to_dict("records") if r["scenario"] == scenario]
        styles = variants.styles(SCENARIOS[scenario].ordered([r["variant"] for r in records]))
        table, _ = scenario_tables.scenario_table(SCENARIOS[scenario], records, [], styles, {})
        column = next(i for i, name in enumerate(table.columns) if name.endswith("†"))
        scale, _ = time_unit([compared[(scenario, r["variant"], r["mode"])] for r in records])
        shown = sorted(row.cells[column].text.split(" ")[0] for row in table.rows)
        assert shown == sorted(number(compared[(scenario, r["variant"], r["mode"])] / scale) for r in records)


def test_a_dynamic_graph_row_names_its_mode_and_its_pass(tmp_path: Path) -> None:
    # dynamic_graph times grad's forward and backward and no_grad's forward: its table's corner says
    # "variant · mode · pass", and two rows "depth=1 · grad" could not be told apart.
    cases = report_fixtures.dynamic_graph_cases(np.random.default_rng(3))
    page, _ = _render(tmp_path, report_fixtures.run_doc(cases))
    section = _section(page, "dynamic_graph")
    assert "variant · mode · pass</th>" in section
    rows = section[section.index("<tbody>"):section.index("</tbody>")]
    labels = [html.unescape(label) for label in re.findall(r'<tr><td class="label">(?:<span[^>]*></span>)?([^<]+)</td>',
                                                          rows)]
    assert labels == [f"depth={depth} · {mode} · {pass_}" for depth in (1, 2)
                      for mode, pass_ in report_fixtures.DYNAMIC_GRAPH_SLOTS]


def test_a_bar_charts_tick_labels_never_overlap_and_stay_in_the_figure(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # input_tracking at one size names its four variants under the bars: side by side, in one
    # line each, "preprocess_tracked" ran into "preprocess_no_grad".
    from bench_lib.report import scenario_plots, variants

    names = SCENARIOS["input_tracking"].variants
    cases = report_fixtures.input_tracking_cases(np.random.default_rng(5), names)
    path = tmp_path / "0001_run.json"
    path.write_text(json.dumps(report_fixtures.run_doc(cases)))
    records = analyse([path]).scenarios.to_dict("records")
    figures = []
    render = scenario_plots._render
    monkeypatch.setattr(scenario_plots, "_render", lambda fig, title: figures.append(fig) or render(fig, title))
    scenario_plots.scenario_plot(SCENARIOS["input_tracking"], records, [], variants.styles(names), {})
    (fig,) = figures
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        labels = [label for label in ax.get_xticklabels() if label.get_text()]
        assert sorted(label.get_text().replace("\n", "") for label in labels) == sorted(names)
        boxes = sorted((label.get_window_extent(renderer) for label in labels), key=lambda box: box.x0)
        assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:]))
        for box in [*boxes, ax.xaxis.label.get_window_extent(renderer)]:
            assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0
