"""The operator catalogue in the report: rows, findings, the page's section and summary.md, from the
fixed run tests/data/report_ops.json (report_fixtures.ops_run: relu saves 4 B per element, add
nothing, mul 8 B in 2 tensors and is the slowest under grad)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from bench_lib.analysis import catalogue, physics
from bench_lib.report.build import analyse, write_report
from report_fixtures import case

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return analyse([DATA / "report_ops.json"])


def test_rows_are_sorted_by_saved_bytes_per_element_with_their_figures(report):
    found = report.summaries[0].catalogue
    assert catalogue.shown_size(found) == 16384
    shown = catalogue.at_size(found, 16384)
    assert [(r.op, r.saved_per_element, r.saved_tensors) for r in shown] == [
        ("mul", 8.0, 2.0), ("relu", 4.0, 1.0), ("add", 0.0, 0.0)]
    mul = shown[0]
    # The fixture's grad forward is 1.2^2 x its mode model; the backward 3 x 1.2 x grad's model.
    assert mul.grad_over_no_grad > max(r.grad_over_no_grad for r in shown[1:])
    assert mul.backward_over_forward == pytest.approx(3.0 / 1.2, rel=0.1)
    assert not mul.interleaved and not math.isnan(mul.grad_over_inference_mode)


def test_findings_name_the_ops_from_the_numbers(report):
    lines = catalogue.findings(report.summaries[0].catalogue)
    assert lines[0] == ("Of 3 ops on cpu float32 at 2^14, 1 saves nothing for backward (add); the most per element "
                        "under grad is mul's 8 B (128.0 KiB in 2 tensors).")
    assert re.fullmatch(r"Grad's forward on cpu float32 at 2\^10 costs from 1\.\d\dx no_grad's \(add\) to "
                        r"1\.\d\dx \(mul\), median 1\.\d\dx \(each mode's own rounds\)\.", lines[1])
    assert re.fullmatch(r"Backward on cpu float32 at 2\^14 takes 1\.\d\dx the forward's time at the median op, "
                        r"most for mul \(2\.\d\dx\)\.", lines[-1])


def test_a_run_without_op_cases_has_no_catalogue():
    small = analyse([DATA / "report_small.json"])
    assert small.summaries[0].catalogue == []
    assert catalogue.findings([]) == []


def test_page_and_summary_md_show_the_catalogue(report, tmp_path: Path):
    page = tmp_path / "index.html"
    write_report(report, page)
    html = page.read_text()
    section = html[html.index('<section id="catalogue">'):]
    section = section[:section.index("</section>")]
    assert "<h2>Operator catalogue</h2>" in section and "<img" in section
    labels = re.findall(r'<td class="label"><span class="sw"[^>]*></span>([a-z_]+)</td>', section)
    assert labels == ["mul", "relu", "add"]
    markdown = (tmp_path / "summary.md").read_text()
    assert "**Operator catalogue**" in markdown
    assert "| mul | cpu | float32 | 8 | 2 | " in markdown and "| add | cpu | float32 | 0 | 0 | " in markdown


def test_physics_does_not_hold_an_op_case_to_a_peak_above_its_saved_bytes():
    # An op case's saved bytes count the inputs it saves, made before the pass, so its pass may peak
    # below them (mul saves its two 4 KiB operands and makes only its 4 KiB output); a workload may not.
    def mul(workload: str) -> dict[str, object]:
        return case(workload, "grad", "forward", 1024, [1e-5] * 5, saved_bytes=8192, saved_tensor_count=2,
                    peak_tensor_bytes=4096)

    assert physics.violations([mul("op.mul")]) == []
    assert physics.violations([mul("mul")]) == [
        "test_forward[mul-grad-1024-cpu-float32]: peak tensor memory 4096 bytes is below the 8192 bytes saved "
        "for backward"]


def test_compare_treats_op_cases_as_ordinary_cases_and_gates_their_exact_counts(tmp_path: Path):
    # mul's backward starts saving a third tensor: the exact-count gate names the op case, as any case.
    doc = json.loads((DATA / "report_ops.json").read_text())
    for bench in doc["benchmarks"]:
        info = bench["extra_info"]
        if (info["workload"], info["mode"], info["pass"], info["size"]) == ("op.mul", "grad", "forward", 1024):
            info["saved_tensor_count"] = 3
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(doc))
    comparison = analyse([changed], DATA / "report_ops.json").comparison
    assert comparison is not None and comparison.only_base == comparison.only_new == 0
    assert len(comparison.times) == 30  # every op case (3 ops x 2 sizes x 5) is compared
    assert comparison.counts[["workload", "mode", "pass", "size", "metric", "base", "new"]].values.tolist() == [
        ["op.mul", "grad", "forward", 1024, "saved_tensor_count", 2, 3]]
