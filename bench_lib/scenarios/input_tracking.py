"""input_tracking: tracking what needs no gradient costs time and saved bytes and buys nothing.

A training step of the mlp (forward, backward; no optimizer step), pass "step" under grad:
* "params_only": the input is data, as in a training loop;
* "input_too": the input requires grad, so backward also computes the input's gradient;
* "preprocess_tracked": a raw input that requires grad (say, the output of an upstream tensor
  op) is normalised per feature, ``(x - mean) / (std + 1e-5)``, under grad, then fed to the model;
* "preprocess_no_grad": the same normalisation of the same tracked raw input, under no_grad:
  the graph starts at the parameters.
The parameters' gradients are the same in every variant (tests/test_scenario_input_tracking.py):
tracking the input or the preprocessing only adds work.
"""

from __future__ import annotations

from typing import Any

from bench_lib.analysis.claims import NOT_MEASURED, faster_beyond_noise, figure, slower_beyond_noise, verdict
from bench_lib.contract.scenario import Group, Kit, Scenario, ScenarioSpec, Verdict, preset_sizes
from bench_lib.contract.scenario_views import Columns, Panels, Plot
from bench_lib.contract.units import format_bytes, format_seconds

VARIANTS = ("params_only", "input_too", "preprocess_tracked", "preprocess_no_grad")
EPSILON = 1e-5


def build(spec: ScenarioSpec, seed: int, kit: Kit) -> Any:
    import torch

    def normalise(x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(0, keepdim=True)) / (x.std(0, keepdim=True) + EPSILON)

    def step(case: Any) -> None:
        x = case.x
        if spec.variant == "preprocess_tracked":
            x = normalise(x)
        elif spec.variant == "preprocess_no_grad":
            with torch.no_grad():
                x = normalise(x)
        case.loss = case.model(x).mean()
        case.loss.backward()

    case = kit.case(spec, seed, lambda shape: kit.model("mlp", shape), step)
    case.x.requires_grad_(spec.variant != "params_only")
    return case


def _costlier(name: str, more: Any, less: Any, against: str, reasons: list[str]) -> str:
    """The sentence for ``more`` against ``less``, adding the reasons it is not costlier. The graph
    is counted exactly; the time is refuted only by a faster run beyond noise (it does strictly
    more work), and an extra cost within the noise says so rather than failing."""
    if faster_beyond_noise(more, less):
        reasons.append(f"{name} is faster than {against} beyond noise")
    if figure(more, "graph_nodes") <= figure(less, "graph_nodes"):
        reasons.append(f"{name} records no more graph nodes than {against}")
    # Not slower beyond noise: an extra time, or (a faster median) a shorter one, within the noise.
    shorter = more.compared_median < less.compared_median
    within = "" if slower_beyond_noise(more, less) else (
        f", {'a shorter' if shorter else 'an extra'} time within this run's noise")
    return (f"{name} takes {format_seconds(more.compared_median)} against {against}'s "
            f"{format_seconds(less.compared_median)} ({more.compared_median / less.compared_median:.2f}x{within}), "
            f"{figure(more, 'graph_nodes')} nodes against {figure(less, 'graph_nodes')}, saving "
            f"{format_bytes(figure(more, 'saved_bytes'))} against {format_bytes(figure(less, 'saved_bytes'))}")


def check(group: Group) -> Verdict:
    found = {variant: group.find(variant) for variant in VARIANTS}
    pairs = [(more, less) for more, less in (("input_too", "params_only"), ("preprocess_tracked", "preprocess_no_grad"))
             if found[more] is not None and found[less] is not None]
    if not pairs:
        return NOT_MEASURED, group.needs("input_too and params_only, or both preprocess variants", order=VARIANTS)
    reasons: list[str] = []
    parts = [_costlier(more, found[more], found[less], less, reasons) for more, less in pairs]
    if ("preprocess_tracked", "preprocess_no_grad") in pairs and \
            figure(found["preprocess_tracked"], "saved_bytes") <= figure(found["preprocess_no_grad"], "saved_bytes"):
        reasons.append("tracking the preprocessing saves no more bytes")
    return verdict("; ".join(parts), reasons)


SCENARIO = Scenario(
    name="input_tracking", order=20, workload="mlp", variants=VARIANTS, reference="params_only",
    claim=("Tracking what needs no gradient costs time and saved bytes and buys nothing: a tracked input adds its "
           "gradient to backward (more graph nodes, never faster), and preprocessing under grad adds its graph and "
           "its saved tensors; disable gradients for preprocessing and start the graph at the parameters."),
    sizes=preset_sizes(quick=(2**16,), default=(2**14, 2**18), full=(2**12, 2**14, 2**16, 2**18, 2**20)),
    check=check, build=build, memory_factor=16.0,
    columns=(*Columns.time("training step", "params_only"), Columns.nodes, Columns.saved, Columns.peak),
    caption="one row per way of feeding the input; ratios against params_only",
    plot=Plot(panels=(Panels.time("training step time"), Panels.saved, Panels.nodes)),
)
