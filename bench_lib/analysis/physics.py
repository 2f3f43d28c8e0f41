"""Checks that a run's numbers obey the physics of the modes (README.md, "Why the numbers can be trusted").

A violation is an artifact of the harness or the machine, not a finding. Works on the run
file's benchmark dicts only, so the live summary and the report share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench_lib.contract.schema import CONTENDED_FRACTION
from bench_lib.contract.units import format_seconds

# Grad may look faster than a no-graph mode by this much before it counts, and only when the
# middle halves of the two distributions do not overlap (grad's q3 below the other's q1):
# on a shared 2-core machine, run-to-run drift alone moves a median by 10-20 %.
FORWARD_TOLERANCE = 0.05
NO_GRAPH_MODES = ("no_grad", "inference_mode")


def _background(case: Mapping[str, object]) -> float:
    info = case["extra_info"]
    assert isinstance(info, Mapping)
    return float(info.get("background_cpu") or 0.0)


def contended(cases: Iterable[Mapping[str, object]]) -> list[tuple[str, float]]:
    """(case name, share of CPUs used by others) for every case timed on a busy machine, busiest first."""
    busy = [(str(case["name"]), _background(case)) for case in cases if _background(case) > CONTENDED_FRACTION]
    return sorted(busy, key=lambda item: -item[1])


def has_interleaved(info: Mapping[str, Any]) -> bool:
    """The rule of every comparison between the members of a group (modes, or a scenario's
    variants): a case that has interleaved rounds is compared on them, since they shared one time
    window with the rest of its group; otherwise on its own rounds."""
    return info.get("interleaved_median") is not None


def compared_median(case: Mapping[str, Any]) -> float:
    """The figure a case is shown and compared by (has_interleaved's rule)."""
    info = case["extra_info"]
    return float(info["interleaved_median"] if has_interleaved(info) else case["stats"]["median"])


def comparable_times(
    a: Mapping[str, object], b: Mapping[str, object]
) -> tuple[str, Mapping[str, float], Mapping[str, float]]:
    """Median and quartiles of two cases of one group, taken where comparing them is fair.

    The interleaved rounds, where both cases have them: they shared one time window, so drift of
    the machine's speed cancels. Otherwise each case's own pytest-benchmark rounds.
    """
    infos = [case["extra_info"] for case in (a, b)]
    if all(isinstance(info, Mapping) and has_interleaved(info) for info in infos):
        pairs = [{key: info[f"interleaved_{key}"] for key in ("median", "q1", "q3")} for info in infos]  # type: ignore[index]
        return "interleaved", pairs[0], pairs[1]
    return "sequential", a["stats"], b["stats"]  # type: ignore[return-value]


def _key(case: Mapping[str, object]) -> tuple[object, ...]:
    info = case["extra_info"]
    assert isinstance(info, Mapping)
    return (info["workload"], info["pass"], info["size"], info["device"], info["dtype"])


def violations(cases: Iterable[Mapping[str, object]]) -> list[str]:
    """One line per broken rule; empty when the run is consistent."""
    problems: list[str] = []
    by_key: dict[tuple[object, ...], dict[str, Mapping[str, object]]] = {}
    for case in cases:
        info = case["extra_info"]
        assert isinstance(info, Mapping)
        by_key.setdefault(_key(case), {})[str(info["mode"])] = case
        if info["mode"] in NO_GRAPH_MODES and info["saved_bytes"] != 0:
            problems.append(f"{case['name']}: {info['saved_bytes']} bytes saved for backward under {info['mode']}")
        # Saved tensors are made during a forward and live until backward, so a pass that runs
        # the forward must peak at least that high.
        peak = info.get("peak_tensor_bytes")
        if info["pass"] != "backward" and peak is not None and peak < info["saved_bytes"]:
            problems.append(
                f"{case['name']}: peak tensor memory {info['peak_tensor_bytes']} bytes is below "
                f"the {info['saved_bytes']} bytes saved for backward"
            )
    for (workload, pass_, size, device, dtype), modes in sorted(by_key.items(), key=lambda item: str(item[0])):
        if pass_ != "forward" or "grad" not in modes:
            continue
        for other_name in NO_GRAPH_MODES:
            if other_name not in modes:
                continue
            source, grad, other = comparable_times(modes["grad"], modes[other_name])
            if grad["median"] < other["median"] * (1 - FORWARD_TOLERANCE) and grad["q3"] < other["q1"]:
                busy = max(_background(modes["grad"]), _background(modes[other_name]))
                problems.append(
                    f"{workload} forward n={size} {device} {dtype}: grad median {format_seconds(grad['median'])} "
                    f"is below {other_name} median {format_seconds(other['median'])} beyond noise ({source} rounds)"
                    + (f" (other processes used {busy:.0%} of the CPUs)" if busy > CONTENDED_FRACTION else "")
                )
    return problems
