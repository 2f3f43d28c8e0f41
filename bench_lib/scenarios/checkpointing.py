"""checkpointing: keep fewer activations for backward, recompute them there.

Workload "deep_ffn": 8 blocks of ``Linear(128, 512) -> GELU -> Linear(512, 128)``, the
feed-forward block of a transformer (input batch x 128 as data). A training step under grad (pass
"step": forward and backward), with ``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``
around segments of blocks:
* "none": no checkpoint; each block saves its input, the 4x wider Linear output (for GELU) and
  GELU's output (for the second Linear);
* "every_4": a checkpoint boundary every 4 blocks; "every_1": around every block. Only each
  segment's input is kept; backward runs the segment's forward again to get the rest.
Why blocks rather than deep_mlp's Linear+ReLU layers: a layer whose only saved tensor is its
input keeps exactly what a checkpoint around it would keep, so checkpointing every such layer
saves nothing.
"""

from __future__ import annotations

from typing import Any

from bench_lib.analysis.claims import NOT_MEASURED, figure, peak, time_ratio, verdict
from bench_lib.contract.scenario import Group, Kit, Scenario, ScenarioSpec, Verdict, preset_sizes
from bench_lib.contract.scenario_views import Columns, Panels, Plot
from bench_lib.contract.units import format_bytes, format_seconds

VARIANTS = ("none", "every_4", "every_1")
BLOCKS = 8
EXPANSION = 4
# The claim's bound at a boundary around every block: at most this share of none's saved bytes.
EVERY_BLOCK_SHARE = 0.5


def build(spec: ScenarioSpec, seed: int, kit: Kit) -> Any:
    from torch import nn
    from torch.utils.checkpoint import checkpoint

    def make_model(shape: tuple[int, ...]) -> nn.Module:
        width = shape[1]
        return nn.Sequential(*(nn.Sequential(nn.Linear(width, EXPANSION * width), nn.GELU(),
                                             nn.Linear(EXPANSION * width, width)) for _ in range(BLOCKS)))

    every = None if spec.variant == "none" else int(spec.variant.removeprefix("every_"))

    def step(case: Any) -> None:
        hidden = case.x
        if every is None:
            hidden = case.model(hidden)
        else:
            for start in range(0, BLOCKS, every):
                hidden = checkpoint(case.model[start:start + every], hidden, use_reentrant=False)
        case.loss = hidden.mean()
        case.loss.backward()

    return kit.case(spec, seed, make_model, step)


def check(group: Group) -> Verdict:
    base = group.find("none")
    others = [(v, case) for v in VARIANTS[1:] if (case := group.find(v)) is not None]
    if base is None or not others:
        return NOT_MEASURED, group.needs("none and a checkpointed variant")
    saved, top, time = figure(base, "saved_bytes"), peak(base), base.compared_median
    parts = [f"none saves {format_bytes(saved)}, peaks at {format_bytes(top)} and takes {format_seconds(time)}"]
    reasons = []
    for variant, case in others:
        share = figure(case, "saved_bytes") / saved if saved else float("nan")
        peak_share = peak(case) / top if top else float("nan")
        # The ratio and the noise rule read the same rounds (claims.time_ratio), so the sentence cannot
        # state a slowdown that the verdict calls noise.
        ratio, beyond_noise = time_ratio(case, base)
        within = "" if beyond_noise else ", an extra time within this run's noise"
        parts.append(f"{variant} saves {share:.2f} of that, peaks at {peak_share:.2f} and takes "
                     f"{ratio:.2f}x the time{within}")
        if figure(case, "saved_bytes") >= saved:
            reasons.append(f"{variant} saves no less")
        if peak(case) >= top:
            reasons.append(f"{variant} does not lower the peak")
        if not beyond_noise:
            reasons.append(f"{variant}'s recompute is not seen beyond noise")
        if variant == "every_1" and share > EVERY_BLOCK_SHARE:
            reasons.append(f"every_1 saves more than {EVERY_BLOCK_SHARE:.0%} of none's")
    return verdict(", ".join(parts), reasons)


SCENARIO = Scenario(
    name="checkpointing", order=80, workload="deep_ffn", variants=VARIANTS, reference="none",
    claim=("Activation checkpointing keeps only each segment's input for backward: the bytes saved for backward "
           "(at most half with a boundary around every block) and the step's peak memory fall, while the step "
           "takes longer, since backward recomputes each segment's forward."),
    sizes=preset_sizes(quick=(2**14,), default=(2**14, 2**18), full=(2**12, 2**14, 2**16, 2**18)),
    check=check, build=build, memory_factor=float(BLOCKS * (2 * EXPANSION + 1) + 16),
    columns=(Columns.saved, Columns.share("saved", "saved_bytes", "none"),
             Columns.peak, Columns.share("peak", "peak_tensor_bytes", "none"),
             *Columns.time("training step", "none")),
    caption="one row per checkpoint spacing; ratios against none",
    plot=Plot(panels=(Panels.saved, Panels.peak, Panels.time("training step time"))),
)
