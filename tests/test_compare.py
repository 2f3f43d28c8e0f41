"""The comparison of two runs on simulated replicates: no timing, known distributions.

Each simulated process scales every time of a case by one lognormal factor (the noise between
processes that dominates on real machines), and its rounds add a little noise of their own.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from report_fixtures import case, replicated

from bench_lib.analysis import compare
from bench_lib.report.load import load_runs

WORKLOADS = ("alpha", "beta", "gamma")
MODES = ("grad", "no_grad")
SIZES = (2**10, 2**14, 2**18)


def simulated_run(rng: np.random.Generator, tmp_path, name: str, *, spread: float, slower: dict[str, float],
                  graph_nodes: dict[str, int] | None = None, replicates: int = 5):
    """A replicated run of 18 cases: per process, one factor exp(spread * N(0, 1)) for all its cases,
    and each case's own small process-level scatter."""

    def build() -> list[dict]:
        process = math.exp(spread * rng.standard_normal())
        out = []
        for workload in WORKLOADS:
            for mode in MODES:
                for size in SIZES:
                    t = (20e-6 + 1e-9 * size) * process * math.exp(0.3 * spread * rng.standard_normal())
                    t *= slower.get(workload, 1.0)
                    samples = list(t * (1 + 0.01 * rng.standard_normal(15)))
                    nodes = (graph_nodes or {}).get(workload, 3) if mode == "grad" else 0
                    out.append(case(workload, mode, "forward", size, samples, graph_nodes=nodes))
        return out

    path = tmp_path / f"{name}.json"
    import json

    path.write_text(json.dumps(replicated(build, replicates=replicates)))
    return load_runs([path])


def compare_pair(tmp_path, seed: int, **new_options) -> compare.Comparison:
    rng = np.random.default_rng(seed)
    base = simulated_run(rng, tmp_path, "base", spread=0.05, slower={})
    new = simulated_run(rng, tmp_path, "new", spread=0.05, slower=new_options.pop("slower", {}), **new_options)
    return compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases)


TIME_GATE = compare.Gates(time=0.10, ratio=None, peak=None, counts=False)


def test_identical_code_never_fails_the_gate(tmp_path) -> None:
    # Process noise of ±5 % between replicates, the same in both runs: 20 pairs, no false regression.
    for seed in range(20):
        result = compare_pair(tmp_path, seed)
        assert compare.failures(result, TIME_GATE) == [], seed
        assert result.count(compare.SLOWER) + result.count(compare.FASTER) <= 1, seed


def test_a_workload_made_1_3x_slower_fails_every_pair_and_is_named(tmp_path) -> None:
    for seed in range(10):
        result = compare_pair(tmp_path, 100 + seed, slower={"beta": 1.3})
        [failure] = compare.failures(result, TIME_GATE)
        flagged = result.times[result.times["verdict"] == compare.SLOWER]
        assert set(flagged["workload"]) == {"beta"}, seed
        assert "beta" in failure and "alpha" not in failure and "gamma" not in failure


def test_noise_larger_than_the_threshold_is_inconclusive_with_its_size(tmp_path) -> None:
    rng = np.random.default_rng(7)
    base = simulated_run(rng, tmp_path, "base", spread=0.25, slower={})
    new = simulated_run(rng, tmp_path, "new", spread=0.25, slower={})
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases)
    inconclusive = result.times[result.times["verdict"] == compare.INCONCLUSIVE]
    assert len(inconclusive) == len(result.times)  # ±25 % noise cannot resolve ±10 %
    assert all(row["noise"] > 0.10 and f"noise ±{row['noise']:.0%} between processes" in row["reason"]
               for row in inconclusive.to_dict("records"))
    assert compare.failures(result, TIME_GATE) == []


def test_a_changed_graph_node_count_is_always_flagged(tmp_path) -> None:
    result = compare_pair(tmp_path, 3, graph_nodes={"gamma": 4})
    changed = result.counts
    assert set(changed["workload"]) == {"gamma"} and set(changed["metric"]) == {"graph_nodes"}
    assert len(changed) == len(SIZES)  # gamma's grad case at every size
    assert compare.failures(result, compare.Gates(time=None, ratio=None, peak=None)) == [
        "3 exact counts changed: gamma grad forward 2^10 cpu float32 graph_nodes, gamma grad forward 2^14 cpu "
        "float32 graph_nodes, gamma grad forward 2^18 cpu float32 graph_nodes"]


def test_single_replicates_are_inconclusive_not_judged(tmp_path) -> None:
    rng = np.random.default_rng(1)
    base = simulated_run(rng, tmp_path, "base", spread=0.05, slower={}, replicates=1)
    new = simulated_run(rng, tmp_path, "new", spread=0.05, slower={"alpha": 2.0}, replicates=1)
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases)
    assert set(result.times["verdict"]) == {compare.INCONCLUSIVE}
    assert all("1 replicate" in reason for reason in result.times["reason"])


def test_judge_on_exact_small_samples() -> None:
    # 5 against 5, fully separated: the exact two-sided permutation p is 2/252.
    row = compare.judge([1.0, 1.01, 0.99, 1.02, 0.98], [1.3, 1.31, 1.29, 1.32, 1.28], threshold=0.10)
    assert row["p_exact"] == pytest.approx(2 / 252)
    assert row["p_value"] < 1e-6  # Welch's t on the logs: far beyond the noise
    assert row["ratio"] == pytest.approx(1.3, rel=1e-3)
    assert row["ci_low"] > 1.2 and row["ci_high"] < 1.4
    compare.finish_verdicts([row], threshold=0.10)
    assert row["verdict"] == compare.SLOWER and row["p_adjusted"] == pytest.approx(row["p_value"])
    zero = compare.judge([0.0, 1.0], [1.0, 1.0], threshold=0.10)
    assert zero["verdict"] == compare.INCONCLUSIVE and "zero" in zero["reason"]


def test_one_case_far_beyond_its_noise_is_caught_among_many(tmp_path) -> None:
    # A 3x slowdown of one case out of 18: an exact test alone could not survive the correction
    # (2/252 x 18 > 0.05); Welch's p can, and the exact test still agrees at its own level.
    rng = np.random.default_rng(11)
    base = simulated_run(rng, tmp_path, "base", spread=0.03, slower={})
    new = simulated_run(rng, tmp_path, "new", spread=0.03, slower={})
    cases = new.cases.copy()
    one = (cases["workload"] == "alpha") & (cases["mode"] == "grad") & (cases["size"] == 2**14)
    cases.loc[one, "rep_medians"] = cases.loc[one, "rep_medians"].map(lambda values: values * 3.0)
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], cases)
    [failure] = compare.failures(result, TIME_GATE)
    assert failure == "1 case significantly slower by more than 10%: alpha grad forward 2^14 cpu float32"


def test_three_replicates_cannot_call_a_change_and_say_why(tmp_path) -> None:
    rng = np.random.default_rng(2)
    base = simulated_run(rng, tmp_path, "base", spread=0.02, slower={}, replicates=3)
    new = simulated_run(rng, tmp_path, "new", spread=0.02, slower={"alpha": 2.0}, replicates=3)
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases)
    alpha = result.times[result.times["workload"] == "alpha"]
    assert set(alpha["verdict"]) == {compare.INCONCLUSIVE}
    assert all(reason.startswith("too few replicates (3 and 3): the exact permutation test cannot go below p = 0.1")
               for reason in alpha["reason"])


def cuda_run(rng: np.random.Generator, tmp_path, name: str, *, slower: float = 1.0):
    """A replicated CUDA run whose latency scatters by ±30 % between processes (a host-bound GPU's)
    while its pipelined figure, a mean over blocks of passes, scatters by ±1 %."""

    def build() -> list[dict]:
        process = math.exp(0.3 * rng.standard_normal())
        out = []
        for workload in WORKLOADS:
            for size in SIZES:
                base = (20e-6 + 1e-9 * size) * slower
                latency = list(base * process * (1 + 0.01 * rng.standard_normal(15)))
                level = 0.6 * base * math.exp(0.01 * rng.standard_normal())
                pipelined = list(level * (1 + 0.002 * rng.standard_normal(5)))
                out.append(case(workload, "grad", "step", size, latency, device="cuda", pipelined=pipelined))
        return out

    import json

    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(replicated(build, replicates=5)))
    return load_runs([path])


def test_pipelined_times_resolve_what_a_noisy_latency_cannot(tmp_path) -> None:
    rng = np.random.default_rng(7)
    base = cuda_run(rng, tmp_path, "base")
    same = cuda_run(rng, tmp_path, "same")
    slower = cuda_run(rng, tmp_path, "slower", slower=1.3)
    identical = compare.compare_runs(base.runs[0], base.cases, same.runs[0], same.cases)
    assert len(identical.pipelined) == 9
    assert identical.count(compare.UNCHANGED, "pipelined") == 9
    assert compare.failures(identical, TIME_GATE) == []
    changed = compare.compare_runs(base.runs[0], base.cases, slower.runs[0], slower.cases)
    # Latency: ±30 % between processes hides a 1.3x change; the pipelined figure shows it in every case.
    assert changed.count(compare.SLOWER) < 9
    assert changed.count(compare.SLOWER, "pipelined") == 9
    assert changed.pipelined["ratio"].between(1.25, 1.35).all()
    [line] = [f for f in compare.failures(changed, TIME_GATE) if "pipelined" in f]
    assert line.startswith("9 pipelined times significantly slower by more than 10%")


def test_runs_without_pipelined_figures_have_no_pipelined_comparison(tmp_path) -> None:
    comparison = compare_pair(tmp_path, seed=3)
    assert comparison.pipelined.empty


def test_the_page_summary_and_terminal_show_the_pipelined_comparison(tmp_path) -> None:
    from bench_lib.commands.cli import _comparison_lines
    from bench_lib.report import markdown, page
    from bench_lib.report.build import analyse

    rng = np.random.default_rng(7)
    cuda_run(rng, tmp_path, "base")
    cuda_run(rng, tmp_path, "slower", slower=1.3)
    report = analyse([tmp_path / "slower.json"], tmp_path / "base.json")
    html = page.render(report)
    assert "<h3>Pipelined times (CUDA)</h3>" in html and "significant changes of pipelined time" in html
    assert "Pipelined times (CUDA): 9 slower, 0 faster of 9." in markdown.render(report, tmp_path / "index.html")
    lines = _comparison_lines(report.comparison, show=3)
    assert any(line.startswith("pipelined times (CUDA): 9 slower") for line in lines)


def test_pipelined_figures_missing_in_some_replicates_or_a_run_are_said_not_dropped(tmp_path) -> None:
    import json

    from report_fixtures import run_doc

    from bench_lib.analysis.replicates import merge

    rng = np.random.default_rng(11)

    def run(name: str, pipelined_in: tuple[bool, ...], slower: float = 1.0):
        docs = []
        for has in pipelined_in:
            level = 50e-6 * slower * math.exp(0.01 * rng.standard_normal())
            samples = list(level * (1 + 0.002 * rng.standard_normal(5)))
            bench = case("alpha", "grad", "step", 2**14, list(level * (1 + 0.01 * rng.standard_normal(9))),
                         device="cuda", pipelined=samples if has else None)
            doc = run_doc([bench])
            doc["gradbench"]["complete"] = True
            docs.append(doc)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(merge(docs, [{"started": "2026-01-01T10:00:00+00:00", "seconds": 1.0}] * len(docs))))
        return load_runs([path])

    base = run("base", (True,) * 5)
    # One replicate of five without the figure (it ran out of memory there): the other four judge.
    partial = run("partial", (True, True, False, True, True), slower=1.3)
    comparison = compare.compare_runs(base.runs[0], base.cases, partial.runs[0], partial.cases)
    [row] = comparison.pipelined.to_dict("records")
    assert row["verdict"] == compare.SLOWER and row["new_replicates"] == 4
    # A new run without any: the case is listed, inconclusive, with the reason.
    none = run("none", (False,) * 5)
    [row] = compare.compare_runs(base.runs[0], base.cases, none.runs[0], none.cases).pipelined.to_dict("records")
    assert row["verdict"] == compare.INCONCLUSIVE and row["reason"] == "no value in the new run"
