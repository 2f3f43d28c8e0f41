"""accumulation: one effective batch as k micro-batches, each with its own forward and backward.

Variants "k=<k>" (``--gb-microbatches``; k = 1, the full batch, always runs) of the mlp under
grad, pass "step": the forward and backward of all k micro-batches, no optimizer step. Its
saved_bytes is the most saved bytes alive at once (one micro-batch's graph) and graph_nodes counts
the last micro-batch's graph.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench_lib.analysis.claims import NOT_MEASURED, decreasing, peak, slower_beyond_noise, verdict
from bench_lib.contract.scenario import Group, Kit, Scenario, ScenarioSpec, Shape, Verdict, preset_sizes
from bench_lib.contract.scenario_views import Column, Columns, Panels, Plot
from bench_lib.contract.units import format_bytes, format_seconds

# "Roughly as 1/k": the peak less the gradients at k micro-batches is at most this many times
# the same at k=1, divided by k.
SLACK = 2.0
def specs(size: int, device: str, dtype: str, selection: Any) -> list[ScenarioSpec]:
    return [ScenarioSpec("mlp", "grad", "step", size, device, dtype, scenario="accumulation", variant=f"k={k}",
                         microbatches=k) for k in selection.microbatches]


def static_skip_reason(spec: ScenarioSpec, shape: Shape) -> str | None:
    if spec.microbatches and shape[0] % spec.microbatches:
        return f"k={spec.microbatches} micro-batches do not divide the batch of {shape[0]} rows at size {spec.size}"
    return None


def build(spec: ScenarioSpec, seed: int, kit: Kit) -> Any:

    def step(case: Any) -> None:
        k = spec.microbatches
        assert k is not None
        for chunk in case.x.chunk(k):  # views: no copy of the input
            # mean / k over equal chunks: the same gradients as the full batch's mean.
            case.loss = case.model(chunk).mean() / k
            case.loss.backward()

    return kit.case(spec, seed, lambda shape: kit.model("mlp", shape), step)


def check(group: Group) -> Verdict:
    by_k = sorted(((int(b.microbatches), b) for b in group), key=lambda pair: pair[0])
    ks = [k for k, _ in by_k]
    if 1 not in ks or len(ks) < 2:
        return NOT_MEASURED, f"needs k=1 and another k; measured k={','.join(map(str, ks)) or 'none'}"
    peaks = {k: peak(b) for k, b in by_k}
    full, last = by_k[0][1], by_k[-1][1]
    k_max = ks[-1]
    # Every k keeps the full batch's gradients; what splitting divides is the rest.
    grads = full.trainable_parameter_bytes or 0
    activations = {k: peaks[k] - grads for k in ks}
    if any(rest <= 0 for rest in activations.values()):
        return NOT_MEASURED, (f"a peak ({', '.join(format_bytes(peaks[k]) for k in ks)}) is not above the "
                              f"{format_bytes(grads)} of gradients every step makes: the probe missed them")
    roughly = all(activations[k] <= SLACK * activations[1] / k for k in ks)
    falls = decreasing([peaks[k] for k in ks])
    peak_list = ", ".join(f"{format_bytes(peaks[k])} at k={k}" for k in ks)
    share = activations[k_max] / activations[1] if activations[1] > 0 else float("nan")
    sentence = (
        f"peak tensor memory {peak_list} (gradients {format_bytes(grads)} at every k; the rest at k={k_max}: "
        f"{share:.2f} of the full batch's, 1/k = {1 / k_max:.2f}), "
        f"time per effective batch {format_seconds(full.compared_median)} at k=1 and "
        f"{format_seconds(last.compared_median)} at k={k_max} ({last.compared_median / full.compared_median:.2f}x)"
    )
    reasons = []
    if not (falls and roughly):
        reasons.append("memory does not fall roughly as 1/k" if falls else "memory does not fall with every k")
    if not slower_beyond_noise(last, full):
        reasons.append("time does not rise beyond noise")
    return verdict(sentence, reasons)


def _rest(record: Any) -> float:
    """A table record's peak less its gradients: what splitting the batch divides."""
    return float(record["peak_tensor_bytes"]) - float(record["trainable_parameter_bytes"] or 0)


SCENARIO = Scenario(
    name="accumulation", order=40, workload="mlp", variants=(), reference="k=1",
    claim=("Splitting a batch into k micro-batches (a backward after each) cuts peak tensor memory, less the "
           "gradients that every k keeps, roughly as 1/k, while the time per effective batch rises."),
    # At 2^16 the mlp's 194 KiB of gradients keep peak(k=8) at 0.35 of peak(k=1); the rest
    # falls to about 0.15.
    sizes=preset_sizes(quick=(2**18,), default=(2**16, 2**20), full=(2**14, 2**16, 2**18, 2**20, 2**22)),
    specs=specs, check=check, build=build, static_skip_reason=static_skip_reason, memory_factor=14.0,
    columns=(
        Columns.peak,
        Column("peak less gradients", "bytes", lambda record, _ref: _rest(record)),
        Column("÷ at k=1", "fraction",
               lambda record, ref: None if ref is None or not _rest(ref) else _rest(record) / _rest(ref)),
        Column("1/k", "fraction", lambda record, _ref: 1.0 / int(record["microbatches"])),
        Columns.of("saved, one micro-batch", "bytes", "saved_bytes"),
        *Columns.time("time per effective batch", "time(k=1)"),
    ),
    rows="k (micro-batches)", caption="one row per micro-batch count k; ratios against k=1 (the full batch)",
    # No 1/k guide line: what falls as 1/k is the peak less the gradients (the table's columns).
    plot=Plot(panels=(replace(Panels.peak, title="peak tensor memory per effective batch"),
                      Panels.time("time per effective batch")),
              layout="lines", x_label="micro-batches k (one backward each)"),
)
