"""freezing: backward of deep_mlp with some layers frozen (``requires_grad_(False)``).

Variants "all_trainable", "first_half_frozen" and "last_layer_only" under grad, pass "backward"
(the forward runs untimed in setup, as in the mode matrix). The input is data: with a tracked
input every layer would still need its input gradient, and freezing could not shrink the graph.
"""

from __future__ import annotations

from typing import Any

from bench_lib.analysis.claims import NOT_MEASURED, decreasing, faster_beyond_noise, figure, peak_new, verdict
from bench_lib.contract.scenario import Group, Kit, Scenario, ScenarioSpec, Verdict, preset_sizes
from bench_lib.contract.scenario_views import Column, Columns, Panels, Plot
from bench_lib.contract.units import format_bytes, format_seconds

VARIANTS = ("all_trainable", "first_half_frozen", "last_layer_only")


def trainable_layers(variant: str, layers: int) -> int:
    """How many of the last layers train in a variant."""
    return {"all_trainable": layers, "first_half_frozen": layers - layers // 2, "last_layer_only": 1}[variant]


def build(spec: ScenarioSpec, seed: int, kit: Kit) -> Any:
    from torch import nn

    def forward(case: Any) -> None:
        case.loss = case.model(case.x).mean()  # backward needs a fresh graph; building it is not timed

    def backward(case: Any) -> None:
        assert case.loss is not None
        case.loss.backward()

    case = kit.case(spec, seed, lambda shape: kit.model("deep_mlp", shape), backward, before=forward)
    linears = [module for module in case.model.modules() if isinstance(module, nn.Linear)]
    for layer in linears[: len(linears) - trainable_layers(spec.variant, len(linears))]:
        layer.requires_grad_(False)
    return case


def check(group: Group) -> Verdict:
    present = [v for v in VARIANTS if group.find(v) is not None]
    if "all_trainable" not in present or len(present) < 2:
        return NOT_MEASURED, group.needs("all_trainable and another variant", order=VARIANTS)
    benches = [group.find(v) for v in present]
    nodes = [figure(b, "graph_nodes") for b in benches]
    saved = [figure(b, "saved_bytes") for b in benches]
    # The backward's own allocations (gross): a net figure (CUDA's allocator) would subtract the
    # saved tensors backward frees, which differ by variant, and hide what freezing spares.
    peaks = [peak_new(b) for b in benches]
    sentence = ", ".join(
        f"{v}: {n} nodes, {format_bytes(s)} saved, peak {format_bytes(p)}, backward {format_seconds(b.compared_median)}"
        for v, n, s, p, b in zip(present, nodes, saved, peaks, benches)
    )
    reasons = [failure for failure, values in (("the graph does not shrink", nodes),
                                               ("saved bytes do not shrink", saved),
                                               ("peak memory does not shrink", peaks)) if not decreasing(values)]
    if not all(faster_beyond_noise(later, earlier) for earlier, later in zip(benches, benches[1:])):
        reasons.append("backward time does not shrink beyond noise")
    return verdict(sentence, reasons)


def _backward_peak(record: Any, _reference: Any) -> Any:
    """The figure the claim compares (claims.peak_new): the gross peak, or the device probe's in a
    run that predates it (a record from pandas then holds NaN)."""
    gross = record["peak_new_tensor_bytes"]
    return record["peak_tensor_bytes"] if gross is None or gross != gross else gross


def _trainable(record: Any, _reference: Any) -> str:
    def count(value: Any) -> str:
        return "?" if value is None or value != value else str(int(value))
    return f"{count(record['trainable_parameter_tensors'])} of {count(record['parameter_tensors'])}"


SCENARIO = Scenario(
    name="freezing", order=60, workload="deep_mlp", variants=VARIANTS, reference="all_trainable",
    claim=("Freezing layers with requires_grad_(False) shrinks the graph, the bytes saved for "
           "backward, the backward's peak memory and its time."),
    sizes=preset_sizes(quick=(2**16,), default=(2**16, 2**18), full=(2**12, 2**14, 2**16, 2**18, 2**20)),
    cases=(("grad", "backward"),), check=check, build=build,
    columns=(
        Column("trainable tensors", "text", _trainable),
        Columns.of("gradients", "bytes", "trainable_parameter_bytes"),
        Columns.nodes,
        Columns.saved,
        Column("peak of the backward's own tensors", "bytes", _backward_peak),
        *Columns.time("backward", "all_trainable"),
    ),
    caption="one row per set of frozen layers; ratios against all_trainable",
    plot=Plot(panels=(Panels.saved, Panels.nodes, Panels.time("backward time"))),
)
