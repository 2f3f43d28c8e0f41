"""What reaches a table cell of the page is text, never markup: a hostile string from a run file
shown in a cell comes back from the parsed page as the same string, and adds no element."""

from __future__ import annotations

import dataclasses
import json
from html.parser import HTMLParser
from pathlib import Path

from bench_lib.contract.scenario import Column
from bench_lib.report.build import analyse, write_report
from bench_lib.scenarios import SCENARIOS

DATA = Path(__file__).parent / "data"
# PyTorch's message of a rejected case is free text from the run file.
HOSTILE = "<script>alert(\"x\" & 'y')</script><b>bold</b>"


class Cells(HTMLParser):
    """The text of every <td>, and every start tag, of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.tags: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "td":
            self.cells.append("")
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.cells[-1] += data


def test_a_hostile_text_cell_is_shown_as_text(tmp_path: Path, monkeypatch) -> None:
    # A scenario whose table shows the rejection message in a text column, as a user's own
    # scenario may: the message reaches a cell as it is in the run file.
    inplace = SCENARIOS["inplace"]
    message = Column("message", "text", lambda record, _ref: record.get("error", "measured"))
    monkeypatch.setitem(SCENARIOS, "inplace", dataclasses.replace(inplace, columns=(*inplace.columns, message)))
    doc = json.loads((DATA / "report_scenarios.json").read_text())
    assert doc["gradbench"]["invalid"]  # the fixture holds rejected inplace cases
    for entry in doc["gradbench"]["invalid"]:
        entry["error"] = HOSTILE
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "reports" / "index.html"
    write_report(analyse([path]), out)
    page = out.read_text()
    parsed = Cells()
    parsed.feed(page)
    assert parsed.cells.count(HOSTILE) == len(doc["gradbench"]["invalid"])  # one cell per rejected case
    assert "<script" not in page and "<b>bold" not in page
    assert "script" not in parsed.tags
