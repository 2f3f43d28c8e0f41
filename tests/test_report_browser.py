"""The page in a real browser: headless Chromium loads it at laptop and phone widths."""

from __future__ import annotations

from pathlib import Path

import pytest

import report_chromium
from bench_lib.report.build import analyse, write_report

DATA = Path(__file__).parent / "data"

pytestmark = pytest.mark.skipif(
    not report_chromium.available(),
    reason="Chromium is not installed (apt-get install chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "index.html"
    write_report(analyse([DATA / "report_small.json"], DATA / "report_base.json"), out)
    return out


@pytest.fixture(scope="module")
def browser() -> report_chromium.Chromium:
    with report_chromium.Chromium() as chromium:
        yield chromium


@pytest.mark.parametrize(("width", "mobile"), [(1280, False), (390, True)], ids=["laptop", "phone"])
def test_page_loads_offline_without_errors(browser: report_chromium.Chromium, page: Path, width: int,
                                           mobile: bool) -> None:
    check = browser.check_page(page, width=width, height=900, mobile=mobile)
    assert check.title == "gradbench report: report_small"
    assert check.errors == []
    assert len(check.images) == 15
    undecoded = [image["alt"] for image in check.images if not image["complete"] or image["width"] == 0]
    assert undecoded == []
    assert all(url.startswith(("file:", "data:")) for url in check.requests), check.requests
    # Wide tables scroll inside their own box; the page itself never scrolls sideways.
    assert check.scroll_width <= check.inner_width
