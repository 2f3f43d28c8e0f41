"""Time-matched A/B: the paired test (analysis/paired.py), the worker protocol (measure/abworker.py)
and the pairing of two checkouts' blocks (commands/ab.py) on real processes."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from bench_lib.analysis.paired import MIN_PAIRS, hodges_lehmann, judge_pairs, signed_rank_p
from bench_lib.commands import ab
from bench_lib.commands.checkout import THIS, Checkout
from bench_lib.contract.result import CaseResult, with_pairs
from bench_lib.measure import abworker

ROOT = Path(__file__).resolve().parents[1]


def test_the_exact_signed_rank_p_is_scipys() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(3, 15))
        values = rng.normal(float(rng.uniform(-1, 1)), 1.0, n)
        assert signed_rank_p(values) == pytest.approx(scipy.stats.wilcoxon(values, method="exact").pvalue, abs=1e-12)


def test_the_interval_excludes_no_change_exactly_when_the_test_rejects() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        values = rng.normal(float(rng.uniform(-0.6, 0.6)), 1.0, int(rng.integers(6, 16)))
        _, low, high = hodges_lehmann(values, 0.95)
        assert (low > 0 or high < 0) == (signed_rank_p(values) <= 0.05)


def test_n_pairs_bound_the_smallest_p() -> None:
    # All pairs agree in sign: the smallest p n pairs allow, 2 / 2^n.
    for n in (5, MIN_PAIRS, 12):
        assert signed_rank_p([0.1 + i / 100 for i in range(n)]) == 2 / 2**n
    assert 2 / 2**(MIN_PAIRS - 1) > 0.05 >= 2 / 2**MIN_PAIRS
    # Too few pairs for a 95 % interval: it is the whole line, never a narrow one that claims more.
    assert hodges_lehmann([0.1] * 5, 0.95)[1:] == (-math.inf, math.inf)


def test_a_wild_pair_counts_as_one_pair() -> None:
    base = [100e-6] * 12
    new = [125e-6] * 11 + [125e-6 * 40]  # a slow stretch hit one block of one pair
    judged = judge_pairs(base, new, 0.95)
    assert judged["ratio"] == pytest.approx(1.25, rel=1e-9)
    assert judged["ci_low"] > 1.2 and judged["ci_high"] < 1.3 * 1.01
    assert judged["p_value"] == 2 / 2**12 and judged["pairs"] == 12


def test_identical_blocks_read_as_no_change() -> None:
    judged = judge_pairs([1e-3, 2e-3, 1.5e-3] * 4, [1e-3, 2e-3, 1.5e-3] * 4, 0.95)
    assert judged["ratio"] == 1.0 and judged["p_value"] == 1.0


def _serve(*requests: dict) -> list[dict]:
    answers = io.StringIO()
    abworker.serve(io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), answers)
    return [json.loads(line) for line in answers.getvalue().splitlines()]


def test_the_worker_lists_builds_and_times_the_cases_it_is_asked_for() -> None:
    hello, listing, case, block, skipped, stray = _serve(
        {"op": "hello"},
        {"op": "cases", "args": ["--gb-preset=ci", "--gb-workloads=elementwise", "--gb-sizes=2^10",
                                 "--gb-devices=cpu", "--gb-passes=forward,backward"]},
        {"op": "case", "spec": {"workload": "elementwise", "mode": "grad", "pass_": "forward", "size": 1024,
                                "device": "cpu", "dtype": "float32"}, "seed": 0},
        {"op": "block", "rounds": 7},
        {"op": "case", "spec": {"workload": "elementwise", "mode": "no_grad", "pass_": "backward", "size": 1024,
                                "device": "cpu", "dtype": "float32"}, "seed": 0},
        {"op": "block", "rounds": 7},
        {"op": "quit"}, {"op": "hello"})  # nothing is answered after quit
    assert hello["protocol"] == abworker.PROTOCOL == 1 and hello["root"] == str(ROOT)
    assert len(listing["specs"]) == 8 and listing["seed"] == 0  # 4 modes x 2 passes; the skips are the case's
    assert case["ok"] and case["round_seconds"] > 0
    assert len(block["times"]) == 7 and all(t > 0 for t in block["times"])
    assert not skipped["ok"] and "nothing to run backward on" in skipped["skip"]
    assert stray == {"ok": False, "error": "ValueError: no case is prepared"}  # the skipped case left none


def test_the_workers_get_the_thread_count_and_the_users_modules() -> None:
    args = ["--gb-threads=2", "-p", "my_workloads", "-pother", "-p", "no:cacheprovider", "--gb-sizes=2^10"]
    assert ab.worker_options(args) == ["--threads=2", "--plugin=my_workloads", "--plugin=other"]


def test_pairs_are_written_into_the_cases_they_belong_to() -> None:
    doc = json.loads((ROOT / "tests" / "data" / "report_small.json").read_text())
    first = CaseResult.of(doc["benchmarks"][0])
    paired = with_pairs(doc, {first.spec: ([1e-3, 2e-3], 9)}, {"id": "x", "side": "base"})
    cases = [CaseResult.of(bench) for bench in paired["benchmarks"]]
    assert cases[0].paired_data == [1e-3, 2e-3] and cases[0].paired_rounds == 9
    assert all(case.paired_data is None for case in cases[1:])
    assert paired["gradbench"]["pairing"] == {"id": "x", "side": "base"}
    assert "pairing" not in doc.get("gradbench", {}) and "paired_data" not in doc["benchmarks"][0]["extra_info"]


def test_each_side_times_its_own_code_in_alternating_blocks(tmp_path: Path) -> None:
    # A copy of this checkout whose elementwise model sleeps 2 ms: its worker must run that code.
    slow = tmp_path / "slow"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(slow)], check=True, timeout=120)
    workloads = slow / "bench_lib" / "measure" / "workloads.py"
    text = workloads.read_text()
    marker = "        return torch.relu(x * 2.0 + 1.0)"
    assert text.count(marker) == 1
    workloads.write_text(text.replace(marker, "        import time\n        time.sleep(0.002)\n" + marker))
    args = ["--gb-preset=quick", "--gb-workloads=elementwise", "--gb-sizes=2^10", "--gb-modes=grad,no_grad",
            "--gb-passes=forward", "--gb-devices=cpu", "--gb-threads=1"]
    pairs = ab.measure(Checkout(slow, "slow"), THIS, args, pairs=MIN_PAIRS, block_seconds=0.01)
    assert sorted(key[1] for key in pairs) == ["grad", "no_grad"]
    for paired in pairs.values():
        assert len(paired.base) == len(paired.new) == MIN_PAIRS and paired.rounds >= ab.MIN_ROUNDS
        assert min(paired.base) > 2e-3 > max(paired.new)  # every block of the slow side slept
        assert judge_pairs(paired.base, paired.new, 0.95)["ci_high"] < 0.5


def test_a_ref_without_the_worker_is_one_line(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    (bare / "bench_lib").mkdir(parents=True)
    (bare / "bench_lib" / "__init__.py").write_text("")
    # An editable install serves the modules the ref lacks from this checkout: the worker that
    # starts is this checkout's, and must not be timed as the ref's.
    with pytest.raises(ab.ABError, match=f"old's A/B worker runs the code in {ROOT}, not {bare}: old predates"):
        ab.Worker(Checkout(bare, "old"), [])


def _paired_runs(tmp_path: Path, slower: float) -> tuple:
    """report_small's cases as both sides of one A/B (see _paired_files), loaded."""
    from bench_lib.report.load import load_runs

    return tuple(load_runs([path]) for path in _paired_files(tmp_path, slower))


def _paired_files(tmp_path: Path, slower: float) -> list[Path]:
    """report_small's cases as both sides of one A/B: 12 pairs each, every block of the new side's
    pointwise cases ``slower`` times its base's, each pair drifting as a whole (the machine)."""
    doc = json.loads((ROOT / "tests" / "data" / "report_small.json").read_text())
    rng = np.random.default_rng(7)
    sides: dict[str, dict] = {"base": {}, "new": {}}
    for bench in doc["benchmarks"]:
        case = CaseResult.of(bench)
        drift = rng.uniform(0.7, 1.6, 12)  # slow stretches 1.6x: each hits both blocks of a pair
        base = [case.stats["median"] * d * rng.uniform(0.99, 1.01) for d in drift]
        factor = slower if case.workload == "pointwise" else 1.0
        sides["base"][case.spec] = (base, 20)
        sides["new"][case.spec] = ([b * factor * rng.uniform(0.99, 1.01) for b in base], 20)
    paths = []
    for side, pairs in sides.items():
        path = tmp_path / f"{side}.json"
        path.write_text(json.dumps(with_pairs(doc, pairs, {"id": "ab-1", "side": side, "pairs": 12})))
        paths.append(path)
    return paths


def test_a_time_matched_run_is_judged_on_its_pairs(tmp_path: Path) -> None:
    from bench_lib.analysis import compare

    base, new = _paired_runs(tmp_path, 1.25)
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases)
    assert result.windows == compare.ONE_SESSION
    times = result.times
    assert set(times["test"]) == {"wilcoxon signed-rank, paired blocks"} and set(times["pairs"]) == {12}
    slow = times[times["workload"] == "pointwise"]
    assert len(slow) > 0 and set(slow["verdict"]) == {compare.SLOWER}
    assert ((slow["ratio"] > 1.2) & (slow["ratio"] < 1.3)).all()
    others = times[times["workload"] != "pointwise"]
    assert len(others) > 0 and set(others["verdict"]) == {compare.UNCHANGED}
    assert compare.failures(result, compare.Gates()) != []


def test_identical_code_in_one_session_passes_every_time_gate(tmp_path: Path) -> None:
    from bench_lib.analysis import compare

    base, new = _paired_runs(tmp_path, 1.0)
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases)
    assert set(result.times["verdict"]) == {compare.UNCHANGED}
    # A paired row that cannot be judged names its noise as the pairs', not the processes'.
    row = compare.judge_paired([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 1.5, 0.7, 1.3, 0.8, 1.2], 0.10)
    compare.finish_verdicts([row], 0.10)
    assert row["verdict"] == compare.INCONCLUSIVE and "between the blocks of a pair" in row["reason"]


def test_bench_against_a_ref_from_before_the_ab_fails_before_any_replicate(tmp_path: Path) -> None:
    old = "2ef5020"  # gradbench before the time-matched A/B (and before its packages)
    storage = tmp_path / "storage"
    done = subprocess.run([sys.executable, "-m", "bench_lib", "bench", "--preset=quick", f"--against={old}",
                           f"--storage={storage}", "--", "--gb-workloads=elementwise", "--gb-sizes=2^10",
                           "--gb-devices=cpu"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    [line] = [line for line in done.stderr.splitlines() if line.startswith("gradbench: error:")]
    assert f"{old} predates the time-matched A/B" in line
    assert "replicate 1/" not in done.stdout and not storage.exists()


def test_a_difference_one_pair_of_processes_sees_and_the_other_does_not_is_not_a_change() -> None:
    # The first pair of workers sat in a slow regime for this case (2.9x, every pair agreeing); the
    # second, fresh pair saw no difference: the code did not change, a process did.
    base = [1e-3 * (1 + 0.01 * i) for i in range(20)]
    new = [b * 2.9 for b in base[:10]] + [b * (1.0 + 0.02 * (-1) ** i) for i, b in enumerate(base[10:])]
    pooled = judge_pairs(base, new, 0.95)
    assert pooled["p_value"] < 0.05  # pooled, the pairs would have called it a change
    split = judge_pairs(base, new, 0.95, generations=2)
    assert split["p_value"] > 0.05 and split["ci_low"] < 1.0 < split["ci_high"]
    # Both generations see the change: it stands, at every generation's smallest p.
    both = judge_pairs(base, [b * 1.25 for b in base], 0.95, generations=2)
    assert both["p_value"] == 2 / 2**10 and both["ci_low"] > 1.2


def test_the_ab_goes_through_the_cases_with_fresh_workers_per_generation(monkeypatch) -> None:
    started: list[str] = []

    class FakeWorker:
        def __init__(self, checkout, options) -> None:
            self.side = checkout.label
            started.append(self.side)

        def ask(self, request):
            if request["op"] == "cases":
                specs = [{"workload": "w", "mode": m, "pass_": "forward", "size": 1, "device": "cpu",
                          "dtype": "float32", "compile": "eager"} for m in ("grad", "no_grad")]
                return {"ok": True, "specs": specs, "seed": 0}
            if request["op"] == "case":
                self.mode = request["spec"]["mode"]
                return {"ok": True, "round_seconds": 1e-3}
            return {"ok": True, "times": [2e-3 if self.side == "base" else 1e-3]}

        def close(self) -> None:
            started.append(f"closed {self.side}")

    monkeypatch.setattr(ab, "Worker", FakeWorker)
    pairs = ab.measure(Checkout(ROOT, "base"), Checkout(ROOT, "new"), [], pairs=8, generations=2)
    assert started == ["base", "new", "closed base", "closed new"] * 2
    assert set(pairs) == {("w", mode, "forward", 1, "cpu", "float32") for mode in ("grad", "no_grad")}
    assert all(p.base == [2e-3] * 8 and p.new == [1e-3] * 8 for p in pairs.values())


def test_compare_of_a_one_replicate_ab_gates_the_times_on_the_pairs(tmp_path: Path, capsys) -> None:
    from bench_lib.commands import cli

    for name, slower in (("same", 1.0), ("slow", 1.25)):
        folder = tmp_path / name
        folder.mkdir()
        for side, path in zip(("base", "new"), _paired_files(folder, slower), strict=True):
            doc = json.loads(path.read_text())
            doc["gradbench"].update(replicates=1, complete=True)  # what bench --against saves by default
            path.write_text(json.dumps(doc))
    code = cli.main(["compare", str(tmp_path / "same" / "base.json"), str(tmp_path / "same" / "new.json")])
    out = capsys.readouterr().out
    assert "overhead ratios: reported, not gated: 1 replicate(s) per side cannot confirm a change" in out
    assert "one session (time-matched A/B)" in out and code == 0, out
    code = cli.main(["compare", str(tmp_path / "slow" / "base.json"), str(tmp_path / "slow" / "new.json")])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL:" in out and "pointwise" in out.split("FAIL:")[1], out
    # Asked for, the ratio gate stands, and one replicate cannot serve it.
    code = cli.main(["compare", str(tmp_path / "same" / "base.json"), str(tmp_path / "same" / "new.json"),
                     "--fail-ratio-above=10%"])
    assert code == 2 and "a gate on times or overhead ratios needs >= 2" in capsys.readouterr().err


def test_the_change_every_generation_shows_is_the_one_gated() -> None:
    # Identical code, measured here: the first pair of processes read mlp detach forward 2^10 at
    # 1.6x for half its pairs, the second at 1.003x: both "significant", one change by 0.3 %.
    base = [102e-6 * (1 + 0.002 * (i % 3)) for i in range(40)]
    new = [b * (1.65 if i < 12 else 1.03) for i, b in enumerate(base[:20])] + [b * 1.003 for b in base[20:]]
    judged = judge_pairs(base, new, 0.95, generations=2)
    assert judged["p_value"] < 0.01 and judged["ratio"] == pytest.approx(1.003, rel=1e-6)
    assert judge_pairs(base, new, 0.95)["ratio"] > 1.03  # pooled, the first generation's stretch pulls it up
