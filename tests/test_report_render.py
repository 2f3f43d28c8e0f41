"""A 10,000-case run renders in one command; the time is printed, not asserted (machines vary)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import report_fixtures

ROOT = Path(__file__).parent.parent


def test_ten_thousand_cases_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "0001_big.json"
    # Every scenario on top of the mode matrix: their figures (one per scenario) count in the time.
    run.write_text(json.dumps(report_fixtures.synthetic_run(10_000, scenarios=True)))
    out = tmp_path / "reports" / "index.html"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "bench_lib", "report", str(run), "--out", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    with capsys.disabled():
        print(f"\n10,000-case report: {seconds:.1f} s end to end (python -m bench_lib report, imports included), "
              f"page {out.stat().st_size / 1e6:.1f} MB")
    page = out.read_text()
    assert "10000 measured cases" in page
    assert "Plots are drawn for the first" in page  # the cap is stated
    assert "Findings cover the first" in page
    assert page.count('<figure class="wide">') == 4  # one figure per scenario
    rows = (tmp_path / "reports" / "summary.csv").read_text().count("\n")
    assert rows == 10_001  # header + one row per case
    scenario_rows = (tmp_path / "reports" / "scenarios.csv").read_text().count("\n")
    assert scenario_rows == 1 + 17 + 2  # header, measured, rejected
