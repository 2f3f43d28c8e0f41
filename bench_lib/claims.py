"""Each scenario's claim, checked from a run file's numbers: holds, does not hold, or not measured.

Pure functions of the run file's benchmark dicts (and its ``invalid`` list): no torch, so the
live summary and the report share them. A claim is checked per group (workload, size, device,
dtype); the scenario's verdict is "does not hold" if any group's is, else "holds" if any group
was measured, else "not measured". Time comparisons count only beyond noise: a median more than
NOISE_TOLERANCE away and outside the other's quartile, on the interleaved rounds where the
variants have them (they share one time window, so the machine's drift cancels). A group
timed while other processes used more than CONTENDED_FRACTION of the CPUs says so in its sentence
(``Check.background_cpu``): its time comparison is suspect, whatever the verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench_lib.physics import comparable_times, compared_median
from bench_lib.schema import CONTENDED_FRACTION, FREEZING_VARIANTS, SCENARIOS
from bench_lib.units import format_bytes, size_label, time_unit

HOLDS = "holds"
FAILS = "does not hold"
NOT_MEASURED = "not measured"
VERDICTS = (HOLDS, FAILS, NOT_MEASURED)

NOISE_TOLERANCE = 0.05
# "Roughly as 1/k": the peak at k micro-batches is at most this many times peak(k=1) / k.
ACCUMULATION_SLACK = 2.0

CLAIMS = {
    "accumulation": (
        "Splitting a batch into k micro-batches (a backward after each) cuts peak tensor memory "
        "roughly as 1/k, while the time per effective batch rises."
    ),
    "zero_grad": (
        "optimizer.zero_grad(set_to_none=True) needs less peak memory than p.grad.zero_() on "
        "every parameter, and is not slower."
    ),
    "freezing": (
        "Freezing layers with requires_grad_(False) shrinks the graph, the bytes saved for "
        "backward, the backward's peak memory and its time."
    ),
    "inplace": (
        "In-place relu_ needs less peak memory than relu under no_grad and inference_mode and is "
        "not slower; under grad, autograd rejects an in-place change to a tensor saved for backward."
    ),
}
assert tuple(CLAIMS) == SCENARIOS


@dataclass(frozen=True)
class Check:
    """The claim in one group of a scenario's cases."""

    group: str  # e.g. "mlp n=2^20 cpu float32"
    verdict: str
    sentence: str  # the figures, one sentence without the final full stop
    background_cpu: float = 0.0  # the largest share of CPUs others used while the group was timed

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")


@dataclass(frozen=True)
class ScenarioClaim:
    scenario: str
    claim: str
    verdict: str
    sentence: str  # every group's figures, in one sentence
    checks: tuple[Check, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "claim": self.claim,
            "verdict": self.verdict,
            "sentence": self.sentence,
            "checks": [
                {"group": c.group, "verdict": c.verdict, "sentence": c.sentence, "background_cpu": c.background_cpu}
                for c in self.checks
            ],
        }


def check_run(run: Mapping[str, Any]) -> dict[str, ScenarioClaim]:
    """The claims of a whole run file (its benchmarks and its top-level gradbench.invalid)."""
    section = run.get("gradbench") or {}
    return check_claims(run.get("benchmarks", []), section.get("invalid", []))


def check_claims(
    benchmarks: Iterable[Mapping[str, Any]], invalid: Iterable[Mapping[str, Any]] = ()
) -> dict[str, ScenarioClaim]:
    """One ScenarioClaim per scenario (all of SCENARIOS, in order), from benchmark dicts.

    Benchmarks without a "scenario" key (the mode matrix) are ignored.
    """
    groups: dict[str, dict[tuple[Any, ...], dict[tuple[str, str], Mapping[str, Any]]]] = {s: {} for s in SCENARIOS}
    for bench in benchmarks:
        info = bench.get("extra_info") or {}
        scenario = info.get("scenario")
        if scenario in groups:
            groups[scenario].setdefault(_group_key(info), {})[(info["variant"], info["mode"])] = bench
    rejected: dict[tuple[Any, ...], dict[tuple[str, str], str]] = {}
    for entry in invalid:
        if entry.get("scenario") == "inplace":
            rejected.setdefault(_group_key(entry), {})[(entry["variant"], entry["mode"])] = str(entry["error"])
    checkers = {"accumulation": _accumulation, "zero_grad": _zero_grad, "freezing": _freezing, "inplace": _inplace}
    claims = {}
    for scenario in SCENARIOS:
        keys = sorted(set(groups[scenario]) | (set(rejected) if scenario == "inplace" else set()), key=_sort_key)
        checks = []
        for key in keys:
            cases = groups[scenario].get(key, {})
            verdict, sentence = (
                _inplace(cases, rejected.get(key, {})) if scenario == "inplace" else checkers[scenario](cases)
            )
            busy = max((float(b["extra_info"].get("background_cpu") or 0.0) for b in cases.values()), default=0.0)
            if busy > CONTENDED_FRACTION:
                sentence += f" (timed while other processes used up to {busy:.0%} of the CPUs: times suspect)"
            checks.append(Check(_group_label(key), verdict, sentence, busy))
        claims[scenario] = _combine(scenario, checks)
    return claims


def _group_key(info: Mapping[str, Any]) -> tuple[Any, ...]:
    return (info["workload"], info["size"], info["device"], info["dtype"])


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    workload, size, device, dtype = key
    return (str(workload), str(device), str(dtype), int(size))


def _group_label(key: tuple[Any, ...]) -> str:
    workload, size, device, dtype = key
    return f"{workload} n={size_label(int(size))} {device} {dtype}"


def _combine(scenario: str, checks: list[Check]) -> ScenarioClaim:
    verdicts = {c.verdict for c in checks}
    verdict = FAILS if FAILS in verdicts else HOLDS if HOLDS in verdicts else NOT_MEASURED
    if checks:
        sentence = "; ".join(f"{c.group}: {c.sentence}" for c in checks) + "."
    else:
        sentence = f"No {scenario} case was measured in this run."
    return ScenarioClaim(scenario, CLAIMS[scenario], verdict, sentence, tuple(checks))


# --- figures ----------------------------------------------------------------------------------


def _slower_beyond_noise(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """a's median is above b's by more than the tolerance and above b's third quartile."""
    _, a_stats, b_stats = comparable_times(a, b)
    return a_stats["median"] > b_stats["median"] * (1 + NOISE_TOLERANCE) and a_stats["median"] > b_stats["q3"]


def _faster_beyond_noise(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    _, a_stats, b_stats = comparable_times(a, b)
    return a_stats["median"] < b_stats["median"] * (1 - NOISE_TOLERANCE) and a_stats["median"] < b_stats["q1"]


def _time(seconds: float) -> str:
    scale, unit = time_unit([seconds])
    return f"{seconds / scale:.3g} {unit}"


def _peak(bench: Mapping[str, Any]) -> int:
    return int(bench["extra_info"]["peak_tensor_bytes"])


def _decreasing(values: Sequence[float]) -> bool:
    return all(later < earlier for earlier, later in zip(values, values[1:]))


# --- the four checks: (verdict, sentence) -------------------------------------------------------


def _accumulation(cases: Mapping[tuple[str, str], Mapping[str, Any]]) -> tuple[str, str]:
    by_k = sorted(((int(b["extra_info"]["microbatches"]), b) for b in cases.values()), key=lambda pair: pair[0])
    ks = [k for k, _ in by_k]
    if 1 not in ks or len(ks) < 2:
        return NOT_MEASURED, f"needs k=1 and another k; measured k={','.join(map(str, ks)) or 'none'}"
    peaks = {k: _peak(b) for k, b in by_k}
    full, last = by_k[0][1], by_k[-1][1]
    k_max = ks[-1]
    roughly = all(peaks[k] <= ACCUMULATION_SLACK * peaks[1] / k for k in ks)
    memory_ok = _decreasing([peaks[k] for k in ks]) and roughly
    time_rises = _slower_beyond_noise(last, full)
    peak_list = ", ".join(f"{format_bytes(peaks[k])} at k={k}" for k in ks)
    ratio = peaks[k_max] / peaks[1] if peaks[1] else float("nan")
    grads = full["extra_info"].get("trainable_parameter_bytes")
    sentence = (
        f"peak tensor memory {peak_list} (k={k_max}: {ratio:.2f} of the full batch's, 1/k = {1 / k_max:.2f}"
        + (f"; gradients alone take {format_bytes(grads)}" if grads else "")
        + f"), time per effective batch {_time(compared_median(full))} at k=1 and {_time(compared_median(last))} "
        f"at k={k_max} ({compared_median(last) / compared_median(full):.2f}x)"
    )
    reasons = []
    if not memory_ok:
        reasons.append("memory does not fall roughly as 1/k" if _decreasing([peaks[k] for k in ks])
                       else "memory does not fall with every k")
    if not time_rises:
        reasons.append("time does not rise beyond noise")
    return (HOLDS, sentence) if not reasons else (FAILS, f"{sentence}: {' and '.join(reasons)}")


def _zero_grad(cases: Mapping[tuple[str, str], Mapping[str, Any]]) -> tuple[str, str]:
    variants = {variant: bench for (variant, _mode), bench in cases.items()}
    if "zero_" not in variants or "set_to_none" not in variants:
        return NOT_MEASURED, f"needs zero_ and set_to_none; measured {', '.join(sorted(variants)) or 'none'}"
    zero, none = variants["zero_"], variants["set_to_none"]
    less_memory = _peak(none) < _peak(zero)
    slower = _slower_beyond_noise(none, zero)
    sentence = (
        f"set_to_none peaks at {format_bytes(_peak(none))} against zero_'s {format_bytes(_peak(zero))} "
        f"(gradients: {format_bytes(zero['extra_info'].get('trainable_parameter_bytes') or 0)}), "
        f"a training step takes {_time(compared_median(none))} against {_time(compared_median(zero))} "
        f"({compared_median(none) / compared_median(zero):.2f}x)"
    )
    if "accumulate" in variants:
        sentence += f", and {_time(compared_median(variants['accumulate']))} with no reset (gradients pile up)"
    reasons = []
    if not less_memory:
        reasons.append("set_to_none does not lower the peak")
    if slower:
        reasons.append("set_to_none is slower beyond noise")
    return (HOLDS, sentence) if not reasons else (FAILS, f"{sentence}: {' and '.join(reasons)}")


def _freezing(cases: Mapping[tuple[str, str], Mapping[str, Any]]) -> tuple[str, str]:
    variants = {variant: bench for (variant, _mode), bench in cases.items()}
    present = [v for v in FREEZING_VARIANTS if v in variants]
    if "all_trainable" not in variants or len(present) < 2:
        return NOT_MEASURED, f"needs all_trainable and another variant; measured {', '.join(present) or 'none'}"
    benches = [variants[v] for v in present]
    nodes = [int(b["extra_info"]["graph_nodes"]) for b in benches]
    saved = [int(b["extra_info"]["saved_bytes"]) for b in benches]
    peaks = [_peak(b) for b in benches]
    sentence = ", ".join(
        f"{v}: {n} nodes, {format_bytes(s)} saved, peak {format_bytes(p)}, backward {_time(compared_median(b))}"
        for v, n, s, p, b in zip(present, nodes, saved, peaks, benches)
    )
    reasons = []
    for failure, values in (
        ("the graph does not shrink", nodes),
        ("saved bytes do not shrink", saved),
        ("peak memory does not shrink", peaks),
    ):
        if not _decreasing(values):
            reasons.append(failure)
    if not all(_faster_beyond_noise(later, earlier) for earlier, later in zip(benches, benches[1:])):
        reasons.append("backward time does not shrink beyond noise")
    return (HOLDS, sentence) if not reasons else (FAILS, f"{sentence}: {' and '.join(reasons)}")


def _inplace(
    cases: Mapping[tuple[str, str], Mapping[str, Any]], rejected: Mapping[tuple[str, str], str]
) -> tuple[str, str]:
    parts, reasons, measured = [], [], False
    for mode in ("no_grad", "inference_mode"):
        out, inplace = cases.get(("relu", mode)), cases.get(("relu_", mode))
        if out is None or inplace is None:
            continue
        measured = True
        parts.append(
            f"under {mode} relu_ peaks at {format_bytes(_peak(inplace))} against relu's {format_bytes(_peak(out))} "
            f"and takes {_time(compared_median(inplace))} against {_time(compared_median(out))}"
        )
        if not _peak(inplace) < _peak(out):
            reasons.append(f"relu_ does not lower the peak under {mode}")
        if _slower_beyond_noise(inplace, out):
            reasons.append(f"relu_ is slower beyond noise under {mode}")
    for variant in ("relu_", "detach_then_modify"):
        if (variant, "grad") in rejected:
            parts.append(f"under grad {variant} is rejected (\"{_shorten(rejected[(variant, 'grad')])}\")")
        elif (variant, "grad") in cases:
            parts.append(f"under grad {variant} ran without error")
            reasons.append(f"autograd accepted {variant} under grad")
    if not measured and not reasons:
        return NOT_MEASURED, ", ".join(parts + ["needs relu and relu_ under no_grad or inference_mode"])
    sentence = ", ".join(parts)
    return (HOLDS, sentence) if not reasons else (FAILS, f"{sentence}: {' and '.join(reasons)}")


def _shorten(message: str, limit: int = 110) -> str:
    return message if len(message) <= limit else message[: limit - 3].rstrip() + "..."
