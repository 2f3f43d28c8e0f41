"""inplace: relu_ halves the peak without grad; under grad autograd rejects it, recorded with PyTorch's message.

No test here depends on timing: figures come from the dispatch tracker and the saved-tensor
hooks, which count bytes, not seconds.
"""

import pytest
import torch
from scenario_helpers import F32, measured, spec

from bench_lib.measure import runner


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
    losses = []
    for variant in ("relu", "relu_", "detach_then_modify"):
        case = runner.build(spec("inplace", variant, 2**10, mode="no_grad"), seed=0)
        case.setup()
        case.target()
        losses.append(case.loss)
        case.teardown()
    assert losses[0] > 0  # relu(tanh(x)) of a standard normal x: half the elements positive
    torch.testing.assert_close(losses[0], losses[1])
    torch.testing.assert_close(losses[0], losses[2])


@pytest.mark.parametrize("variant", ["relu_", "detach_then_modify"])
def test_an_inplace_change_to_a_saved_tensor_is_rejected_with_pytorchs_message(variant):
    case = runner.build(spec("inplace", variant, 2**10), seed=0)
    with pytest.raises(RuntimeError) as error:
        case.run_once()
    message = runner.autograd_rejection(error.value)
    assert message is not None and "\n" not in message
    assert message.startswith("one of the variables needed for gradient computation has been modified by an inplace")
    assert "output 0 of Tanh" in message


def test_other_errors_are_not_taken_for_rejections():
    assert runner.autograd_rejection(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    assert runner.autograd_rejection(ValueError("modified by an inplace operation")) is None
    assert runner.autograd_rejection(RuntimeError("a\nb modified by an inplace operation")) == "a"


# --- the claim, on run dicts ------------------------------------------------------------------


def bench(variant, mode, peak, median, spread=0.01):
    return {"extra_info": {"variant": variant, "mode": mode, "pass": "forward", "peak_tensor_bytes": peak,
                           "interleaved_median": median, "interleaved_q1": median * (1 - spread),
                           "interleaved_q3": median * (1 + spread)},
            "stats": {"median": median, "q1": median, "q3": median}}


def test_the_claim_fails_where_relu_underscore_is_slower_beyond_noise():
    from bench_lib.analysis.claims import FAILS, HOLDS
    from bench_lib.contract.scenario import Group
    from bench_lib.scenarios.inplace import check

    rejected = [{"variant": variant, "mode": "grad", "error": "modified by an inplace operation"}
                for variant in ("relu_", "detach_then_modify")]

    def group(inplace_median):
        # relu_ halves the peak in both modes; only its time under no_grad changes.
        return Group([bench("relu", "no_grad", 8192, 10e-6), bench("relu_", "no_grad", 4100, inplace_median),
                      bench("relu", "inference_mode", 8192, 10e-6), bench("relu_", "inference_mode", 4100, 9e-6)],
                     rejected)

    verdict, sentence = check(group(10.2e-6))  # 2 % slower: within noise
    assert verdict == HOLDS, sentence
    verdict, sentence = check(group(13e-6))  # 30 % slower, quartiles apart
    assert verdict == FAILS and sentence.endswith(": relu_ is slower beyond noise under no_grad"), sentence
