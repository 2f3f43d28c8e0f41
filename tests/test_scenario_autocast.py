"""autocast: bfloat16 autocast's saved bytes against float32's (real torch runs), and the skip of a
run that is not float32."""

from scenario_helpers import F32, WIDTH, measured, spec

from bench_lib.measure import runner
from bench_lib.measure.workloads import DEEP_MLP_LAYERS
from bench_lib.scenarios.autocast import MAX_SHARE

SIZE = 2**18
BATCH = SIZE // WIDTH
BF16 = 2


def test_autocast_saves_half_size_activations_plus_copies_of_the_input_and_weights():
    full = measured(spec("autocast", "float32", SIZE))[1]
    half = measured(spec("autocast", "bfloat16", SIZE))[1]
    # float32: the 15 ReLU outputs (the input existed before the pass).
    assert full["saved_bytes"] == (DEEP_MLP_LAYERS - 1) * BATCH * WIDTH * F32
    # bfloat16: the 15 ReLU outputs and the input's bfloat16 copy, at 2 bytes, plus the bfloat16
    # weight copy of every layer but the first (128 x 128 each): a layer keeps its weight for its
    # input's gradient, which the first one, fed data, does not compute.
    activations = DEEP_MLP_LAYERS * BATCH * WIDTH * BF16
    assert half["saved_bytes"] == activations + (DEEP_MLP_LAYERS - 1) * WIDTH * WIDTH * BF16
    assert half["saved_bytes"] <= MAX_SHARE * full["saved_bytes"]


def test_a_run_in_another_dtype_skips_autocast_with_the_reason():
    assert runner.static_skip_reason(spec("autocast", "bfloat16", SIZE, dtype="bfloat16")) == (
        "autocast compares a float32 model with its bfloat16 autocast; this run's models are bfloat16")
    assert runner.static_skip_reason(spec("autocast", "bfloat16", SIZE)) is None
