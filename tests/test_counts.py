"""Instruction counts (--gb-counts, COUNTS=1): the harness kept out of the count, the skip without
valgrind, the gate on counts and its refusal across builds, and, where valgrind is installed, one
real callgrind process for the whole module (valgrind's start-up is most of a minute): two counts
of identical code agree, the harness subtraction leaves an empty call at ~0, and the gate flags a
wasted element-wise op and nothing else."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from report_fixtures import case, environment, run_doc

from bench_lib.analysis import compare
from bench_lib.analysis import counts as analysis
from bench_lib.commands import cli
from bench_lib.commands.launch import split_counts
from bench_lib.contract.cases import CaseSpec
from bench_lib.contract.exits import Exit
from bench_lib.contract.scenario import ScenarioSpec
from bench_lib.measure import counts, countworker
from bench_lib.report.load import load_runs

ROOT = Path(__file__).resolve().parents[1]
NO_VALGRIND = counts.unavailable_reason()
needs_valgrind = pytest.mark.skipif(NO_VALGRIND is not None, reason=f"no instruction counts here: {NO_VALGRIND}")
GATE = compare.Gates(time=None, ratio=None, peak=None, counts=False, instructions=compare.Gates().instructions)


# --- the harness, without valgrind: a simulated callgrind ---------------------------------------


class FakeCallgrind:
    """torch._C's two valgrind calls over a counter: collection on adds ``after`` instructions (the
    toggle's return), collection off ``before`` (its call); the work of a call while collecting
    is counted; a dump writes the total to the next numbered file and zeroes it."""

    def __init__(self, prefix: str, after: int = 300, before: int = 450) -> None:
        self.prefix, self.after, self.before = prefix, after, before
        self.on, self.total, self.dumps = False, 0, 0
        self._C = self

    def _valgrind_toggle(self) -> None:
        self.on = not self.on
        self.total += self.after if self.on else self.before

    def _valgrind_toggle_and_dump_stats(self) -> None:
        self._valgrind_toggle()
        self.dumps += 1
        Path(f"{self.prefix}.{os.getpid()}.{self.dumps}").write_text(f"events: Ir\nfn=x\n0 1\ntotals: {self.total}\n")
        self.total = 0

    def work(self, instructions: int) -> None:
        if self.on:
            self.total += instructions


def test_a_count_is_the_target_alone_without_harness_setup_or_teardown(tmp_path: Path) -> None:
    fake = FakeCallgrind(str(tmp_path / "callgrind.out"))
    counter = countworker.Counter(fake, countworker.Dumps(fake.prefix))
    counter.calibrate(lambda: fake.work(0), 50)
    assert counter.harness == 750 and counter.fixed == 750  # one on/off pair per call, one per batch
    # The pass costs 12,345; its setup and teardown (run untimed by pytest-benchmark) 99,999 each.
    instructions, spread = counter.per_call(lambda: fake.work(12_345), 7, lambda: fake.work(99_999),
                                            lambda: fake.work(99_999))
    assert instructions == 12_345 and spread == 0
    assert not list(tmp_path.glob("callgrind.out.*"))  # each dump read, then deleted


def test_the_arithmetic_of_the_harness() -> None:
    # Empty batches of N and 2N calls: F + N h and F + 2N h.
    assert countworker.harness_of(737 + 200 * 789, 737 + 400 * 789, 200) == (789, 737)
    assert countworker.per_call(737 + 10 * (789 + 5000), 10, 789, 737) == 5000
    assert countworker.read_total("events: Ir\nsummary: 123\n") == 123
    # The allocators' self costs come off; a call's inclusive cost (after calls=) is no self cost.
    dump = ("events: Ir\nfn=at::add\n0 100\ncfn=malloc\ncalls=1 0\n0 40\n0 5\nfn=malloc\n0 30\n"
            "fn=_int_malloc\n0 10\nfn=_PyObject_Free\n0 2\ntotals: 147\n")
    assert countworker.read_costs(dump) == (147, 42)
    with pytest.raises(ValueError, match="totals"):
        countworker.read_total("events: Ir\n")
    assert countworker.calls_for(1e9) == 1 and countworker.calls_for(100) == countworker.MAX_CALLS


def test_which_cases_are_counted() -> None:
    cpu = CaseSpec("mlp", "grad", "forward", 1024, "cpu", "float32")
    assert counts.case_reason(cpu) is None
    assert "CPU cases" in counts.case_reason(CaseSpec("mlp", "grad", "forward", 1024, "cuda", "float32"))
    assert "eager" in counts.case_reason(CaseSpec("mlp", "grad", "forward", 1024, "cpu", "float32", "inductor"))
    scenario = ScenarioSpec("mlp", "grad", "step", 1024, "cpu", "float32", scenario="zero_grad", variant="none")
    assert "scenarios" in counts.case_reason(scenario)
    # Counted once per run: the launcher hands --gb-counts to the first replicate only.
    assert split_counts(["--gb-preset=ci", "--gb-counts", "-q"]) == (["--gb-preset=ci", "-q"], ["--gb-counts"])
    assert split_counts(["--gb-preset=ci"]) == (["--gb-preset=ci"], [])


def _path_without_valgrind(tmp_path: Path) -> str:
    """A PATH holding git alone (pytest-benchmark asks it for the commit), no valgrind."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("git",):
        found = shutil.which(tool)
        if found:
            (folder / tool).symlink_to(found)
    return str(folder)


def test_without_valgrind_counts_are_skipped_with_the_reason_and_the_rest_runs(tmp_path: Path,
                                                                                 monkeypatch) -> None:
    path = _path_without_valgrind(tmp_path)
    monkeypatch.setenv("PATH", path)
    found = counts.measure([CaseSpec("elementwise", "grad", "forward", 1024, "cpu", "float32")], 0)
    assert found.reason is not None and "valgrind is not installed" in found.reason
    assert found.for_spec(CaseSpec("elementwise", "grad", "forward", 1024, "cpu", "float32"))[
        "instructions_note"] == found.reason
    out = tmp_path / "run.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", "-q", "--gb-preset=ci",
         "--gb-workloads=elementwise", "--gb-passes=forward", "--gb-sizes=2^10", "--gb-devices=cpu",
         "--gb-modes=grad,no_grad", "--gb-counts", f"--benchmark-json={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PATH": path})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "instruction counts skipped: valgrind is not installed" in done.stdout
    doc = json.loads(out.read_text())
    assert doc["gradbench"]["counts"]["reason"].startswith("valgrind is not installed")
    [run] = load_runs([out]).runs
    assert analysis.skipped_reason(run) is not None and not analysis.has_counts(run)
    for bench in doc["benchmarks"]:
        figures = {k: v for k, v in bench["extra_info"].items() if k.startswith("instructions_")}
        assert figures["instructions_per_call"] is None and "valgrind" in figures["instructions_note"]
        assert bench["stats"]["median"] > 0 and bench["extra_info"]["saved_bytes"] is not None


# --- the gate, on synthetic runs ------------------------------------------------------------------

COUNTING = {"tool": "callgrind", "reason": None, "valgrind_version": "valgrind-3.19.0", "threads": 1,
            "settings": dict(counts.WORKER_ENVIRONMENT), "harness_instructions": 789.0, "batch_instructions": 737.0,
            "empty_instructions": 3.0, "context_instructions": {"grad": 8800.0, "no_grad": 17700.0,
                                                                 "inference_mode": 15500.0},
            "cases": 12, "seconds": 100.0}


def counted_run(path: Path, instructions: dict[tuple[str, str, int], float], *, env: dict | None = None,
                record: dict | None = COUNTING) -> Path:
    """A run of 3 workloads x 2 modes x 2 sizes whose cases carry the given instructions per call."""
    benchmarks = []
    for (workload, mode, size), value in instructions.items():
        bench = case(workload, mode, "forward", size, [1e-5 * (1.2 if mode == "grad" else 1.0)] * 5)
        bench["extra_info"].update(schema_version=8, instructions_per_call=value, instructions_calls=10,
                                   instructions_spread=0.001, instructions_note=None)
        benchmarks.append(bench)
    doc = run_doc(benchmarks, env=env)
    doc["gradbench"].update(schema_version=8, counts=record)
    path.write_text(json.dumps(doc))
    return path


BASE = {(w, m, s): 100_000.0 * (2 if w == "mlp" else 1) + (9_000 if m == "grad" else 0) + s
        for w in ("elementwise", "mlp", "attention") for m in ("grad", "no_grad") for s in (1024, 16384)}


def _compare(tmp_path: Path, new: dict, gates: compare.Gates = GATE, **options) -> tuple:
    base = load_runs([counted_run(tmp_path / "base.json", BASE)])
    other = load_runs([counted_run(tmp_path / "new.json", new, **options)])
    result = compare.compare_runs(base.runs[0], base.cases, other.runs[0], other.cases, gates=gates)
    return result, compare.outcome(result, gates)


def test_the_count_gate_flags_a_change_beyond_the_threshold_and_nothing_within(tmp_path: Path) -> None:
    new = {key: value * (1.05 if key[0] == "elementwise" else 1.008) for key, value in BASE.items()}
    result, ending = _compare(tmp_path, new)
    table = result.instructions
    assert len(table) == 12
    slower = table[table["verdict"] == compare.SLOWER]
    assert set(slower["workload"]) == {"elementwise"} and len(slower) == 4
    assert set(table[table["workload"] != "elementwise"]["verdict"]) == {compare.UNCHANGED}
    assert ending.code == Exit.REGRESSION
    [failure] = ending.failures
    assert failure.startswith("4 counted cases with more instructions per call by more than 2%")
    assert "elementwise grad forward 2^10 cpu float32" in failure and "mlp" not in failure
    assert "+5.00% instructions per call" in slower.iloc[0]["reason"]
    # Counts are judged by the gate alone: their heading claims no significance test.
    [heading] = [line for line in cli._comparison_lines(result, 3, ending) if line.startswith("instructions per call")]
    assert "Benjamini" not in heading and "a count is exact" in heading and "4 slower" in heading
    # Fewer instructions are reported, never a failure; off reports without gating.
    result, ending = _compare(tmp_path, {key: value * 0.9 for key, value in BASE.items()})
    assert set(result.instructions["verdict"]) == {compare.FASTER} and ending.code == Exit.OK
    off = compare.Gates(time=None, ratio=None, peak=None, counts=False, instructions=None)
    result, ending = _compare(tmp_path, new, gates=off)
    assert ending.code == Exit.OK and len(result.instructions) == 12


def test_counts_from_different_builds_are_never_compared_silently(tmp_path: Path) -> None:
    new = {key: value * 1.05 for key, value in BASE.items()}
    result, ending = _compare(tmp_path, new, env=environment(torch_git_version="fedcba9876543210"))
    assert result.build_differences == ("torch_git_version 0123456789abcdef0123456789abcdef01234567 vs "
                                        "fedcba9876543210",)
    assert set(result.instructions["verdict"]) == {compare.INCONCLUSIVE}
    assert all("builds differ" in reason for reason in result.instructions["reason"])
    assert ending.code == Exit.NOT_JUDGED and ending.failures == []
    assert "12 not judged (12 inconclusive)" in ending.line
    lines = cli._comparison_lines(result, 3, ending)
    assert any(line.startswith("instruction counts: the runs' builds differ (torch_git_version") for line in lines)
    # The CPU model and the counting settings count too; a run without counts is named.
    result, _ = _compare(tmp_path, BASE, env=environment(cpu_model="Intel Xeon"),
                         record={**COUNTING, "settings": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}})
    assert [d.split(" ")[0] for d in result.build_differences] == ["cpu_model", "settings"]
    base = load_runs([counted_run(tmp_path / "base.json", BASE)])
    plain = load_runs([counted_run(tmp_path / "plain.json", {k: None for k in BASE}, record=None)])
    result = compare.compare_runs(base.runs[0], base.cases, plain.runs[0], plain.cases, gates=GATE)
    assert result.instructions.empty
    assert "instruction counts: only the base run has them" in "\n".join(cli._comparison_lines(result, 3))


def test_the_report_reads_bookkeeping_contexts_and_disagreements(tmp_path: Path) -> None:
    loaded = load_runs([counted_run(tmp_path / "run.json", BASE)])
    run, cases = loaded.runs[0], loaded.cases
    wide = analysis.table(cases)
    assert set(wide["grad_minus_no_grad"]) == {9000.0} and wide["grad_minus_inference_mode"].isna().all()
    assert analysis.context_of(run, "detach") == 8800.0
    assert "torch.no_grad() 17,700" in analysis.context_sentence(run)
    # The times say grad is 1.2x no_grad everywhere; the counts say so for elementwise only.
    agreeing = {(w, m, s): 100_000.0 * (1.2 if w == "elementwise" and m == "grad" else 1.0)
                for (w, m, s) in BASE}
    found = analysis.disagreements(load_runs([counted_run(tmp_path / "other.json", agreeing)]).cases)
    assert {d.workload for d in found} == {"mlp", "attention"} and len(found) == 4
    assert "grad/no_grad is 1.20x in time but 1.000x in instructions" in found[0].sentence()
    rows = analysis.per_row(cases, loaded.runs)
    assert set(rows.loc[cases["mode"] == "grad", "grad_minus_mode_instructions"]) == {0.0}
    assert set(rows.loc[cases["mode"] == "no_grad", "context_instructions"]) == {17700.0}


# --- one real callgrind process for the module ----------------------------------------------------


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One suite run with --gb-counts: elementwise, its twin and its slow sibling, grad and no_grad,
    forward at 2^10, on CPU: one callgrind process counts all six."""
    if NO_VALGRIND is not None:
        pytest.skip(f"no instruction counts here: {NO_VALGRIND}")
    out = tmp_path_factory.mktemp("counts") / "run.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", "-q", "--gb-preset=ci",
         "-p", "tests.plugins.count_twins", "--gb-workloads=elementwise,elementwise_twin,elementwise_slow",
         "--gb-passes=forward", "--gb-sizes=2^10", "--gb-devices=cpu", "--gb-modes=grad,no_grad", "--gb-counts",
         f"--benchmark-json={out}"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"path": str(out), "doc": json.loads(out.read_text()), "stdout": done.stdout}


def _instructions(doc: dict) -> dict[tuple[str, str], dict]:
    return {(b["extra_info"]["workload"], b["extra_info"]["mode"]): b["extra_info"] for b in doc["benchmarks"]}


@needs_valgrind
def test_counts_of_a_small_case_repeat_within_half_a_percent(counted: dict) -> None:
    found = _instructions(counted["doc"])
    for mode in ("grad", "no_grad"):
        a, b = found[("elementwise", mode)], found[("elementwise_twin", mode)]
        assert a["instructions_per_call"] > 50_000  # relu(x * 2 + 1).mean() at 2^10: about 110,000
        # Two counts of one case (the two closest of its batches of N calls) agree within 0.5 %.
        assert a["instructions_spread"] < 0.005 and b["instructions_spread"] < 0.005
        assert a["instructions_note"] is None and a["instructions_calls"] >= 1
        # Identical code under another name (other objects, another heap layout: within 0.06 % here,
        # the allocators left out) stays far within the gate's 2 %.
        assert abs(a["instructions_per_call"] / b["instructions_per_call"] - 1) < 0.005, (a, b)
        assert 1_000 < a["instructions_allocators"] < a["instructions_per_call"]


@needs_valgrind
def test_the_harness_is_taken_off_and_the_contexts_are_counted(counted: dict) -> None:
    record = counted["doc"]["gradbench"]["counts"]
    assert record["reason"] is None and record["valgrind_version"].startswith("valgrind-")
    assert record["threads"] == 1 and record["settings"] == counts.WORKER_ENVIRONMENT
    assert 100 < record["harness_instructions"] < 5_000
    # An empty call counted as a case, less the harness: what the subtraction leaves is noise.
    assert abs(record["empty_instructions"]) < 100
    contexts = record["context_instructions"]
    assert set(contexts) == {"grad", "no_grad", "inference_mode"} and all(v > 1_000 for v in contexts.values())
    assert "counted 6 cases" in counted["stdout"]


@needs_valgrind
def test_the_count_gate_flags_the_wasted_op_and_nothing_else(counted: dict, tmp_path: Path) -> None:
    doc = counted["doc"]

    def renamed(source: str) -> Path:
        """The run with ``source``'s cases under elementwise's name, and nothing else."""
        benchmarks = []
        for bench in doc["benchmarks"]:
            if bench["extra_info"]["workload"] == source:
                bench = json.loads(json.dumps(bench))
                bench["extra_info"]["workload"] = "elementwise"
                benchmarks.append(bench)
        path = tmp_path / f"{source}.json"
        path.write_text(json.dumps({**doc, "benchmarks": benchmarks}))
        return path

    base, twin, slow = (load_runs([renamed(name)]) for name in ("elementwise", "elementwise_twin",
                                                                   "elementwise_slow"))
    same = compare.compare_runs(base.runs[0], base.cases, twin.runs[0], twin.cases, gates=GATE)
    assert set(same.instructions["verdict"]) == {compare.UNCHANGED}
    changed = compare.compare_runs(base.runs[0], base.cases, slow.runs[0], slow.cases, gates=GATE)
    assert set(changed.instructions["verdict"]) == {compare.SLOWER}
    assert all(ratio > 1.05 for ratio in changed.instructions["ratio"])
    assert compare.outcome(changed, GATE).code == Exit.REGRESSION
    assert not math.isnan(analysis.spread_summary(base.cases))
