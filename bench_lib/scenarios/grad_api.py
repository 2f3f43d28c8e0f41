"""grad_api: the ways to get gradients, and what each keeps.

A training step of the mlp under grad (pass "step"; the input is data):
* "backward": ``loss.backward()``, which fills the parameters' ``.grad``;
* "autograd_grad": ``torch.autograd.grad(loss, params)``, which returns the gradients and leaves
  ``.grad`` untouched (the returned tensors are dropped at the end of the pass);
* "retain_graph": ``loss.backward(retain_graph=True)`` twice: the graph and its saved tensors stay
  alive after each backward, so the second one can run (gradients accumulate: 2x);
* "create_graph": a gradient penalty, ``loss + sum of squared gradients``, whose gradients come
  from ``autograd.grad(..., create_graph=True)``: backward through backward (double backward).
``retained_tensor_bytes`` (tensor bytes still alive at the end of the pass) tells them apart:
backward leaves one set of gradients and the loss; retain_graph leaves the saved tensors too.
"""

from __future__ import annotations

from typing import Any

from bench_lib.analysis.claims import NOT_MEASURED, faster_beyond_noise, figure, slower_beyond_noise, verdict
from bench_lib.contract.scenario import Group, Kit, Scenario, ScenarioSpec, Verdict, preset_sizes
from bench_lib.contract.scenario_views import Columns, Panel, Panels, Plot
from bench_lib.contract.units import format_bytes, format_seconds

VARIANTS = ("backward", "autograd_grad", "retain_graph", "create_graph")
# "Costs the same": within this factor of backward's time (measured here: autograd.grad's capture
# of each input adds 1-2 %), or not apart beyond noise.
SAME_WITHIN = 1.10


def build(spec: ScenarioSpec, seed: int, kit: Kit) -> Any:
    import torch

    def step(case: Any) -> None:
        parameters = list(case.model.parameters())
        case.loss = case.model(case.x).mean()
        if spec.variant == "backward":
            case.loss.backward()
        elif spec.variant == "autograd_grad":
            torch.autograd.grad(case.loss, parameters)
        elif spec.variant == "retain_graph":
            case.loss.backward(retain_graph=True)
            case.loss.backward(retain_graph=True)
        else:
            gradients = torch.autograd.grad(case.loss, parameters, create_graph=True)
            penalty = sum(gradient.pow(2).sum() for gradient in gradients)
            (case.loss + penalty).backward()

    return kit.case(spec, seed, lambda shape: kit.model("mlp", shape), step)


def check(group: Group) -> Verdict:
    found = {variant: group.find(variant) for variant in VARIANTS}
    base = found["backward"]
    if base is None or all(found[v] is None for v in VARIANTS[1:]):
        return NOT_MEASURED, group.needs("backward and another variant", order=VARIANTS)
    grads = int(base.trainable_parameter_bytes or 0)
    left = figure(base, "retained_tensor_bytes")
    # CUDA's allocator rounds each block up to 512 bytes: allow that much per tensor compared.
    rounding = 0 if base.device == "cpu" else 512
    parts = [f"backward takes {format_seconds(base.compared_median)} and leaves {format_bytes(left)} "
             f"(gradients: {format_bytes(grads)})"]
    reasons = []
    if (other := found["autograd_grad"]) is not None:
        kept = figure(other, "retained_tensor_bytes")
        parts.append(f"autograd.grad takes {format_seconds(other.compared_median)} "
                     f"({other.compared_median / base.compared_median:.2f}x) and leaves {format_bytes(kept)}")
        apart = slower_beyond_noise(other, base) or faster_beyond_noise(other, base)
        if apart and not 1 / SAME_WITHIN <= other.compared_median / base.compared_median <= SAME_WITHIN:
            reasons.append(f"autograd.grad is more than {SAME_WITHIN - 1:.0%} away from backward's time")
        tensors = int(base.trainable_parameter_tensors or 0)
        if abs(left - kept - grads) > rounding * tensors:
            reasons.append("autograd.grad does not leave .grad untouched")
    if (other := found["retain_graph"]) is not None:
        extra = figure(other, "retained_tensor_bytes") - left
        saved = figure(base, "saved_bytes")
        parts.append(f"retain_graph keeps {format_bytes(extra)} more alive (saved for backward: {format_bytes(saved)})")
        if abs(extra - saved) > rounding * figure(base, "saved_tensor_count"):
            reasons.append("retain_graph does not keep exactly the saved bytes alive")
    if (other := found["create_graph"]) is not None:
        parts.append(f"create_graph takes {format_seconds(other.compared_median)} "
                     f"({other.compared_median / base.compared_median:.2f}x) and saves "
                     f"{format_bytes(figure(other, 'saved_bytes'))} against "
                     f"{format_bytes(figure(base, 'saved_bytes'))}")
        if not slower_beyond_noise(other, base):
            reasons.append("create_graph is not slower beyond noise")
        if figure(other, "saved_bytes") <= figure(base, "saved_bytes"):
            reasons.append("create_graph saves no more")
    return verdict(", ".join(parts), reasons)


SCENARIO = Scenario(
    name="grad_api", order=30, workload="mlp", variants=VARIANTS, reference="backward",
    claim=(f"torch.autograd.grad costs the same as backward (within {SAME_WITHIN - 1:.0%}) and leaves .grad "
           "untouched; retain_graph keeps exactly the saved bytes alive after backward; create_graph (double "
           "backward) costs more time and saves more."),
    sizes=preset_sizes(quick=(2**16,), default=(2**14, 2**18), full=(2**12, 2**14, 2**16, 2**18, 2**20)),
    check=check, build=build, memory_factor=24.0,
    columns=(*Columns.time("training step", "backward"), Columns.saved,
             Columns.of("left alive after the pass", "bytes", "retained_tensor_bytes"), Columns.peak, Columns.nodes),
    caption="one row per way of computing gradients; ratios against backward",
    plot=Plot(panels=(Panels.time("training step time"), Panels.saved,
                      Panel("left alive after the pass", "bytes", "retained_tensor_bytes", "tensor bytes"))),
)
