"""inplace: relu(tanh(x)) out of place, in place, or through a detached alias, in three modes.

Variants "relu", "relu_" and "detach_then_modify" of workload "tanh_relu" (relu(tanh(x)) on a 1-D
x, no parameters; tanh saves its output, as sigmoid and exp do). Mode grad runs pass "step" (the
in-place error appears at backward); no_grad and inference_mode run "forward". The input tracks
gradients as the mode matrix's does, and the variants autograd rejects are recorded as invalid.
"""

from __future__ import annotations

from typing import Any

from bench_lib.analysis.claims import NOT_MEASURED, peak, shorten, slower_beyond_noise, verdict
from bench_lib.contract.scenario import Group, Kit, Scenario, ScenarioSpec, Verdict, preset_sizes
from bench_lib.contract.scenario_views import Column, Columns, Panels, Plot
from bench_lib.contract.units import format_bytes, format_seconds

VARIANTS = ("relu", "relu_", "detach_then_modify")
# grad shows what autograd rejects (at backward: pass "step"); the other two what in-place saves.
CASES = (("grad", "step"), ("no_grad", "forward"), ("inference_mode", "forward"))
REJECTED = "rejected by autograd"


def build(spec: ScenarioSpec, seed: int, kit: Kit) -> Any:
    import torch

    def relu(x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.tanh(x))

    def relu_(x: torch.Tensor) -> torch.Tensor:
        # One tensor fewer than relu; under grad it overwrites what tanh saved.
        return torch.tanh(x).relu_()

    def detach_then_modify(x: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(x)
        # The detached tensor shares storage and version counter with ``hidden``: this changes
        # hidden too, and under grad the version counter catches it at backward.
        hidden.detach().relu_()
        return hidden

    forward = {"relu": relu, "relu_": relu_, "detach_then_modify": detach_then_modify}[spec.variant]
    mode = kit.mode(spec.mode)

    def step(case: Any) -> None:
        with mode.context():
            case.loss = forward(case.x).mean()
        if spec.pass_ == "step":
            case.loss.backward()

    case = kit.case(spec, seed, lambda shape: torch.nn.Module(), step)
    case.x.requires_grad_(mode.track_input)
    return case


def check(group: Group) -> Verdict:
    parts, reasons, measured = [], [], False
    for mode in ("no_grad", "inference_mode"):
        out, inplace = group.find("relu", mode), group.find("relu_", mode)
        if out is None or inplace is None:
            continue
        measured = True
        parts.append(
            f"under {mode} relu_ peaks at {format_bytes(peak(inplace))} against relu's {format_bytes(peak(out))} "
            f"and takes {format_seconds(inplace.compared_median)} against {format_seconds(out.compared_median)}"
        )
        if not peak(inplace) < peak(out):
            reasons.append(f"relu_ does not lower the peak under {mode}")
        if slower_beyond_noise(inplace, out):
            reasons.append(f"relu_ is slower beyond noise under {mode}")
    for variant in ("relu_", "detach_then_modify"):
        rejection = group.rejection(variant, "grad")
        if rejection is not None:
            parts.append(f"under grad {variant} is rejected (\"{shorten(rejection)}\")")
        elif group.find(variant, "grad") is not None:
            parts.append(f"under grad {variant} ran without error")
            reasons.append(f"autograd accepted {variant} under grad")
    if not measured and not reasons:
        return NOT_MEASURED, ", ".join(parts + ["needs relu and relu_ under no_grad or inference_mode"])
    return verdict(", ".join(parts), reasons)


SCENARIO = Scenario(
    name="inplace", order=70, workload="tanh_relu", variants=VARIANTS, reference="relu",
    claim=("In-place relu_ needs less peak memory than relu under no_grad and inference_mode and is "
           "not slower; under grad, autograd rejects an in-place change to a tensor saved for backward."),
    sizes=preset_sizes(quick=(2**16,), default=(2**16, 2**20), full=(2**12, 2**16, 2**20, 2**24)),
    cases=CASES, check=check, build=build, shape_like="elementwise", memory_factor=6.0,
    columns=(
        Columns.of("pass", "text", "pass"),
        *Columns.time("time per pass", "relu"),
        Columns.peak,
        Columns.saved,
        Columns.nodes,
        Column("outcome", "text", lambda record, _ref: REJECTED if "error" in record else "measured"),
    ),
    rows="variant · mode", caption="one row per variant and mode; ratios against relu in the same mode",
    plot=Plot(panels=(Panels.peak, Panels.time("time per pass")), layout="bars_by_mode"),
)
