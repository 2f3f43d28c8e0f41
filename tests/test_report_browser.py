"""The page in a real browser: headless Chromium loads it at laptop and phone widths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import report_chromium
import report_fixtures

from bench_lib.report.build import analyse, write_report
from bench_lib.scenarios import SCENARIOS

DATA = Path(__file__).parent / "data"

pytestmark = pytest.mark.skipif(
    not report_chromium.available(),
    reason="Chromium is not installed (apt-get install chromium; .ci/run installs it)")

# name: (runs, base, title, images)
PAGES = {
    "comparison": (["report_small.json"], "report_base.json", "gradbench report: report_small", 15),
    # A comparison with overhead ratios (interleaved rounds in both runs; one workload: 6 panels), whose
    # table ran off a 1400 px window.
    "comparison_ratios": (["report_new.json"], "report_base.json", "gradbench report: report_new", 6),
    # 7 mode-matrix panels and one figure per scenario (two or three panels each).
    "scenarios": (["report_scenarios.json"], None, "gradbench report: report_scenarios", 7 + 4),
    # The operator catalogue's figure, and under "Per workload" each op's panels: time per pass (forward,
    # backward), speed-up, throughput, peak tensors, RSS, and saved bytes but for add's (7 + 7 + 6).
    "ops": (["report_ops.json"], None, "gradbench report: report_ops", 1 + 20),
    # dynamic_graph (grad's forward and backward, no_grad's forward: rows that must name their pass) and
    # input_tracking at one size (four variant names under the bars): one figure each, no mode-matrix case.
    "scenario_edges": (["0001_scenario_edges.json"], None, "gradbench report: 0001_scenario_edges", 2),
}


def scenario_edges() -> dict[str, Any]:
    rng = np.random.default_rng(11)
    return report_fixtures.run_doc(report_fixtures.dynamic_graph_cases(rng) + report_fixtures.input_tracking_cases(
        rng, SCENARIOS["input_tracking"].variants))


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    built = tmp_path_factory.mktemp("runs")
    (built / "0001_scenario_edges.json").write_text(json.dumps(scenario_edges()))
    for name, (runs, base, _title, _images) in PAGES.items():
        page = tmp_path_factory.mktemp(name) / "index.html"
        paths = [built / r if (built / r).exists() else DATA / r for r in runs]
        write_report(analyse(paths, DATA / base if base else None), page)
        out[name] = page
    return out


@pytest.fixture(scope="module")
def browser() -> report_chromium.Chromium:
    with report_chromium.Chromium() as chromium:
        yield chromium


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(("width", "mobile"), [(1280, False), (1400, False), (390, True)],
                         ids=["laptop", "wide laptop", "phone"])
def test_page_loads_offline_without_errors(browser: report_chromium.Chromium, pages: dict[str, Path], name: str,
                                           width: int, mobile: bool) -> None:
    _runs, _base, title, images = PAGES[name]
    check = browser.check_page(pages[name], width=width, height=900, mobile=mobile)
    assert check.title == title
    assert check.errors == []
    assert len(check.images) == images
    undecoded = [image["alt"] for image in check.images if not image["complete"] or image["width"] == 0]
    assert undecoded == []
    assert all(url.startswith(("file:", "data:")) for url in check.requests), check.requests
    # Wide tables scroll inside their own box; the page itself never scrolls sideways, and nothing
    # (every collapsed block opened) reaches past the window outside such a box.
    assert check.scroll_width <= check.inner_width
    # The answer to "how much faster is no_grad than grad at my sizes?" comes first, after the findings.
    first = ["findings", "matrix", "workloads"] if "matrix" in check.sections else ["findings", "workloads"]
    assert check.sections[:len(first)] == first
    # No table has two rows a reader cannot tell apart (dynamic_graph's "depth=1 · grad", twice).
    assert check.repeated == []
    assert check.overflowing == []
    if not mobile:
        # At a laptop's width every table fits whole: long reasons wrap, where numbers stay on one line.
        assert check.cut == []
