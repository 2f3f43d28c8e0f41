"""dynamic_graph: graph nodes and saved bytes exactly linear in the executed depth (analytic
counts from real torch runs), the branch recording only its path, and the claim and the cost per
node on hand-written run dicts."""

import pytest
from scenario_helpers import F32, WIDTH, measured, spec

from bench_lib.analysis.claims import FAILS, HOLDS, NOT_MEASURED
from bench_lib.contract.result import CaseResult
from bench_lib.contract.scenario import Group
from bench_lib.measure import devices, runner
from bench_lib.scenarios.dynamic_graph import BRANCHES, DEPTHS, check, seconds_per_node

SIZE = 2**12
BATCH = SIZE // WIDTH


@pytest.mark.parametrize("depth", DEPTHS)
def test_grad_records_three_nodes_and_one_activation_per_block(depth):
    _, memory = measured(spec("dynamic_graph", f"depth={depth}", SIZE, pass_="forward"))
    # Per block: Addmm, T (of the shared weight) and Relu; then Mean and the two AccumulateGrad.
    assert memory["graph_nodes"] == 3 * depth + 3
    # Each block's ReLU output is saved (by ReLU, and by the next block's Linear: the same storage).
    assert memory["saved_bytes"] == depth * BATCH * WIDTH * F32
    assert memory["saved_tensor_count"] == depth


def test_backward_sees_the_same_graph_and_no_grad_records_none():
    _, backward = measured(spec("dynamic_graph", "depth=4", SIZE, pass_="backward"))
    _, plain = measured(spec("dynamic_graph", "depth=4", SIZE, mode="no_grad"))
    assert (backward["graph_nodes"], backward["saved_bytes"]) == (15, 4 * BATCH * WIDTH * F32)
    assert (plain["graph_nodes"], plain["saved_bytes"]) == (0, 0)


@pytest.mark.parametrize("variant", BRANCHES)
def test_the_data_picks_the_path_and_the_graph_records_only_it(variant):
    case, memory = measured(spec("dynamic_graph", variant, SIZE, pass_="forward"))
    assert (case.x.mean() > 0).item() == (variant == "branch=cheap")
    assert memory["graph_nodes"] == 3 * BRANCHES[variant] + 3


def test_the_shared_block_gets_every_applications_gradient():
    # One Linear applied 4 times: its weight's gradient sums 4 contributions, through one AccumulateGrad.
    case = runner.build(spec("dynamic_graph", "depth=4", SIZE, pass_="backward"), seed=0)
    case.setup()
    case.target()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in case.model.parameters())
    case.teardown()


# --- the claim, on run dicts ------------------------------------------------------------------


def bench(variant, mode, pass_, nodes, saved, median=1e-4, data=None):
    return {"extra_info": {"variant": variant, "mode": mode, "pass": pass_, "graph_nodes": nodes, "saved_bytes": saved,
                           "interleaved_median": median if data else None, "interleaved_q1": median,
                           "interleaved_q3": median, "interleaved_data": data},
            "stats": {"median": median, "q1": median, "q3": median}}


def group(nodes_of=lambda d: 3 * d + 3, branch_nodes=(6, 15), per_node=50e-9):
    cases = []
    for depth in DEPTHS:
        nodes = nodes_of(depth)
        # round i: no_grad takes base + i ns jitter; grad adds exactly per_node per node
        plain = [10e-6 * depth + i * 1e-9 for i in range(8)]
        grad = [t + per_node * nodes + (1e-9 if i % 2 else -1e-9) for i, t in enumerate(plain)]
        cases += [bench(f"depth={depth}", "grad", "forward", nodes, 1024 * depth, grad[4], grad),
                  bench(f"depth={depth}", "no_grad", "forward", 0, 0, plain[4], plain)]
    cases += [bench(v, "grad", "forward", n, 0) for v, n in zip(BRANCHES, branch_nodes)]
    return Group(cases)


def test_the_claim_holds_with_exact_lines_and_gives_the_cost_per_node():
    verdict, sentence = check(group())
    assert verdict == HOLDS, sentence
    assert "(exactly 3 + 3 per block)" in sentence
    assert "1.0 KiB per block" in sentence and "branch=expensive recorded 15 nodes (its path: 15)" in sentence
    assert "autograd costs 50 ns per graph node" in sentence


def test_the_claim_fails_when_a_count_leaves_the_line_or_a_branch_records_more():
    verdict, sentence = check(group(nodes_of=lambda d: 3 * d + 3 + (d == 8)))
    assert verdict == FAILS and sentence.endswith("graph nodes are not exactly linear in depth")
    verdict, sentence = check(group(branch_nodes=(6, 51)))
    assert verdict == FAILS and "branch=expensive did not record only the path it took" in sentence


def test_too_few_depths_are_not_measured():
    assert check(Group([bench("depth=1", "grad", "forward", 6, 1)]))[0] == NOT_MEASURED


def test_seconds_per_node_is_the_mean_round_slope_with_an_interval():
    cases = group(per_node=80e-9).cases
    grad = [c for c in cases if c.mode == "grad" and c.variant.startswith("depth")]
    plain = [c for c in cases if c.mode == "no_grad"]
    mean, interval = seconds_per_node(grad, plain, [3 * d + 3 for d in DEPTHS])
    assert mean == pytest.approx(80e-9, rel=1e-6)
    assert interval.low < mean < interval.high and interval.high - interval.low < 10e-9
    assert seconds_per_node([CaseResult.of(bench("depth=1", "grad", "forward", 6, 1))],
                            [CaseResult.of(bench("depth=1", "no_grad", "forward", 0, 0))], [6]) is None  # no interleaved rounds


# --- under torch.compile ----------------------------------------------------------------------


@pytest.mark.skipif(devices.compiler_missing_reason("cpu") is not None, reason="no C++ compiler for inductor")
def test_compiled_each_depth_is_a_new_graph_and_the_branch_breaks_it():
    from dataclasses import replace

    figures = {}
    for variant in ("depth=1", "depth=2", "branch=cheap"):
        case = runner.build(replace(spec("dynamic_graph", variant, SIZE, pass_="forward"), compile="inductor"), 0)
        first = runner.compile_figures(case)
        memory = runner.measure_memory(case, lambda c=case: devices.tensor_probe(c.device, compiled=c.compiled))
        figures[variant] = (first, memory)
    for depth in ("depth=1", "depth=2"):
        first, memory = figures[depth]
        assert first["recompiles"] >= 1  # a Python int is specialised: a new depth is a new graph
        assert memory["graph_nodes"] == 3  # the compiled forward is one node, between Mean and AccumulateGrad
    assert figures["branch=cheap"][0]["graph_breaks"] >= 1  # x.mean() > 0 cannot be traced


def test_the_compiled_claim_holds_when_every_depth_compiled_and_the_branch_broke():
    def compiled(variant, recompiles, breaks=0):
        case = bench(variant, "grad", "forward", 3, 1024)
        case["extra_info"].update(workload="shared_block:inductor", recompiles=recompiles, graph_breaks=breaks)
        return case

    verdict, sentence = check(Group([compiled(f"depth={d}", 1) for d in DEPTHS] + [compiled("branch=cheap", 2, 1)]))
    assert verdict == HOLDS and "the data-dependent branch broke the graph 1 time(s) and made 2 graph(s)" in sentence
    verdict, sentence = check(Group([compiled(f"depth={d}", int(d != 8)) for d in DEPTHS]))
    assert verdict == FAILS and sentence.endswith("depth 8 reused a compiled graph")
