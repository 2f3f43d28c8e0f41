"""zero_grad: a training step that starts from the previous step's gradients, reset per the variant.

Variants "zero_" (p.grad.zero_() on every parameter), "set_to_none"
(optimizer.zero_grad(set_to_none=True)) and "accumulate" (no reset: gradients pile up) of
deep_mlp under grad, pass "step": the reset, forward, backward and optimizer.step() (SGD). Every
round starts from the same state: weights restored and one step's gradients present, made in
setup, which the memory probes include (so peak/retained_tensor_bytes count the gradients; their
start is the model without gradients).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench_lib.analysis.claims import NOT_MEASURED, peak, slower_beyond_noise, verdict
from bench_lib.contract.scenario import Group, Kit, Scenario, ScenarioSpec, Verdict, preset_sizes, time_against
from bench_lib.contract.scenario_views import Columns, Panels, Plot
from bench_lib.contract.units import format_bytes, format_seconds

VARIANTS = ("zero_", "set_to_none", "accumulate")


def build(spec: ScenarioSpec, seed: int, kit: Kit) -> Any:
    import torch

    def step(case: Any) -> None:
        if spec.variant == "zero_":
            for parameter in parameters:
                parameter.grad.zero_()  # type: ignore[union-attr]
        elif spec.variant == "set_to_none":
            optimizer.zero_grad(set_to_none=True)
        case.loss = case.model(case.x).mean()
        case.loss.backward()
        optimizer.step()

    def before(case: Any) -> None:
        with torch.no_grad():
            for parameter, weight, gradient in zip(parameters, weights, gradients, strict=True):
                parameter.copy_(weight)
                parameter.grad = gradient.clone()

    case = kit.case(spec, seed, lambda shape: kit.model("deep_mlp", shape), step, before=before,
                                count_setup=True)
    parameters = list(case.model.parameters())
    optimizer = torch.optim.SGD(parameters, lr=1e-3)
    weights = [p.detach().clone() for p in parameters]
    case.model(case.x).mean().backward()
    gradients = [p.grad.detach().clone() for p in parameters]  # type: ignore[union-attr]
    case.teardown()
    return case


def check(group: Group) -> Verdict:
    zero, none = group.find("zero_"), group.find("set_to_none")
    if zero is None or none is None:
        return NOT_MEASURED, group.needs("zero_ and set_to_none", order=sorted(group.variants()))
    sentence = (
        f"set_to_none peaks at {format_bytes(peak(none))} against zero_'s {format_bytes(peak(zero))} "
        f"(gradients: {format_bytes(zero.trainable_parameter_bytes or 0)}), "
        f"a training step takes {time_against(none, zero)}"
    )
    accumulate = group.find("accumulate")
    if accumulate is not None:
        sentence += f", and {format_seconds(accumulate.compared_median)} with no reset (gradients pile up)"
    reasons = []
    if not peak(none) < peak(zero):
        reasons.append("set_to_none does not lower the peak")
    if slower_beyond_noise(none, zero):
        reasons.append("set_to_none is slower beyond noise")
    return verdict(sentence, reasons)


SCENARIO = Scenario(
    name="zero_grad", order=50, workload="deep_mlp", variants=VARIANTS, reference="zero_",
    claim=("optimizer.zero_grad(set_to_none=True) needs less peak memory than p.grad.zero_() on "
           "every parameter, and is not slower."),
    # The cost of a reset per parameter tensor shows at small sizes and drowns in the matmuls at
    # large ones; deep_mlp does about 5x the mlp's work per element.
    sizes=preset_sizes(quick=(2**12,), default=(2**12, 2**16), full=(2**10, 2**12, 2**14, 2**16, 2**18)),
    check=check, build=build,
    columns=(*Columns.time("training step", "zero_"), Columns.peak,
             Columns.of("one set of gradients", "bytes", "trainable_parameter_bytes"),
             Columns.of("parameter tensors", "count", "parameter_tensors")),
    caption="one row per way of resetting the gradients; ratios against zero_",
    # What zero_ keeps alive between steps and set_to_none frees: one set of gradients.
    plot=Plot(panels=(Panels.time("training step time"),
                      replace(Panels.peak, line=("trainable_parameter_bytes", "one set of gradients")))),
)
