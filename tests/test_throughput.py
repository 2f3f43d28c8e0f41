"""Latency against throughput (bench_lib.analysis.throughput) on real H200 figures: a gradbench CUDA run's
latencies with the pipelined and GPU times an independent reference measured on a machine of the
same kind (tests/data/h200_cuda_reference_timings.json: 50 calls per synchronize, median of 10; triton
do_bench's median), one summary sample each."""

import json
import math
from pathlib import Path

import pytest

from bench_lib.analysis import throughput
from bench_lib.analysis.throughput import DEVICE, HOST, UNKNOWN, ThroughputRow
from bench_lib.report.load import load_runs

DATA = Path(__file__).parent / "data"


def composed_run() -> dict:
    """The gradbench run's elementwise and mlp cases, each with the reference's figures."""
    doc = json.loads((DATA / "real_h200_cuda_quick_subset.json").read_text())
    reference = {(r["workload"], r["size"], r["case"]): r
                 for r in json.loads((DATA / "h200_cuda_reference_timings.json").read_text())}
    for bench in doc["benchmarks"]:
        info = bench["extra_info"]
        name = f"{info['mode']} fwd" if info["pass"] == "forward" else f"{info['mode']} step"
        figures = reference[(info["workload"], info["size"], name)]
        info["pipelined_batch"] = 50
        for prefix, value in (("pipelined", figures["pipelined"]), ("gpu", figures["do_bench_gpu"])):
            info.update({f"{prefix}_median": value, f"{prefix}_q1": value, f"{prefix}_q3": value,
                         f"{prefix}_rounds": 1, f"{prefix}_data": [value]})
    return doc


@pytest.fixture(scope="module")
def found() -> list[ThroughputRow]:
    return throughput.rows(composed_run()["benchmarks"])


def _crossover(found, workload, pass_, mode):
    return next(c for c in throughput.crossovers(found)
                if (c.workload, c.pass_, c.mode) == (workload, pass_, mode))


def test_rows_carry_the_three_times_of_each_case(found):
    assert len(found) == 40  # 2 workloads x (3 forward modes + grad step) x 5 sizes
    row = next(r for r in found if (r.workload, r.mode, r.pass_, r.size) == ("elementwise", "no_grad", "forward",
                                                                             2**18))
    assert row.latency == pytest.approx(72.3e-6, rel=0.01)   # gradbench's own median
    assert row.pipelined == pytest.approx(39.24e-6, rel=1e-3)
    assert row.busy == pytest.approx(17.66 / 39.24, rel=1e-3) and row.bound == HOST


def test_the_crossover_is_the_size_from_which_every_larger_one_is_device_bound(found):
    # elementwise no_grad: GPU busy 35 %, 48 %, 45 %, 105 %, 103 % of a pipelined pass.
    crossing = _crossover(found, "elementwise", "forward", "no_grad")
    assert crossing.size == 2**22
    assert "host-bound up to 2^18 (GPU busy 45% there), device-bound from 2^22 (GPU busy 105%)" in crossing.sentence
    # mlp grad: 41 %, 45 %, 104 %, 95 %, 101 %.
    assert _crossover(found, "mlp", "forward", "grad").size == 2**18
    # elementwise grad step: 99 %, 99 %, 71 %, 69 %, 99 %: device-bound only from 2^24, although
    # the two smallest sizes read 99 % (do_bench's GPU time there is the host's: see bench_lib.measure.pipeline).
    assert _crossover(found, "elementwise", "step", "grad").size == 2**24


def test_grad_overhead_shows_host_bound_and_hides_device_bound(found):
    sentences = throughput.hidden_overhead(found)
    elementwise = next(s for s in sentences if s.startswith("elementwise"))
    # 58.24 / 34.05 µs at 2^10, host-bound; 131.1 / 130.6 µs at 2^24, device-bound.
    assert "1.71× at 2^10 (host-bound), 1.00× at 2^24 (device-bound)" in elementwise
    assert len(sentences) == 2  # steps have no no_grad twin


def _row(size: int, gpu: float | None, pipelined: float = 10e-6) -> ThroughputRow:
    return ThroughputRow("w", "forward", "grad", "cuda", "float32", size, 20e-6, pipelined, gpu, 50)


@pytest.mark.parametrize(("gpus", "size", "text"), [
    ([1e-6, 2e-6, 3e-6], None, "host-bound at every size with a GPU time (GPU busy 10%-30%)"),
    ([9e-6, 12e-6, 8.5e-6], 1, "device-bound at every size with a GPU time (GPU busy 85%-120%)"),
    ([9e-6, 2e-6, 9e-6], 4, "host-bound up to 2^1 (GPU busy 20% there), device-bound from 2^2"),
    ([None, None, None], None, "no GPU time"),
    # A size without a GPU time (the flush buffer did not fit beside the largest) says nothing.
    ([9e-6, 9e-6, None], 1, "device-bound at every size with a GPU time (GPU busy 90%); no GPU time at 2^2"),
    ([2e-6, None, 9e-6, 9e-6], 4, "host-bound up to 2^0 (GPU busy 20% there), device-bound from 2^2 (GPU busy "
                                  "90%); no GPU time at 2^1"),
])
def test_crossover_sentences(gpus, size, text):
    (crossing,) = throughput.crossovers([_row(2**i, gpu) for i, gpu in enumerate(gpus)])
    assert crossing.size == size and text in crossing.sentence


def test_a_device_busy_for_exactly_the_threshold_is_device_bound():
    # "at least DEVICE_BOUND of a pipelined pass": the threshold itself counts as device-bound.
    # Scaling by powers of two is exact, so each ratio is DEVICE_BOUND to the last bit.
    bound = throughput.DEVICE_BOUND
    assert throughput.bound_of(bound, 1.0) == throughput.bound_of(2 * bound, 2.0) == DEVICE
    assert throughput.bound_of(bound / 4, 0.25) == DEVICE
    assert throughput.bound_of(math.nextafter(bound, 0.0), 1.0) == HOST
    assert throughput.bound_of(math.nan, 1.0) == UNKNOWN


def test_a_case_without_gpu_time_has_no_known_bound():
    assert _row(1, None).bound == UNKNOWN and _row(1, 8.1e-6).bound == DEVICE and _row(1, 7.9e-6).bound == HOST


def test_the_report_reads_the_figures(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(composed_run()))
    cases = load_runs([path]).cases
    assert cases["pipelined_median"].notna().all() and cases["gpu_median"].notna().all()
    assert "pipelined_data" not in cases.columns


def test_the_page_summary_and_terminal_show_the_crossover(tmp_path):
    from bench_lib.report.build import analyse, write_report
    from bench_lib.report.terminal import run_summary

    doc = composed_run()
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    written = write_report(analyse([path]), tmp_path / "report" / "index.html")
    texts = {p.suffix: p.read_text() for p in written}
    page, summary = texts[".html"], texts[".md"]
    expected = "elementwise forward no_grad on cuda float32: host-bound up to 2^18"
    assert 'id="throughput"' in page and expected in page and 'alt="latency against throughput' in page
    assert expected in summary
    assert any(expected in line for line in run_summary(doc["benchmarks"], [], {}))
    # The table: one row per case, its three times in µs and the bound.
    assert "elementwise forward cuda float32 n=2^18 · no_grad</td><td>72.3</td><td>39.2</td><td>17.7</td>" in page


def test_stability_finding_splits_cuda_cases_by_bound_and_judges_the_pipelined_figure(tmp_path):
    from bench_lib.report.build import analyse

    doc = composed_run()
    for index, bench in enumerate(doc["benchmarks"]):
        info = bench["extra_info"]
        median = info["pipelined_median"]
        spread = 1.3 if index < 3 else 1.02  # three cases with a pipelined IQR of 30 %, the rest 2 %
        info.update(pipelined_q1=median, pipelined_q3=median * spread, pipelined_rounds=5,
                    pipelined_data=[median, median, median, median * spread, median * spread])
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    (stability,) = [item.text for item in analyse([path]).summaries[0].findings.items
                    if item.text.startswith("Stability")]
    # 17 cases are host-bound (GPU busy below 80 %), 23 device-bound (see the crossovers above).
    assert "host-bound or unknown cases and" in stability and "of 17 host-bound" in stability
    assert "of 23 device-bound" in stability
    assert "the pipelined figure is unstable in 3 of 40" in stability


def test_the_composed_run_leaves_the_pipelined_figure_unjudged_with_one_block(tmp_path):
    from bench_lib.report.build import analyse

    path = tmp_path / "run.json"
    path.write_text(json.dumps(composed_run()))
    assert analyse([path]).cases["pipelined_unstable"].isna().all()
