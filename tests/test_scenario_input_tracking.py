"""input_tracking: tracked inputs and tracked preprocessing add graph nodes and saved bytes (exact
counts from real torch runs) and leave the parameters' gradients as they were."""

import pytest
import torch
from scenario_helpers import F32, WIDTH, measured, spec

from bench_lib import runner
from bench_lib.scenarios.input_tracking import VARIANTS

SIZE = 2**12
ACTIVATION = SIZE // WIDTH * WIDTH * F32  # one batch x 128 tensor


def test_graph_nodes_and_saved_bytes_of_each_variant():
    figures = {v: measured(spec("input_tracking", v, SIZE))[1] for v in VARIANTS}
    # params_only: the mlp's two ReLU outputs; the input is data that existed before the pass.
    assert (figures["params_only"]["graph_nodes"], figures["params_only"]["saved_bytes"]) == (15, 2 * ACTIVATION)
    # input_too: the same saved tensors (the input existed), one more node: the input's AccumulateGrad.
    assert (figures["input_too"]["graph_nodes"], figures["input_too"]["saved_bytes"]) == (16, 2 * ACTIVATION)
    # preprocess_no_grad: the normalised input is new, so the first Linear's saving it counts; no more nodes.
    assert (figures["preprocess_no_grad"]["graph_nodes"], figures["preprocess_no_grad"]["saved_bytes"]) == (
        15, 3 * ACTIVATION)
    # preprocess_tracked: the normalisation's own graph (mean, std, sub, add, div, the raw input's
    # AccumulateGrad) and what it saves.
    assert figures["preprocess_tracked"]["graph_nodes"] == 21
    assert figures["preprocess_tracked"]["saved_bytes"] > figures["preprocess_no_grad"]["saved_bytes"]


@pytest.mark.parametrize("pair", [("params_only", "input_too"), ("preprocess_no_grad", "preprocess_tracked")])
def test_tracking_buys_nothing_the_parameters_gradients_are_the_same(pair):
    gradients = []
    for variant in pair:
        case = runner.build(spec("input_tracking", variant, SIZE), seed=0)
        case.setup()
        case.target()
        gradients.append([p.grad.clone() for p in case.model.parameters()])
        tracked = case.x.grad is not None
        case.teardown()
        assert tracked == (variant != pair[0])  # only the tracking variant computed an input gradient
    for cheap, tracked in zip(*gradients, strict=True):
        torch.testing.assert_close(tracked, cheap)
