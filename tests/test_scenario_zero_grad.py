"""zero_grad: the gradient state each reset leaves, and set_to_none's peak lower by exactly the gradients.

No test here depends on timing: figures come from the dispatch tracker and the saved-tensor
hooks, which count bytes, not seconds.
"""

import pytest
import torch
from scenario_helpers import F32, WIDTH, info, measured, spec

from bench_lib.measure import runner
from bench_lib.measure.workloads import DEEP_MLP_LAYERS
from bench_lib.scenarios.zero_grad import VARIANTS


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradient_state_after_a_step(variant):
    case = runner.build(spec("zero_grad", variant, 2**10), seed=0)
    for _ in range(2):  # every round starts from the same state
        case.setup()
        before = [p.grad for p in case.model.parameters()]
        # The restored weights and input give this step the gradients of the previous one.
        step_grads = [p.grad.clone() for p in case.model.parameters()]
        weights = [p.detach().clone() for p in case.model.parameters()]
        case.target()
        states = zip(case.model.parameters(), before, step_grads, weights, strict=True)
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
    memory = {v: measured(spec("zero_grad", v, size))[1] for v in VARIANTS}
    case, figures = measured(spec("zero_grad", "zero_", size))
    gradients = info(case, figures)["trainable_parameter_bytes"]
    assert gradients == DEEP_MLP_LAYERS * (WIDTH * WIDTH + WIDTH) * F32
    # zero_ and no reset do the same allocations (in-place reset, in-place accumulation)
    assert memory["zero_"]["peak_tensor_bytes"] == memory["accumulate"]["peak_tensor_bytes"]
    # The peak is at the end of the forward (activations outweigh the gradients here), where
    # zero_ still holds every gradient and set_to_none holds none.
    assert memory["zero_"]["peak_tensor_bytes"] - memory["set_to_none"]["peak_tensor_bytes"] == gradients
    for figures in memory.values():  # the gradients and the loss are left, whatever the reset
        assert figures["retained_tensor_bytes"] == gradients + F32
        assert figures["saved_bytes"] == (DEEP_MLP_LAYERS - 1) * (size // WIDTH) * WIDTH * F32
