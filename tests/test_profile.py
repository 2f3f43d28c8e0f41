"""The hand-off to PyTorch's own tools: one case's Chrome trace, written whole, on CUDA a memory
snapshot too (with fakes for the profiler and the memory history here), and the launcher putting
the files next to the run."""

import json
from pathlib import Path

import pytest
import torch

from bench_lib.commands.launch import profile_args
from bench_lib.contract.cases import CaseSpec
from bench_lib.measure import runner


def test_a_case_is_traced_after_its_measurement(tmp_path):
    case = runner.prepare(CaseSpec("elementwise", "grad", "step", 1024, "cpu", "float32"), seed=0)
    [trace] = runner.profile_case(case, tmp_path / "profiles", "elementwise-step-grad-1024-cpu-float32")
    assert trace == tmp_path / "profiles" / "elementwise-step-grad-1024-cpu-float32.trace.json"
    events = json.loads(trace.read_text())["traceEvents"]
    names = {event.get("name") for event in events}
    # PROFILED_PASSES whole rounds of the case: its forward ops and autograd's backward nodes.
    assert {"aten::relu", "aten::mean"} <= names
    assert sum(1 for event in events if event.get("name") == "aten::relu") == runner.PROFILED_PASSES
    assert any(str(name).startswith("autograd::engine::evaluate_function: ReluBackward0") for name in names)
    assert sorted(p.name for p in trace.parent.iterdir()) == [trace.name]  # no partial file left


def test_the_launcher_points_the_replicates_at_its_folder_unless_told_otherwise():
    workdir = Path("/tmp/replicates")
    assert profile_args(["--gb-profile=mlp-*"], workdir) == ["--gb-profile-dir=/tmp/replicates/profiles"]
    assert profile_args(["--gb-profile=mlp-*", "--gb-profile-dir=mine"], workdir) == []
    assert profile_args(["--gb-workloads=mlp"], workdir) == []


class FakeCudaCase:
    """A case on a CUDA device as profile_case sees it: its device and its rounds."""

    device = torch.device("cuda")  # only a name: nothing runs on it

    def __init__(self) -> None:
        self.rounds = 0

    def run_once(self) -> None:
        self.rounds += 1


class FakeProfile:
    """torch.profiler.profile's interface: the activities asked for, and a trace written on export."""

    made: list["FakeProfile"] = []

    def __init__(self, activities, **_options) -> None:
        self.activities = activities
        FakeProfile.made.append(self)

    def __enter__(self) -> "FakeProfile":
        return self

    def __exit__(self, *_exc) -> None:
        return None

    def export_chrome_trace(self, path: str) -> None:
        Path(path).write_text('{"traceEvents": []}')


@pytest.fixture
def fake_cuda_tools(monkeypatch):
    """torch.profiler.profile and the CUDA memory history replaced by fakes that log their calls."""
    calls: list = []
    FakeProfile.made = []
    monkeypatch.setattr(torch.profiler, "profile", FakeProfile)
    monkeypatch.setattr(torch.cuda.memory, "_record_memory_history",
                        lambda enabled="all", **options: calls.append(("history", enabled, options)))

    def dump(path: str) -> None:
        calls.append(("dump", path))
        Path(path).write_bytes(b"snapshot")

    monkeypatch.setattr(torch.cuda.memory, "_dump_snapshot", dump)
    return calls


def test_a_cuda_case_gets_its_kernels_traced_and_a_memory_snapshot(tmp_path, fake_cuda_tools):
    case = FakeCudaCase()
    written = runner.profile_case(case, tmp_path, "mlp-forward-grad-1024-cuda-float32")
    assert [p.name for p in written] == ["mlp-forward-grad-1024-cuda-float32.trace.json",
                                        "mlp-forward-grad-1024-cuda-float32.memory.pickle"]
    assert torch.profiler.ProfilerActivity.CUDA in FakeProfile.made[0].activities
    assert written[1].read_bytes() == b"snapshot"
    # The history is recorded around the snapshot's own rounds, then switched off.
    assert [call[0] for call in fake_cuda_tools] == ["history", "dump", "history"]
    assert fake_cuda_tools[0][1] == "all" and fake_cuda_tools[-1][1] is None
    assert case.rounds == 2 * runner.PROFILED_PASSES
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)  # no partial file


def test_a_failed_snapshot_leaves_no_file_and_switches_the_history_off(tmp_path, fake_cuda_tools, monkeypatch):
    def broken(path: str) -> None:
        Path(path).write_bytes(b"half")
        raise RuntimeError("snapshot failed")

    monkeypatch.setattr(torch.cuda.memory, "_dump_snapshot", broken)
    with pytest.raises(RuntimeError, match="snapshot failed"):
        runner.profile_case(FakeCudaCase(), tmp_path, "case")
    assert fake_cuda_tools[-1][1] is None  # the history is off again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.trace.json"]  # the half snapshot is gone


def test_saving_the_runs_of_against_is_all_or_nothing(tmp_path, monkeypatch):
    from bench_lib.commands import launch

    real_save = launch.save_run
    calls = []

    def second_fails(doc, storage, name):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_save(doc, storage, name)

    monkeypatch.setattr(launch, "save_run", second_fails)
    with pytest.raises(OSError, match="disk full"):
        launch.save_runs([{"benchmarks": []}, {"benchmarks": []}], tmp_path, ["quick-main", "quick"])
    assert calls == ["quick-main", "quick"] and not list(tmp_path.rglob("*.json"))  # the first is gone again
