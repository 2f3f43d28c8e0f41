"""save_on_cpu: the tensors saved for backward moved to pinned CPU memory (CUDA only).

Workload deep_mlp, a training step under grad (pass "step"): "on_device" as usual, "on_cpu" inside
``torch.autograd.graph.save_on_cpu(pin_memory=True)``, which copies each saved tensor to the host
at forward and back at backward. Its hooks take the place of the suite's saved-tensor counter
inside the pass, so the on_cpu case's saved_bytes is what stays on the device: nothing. The claim
rests on the device's peak memory (the CUDA allocator's) and the time. On a CPU there is nothing to
move, so the variants are skipped with that reason.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench_lib.analysis.claims import NOT_MEASURED, peak, slower_beyond_noise, verdict
from bench_lib.contract.scenario import Group, Kit, Scenario, ScenarioSpec, Shape, Verdict, preset_sizes, time_against
from bench_lib.contract.scenario_views import Columns, Panels, Plot
from bench_lib.contract.units import format_bytes

VARIANTS = ("on_device", "on_cpu")


def static_skip_reason(spec: ScenarioSpec, shape: Shape) -> str | None:
    if spec.device == "cpu":
        return "save_on_cpu moves saved tensors from a GPU to the host; on cpu they are on the host already"
    return None


def build(spec: ScenarioSpec, seed: int, kit: Kit) -> Any:
    import contextlib

    import torch

    def step(case: Any) -> None:
        moved = torch.autograd.graph.save_on_cpu(pin_memory=True) if spec.variant == "on_cpu" \
            else contextlib.nullcontext()
        with moved:
            case.loss = case.model(case.x).mean()
        case.loss.backward()

    return kit.case(spec, seed, lambda shape: kit.model("deep_mlp", shape), step)


def check(group: Group) -> Verdict:
    device, host = group.find("on_device"), group.find("on_cpu")
    if device is None or host is None:
        return NOT_MEASURED, group.needs("on_device and on_cpu")
    sentence = (f"on_cpu peaks at {format_bytes(peak(host))} of device memory against on_device's "
                f"{format_bytes(peak(device))} (saved for backward on the device: "
                f"{format_bytes(int(device.saved_bytes))}), and a step takes {time_against(host, device)}")
    reasons = []
    if peak(host) >= peak(device):
        reasons.append("on_cpu does not lower the device's peak")
    if not slower_beyond_noise(host, device):
        reasons.append("on_cpu is not slower beyond noise")
    return verdict(sentence, reasons)


SCENARIO = Scenario(
    name="save_on_cpu", order=100, workload="deep_mlp", variants=VARIANTS, reference="on_device",
    claim=("save_on_cpu(pin_memory=True) moves the tensors saved for backward off the device: the device's peak "
           "memory falls while the step takes longer (copies to the host and back)."),
    sizes=preset_sizes(quick=(2**18,), default=(2**18, 2**22), full=(2**16, 2**18, 2**20, 2**22)),
    check=check, build=build, static_skip_reason=static_skip_reason,
    columns=(Columns.of("peak tensors (device)", "bytes", "peak_tensor_bytes"),
             Columns.share("peak", "peak_tensor_bytes", "on_device"),
             Columns.of("saved on the device", "bytes", "saved_bytes"),
             *Columns.time("training step", "on_device")),
    caption="one row per place of the saved tensors; ratios against on_device",
    plot=Plot(panels=(replace(Panels.peak, title="peak tensor memory (device)"), Panels.time("training step time"))),
)
