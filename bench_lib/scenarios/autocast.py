"""autocast: the same training step in float32 and under ``torch.autocast(..., dtype=torch.bfloat16)``.

Workload deep_mlp (16 ``Linear(128, 128)`` with ReLU between; input batch x 128 as data, float32
weights), pass "step" (forward and backward) under grad, on CPU and CUDA alike. Under autocast
the Linear layers run in bfloat16: the activations they save are half the size, plus a bfloat16
copy of the input and of each weight (the weights' copies are why the ratio needs sizes well
above the weights: at 2^16 elements it is 0.66, at 2^18 0.56). Time is reported as measured: on a
CPU without bfloat16 units autocast can be slower, which is a finding, not a failure. A run whose
dtype is not float32 skips it: its model is not float32 to begin with.
"""

from __future__ import annotations

from typing import Any

from bench_lib.analysis.claims import NOT_MEASURED, figure, peak, verdict
from bench_lib.contract.scenario import Group, Kit, Scenario, ScenarioSpec, Shape, Verdict, preset_sizes, time_against
from bench_lib.contract.scenario_views import Columns, Panels, Plot
from bench_lib.contract.units import format_bytes

VARIANTS = ("float32", "bfloat16")
# The claim: autocast's saved bytes are at most this share of float32's.
MAX_SHARE = 0.6


def static_skip_reason(spec: ScenarioSpec, shape: Shape) -> str | None:
    if spec.dtype != "float32":
        return f"autocast compares a float32 model with its bfloat16 autocast; this run's models are {spec.dtype}"
    return None


def build(spec: ScenarioSpec, seed: int, kit: Kit) -> Any:
    import torch

    def step(case: Any) -> None:
        with torch.autocast(case.device.type, dtype=torch.bfloat16, enabled=spec.variant == "bfloat16"):
            case.loss = case.model(case.x).mean()
        case.loss.backward()

    return kit.case(spec, seed, lambda shape: kit.model("deep_mlp", shape), step)


def check(group: Group) -> Verdict:
    full, half = group.find("float32"), group.find("bfloat16")
    if full is None or half is None:
        return NOT_MEASURED, group.needs("float32 and bfloat16")
    share = figure(half, "saved_bytes") / figure(full, "saved_bytes") if figure(full, "saved_bytes") else float("nan")
    sentence = (f"bfloat16 autocast saves {format_bytes(figure(half, 'saved_bytes'))} against float32's "
                f"{format_bytes(figure(full, 'saved_bytes'))} ({share:.2f}x), peaks at {format_bytes(peak(half))} "
                f"against {format_bytes(peak(full))}, and a step takes {time_against(half, full)}")
    reasons = [] if share <= MAX_SHARE else [f"autocast saves more than {MAX_SHARE}x float32's bytes"]
    return verdict(sentence, reasons)


SCENARIO = Scenario(
    name="autocast", order=90, workload="deep_mlp", variants=VARIANTS, reference="float32",
    claim=(f"Under bfloat16 autocast the bytes saved for backward are at most {MAX_SHARE}x those of float32; the "
           "time is whatever the hardware makes of bfloat16."),
    sizes=preset_sizes(quick=(2**18,), default=(2**18, 2**20), full=(2**18, 2**20, 2**22)),
    check=check, build=build, static_skip_reason=static_skip_reason,
    columns=(Columns.saved, Columns.share("saved", "saved_bytes", "float32"), Columns.peak,
             *Columns.time("training step", "float32")),
    caption="one row per precision; ratios against float32",
    plot=Plot(panels=(Panels.saved, Panels.peak, Panels.time("training step time"))),
)
