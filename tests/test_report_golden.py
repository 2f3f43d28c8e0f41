"""Golden tests: the fixed runs in tests/data give exactly the committed summaries.

The golden files are the contract a reviewer reads; after an intended change, rerun with
GRADBENCH_UPDATE_GOLDEN=1 and review the diff of tests/data/golden/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bench_lib.analysis import compare
from bench_lib.report.build import analyse, write_report
from bench_lib.report.load import load_runs

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"
UPDATE = os.environ.get("GRADBENCH_UPDATE_GOLDEN") == "1"

# name: (runs, base, expected <img> count)
SCENARIOS = {
    "small": (["report_small.json"], None, 15),  # 2 workloads: 8 + 7 panels (pointwise has no step)
    "cuda_single_size": (["report_cuda_single_size.json"], None, 6),  # single size; RSS is 0 on CUDA
    "single_mode": (["report_single_mode.json"], None, 6),  # grad only: no relative-to-no_grad panel
    "artifact": (["report_artifact.json"], None, 7),
    # Every group gets plots from the newest run that has it: 15 from the CPU run, 6 from the GPU run.
    "side_by_side": (["report_small.json", "report_cuda_single_size.json"], None, 21),
    "comparison": (["report_new.json"], "report_base.json", 6),
    "all_skipped": (["report_all_skipped.json"], None, 0),
    # pointwise at 3 sizes: 7 panels; then one figure per scenario.
    "scenarios": (["report_scenarios.json"], None, 7 + 4),
}
WITH_SCENARIOS = {"scenarios"}
SCENARIO_SECTION = re.compile(r'<section id="scenarios">.*?</section>', re.S)
PNG = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with GRADBENCH_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{name} differs from its golden file (GRADBENCH_UPDATE_GOLDEN=1 rewrites it)"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_summaries_match_golden_files(tmp_path: Path, scenario: str) -> None:
    run_names, base, images = SCENARIOS[scenario]
    report = analyse([DATA / n for n in run_names], DATA / base if base else None)
    out = tmp_path / "index.html"
    write_report(report, out)
    _check(f"{scenario}.csv", (tmp_path / "summary.csv").read_text())
    _check(f"{scenario}.md", (tmp_path / "summary.md").read_text().replace(str(tmp_path), "<out>"))
    page = out.read_text()
    assert page.count("<img ") == images
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', page)) == images
    assert "http://" not in page and "https://" not in page  # offline: nothing fetched
    for section in ("findings", "overhead", "workloads", "skipped", "environment", "notes"):
        assert f'<section id="{section}">' in page
    assert ('<section id="comparison">' in page) == (base is not None)
    scenarios_csv = (tmp_path / "scenarios.csv").read_text()
    section = SCENARIO_SECTION.search(page)
    if scenario in WITH_SCENARIOS:
        _check(f"{scenario}_scenarios.csv", scenarios_csv)
        # The section's HTML, with its figures' PNGs left out (their bytes follow matplotlib's version).
        assert section is not None
        _check(f"{scenario}_section.html", PNG.sub("data:image/png;base64,<png>", section.group(0)) + "\n")
        assert 'href="#scenarios"' in page
    else:
        # A run without scenarios: no section, no link, and a scenarios.csv with its header only.
        assert section is None and "#scenarios" not in page and "Scenario" not in page
        assert scenarios_csv.count("\n") == 1 and scenarios_csv.startswith("run,scenario,variant,microbatches,")


def test_comparison_table_matches_golden_file() -> None:
    base, new = (load_runs([DATA / f"report_{n}.json"]) for n in ("base", "new"))
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases)
    _check("comparison_cases.csv", result.times.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    verdicts = {(r["mode"], r["size"]): r["verdict"] for r in result.times.to_dict("records")}
    assert verdicts[("grad", 1024)] == compare.SLOWER
    assert verdicts[("no_grad", 2**18)] == compare.FASTER
    assert sorted(verdicts.values()).count(compare.UNCHANGED) == 4
    assert (result.only_base, result.only_new) == (1, 3)
    gates = compare.Gates(ratio=None, peak=None, counts=False)
    assert compare.failures(result, gates) == [
        "1 case significantly slower by more than 10%: pointwise grad forward 2^10 cpu float32"]
    assert compare.failures(result, compare.Gates(time=0.25, ratio=None, peak=None, counts=False)) == []


def test_artifact_run_fails_the_physics_check(tmp_path: Path) -> None:
    report = analyse([DATA / "report_artifact.json"])
    problems = report.summaries[0].violations
    assert any("4096 bytes saved for backward under inference_mode" in p for p in problems)
    assert any("grad median" in p and "no_grad" in p for p in problems)
    write_report(report, tmp_path / "index.html")
    assert "Physics check failed" in (tmp_path / "index.html").read_text()


def test_headline_findings_of_the_small_run() -> None:
    texts = [f.text for f in analyse([DATA / "report_small.json"]).summaries[0].findings.items]
    assert any(t.startswith("Forward, pointwise on cpu: inference_mode is 1.50x faster than grad (95% CI ") and
               "at 2^22 every mode is within 2% of grad" in t for t in texts)
    assert any("grad keeps 16.0 MiB of saved tensors at 2^22 elements (4.0 bytes per element, 1 tensor)" in t
               for t in texts)
    assert any("autograd's bookkeeping costs about 8.21 µs per call" in t for t in texts)
