"""The hand-off to PyTorch's own tools: one case's Chrome trace, written whole, and the launcher
putting the files next to the run."""

import json
from pathlib import Path

from bench_lib import runner
from bench_lib.cases import CaseSpec
from bench_lib.launch import profile_args


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
