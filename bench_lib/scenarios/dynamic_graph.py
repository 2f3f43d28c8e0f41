"""dynamic_graph: the graph records only the operations that ran.

One shared ``Linear(128, 128) + ReLU`` block (workload "shared_block", input batch x 128 as data)
is applied d times by a Python loop: variants "depth=1" to "depth=16". In "branch=cheap" and
"branch=expensive" the data decides: ``1 block if x.mean() > 0 else 4`` (one host read per pass),
with the input shifted by +1 or -1 so that each variant takes its path. Each variant runs three
cases: grad forward, grad backward (its forward untimed in setup) and no_grad forward, all in one
interleaved window (eager; compiled cases run in their own rounds), so that round i of every case
shares a stretch of the machine's speed.

Per block, grad records Addmm, T (the weight's transpose, made anew each time) and Relu: graph
nodes = 3d + 3 (Mean and the two shared AccumulateGrad), and saves the block's ReLU output (the
next Linear saves that same storage), so saved bytes = d x batch x 128 x itemsize.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from bench_lib.analysis.claims import NOT_MEASURED, figure, verdict
from bench_lib.analysis.stats import fit_linear, mean_ci
from bench_lib.contract.result import CaseResult
from bench_lib.contract.scenario import Group, Kit, Scenario, ScenarioSpec, Verdict, preset_sizes, variant_number
from bench_lib.contract.scenario_views import Columns, Panels, Plot
from bench_lib.contract.units import format_bytes, format_seconds

DEPTHS = (1, 2, 4, 8, 16)
BRANCHES = {"branch=cheap": 1, "branch=expensive": 4}  # the depth each path runs
VARIANTS = (*(f"depth={d}" for d in DEPTHS), *BRANCHES)
CASES = (("grad", "forward"), ("grad", "backward"), ("no_grad", "forward"))


def build(spec: ScenarioSpec, seed: int, kit: Kit) -> Any:
    import torch
    from torch import nn

    mode = kit.mode(spec.mode)

    def blocks(model: nn.Module, x: torch.Tensor, depth: int) -> torch.Tensor:
        for _ in range(depth):
            x = model(x)
        return x.mean()

    def branch(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return blocks(model, x, 1 if bool(x.mean() > 0) else 4)  # the data picks the path

    if spec.compile != "eager":  # a static graph per depth; the data-dependent branch cannot be traced
        blocks, branch = kit.compile(blocks, spec.compile), kit.compile(branch, spec.compile)
    depth = variant_number(spec.variant)

    def forward(case: Any) -> None:
        with mode.context():
            case.loss = blocks(case.model, case.x, depth) if depth else branch(case.model, case.x)

    def backward(case: Any) -> None:
        case.loss.backward()

    timed, untimed = (backward, forward) if spec.pass_ == "backward" else (forward, None)
    case = kit.case(spec, seed, lambda shape: nn.Sequential(nn.Linear(shape[1], shape[1]), nn.ReLU()), timed,
                    before=untimed)
    if spec.variant in BRANCHES:
        with torch.no_grad():
            case.x.add_(1.0 if spec.variant == "branch=cheap" else -1.0)
    return case


def _linear(points: Mapping[int, int]) -> tuple[Fraction, Fraction] | None:
    """(intercept, slope) when every point lies exactly on one line through them; else None."""
    (d0, v0), (d1, v1) = sorted(points.items())[:2]
    slope = Fraction(v1 - v0, d1 - d0)
    intercept = v0 - slope * d0
    return (intercept, slope) if all(v == intercept + slope * d for d, v in points.items()) else None


def seconds_per_node(grad: Sequence[CaseResult], plain: Sequence[CaseResult],
                     nodes: Sequence[int]) -> tuple[float, Any] | None:
    """autograd's time per graph node: the slope of (grad - no_grad) forward time against the graph
    nodes, fitted in each interleaved round (round i of every case shares one time window), with
    the mean and 95 % t interval over rounds. None without interleaved rounds."""
    samples = [case.interleaved_data for case in (*grad, *plain)]
    if any(not s for s in samples) or len({len(s) for s in samples}) != 1:
        return None
    count = len(nodes)
    slopes = [fit_linear(nodes, [samples[i][index] - samples[count + i][index] for i in range(count)]).b
              for index in range(len(samples[0]))]
    if len(slopes) < 2:
        return None
    return sum(slopes) / len(slopes), mean_ci(slopes)


def check(group: Group) -> Verdict:
    if group.cases and ":" in str(group.cases[0].workload):
        return _check_compiled(group)
    depths = {d: case for d in DEPTHS if (case := group.find(f"depth={d}", "grad", "forward")) is not None}
    if len(depths) < 3:
        return NOT_MEASURED, f"needs grad forward at three depths or more; measured {len(depths)}"
    nodes = {d: figure(case, "graph_nodes") for d, case in depths.items()}
    saved = {d: figure(case, "saved_bytes") for d, case in depths.items()}
    node_line, saved_line = _linear(nodes), _linear(saved)
    reasons = []
    if node_line is None or node_line[1] <= 0:
        reasons.append("graph nodes are not exactly linear in depth")
    if saved_line is None or saved_line[1] <= 0:
        reasons.append("saved bytes are not exactly linear in depth")
    sentence = (f"graph nodes {', '.join(f'{nodes[d]} at depth {d}' for d in depths)}"
                + (f" (exactly {node_line[0]} + {node_line[1]} per block)" if node_line else "")
                + f", saved {format_bytes(saved[max(depths)])} at depth {max(depths)}"
                + (f" ({format_bytes(int(saved_line[1]))} per block, "
                   f"{format_bytes(int(saved_line[1] / node_line[1]))} per node)"
                   if saved_line and node_line and node_line[1] else ""))
    for variant, depth in BRANCHES.items():
        case = group.find(variant, "grad", "forward")
        if case is None or node_line is None:
            continue
        expected = node_line[0] + node_line[1] * depth
        sentence += f"; {variant} recorded {figure(case, 'graph_nodes')} nodes (its path: {expected})"
        if figure(case, "graph_nodes") != expected:
            reasons.append(f"{variant} did not record only the path it took")
    for d in depths:
        plain = group.find(f"depth={d}", "no_grad", "forward")
        if plain is not None and (figure(plain, "graph_nodes") or figure(plain, "saved_bytes")):
            reasons.append(f"no_grad recorded a graph at depth {d}")
    plains = {d: group.find(f"depth={d}", "no_grad", "forward") for d in depths}
    paired = [d for d in depths if plains[d] is not None]
    if len(paired) >= 2:
        cost = seconds_per_node([depths[d] for d in paired], [plains[d] for d in paired], [nodes[d] for d in paired])
        if cost is not None:
            mean, interval = cost
            sentence += (f"; autograd costs {mean * 1e9:.0f} ns per graph node in the forward "
                         f"(95% interval {interval.low * 1e9:.0f} to {interval.high * 1e9:.0f} ns, over this "
                         "run's interleaved rounds)")
        deepest = max(paired)
        sentence += (f"; at depth {deepest} the grad forward takes {format_seconds(depths[deepest].compared_median)} "
                     f"against no_grad's {format_seconds(plains[deepest].compared_median)}")
    return verdict(sentence, reasons)


def _check_compiled(group: Group) -> Verdict:
    """The static side: each new depth is a new graph (Dynamo specialises a Python int), and the
    branch that reads the data cannot be traced, so it breaks the graph. From the first calls'
    figures of the grad forward cases (compile_figures: graphs made, graph breaks). It relies on
    each depth's grad forward being its first case (CASES' order): later cases of that depth find
    the graph cached. The branches' breaks are summed: the second branch finds the part before the
    break cached, and breaks no more."""
    depths = {d: case for d in DEPTHS if (case := group.find(f"depth={d}", "grad", "forward")) is not None}
    if not depths:
        return NOT_MEASURED, "needs compiled grad forward cases"
    graphs = {d: int(case.recompiles or 0) for d, case in depths.items()}
    nodes = {figure(case, "graph_nodes") for case in depths.values()}
    branches = [case for v in BRANCHES if (case := group.find(v, "grad", "forward")) is not None]
    breaks = sum(int(case.graph_breaks or 0) for case in branches)
    branch_graphs = sum(int(case.recompiles or 0) for case in branches)
    low, high = (figure(depths[d], "saved_bytes") for d in (min(depths), max(depths)))
    sentence = (f"compiled, the first call at each depth made {', '.join(f'{graphs[d]} at {d}' for d in depths)} "
                f"graph(s), the autograd graph is {', '.join(map(str, sorted(nodes)))} nodes at every depth (one "
                f"compiled node for the whole forward), and saved bytes go from {format_bytes(low)} to "
                f"{format_bytes(high)}")
    if branches:
        sentence += f"; the data-dependent branch broke the graph {breaks} time(s) and made {branch_graphs} graph(s)"
    reasons = [f"depth {d} reused a compiled graph" for d, count in graphs.items() if count < 1]
    if branches and breaks < 1:
        reasons.append("the data-dependent branch did not break the graph")
    return verdict(sentence, reasons)


SCENARIO = Scenario(
    name="dynamic_graph", order=10, workload="shared_block", variants=VARIANTS, reference="depth=1",
    claim=("The graph is built as the code runs and records only what ran: graph nodes and saved bytes grow "
           "exactly linearly with the executed depth, and a data-dependent branch records only the path taken. "
           "Under torch.compile (COMPILE=inductor) the graph is static: each new depth is a new compiled graph, "
           "and the data-dependent branch breaks the graph."),
    # The counts hold at any size; autograd's cost per node shows where the matmuls are small.
    sizes=preset_sizes(quick=(2**10,), default=(2**10, 2**16), full=(2**10, 2**14, 2**18)),
    cases=CASES, check=check, build=build, memory_factor=40.0, compiles=True,
    columns=(Columns.nodes, Columns.saved, *Columns.time("time", "depth=1")),
    rows="variant · mode · pass",
    caption="one row per variant, mode and pass; ratios against depth=1 in the same mode and pass",
    plot=Plot(panels=(Panels.nodes, Panels.saved, Panels.time("time")),
              layout="lines", x_label="executed depth (blocks)", x_log=False),
)
