"""Mode comparisons in the report use the interleaved rounds where a run has them."""

import copy
import json
from pathlib import Path

import pytest

from bench_lib.analysis.derive import add_derived
from bench_lib.contract.errors import InputError
from bench_lib.report.load import load_runs

DATA = Path(__file__).resolve().parent / "data"


def _with_interleaved(tmp_path, medians):
    run = json.loads((DATA / "report_small.json").read_text())
    for bench in run["benchmarks"]:
        info = bench["extra_info"]
        key = (info["workload"], info["mode"], info["size"])
        if info["pass"] == "forward" and key in medians:
            median = medians[key]
            info.update(interleaved_median=median, interleaved_q1=median * 0.99, interleaved_q3=median * 1.01,
                        interleaved_rounds=3, interleaved_data=[median * 0.99, median, median * 1.01])
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run))
    return run, path


def _forward(cases, workload, mode, size):
    rows = cases[(cases["workload"] == workload) & (cases["mode"] == mode) & (cases["pass"] == "forward")
                 & (cases["size"] == size)]
    return rows.iloc[0]


def _grad_30_no_grad_20(tmp_path):
    """The first forward group of report_small, with interleaved medians 30 µs (grad) and 20 µs (no_grad)."""
    run = json.loads((DATA / "report_small.json").read_text())
    info = next(b["extra_info"] for b in run["benchmarks"] if b["extra_info"]["pass"] == "forward")
    workload, size = info["workload"], info["size"]
    _, path = _with_interleaved(tmp_path, {(workload, "grad", size): 30e-6, (workload, "no_grad", size): 20e-6})
    return add_derived(load_runs([path]).cases), workload, size


def test_speedups_use_interleaved_medians_and_fall_back_to_the_cases_own(tmp_path):
    cases, workload, size = _grad_30_no_grad_20(tmp_path)
    no_grad = _forward(cases, workload, "no_grad", size)
    assert no_grad["speedup_vs_grad"] == 1.5  # 30 / 20, whatever the sequential medians say
    assert list(no_grad["cmp_samples"]) == [20e-6 * 0.99, 20e-6, 20e-6 * 1.01]
    untouched = cases[(cases["pass"] != "forward")].iloc[0]
    assert untouched["cmp_median"] == untouched["median"]


def test_bad_interleaved_samples_are_a_one_line_error(tmp_path):
    run, path = _with_interleaved(tmp_path, {})
    bench = copy.deepcopy(run["benchmarks"][0])
    bench["extra_info"].update(interleaved_median=1e-5, interleaved_data=["fast"])
    run["benchmarks"][0] = bench
    path.write_text(json.dumps(run))
    with pytest.raises(InputError, match="interleaved_data must be a list of seconds from 0 to 86400 or null"):
        load_runs([path])


def test_the_time_table_shows_the_figure_the_speedups_use(tmp_path):
    from bench_lib.report import tables

    cases, workload, size = _grad_30_no_grad_20(tmp_path)
    records = cases[(cases["workload"] == workload) & (cases["pass"] == "forward")].to_dict("records")
    table = tables.time_table(records, ["run"])
    column = [tables.size_label(s) for s in sorted({r["size"] for r in records})].index(tables.size_label(size))
    shown = {row.label: row.cells[column].text for row in table.rows}
    assert shown["grad"].startswith("30.0 [") and shown["no_grad"].startswith("20.0 [")  # µs, interleaved
    own = _forward(cases, workload, "no_grad", size)["median"]
    assert own != 20e-6 and "timed on its own: " in next(
        row.cells[column].title for row in table.rows if row.label == "no_grad")


def test_the_throughput_plot_divides_by_the_interleaved_median(tmp_path, monkeypatch):
    # Every view shows one figure per case: the throughput panel read no_grad's own median, timed in its own
    # window, while the tables and the other panels read the interleaved one.
    from bench_lib.report import plots, tables

    _run, path = _with_interleaved(tmp_path, {("pointwise", "grad", 1024): 30e-6, ("pointwise", "no_grad", 1024): 5e-6})
    cases = add_derived(load_runs([path]).cases)
    no_grad = _forward(cases, "pointwise", "no_grad", 1024)
    assert no_grad["cmp_interleaved"] and no_grad["median"] != pytest.approx(5e-6)
    assert no_grad["throughput_Bps"] == pytest.approx(no_grad["input_bytes"] / 5e-6)
    drawn = {}
    render = plots._render
    monkeypatch.setattr(plots, "_render", lambda fig, title: drawn.setdefault(title, fig) and render(fig, title))
    records = cases.drop(columns=["samples"]).to_dict("records")
    by_pass = tables.group_records(r for r in records if r["workload"] == "pointwise")[("pointwise", "cpu", "float32")]
    plots.group_plots("pointwise", by_pass)
    (throughput,) = [fig for title, fig in drawn.items() if title.endswith("achieved throughput")]
    line = next(line for line in throughput.axes[0].get_lines() if line.get_label() == "no_grad")
    assert line.get_xdata()[0] == no_grad["elements"]
    assert line.get_ydata()[0] == pytest.approx(no_grad["input_bytes"] / 5e-6 / 1e9)
