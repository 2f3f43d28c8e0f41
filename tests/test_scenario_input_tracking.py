"""input_tracking: tracked inputs and tracked preprocessing add graph nodes and saved bytes (exact
counts from real torch runs) and leave the parameters' gradients as they were."""

import pytest
import torch
from scenario_helpers import F32, WIDTH, measured, spec

from bench_lib.measure import runner
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


# --- the claim, on run dicts ------------------------------------------------------------------


def bench(variant, median, nodes, saved, spread=0.1):
    return {"extra_info": {"variant": variant, "mode": "grad", "pass": "step", "graph_nodes": nodes,
                           "saved_bytes": saved, "interleaved_median": median, "interleaved_q1": median * (1 - spread),
                           "interleaved_q3": median * (1 + spread)},
            "stats": {"median": median, "q1": median, "q3": median}}


def test_a_time_cost_within_noise_holds_and_says_so_but_a_faster_tracked_run_does_not():
    from bench_lib.analysis.claims import FAILS, HOLDS
    from bench_lib.contract.scenario import Group
    from bench_lib.scenarios.input_tracking import check

    def group(tracked_median):
        return Group([bench("params_only", 1e-3, 15, 512), bench("input_too", tracked_median, 16, 512),
                      bench("preprocess_no_grad", 1e-3, 15, 768), bench("preprocess_tracked", 1.3e-3, 21, 1024)])

    verdict, sentence = check(group(1.04e-3))
    assert verdict == HOLDS and "(1.04x, an extra time within this run's noise)" in sentence
    verdict, sentence = check(group(0.97e-3))  # a faster median within the noise is no extra time
    assert verdict == HOLDS and "(0.97x, a shorter time within this run's noise)" in sentence
    verdict, sentence = check(group(0.7e-3))
    assert verdict == FAILS and sentence.endswith("input_too is faster than params_only beyond noise")
