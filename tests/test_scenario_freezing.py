"""freezing: exact graph nodes, saved bytes and gradients of each set of frozen layers.

No test here depends on timing: figures come from the dispatch tracker and the saved-tensor
hooks, which count bytes, not seconds.
"""

from scenario_helpers import F32, WIDTH, info, measured, spec

from bench_lib.contract.result import SCENARIO_KEYS
from bench_lib.measure import runner
from bench_lib.measure.memory import LiveSavedTensorCounter, SavedTensorCounter
from bench_lib.measure.workloads import DEEP_MLP_LAYERS
from bench_lib.scenarios.freezing import VARIANTS as FREEZING_VARIANTS
from bench_lib.scenarios.freezing import trainable_layers


def test_freezing_shrinks_saved_bytes_and_graph_by_exact_amounts():
    size = 2**12
    batch = size // WIDTH
    figures = []
    for variant in FREEZING_VARIANTS:
        case, memory = measured(spec("freezing", variant, size))
        trainable = trainable_layers(variant, DEEP_MLP_LAYERS)
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
        assert memory["retained_tensor_bytes"] == grads == info(case, memory)["trainable_parameter_bytes"]
        figures.append((memory["saved_bytes"], memory["graph_nodes"], memory["peak_tensor_bytes"]))
    for earlier, later in zip(figures, figures[1:]):
        assert all(b < a for a, b in zip(earlier, later)), figures
    assert [f[1] for f in figures] == [80, 40, 5]


def test_frozen_layers_get_no_gradient():
    case, memory = measured(spec("freezing", "first_half_frozen", 2**10))
    case.setup()
    case.target()
    grads = [p.grad is not None for p in case.model.parameters()]
    assert grads == [False] * DEEP_MLP_LAYERS + [True] * DEEP_MLP_LAYERS  # weight and bias per layer
    assert {key: info(case, memory)[key] for key in SCENARIO_KEYS} == {
        "scenario": "freezing", "variant": "first_half_frozen", "microbatches": None,
        "parameter_tensors": 2 * DEEP_MLP_LAYERS, "trainable_parameter_tensors": DEEP_MLP_LAYERS,
        "trainable_parameter_bytes": (DEEP_MLP_LAYERS // 2) * (WIDTH * WIDTH + WIDTH) * F32,
    }
    case.teardown()


def test_live_saved_counter_agrees_with_the_plain_one_for_a_single_graph():
    case = runner.build(spec("freezing", "all_trainable", 2**12), seed=0)
    counters = []
    for counter in (SavedTensorCounter, LiveSavedTensorCounter):  # one at a time: only the innermost hook runs
        with counter(case.tensors_before_pass()) as counted:
            case.setup()
        counters.append(counted)
    plain, live = counters
    assert (live.saved_bytes, live.saved_count) == (plain.saved_bytes, plain.saved_count) == (15 * 32 * WIDTH * F32, 15)
    case.teardown()
