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


def compare_pair(tmp_path, seed: int, *, rules: compare.CaseRules = compare.CaseRules(),
                 **new_options) -> compare.Comparison:
    rng = np.random.default_rng(seed)
    base = simulated_run(rng, tmp_path, "base", spread=0.05, slower={})
    new = simulated_run(rng, tmp_path, "new", spread=0.05, slower=new_options.pop("slower", {}), **new_options)
    return compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases, rules=rules)


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
    assert all(row["noise"] > 0.10 and f"noise ±{compare.percent(row['noise'])} between processes" in row["reason"]
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
    # 2x slower, far beyond the noise: the interval lies wholly beyond +10 %, but 3 against 3
    # replicates cannot give an exact p below 2/20 = 0.1. Likely slower, never unchanged or fine.
    rng = np.random.default_rng(2)
    base = simulated_run(rng, tmp_path, "base", spread=0.02, slower={}, replicates=3)
    new = simulated_run(rng, tmp_path, "new", spread=0.02, slower={"alpha": 2.0}, replicates=3)
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases)
    alpha = result.times[result.times["workload"] == "alpha"]
    assert set(alpha["verdict"]) == {compare.LIKELY_SLOWER}
    assert (alpha["ci_low"] > 1.1).all() and np.allclose(alpha["p_min"], 0.1)
    assert all(reason.startswith("likely slower, not enough replicates to confirm: with 3 and 3 replicates the "
                                 "exact permutation test cannot go below p = 0.1 (it needs <= 0.05; 4 replicates "
                                 "per run can)") for reason in alpha["reason"])
    assert compare.failures(result, TIME_GATE) == []
    ending = compare.outcome(result, TIME_GATE)
    assert ending.code == 3 and "6 likely slower" in ending.line


def cuda_run(rng: np.random.Generator, tmp_path, name: str, *, slower: float = 1.0, which: tuple[str, ...] = ("beta",)):
    """A replicated CUDA run whose latency scatters by ±30 % between processes (a host-bound GPU's)
    while its pipelined figure, a mean over blocks of passes, scatters by ±1 %; the workloads in
    ``which`` take ``slower`` times as long."""

    def build() -> list[dict]:
        process = math.exp(0.3 * rng.standard_normal())
        out = []
        for workload in WORKLOADS:
            for size in SIZES:
                base = (20e-6 + 1e-9 * size) * (slower if workload in which else 1.0)
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
    # Latency: ±30 % between processes hides a 1.3x change of beta; the pipelined figure shows it
    # in each of beta's cases, and in no other.
    assert changed.count(compare.SLOWER) < 3
    assert changed.count(compare.SLOWER, "pipelined") == 3
    flagged = changed.pipelined[changed.pipelined["verdict"] == compare.SLOWER]
    assert set(flagged["workload"]) == {"beta"} and flagged["ratio"].between(1.25, 1.35).all()
    [line] = [f for f in compare.failures(changed, TIME_GATE) if "pipelined" in f]
    assert line.startswith("3 pipelined times significantly slower by more than 10%")


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
    assert "Pipelined times (CUDA): 3 slower, " in markdown.render(report, tmp_path / "index.html")
    lines = _comparison_lines(report.comparison, show=3)
    assert any(line.startswith("pipelined times (CUDA): 3 slower") for line in lines)


def test_pipelined_figures_missing_in_some_replicates_or_a_run_are_said_not_dropped(tmp_path) -> None:
    import json

    from report_fixtures import run_doc

    from bench_lib.analysis.replicates import merge

    rng = np.random.default_rng(11)

    def run(name: str, pipelined_in: tuple[bool, ...], slower: float = 1.0):
        docs = []
        for has in pipelined_in:
            benches = []
            for workload, factor, present in (("alpha", slower, has), ("beta", 1.0, True)):
                level = 50e-6 * factor * math.exp(0.01 * rng.standard_normal())
                samples = list(level * (1 + 0.002 * rng.standard_normal(5)))
                benches.append(case(workload, "grad", "step", 2**14, list(level * (1 + 0.01 * rng.standard_normal(9))),
                                    device="cuda", pipelined=samples if present else None))
            doc = run_doc(benches)
            doc["gradbench"]["complete"] = True
            docs.append(doc)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(merge(docs, [{"started": "2026-01-01T10:00:00+00:00", "seconds": 1.0}] * len(docs))))
        return load_runs([path])

    base = run("base", (True,) * 5)
    # One replicate of five without the figure (it ran out of memory there): the other four judge.
    # beta, unchanged, is the control the run-level shift is estimated from.
    partial = run("partial", (True, True, False, True, True), slower=1.3)
    controls = compare.CaseRules(controls=("beta *",))
    comparison = compare.compare_runs(base.runs[0], base.cases, partial.runs[0], partial.cases, rules=controls)
    [row, _] = comparison.pipelined.to_dict("records")
    assert row["verdict"] == compare.SLOWER and row["new_replicates"] == 4
    # A new run without any: the case is listed, inconclusive, with the reason.
    none = run("none", (False,) * 5)
    [row, _] = compare.compare_runs(base.runs[0], base.cases, none.runs[0], none.cases).pipelined.to_dict("records")
    assert row["verdict"] == compare.INCONCLUSIVE and row["reason"] == "no value in the new run"


ALL = {"alpha": 1.3, "beta": 1.3, "gamma": 1.3}


def test_a_whole_run_1_3x_slower_is_one_run_level_shift_not_18_slower_cases(tmp_path) -> None:
    # Runs made at different times: every case 1.3x slower looks like the machine's drift as much
    # as a change. One figure says so; no case is called slower; the comparison is not judged.
    from bench_lib.commands.cli import _comparison_lines

    result = compare_pair(tmp_path, 21, slower=ALL)
    assert result.windows == compare.SEPARATE
    [drift] = result.drift
    assert drift.family == "time" and drift.source == compare.ALL_CASES and drift.cases == 18
    assert 1.25 < drift.shift < 1.35 and drift.beyond and not drift.judged
    assert result.count(compare.SLOWER) == 0 and compare.failures(result, TIME_GATE) == []
    assert (result.times["shift"] == drift.shift).all()
    ending = compare.outcome(result, TIME_GATE)
    assert ending.code == 3
    assert f"the run-level shift of times, {drift.shift:.3f}x over 18 cases, lies beyond ±10%" in ending.line
    lines = _comparison_lines(result, show=3, ending=ending)
    assert "separate time windows" in lines[0]
    assert lines[1].startswith(f"run-level shift of times: {drift.shift:.3f}x, the median new/base over 18 cases")
    assert "cannot be told from the machine's drift, so it is not judged" in lines[1]
    assert lines[-1].startswith("NOT JUDGED: no gate failed") and lines[-1].endswith("[exit 3]")


def test_controls_vouch_for_the_shift_and_each_case_is_judged_relative_to_it(tmp_path) -> None:
    # The new run drifted 1.2x as a whole, and beta is 1.3x slower on top: with alpha marked as
    # a control, the shift is the machine's, and beta alone reads slower (1.3x relative to it).
    rng = np.random.default_rng(5)
    base = simulated_run(rng, tmp_path, "base", spread=0.03, slower={})
    new = simulated_run(rng, tmp_path, "new", spread=0.03, slower={"alpha": 1.2, "beta": 1.56, "gamma": 1.2})
    rules = compare.CaseRules(controls=("alpha *",))
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases, rules=rules)
    [drift] = result.drift
    assert drift.source == compare.CONTROLS and drift.cases == 6 and 1.15 < drift.shift < 1.25 and drift.judged
    slower = result.times[result.times["verdict"] == compare.SLOWER]
    assert set(slower["workload"]) == {"beta"} and slower["ratio"].between(1.2, 1.4).all()
    [failure] = compare.failures(result, TIME_GATE)
    assert failure.startswith("6 cases significantly slower by more than 10%: beta grad forward 2^10")
    assert compare.outcome(result, TIME_GATE).code == 1
    # Without the control, the median of all 18 cases is the estimate: beta still stands out.
    plain = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases)
    assert plain.drift[0].source == compare.ALL_CASES
    assert set(plain.times[plain.times["verdict"] == compare.SLOWER]["workload"]) == {"beta"}


def test_a_case_carries_its_own_threshold_by_glob(tmp_path) -> None:
    result = compare_pair(tmp_path, 104, slower={"beta": 1.3})
    assert len(compare.failures(result, TIME_GATE)) == 1
    # beta's threshold 40 %: still significantly slower, within its threshold, so no failure.
    loose = compare_pair(tmp_path, 104, slower={"beta": 1.3}, rules=compare.CaseRules(
        (compare.Rule("beta*", 0.40, "--threshold"),)))
    beta = loose.times[loose.times["workload"] == "beta"]
    assert (beta["threshold"] == 0.40).all() and set(beta["verdict"]) == {compare.SLOWER}
    assert all(reason.endswith("by less than the ±40% threshold of the run-level shift "
                               f"{row['shift']:.3f}x") for reason, row in zip(beta["reason"],
                                                                             beta.to_dict("records"), strict=True))
    assert compare.failures(loose, TIME_GATE) == [] and compare.outcome(loose, TIME_GATE).code != 1
    # off: reported, never failing, and not waited on for a verdict.
    off = compare_pair(tmp_path, 104, slower={"beta": 1.3}, rules=compare.CaseRules(
        (compare.Rule("beta *", None, "--threshold"),)))
    assert set(off.times[off.times["workload"] == "beta"]["verdict"]) == {compare.SLOWER}
    ending = compare.outcome(off, TIME_GATE)
    assert ending.failures == [] and ending.tallies["time"].gated == 12
    # The last matching rule wins; a mix of thresholds is named as such.
    mixed = compare_pair(tmp_path, 104, slower={"beta": 1.3}, rules=compare.CaseRules(
        (compare.Rule("beta*", None, "pyproject.toml"), compare.Rule("beta * 2^1[08] *", 0.2, "--threshold"),
         compare.Rule("beta * 2^18 *", 0.15, "--threshold"))))
    assert compare.failures(mixed, TIME_GATE) == [
        "4 cases significantly slower by more than their thresholds: beta grad forward 2^10 cpu float32, "
        "beta grad forward 2^18 cpu float32, beta no_grad forward 2^10 cpu float32, "
        "beta no_grad forward 2^18 cpu float32"]


def test_a_verdict_never_contradicts_its_interval() -> None:
    rng = np.random.default_rng(5)
    rows = []
    for _ in range(600):
        n, m = (int(v) for v in rng.integers(2, 7, size=2))
        spread = float(rng.choice([0.0005, 0.02, 0.1, 0.3]))
        change = math.exp(rng.normal(0.0, 0.25))
        rows.append(compare.judge(np.exp(rng.normal(0.0, spread, n)), change * np.exp(rng.normal(0.0, spread, m)),
                                  0.10))
    compare.finish_verdicts(rows, 0.10)
    up, down = 1.10, 1 / 1.10
    seen = set()
    for row in rows:
        low, high, verdict = row["ci_low"], row["ci_high"], row["verdict"]
        seen.add(verdict)
        assert low <= row["ratio"] <= high
        if verdict == compare.SLOWER:
            assert low > 1.0, row
        elif verdict == compare.FASTER:
            assert high < 1.0, row
        elif verdict == compare.UNCHANGED:
            assert down <= low and high <= up, row
        elif verdict == compare.LIKELY_SLOWER:
            assert low > up, row
        elif verdict == compare.LIKELY_FASTER:
            assert high < down, row
        else:
            assert not (down <= low and high <= up) and not (low > up or high < down), row
        if verdict not in compare.JUDGED_VERDICTS and row["p_min"] > compare.PERMUTATION_LEVEL:
            assert "enough replicates" in row["reason"] or "too few replicates" in row["reason"], row
        assert "±0%" not in row["reason"], row
    assert seen == set(compare.VERDICTS)


def test_a_narrow_interval_with_two_replicates_is_likely_faster_not_noise() -> None:
    # An H200 run: identical code, 2 replicates each, ratio 0.849x with a 95% interval 0.83-0.87,
    # once printed as "noise ±0 % between processes: the interval reaches beyond ±10 %".
    row = compare.judge([31.0e-6, 31.02e-6], [26.31e-6, 26.34e-6], 0.10)
    compare.finish_verdicts([row], 0.10)
    assert row["verdict"] == compare.LIKELY_FASTER and row["ci_high"] < 1 / 1.1
    assert row["p_min"] == pytest.approx(1 / 3)
    assert row["reason"].startswith("likely faster, not enough replicates to confirm: with 2 and 2 replicates the "
                                    "exact permutation test cannot go below p = 0.333")
    assert "noise" not in row["reason"]
    assert compare.percent(0.004) == "0.4%" and compare.percent(0.25) == "25%" and compare.percent(0.025) == "2.5%"


def test_likely_slower_with_two_replicates_is_counted_and_never_reads_as_fine(tmp_path) -> None:
    rng = np.random.default_rng(8)
    base = simulated_run(rng, tmp_path, "base", spread=0.01, slower={}, replicates=2)
    new = simulated_run(rng, tmp_path, "new", spread=0.01, slower={"alpha": 1.5}, replicates=2)
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases)
    alpha = result.times[result.times["workload"] == "alpha"]
    assert set(alpha["verdict"]) == {compare.LIKELY_SLOWER}
    ending = compare.outcome(result, TIME_GATE)
    assert ending.code == 3 and ending.failures == []
    assert ending.tallies["time"].not_judged >= 6 and "6 likely slower" in ending.line
