"""torch.compile as a dimension: selection and names, skips with their reasons, what a compiled
case saves (a real inductor compile, pinned against eager), and bench_lib.analysis.compiled on run dicts."""

from __future__ import annotations

import pytest
import torch

from bench_lib.analysis import compiled
from bench_lib.analysis.claims import FAILS, HOLDS
from bench_lib.contract.cases import CaseSpec, SelectionError, parse_selection
from bench_lib.measure import devices, runner


def test_compile_selection_and_names():
    selection = parse_selection(known_workloads=("mlp",), sizes="1024", modes="grad", passes="forward",
                                devices="cpu", compiles="eager, inductor")
    eager, compiled_case = selection.cases()
    assert (eager.measured_workload, compiled_case.measured_workload) == ("mlp", "mlp:inductor")
    assert compiled_case.case_id == "mlp:inductor-forward-grad-1024-cpu-float32"
    assert compiled_case.group == "mlp:inductor forward n=1024 cpu float32"
    assert compiled_case.as_dict()["workload"] == "mlp:inductor"
    assert parse_selection(known_workloads=("mlp",)).compiles == ("eager",)  # opt-in
    assert selection.as_dict()["compiles"] == ["eager", "inductor"]
    with pytest.raises(SelectionError, match="unknown compile 'jit'; allowed: eager, inductor, reduce-overhead"):
        parse_selection(known_workloads=("mlp",), compiles="jit")


def test_reduce_overhead_needs_cuda_and_inductor_a_compiler(monkeypatch):
    from dataclasses import replace

    from bench_lib.contract.cases import ScenarioSelection
    from bench_lib.scenarios import scenario_specs

    spec = CaseSpec("mlp", "grad", "forward", 1024, "cpu", "float32", "reduce-overhead")
    assert runner.static_skip_reason(spec) == "reduce-overhead replays CUDA graphs; on cpu there are none"
    selection = ScenarioSelection(("dynamic_graph",), (1,), {"dynamic_graph": (1024,)}, ("eager", "reduce-overhead"))
    scenario = [s for s in scenario_specs(selection, ("cpu",), ("float32",)) if s.compile == "reduce-overhead"]
    assert scenario and all(runner.static_skip_reason(s) == runner.static_skip_reason(spec) for s in scenario)
    assert runner.static_skip_reason(replace(scenario[0], compile="eager")) is None
    monkeypatch.setenv("CXX", "no-such-compiler -O2")
    assert runner.machine_skip_reason(CaseSpec("mlp", "grad", "forward", 1024, "cpu", "float32", "inductor")) == (
        "torch.compile's inductor needs a C++ compiler on cpu; none found (no-such-compiler)")
    assert runner.machine_skip_reason(CaseSpec("mlp", "grad", "forward", 1024, "cpu", "float32")) is None
    assert devices.compiler_missing_reason("cuda") is None  # inductor writes Triton there


def test_a_compiler_failure_skips_the_compiled_case_only():
    import torch._dynamo.exc

    spec = CaseSpec("mlp", "grad", "forward", 1024, "cpu", "float32", "inductor")
    failure = RuntimeError("backend failed")
    failure.__cause__ = torch._dynamo.exc.BackendCompilerFailed.__new__(torch._dynamo.exc.BackendCompilerFailed)
    assert runner.unrunnable_reason(spec, failure) == (
        "torch.compile (inductor) failed here, the eager cases still run: backend failed")
    assert runner.unrunnable_reason(CaseSpec("mlp", "grad", "forward", 1024, "cpu", "float32"), failure) is None
    assert runner.unrunnable_reason(spec, RuntimeError("a bug of ours")) is None


@pytest.mark.skipif(devices.compiler_missing_reason("cpu") is not None, reason="no C++ compiler for inductor")
def test_compiled_elementwise_saves_one_byte_per_element_where_eager_saves_four():
    size = 2**10
    figures = {}
    for compile_mode in ("eager", "inductor"):
        case = runner.prepare(CaseSpec("elementwise", "grad", "forward", size, "cpu", "float32", compile_mode), 0)
        first = runner.compile_figures(case)
        memory = runner.measure_memory(case, lambda c=case: devices.tensor_probe(c.device, compiled=c.compiled))
        figures[compile_mode] = (first, memory)
    (eager_first, eager), (compiled_first, inductor) = figures["eager"], figures["inductor"]
    # eager: ReLU saves its float32 output; compiled: AOTAutograd keeps a 1-byte mask instead.
    assert (eager["saved_bytes"], inductor["saved_bytes"]) == (4 * size, size)
    # The compiled forward is one node (CompiledFunctionBackward) between Mean and AccumulateGrad.
    assert (eager["graph_nodes"], inductor["graph_nodes"]) == (5, 3)
    assert eager_first == {"compile": "eager", "compile_seconds": None, "recompiles": None, "graph_breaks": None}
    assert compiled_first["compile"] == "inductor" and compiled_first["compile_seconds"] > 0
    assert compiled_first["graph_breaks"] == 0 and compiled_first["recompiles"] in (0, 1)  # 0: cached by a test before
    assert (inductor["peak_tensor_bytes"], inductor["tensor_memory_method"]) == (None, "none-under-compile")


def test_the_dispatch_tracker_would_turn_compilation_off():
    # Why compiled CPU cases get no tensor probe: under a dispatch mode the model runs eagerly.
    from bench_lib.measure.memory import CpuTensorTracker, count_graph_nodes

    model = torch.compile(torch.nn.ReLU(), dynamic=False)
    x = torch.randn(64, requires_grad=True)
    with CpuTensorTracker():
        loss = model(x).mean()
    assert count_graph_nodes(loss) == 3  # Relu, Mean, AccumulateGrad: eager's graph, not a compiled one


# --- bench_lib.analysis.compiled on run dicts ------------------------------------------------------------


def bench(workload, mode, size, median, saved=0, compile_seconds=None):
    return {"extra_info": {"workload": workload, "mode": mode, "pass": "forward", "size": size, "device": "cpu",
                           "dtype": "float32", "elements": size, "saved_bytes": saved, "interleaved_median": None,
                           "compile_seconds": compile_seconds, "recompiles": 1 if compile_seconds else None,
                           "graph_breaks": 0 if compile_seconds else None},
            "stats": {"median": median, "q1": median * 0.99, "q3": median * 1.01}}


def run(compiled_saved=1, compiled_grad=2e-5):
    cases = []
    for size in (1024, 16384):
        cases += [bench("elementwise", "grad", size, 1.1e-5, 4 * size), bench("elementwise", "no_grad", size, 1e-5),
                  bench("elementwise:inductor", "grad", size, compiled_grad * size / 1024, compiled_saved * size, 2.0),
                  bench("elementwise:inductor", "no_grad", size, 1e-5 * size / 1024, 0, 0.5)]
    return cases


def test_saved_bytes_claim_holds_or_not_and_the_figures_are_reported():
    claims = compiled.compile_claims(run())
    assert [c.verdict for c in claims] == [HOLDS, None, None, None]
    assert claims[0].group == "elementwise:inductor against elementwise on cpu float32"
    assert claims[0].sentence == ("saved per input element, compiled against eager: 1 B against 4 B at 2^10, "
                                  "1 B against 4 B at 2^14")
    assert claims[1].sentence == "grad / no_grad, compiled against eager: 2.00x against 1.10x at 2^10, " \
                                 "2.00x against 1.10x at 2^14"
    assert claims[2].sentence.startswith("at no measured size (20.0 µs against 11.0 µs at 2^10")
    assert claims[3].sentence == ("4 cases, first calls 5.0 s in all, the slowest 2.0 s (grad forward at 2^10); "
                                  "4 graphs compiled, 0 graph breaks")
    assert compiled.compile_claims(run(compiled_saved=8))[0].verdict == FAILS
    faster = compiled.compile_claims(run(compiled_grad=5e-7))[2]
    assert faster.sentence.startswith("beyond noise at 2^10")
    assert compiled.compile_claims([b for b in run() if ":" not in b["extra_info"]["workload"]]) == []


# --- the report's section, on a fixed run ------------------------------------------------------


def test_the_report_shows_eager_against_compiled_from_a_run_file(tmp_path):
    import copy
    import json
    from pathlib import Path

    from bench_lib.report.build import analyse, write_report

    doc = json.loads((Path(__file__).parent / "data" / "report_small.json").read_text())
    twins = []
    for bench in doc["benchmarks"]:
        if bench["extra_info"]["workload"] == "mlp":
            twin = copy.deepcopy(bench)
            twin["name"] += "-inductor"
            info = twin["extra_info"]
            info.update(workload="mlp:inductor", compile="inductor", compile_seconds=1.5, recompiles=1,
                        graph_breaks=0, peak_tensor_bytes=None, retained_tensor_bytes=None,
                        saved_bytes=None if info["saved_bytes"] is None else info["saved_bytes"] // 2)
            twins.append(twin)
    doc["benchmarks"] += twins
    path = tmp_path / "0001_run.json"
    path.write_text(json.dumps(doc))
    report = analyse([path])
    [summary] = report.summaries
    assert [c.verdict for c in summary.compile_claims][:1] == [HOLDS]
    out = tmp_path / "reports" / "index.html"
    write_report(report, out)
    page = out.read_text()
    section = page[page.index('<section id="compiled">'):]
    section = section[:section.index("</section>")]
    assert "mlp:inductor against mlp on cpu float32" in section and "<img " in section and "<table>" in section
    assert "saved per input element, compiled against eager" in section
    assert "**Eager against compiled** (torch.compile)" in (out.parent / "summary.md").read_text()


def test_a_compiled_scenario_case_without_a_tensor_peak_loads(tmp_path):
    import copy
    import json
    from pathlib import Path

    from bench_lib.report.load import load_runs

    doc = json.loads((Path(__file__).parent / "data" / "report_scenarios.json").read_text())
    case = copy.deepcopy(next(b for b in doc["benchmarks"] if b["extra_info"].get("scenario") == "freezing"))
    case["name"] += "-inductor"
    case["extra_info"].update(workload="deep_mlp:inductor", compile="inductor", peak_tensor_bytes=None,
                              retained_tensor_bytes=None, tensor_memory_method="none-under-compile")
    doc["benchmarks"].append(case)
    path = tmp_path / "0001_run.json"
    path.write_text(json.dumps(doc))
    loaded = load_runs([path])
    assert "deep_mlp:inductor" in set(loaded.scenarios["workload"])
    case["extra_info"]["tensor_memory_method"] = "cuda-allocator"  # a probe ran: it must have a figure
    path.write_text(json.dumps(doc))
    with pytest.raises(Exception, match="peak_tensor_bytes must be an integer >= 0 in a scenario case"):
        load_runs([path])
