"""The scenarios: selection, exact memory and graph figures of each variant, gradient states,
the invalid in-place case recorded (not raised), and a tiny real run of the suite.

No test here depends on timing: figures come from the dispatch tracker and the saved-tensor
hooks, which count bytes, not seconds.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench_lib import claims, devices
from bench_lib.cases import PRESETS, SCENARIO_SIZES, SelectionError, parse_scenario_selection
from bench_lib.memory import SavedTensorCounter
from bench_lib.scenarios import (
    DEEP_MLP_LAYERS,
    LiveSavedTensorCounter,
    ScenarioSpec,
    autograd_rejection,
    measure_scenario_memory,
    prepare_scenario,
    scenario_case_info,
    scenario_specs,
    static_skip_reason,
    trainable_layers,
)
from bench_lib.schema import (
    CASE_KEYS,
    FREEZING_VARIANTS,
    INVALID_KEYS,
    SCENARIO_KEYS,
    SCENARIOS,
    ZERO_GRAD_VARIANTS,
)

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 128  # mlp and deep_mlp: size = batch x 128
F32 = 4


def spec(scenario, variant, size, *, mode="grad", microbatches=None):
    workload, pass_ = {
        "accumulation": ("mlp", "step"),
        "zero_grad": ("deep_mlp", "step"),
        "freezing": ("deep_mlp", "backward"),
        "inplace": ("tanh_relu", "step" if mode == "grad" else "forward"),
    }[scenario]
    return ScenarioSpec(scenario, variant, workload, mode, pass_, size, "cpu", "float32", microbatches)


def measured(s):
    case = prepare_scenario(s, seed=0)
    case.run_once()  # as the suite does: lazy initialisation out of the figures
    return case, measure_scenario_memory(case, lambda: devices.tensor_probe(torch.device("cpu")))


# --- selection ---------------------------------------------------------------------------------


def test_scenario_selection_defaults_and_options():
    default = parse_scenario_selection()
    assert default.scenarios == SCENARIOS and default.microbatches == (1, 2, 4, 8)
    assert default.sizes == SCENARIO_SIZES["default"] and default.sizes["accumulation"] == (2**16, 2**20)
    assert parse_scenario_selection(scenarios="none").scenarios == ()
    assert parse_scenario_selection(scenarios="none").sizes == {}
    assert parse_scenario_selection(scenarios="all").scenarios == SCENARIOS
    chosen = parse_scenario_selection(scenarios="inplace, freezing,inplace", microbatches="8,2", sizes="2^12")
    assert chosen.scenarios == ("inplace", "freezing")
    assert chosen.microbatches == (1, 2, 8)  # the full batch is always the baseline
    assert chosen.sizes == {"inplace": (4096,), "freezing": (4096,)}


@pytest.mark.parametrize(
    "options,message",
    [
        ({"scenarios": "dropout"}, "unknown scenario 'dropout'; allowed: accumulation, zero_grad, freezing, inplace"),
        ({"scenarios": "none,freezing"}, "mixes all/none with names"),
        ({"microbatches": "2,0"}, "microbatches '0' is not a whole number from 1 to 4096"),
        ({"microbatches": ""}, "empty microbatches selection"),
        ({"sizes": "2^"}, "size '2^' is not an integer from 1 to 2^50"),
        ({"preset": "huge"}, "unknown preset 'huge'"),
    ],
)
def test_bad_scenario_selections_give_one_line(options, message):
    with pytest.raises(SelectionError) as error:
        parse_scenario_selection(**options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_every_preset_keeps_every_scenario_with_unique_ids_and_one_group_per_scenario():
    for preset in PRESETS:
        specs = scenario_specs(parse_scenario_selection(preset=preset, scenarios="all"), ("cpu",), ("float32",))
        assert {s.scenario for s in specs} == set(SCENARIOS)
        assert len({s.case_id for s in specs}) == len(specs)
        for s in specs:
            assert s.group == f"scenario {s.scenario} {s.workload} n={s.size} cpu float32"
            assert static_skip_reason(s) is None  # preset sizes divide into every k
        assert set(SCENARIO_SIZES[preset]) == set(SCENARIOS)
    assert parse_scenario_selection(preset="ci").scenarios == ()  # ci gates the mode matrix only
    assert parse_scenario_selection(preset="quick", narrowed=True).scenarios == ()  # WORKLOADS= or SIZES= named
    assert parse_scenario_selection(preset="quick", narrowed=True, scenarios="inplace").scenarios == ("inplace",)
    quick = scenario_specs(parse_scenario_selection(preset="quick"), ("cpu",), ("float32",))
    # 4 k + 3 resets + 3 freezing + 3 in-place variants x 3 modes, at one size each
    assert len(quick) == 4 + 3 + 3 + 9


def test_a_k_that_does_not_divide_the_batch_is_skipped_with_a_reason():
    assert static_skip_reason(spec("accumulation", "k=3", 2**12, microbatches=3)) == (
        "k=3 micro-batches do not divide the batch of 32 rows at size 4096"
    )


# --- freezing: exact graph and saved bytes -----------------------------------------------------


def test_freezing_shrinks_saved_bytes_and_graph_by_exact_amounts():
    size = 2**12
    batch = size // WIDTH
    figures = []
    for variant in FREEZING_VARIANTS:
        case, memory = measured(spec("freezing", variant, size))
        trainable = trainable_layers(variant)
        # The first trainable Linear saves its input (a ReLU output, or x: data that existed);
        # each ReLU after it saves its output, which the next Linear saves too (same storage).
        relu_outputs = min(trainable, DEEP_MLP_LAYERS - 1)
        assert memory["saved_bytes"] == relu_outputs * batch * WIDTH * F32, variant
        assert memory["saved_tensor_count"] == relu_outputs
        # Per trainable Linear: Addmm, T (of the weight) and two AccumulateGrad; a ReLU
        # between trainable layers; Mean at the top: 5 nodes per trainable layer.
        assert memory["graph_nodes"] == 5 * trainable
        # backward leaves exactly the trainable parameters' gradients
        grads = sum(p.numel() * F32 for p in case.model.parameters() if p.requires_grad)
        assert memory["retained_tensor_bytes"] == grads == case.scenario_info()["trainable_parameter_bytes"]
        figures.append((memory["saved_bytes"], memory["graph_nodes"], memory["peak_tensor_bytes"]))
    for earlier, later in zip(figures, figures[1:]):
        assert all(b < a for a, b in zip(earlier, later)), figures
    assert [f[1] for f in figures] == [80, 40, 5]


def test_frozen_layers_get_no_gradient():
    case = prepare_scenario(spec("freezing", "first_half_frozen", 2**10), seed=0)
    case.setup()
    case.target()
    grads = [p.grad is not None for p in case.model.parameters()]
    assert grads == [False] * DEEP_MLP_LAYERS + [True] * DEEP_MLP_LAYERS  # weight and bias per layer
    assert case.scenario_info() == {
        "scenario": "freezing", "variant": "first_half_frozen", "microbatches": None,
        "parameter_tensors": 2 * DEEP_MLP_LAYERS, "trainable_parameter_tensors": DEEP_MLP_LAYERS,
        "trainable_parameter_bytes": (DEEP_MLP_LAYERS // 2) * (WIDTH * WIDTH + WIDTH) * F32,
    }
    case.teardown()


def test_live_saved_counter_agrees_with_the_plain_one_for_a_single_graph():
    case = prepare_scenario(spec("freezing", "all_trainable", 2**12), seed=0)
    counters = []
    for counter in (SavedTensorCounter, LiveSavedTensorCounter):  # one at a time: only the innermost hook runs
        with counter(case.tensors_before_pass()) as counted:
            case.setup()
        counters.append(counted)
    plain, live = counters
    assert (live.saved_bytes, live.saved_count) == (plain.saved_bytes, plain.saved_count) == (15 * 32 * WIDTH * F32, 15)
    case.teardown()


# --- accumulation ------------------------------------------------------------------------------


def test_accumulation_peak_falls_with_k_and_saves_one_micro_batch_at_a_time():
    size = 2**16  # batch 512: activations outweigh the 194 KiB of gradients (below ~2^15 they do not)
    batch = size // WIDTH
    peaks = []
    for k in (1, 2, 4, 8):
        case, memory = measured(spec("accumulation", f"k={k}", size, microbatches=k))
        # the mlp's two ReLU outputs of one micro-batch, freed before the next one's forward
        assert memory["saved_bytes"] == 2 * (batch // k) * WIDTH * F32
        assert memory["saved_tensor_count"] == 2
        # left: the gradients, and the last micro-batch's loss (one float)
        assert memory["retained_tensor_bytes"] == case.scenario_info()["trainable_parameter_bytes"] + F32
        assert memory["graph_nodes"] == 16  # one micro-batch's graph: the same for every k
        peaks.append(memory["peak_tensor_bytes"])
    assert peaks == sorted(peaks, reverse=True) and len(set(peaks)) == 4, peaks
    assert peaks[-1] < peaks[0] / 2


@pytest.mark.parametrize("k", [2, 4, 8])
def test_accumulated_gradients_equal_the_full_batch_gradients(k):
    full = prepare_scenario(spec("accumulation", "k=1", 2**12, microbatches=1), seed=0)
    split = prepare_scenario(spec("accumulation", f"k={k}", 2**12, microbatches=k), seed=0)
    for case in (full, split):
        case.setup()
        case.target()
    for a, b in zip(full.model.parameters(), split.model.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad)
    full.teardown()
    split.teardown()


# --- zero_grad ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ZERO_GRAD_VARIANTS)
def test_gradient_state_after_a_step(variant):
    case = prepare_scenario(spec("zero_grad", variant, 2**10), seed=0)
    for _ in range(2):  # every round starts from the same state
        case.setup()
        before = [p.grad for p in case.model.parameters()]
        weights = [p.detach().clone() for p in case.model.parameters()]
        case.target()
        states = zip(case.model.parameters(), before, case.gradients, weights, strict=True)
        for parameter, old, step_grad, weight in states:
            if variant == "zero_":
                assert parameter.grad is old  # the same tensor, zeroed, then accumulated into
                torch.testing.assert_close(parameter.grad, step_grad)
            elif variant == "set_to_none":
                assert parameter.grad is not old  # a new tensor, made by backward
                torch.testing.assert_close(parameter.grad, step_grad)
            else:
                assert parameter.grad is old
                torch.testing.assert_close(parameter.grad, 2 * step_grad)  # the previous step's, plus this one's
            torch.testing.assert_close(parameter.detach(), weight - 1e-3 * parameter.grad)  # SGD took the step
        case.teardown()
        assert all(p.grad is None for p in case.model.parameters())


def test_set_to_none_peaks_lower_by_exactly_the_gradients():
    size = 2**16
    memory = {v: measured(spec("zero_grad", v, size))[1] for v in ZERO_GRAD_VARIANTS}
    case = prepare_scenario(spec("zero_grad", "zero_", size), seed=0)
    gradients = case.scenario_info()["trainable_parameter_bytes"]
    assert gradients == DEEP_MLP_LAYERS * (WIDTH * WIDTH + WIDTH) * F32
    # zero_ and no reset do the same allocations (in-place reset, in-place accumulation)
    assert memory["zero_"]["peak_tensor_bytes"] == memory["accumulate"]["peak_tensor_bytes"]
    # The peak is at the end of the forward (activations outweigh the gradients here), where
    # zero_ still holds every gradient and set_to_none holds none.
    assert memory["zero_"]["peak_tensor_bytes"] - memory["set_to_none"]["peak_tensor_bytes"] == gradients
    for figures in memory.values():  # the gradients and the loss are left, whatever the reset
        assert figures["retained_tensor_bytes"] == gradients + F32
        assert figures["saved_bytes"] == (DEEP_MLP_LAYERS - 1) * (size // WIDTH) * WIDTH * F32


# --- inplace -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_inplace_relu_halves_the_peak_without_grad(mode):
    n = 2**12
    peaks = {}
    for variant in ("relu", "relu_", "detach_then_modify"):
        _, memory = measured(spec("inplace", variant, n, mode=mode))
        assert memory["saved_bytes"] == 0 and memory["graph_nodes"] == 0
        peaks[variant] = memory["peak_tensor_bytes"]
    assert peaks["relu"] == 2 * n * F32  # tanh's output and relu's, together for a moment
    assert peaks["relu_"] == peaks["detach_then_modify"] == n * F32 + F32  # tanh's output, then the loss


def test_out_of_place_relu_under_grad_saves_both_outputs():
    n = 2**12
    _, memory = measured(spec("inplace", "relu", n))
    assert memory["saved_bytes"] == 2 * n * F32 and memory["saved_tensor_count"] == 2
    assert memory["graph_nodes"] == 4  # Mean, Relu, Tanh, AccumulateGrad of x


def test_all_variants_compute_the_same_values():
    outputs = []
    for variant in ("relu", "relu_", "detach_then_modify"):
        case = prepare_scenario(spec("inplace", variant, 2**10, mode="no_grad"), seed=0)
        with torch.no_grad():
            outputs.append(case.forward(case.x))
    torch.testing.assert_close(outputs[0], outputs[1])
    torch.testing.assert_close(outputs[0], outputs[2])


@pytest.mark.parametrize("variant", ["relu_", "detach_then_modify"])
def test_an_inplace_change_to_a_saved_tensor_is_rejected_with_pytorchs_message(variant):
    case = prepare_scenario(spec("inplace", variant, 2**10), seed=0)
    with pytest.raises(RuntimeError) as error:
        case.run_once()
    message = autograd_rejection(error.value)
    assert message is not None and "\n" not in message
    assert message.startswith("one of the variables needed for gradient computation has been modified by an inplace")
    assert "output 0 of Tanh" in message


def test_other_errors_are_not_taken_for_rejections():
    assert autograd_rejection(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    assert autograd_rejection(ValueError("modified by an inplace operation")) is None
    assert autograd_rejection(RuntimeError("a\nb modified by an inplace operation")) == "a"


def test_case_info_holds_case_and_scenario_keys():
    case, memory = measured(spec("accumulation", "k=2", 2**12, microbatches=2))
    info = scenario_case_info(case, memory, rounds=7)
    # measured during or after the timed rounds, added by the benchmark
    late = {"background_cpu"} | {key for key in CASE_KEYS if key.startswith("interleaved_")}
    assert set(info) == (set(CASE_KEYS) - late) | set(SCENARIO_KEYS)
    assert info["mode"] == "grad" and info["pass"] == "step" and info["variant"] == "k=2"
    assert info["microbatches"] == 2 and info["parameter_tensors"] == 6 and info["shape"] == "32x128"


# --- a tiny real run ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario_run(tmp_path_factory):
    storage = tmp_path_factory.mktemp("storage")
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", "-rs",
            "--gb-preset=quick", "--gb-workloads=elementwise", "--gb-modes=grad", "--gb-passes=forward",
            "--gb-sizes=1024", "--gb-devices=cpu", "--gb-scenarios=all", "--gb-scenario-sizes=4096",
            "--gb-microbatches=2",
            "--gb-threads=1", "--benchmark-save=scen", "--benchmark-save-data", "--benchmark-disable-gc",
            f"--benchmark-storage={storage}",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [path] = storage.rglob("0001_scen.json")
    return json.loads(path.read_text()), result.stdout


def test_the_run_file_holds_every_key_of_every_scenario_case(scenario_run):
    run, _ = scenario_run
    scenario_cases = [b for b in run["benchmarks"] if "scenario" in b["extra_info"]]
    matrix = [b for b in run["benchmarks"] if "scenario" not in b["extra_info"]]
    assert len(matrix) == 1 and set(matrix[0]["extra_info"]) == set(CASE_KEYS)
    # k=1,2 + 3 resets + 3 freezing + (3 variants x 3 modes - 2 rejected)
    assert len(scenario_cases) == 2 + 3 + 3 + 7
    for bench in scenario_cases:
        info = bench["extra_info"]
        assert set(info) == set(CASE_KEYS) | set(SCENARIO_KEYS) and len(info) == len(CASE_KEYS) + len(SCENARIO_KEYS)
        assert 0 <= info["background_cpu"] <= 1
        assert bench["group"] == f"scenario {info['scenario']} {info['workload']} n=4096 cpu float32"
        assert len(bench["stats"]["data"]) == bench["stats"]["rounds"] >= 5
    infos = [b["extra_info"] for b in scenario_cases]
    freezing = {info["variant"]: info for info in infos if info["scenario"] == "freezing"}
    assert [freezing[v]["graph_nodes"] for v in FREEZING_VARIANTS] == [80, 40, 5]
    assert [freezing[v]["saved_bytes"] // (32 * WIDTH * F32) for v in FREEZING_VARIANTS] == [15, 8, 1]
    gradbench = run["gradbench"]
    assert gradbench["scenario_selection"] == {
        "scenarios": list(SCENARIOS), "microbatches": [1, 2], "sizes": {s: [4096] for s in SCENARIOS}
    }
    assert not any("scenario" in entry for entry in gradbench["skipped"])  # cpu only: nothing else skipped


def test_the_rejected_cases_are_recorded_not_raised(scenario_run):
    run, stdout = scenario_run
    invalid = run["gradbench"]["invalid"]
    assert sorted(entry["variant"] for entry in invalid) == ["detach_then_modify", "relu_"]
    for entry in invalid:
        assert list(entry) == list(INVALID_KEYS)
        assert (entry["scenario"], entry["mode"], entry["pass"], entry["size"]) == ("inplace", "grad", "step", 4096)
        assert entry["error"].startswith("one of the variables needed for gradient computation has been modified")
    # -rs folds equal reasons into one line: "SKIPPED [2] ...: invalid in grad: one of the variables ..."
    [line] = [line for line in stdout.splitlines() if "invalid in grad: " in line]
    assert line.startswith("SKIPPED [2] ") and "invalid in grad: one of the variables needed for gradient" in line
    assert stdout.strip().splitlines()[-1].split(" in ")[0].strip("= ") == "16 passed, 2 skipped"


def test_the_claims_are_checked_and_printed(scenario_run):
    run, stdout = scenario_run
    checked = claims.check_run(run)
    assert list(checked) == list(SCENARIOS)
    for claim in checked.values():
        assert claim.verdict in (claims.HOLDS, claims.FAILS), claim  # every scenario was measured
        assert f"  {claim.scenario}: {claim.verdict.upper()}. " in stdout
    assert 'under grad relu_ is rejected ("one of the variables' in checked["inplace"].sentence
    assert "elementwise forward on cpu float32 (median, µs)" in stdout  # the mode matrix's summary, alone
