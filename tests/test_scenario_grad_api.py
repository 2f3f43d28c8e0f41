"""grad_api: what each way of computing gradients leaves alive and saves (exact bytes from real
torch runs), and that the gradients agree."""

import torch
from scenario_helpers import F32, WIDTH, info, measured, spec

from bench_lib.measure import runner

SIZE = 2**12
ACTIVATION = SIZE // WIDTH * WIDTH * F32


def test_what_each_variant_leaves_alive():
    figures = {v: measured(spec("grad_api", v, SIZE)) for v in ("backward", "autograd_grad", "retain_graph")}
    case, backward = figures["backward"]
    gradients = info(case, backward)["trainable_parameter_bytes"]
    assert backward["saved_bytes"] == 2 * ACTIVATION  # the mlp's two ReLU outputs
    assert backward["retained_tensor_bytes"] == gradients + F32  # one set of gradients and the loss
    assert figures["autograd_grad"][1]["retained_tensor_bytes"] == F32  # .grad untouched: only the loss
    # retain_graph: the graph, and so exactly the saved tensors, outlive backward.
    assert figures["retain_graph"][1]["retained_tensor_bytes"] == gradients + F32 + backward["saved_bytes"]


def test_create_graph_saves_for_the_second_backward():
    _, backward = measured(spec("grad_api", "backward", SIZE))
    _, double = measured(spec("grad_api", "create_graph", SIZE))
    assert double["saved_bytes"] > 4 * backward["saved_bytes"]


def test_autograd_grad_leaves_grad_none_and_retain_graph_accumulates_twice():
    grads = {}
    for variant in ("backward", "autograd_grad", "retain_graph"):
        case = runner.build(spec("grad_api", variant, SIZE), seed=0)
        case.setup()
        case.target()
        grads[variant] = [None if p.grad is None else p.grad.clone() for p in case.model.parameters()]
        case.teardown()
    assert all(g is None for g in grads["autograd_grad"])
    for once, twice in zip(grads["backward"], grads["retain_graph"], strict=True):
        torch.testing.assert_close(twice, 2 * once)
