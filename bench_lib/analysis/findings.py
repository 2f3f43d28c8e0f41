"""Headline findings computed from one run's cases, each sentence carrying its numbers.

The sentences are the page's answer "at a glance"; everything they say is also in the
tables, so the list is capped for large runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bench_lib.analysis import physics, stats, throughput
from bench_lib.analysis.derive import busy_run
from bench_lib.contract.schema import CONTENDED_FRACTION
from bench_lib.contract.units import format_bytes, number, size_label

if TYPE_CHECKING:
    import pandas as pd

# Forward-pass modes compared against grad.
OTHER_MODES = ("no_grad", "inference_mode", "detach")
# At the largest size the modes count as "converged" when every one is this close to grad.
CONVERGED = 0.05
MAX_FINDING_GROUPS = 8
GROUP_KEYS = ["workload", "device", "dtype"]


@dataclass(frozen=True)
class Finding:
    topic: str  # "speed", "overhead", "memory", "measured", "stability", "contention", "skipped"
    text: str


@dataclass(frozen=True)
class Findings:
    items: list[Finding]
    groups_total: int   # workload x device x dtype groups in the run
    groups_shown: int


def overhead_fits(cases: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """time(n) = a + b*n per workload x pass x device x dtype x mode with two or more sizes, fitted
    to the compared medians (cmp_*: interleaved where measured), the tables' figures.

    Columns: the keys, sizes, a_us (fixed cost per call), b_ns (cost per element),
    a_minus_no_grad_us, which for grad reads as autograd's bookkeeping cost per call, and its 95 %
    interval a_minus_no_grad_low_us / _high_us. The interval comes from the replicates where every
    case of the two curves has the same number, two or more (one fit per process: the variance that
    matters), else from a bootstrap of each size's own rounds (within one process only, and so
    narrower than the truth). No interval where the two modes were fitted on different sizes.
    unresolved: why the fit of a mode against no_grad says nothing (unresolved_reason), "" if it does.
    ``cases`` carries add_derived's columns (contended).
    """
    import pandas as pd

    keys = ["workload", "pass", "device", "dtype", "mode"]
    # Grouped in plain Python: pandas' per-group overhead is most of the cost for large runs.
    points: dict[tuple[Any, ...], list[tuple[float, float, Any, Any]]] = {}
    busy: dict[tuple[Any, ...], list[bool]] = {}
    # The compared figures (interleaved where measured, else the case's own), as the tables show them.
    columns = [cases[k].tolist() for k in keys] + [cases[c].tolist() for c in ("elements", "cmp_median", "cmp_samples",
                                                                               "rep_cmp", "contended")]
    for *key, elements, median, samples, replicates, contended in zip(*columns, strict=True):
        points.setdefault(tuple(key), []).append((float(elements), float(median), samples, replicates))
        busy.setdefault(tuple(key), []).append(bool(contended))
    rows = []
    for key in sorted(points):
        xs, ys, _, _ = zip(*points[key], strict=True)
        if len(set(xs)) < 2:
            continue
        fit = stats.fit_overhead(xs, ys)
        spec = dict(zip(keys, key, strict=True))
        rows.append({**spec, "sizes": len(xs), "a_us": fit.a * 1e6, "b_ns": fit.b * 1e9})
    fits = pd.DataFrame(rows, columns=[*keys, "sizes", "a_us", "b_ns"])
    base = fits.loc[fits["mode"] == "no_grad", keys[:-1] + ["a_us"]].rename(columns={"a_us": "no_grad_a_us"})
    fits = fits.merge(base, on=keys[:-1], how="left")
    fits["a_minus_no_grad_us"] = fits["a_us"] - fits.pop("no_grad_a_us")
    cache: dict[tuple[Any, ...], np.ndarray] = {}
    intervals = [_difference_interval(points, key, seed, cache)
                 for key in fits[keys].itertuples(index=False, name=None)]
    fits["a_minus_no_grad_low_us"] = [i.low * 1e6 if i else math.nan for i in intervals]
    fits["a_minus_no_grad_high_us"] = [i.high * 1e6 if i else math.nan for i in intervals]
    a_by_key = {tuple(row[:-1]): row[-1] for row in fits[[*keys, "a_us"]].itertuples(index=False, name=None)}
    fits["unresolved"] = [
        unresolved_reason(key, a_by_key, points, busy) or ""
        for key in fits[keys].itertuples(index=False, name=None)]
    return fits


def unresolved_reason(key: tuple[Any, ...], a_us: Mapping[tuple[Any, ...], float],
                      points: Mapping[tuple[Any, ...], list[tuple[float, float, Any, Any]]],
                      busy: Mapping[tuple[Any, ...], list[bool]]) -> str | None:
    """Why the fit of ``key``'s mode, against no_grad's of its group, is no finding: its cases (and
    no_grad's) were timed on a busy machine, or it gives what no pass can have (a fixed cost below
    zero; a fixed cost above no_grad's by more than the whole pass at the smallest size). None if
    neither. A contended run distorts the smallest sizes most, and so the intercept above all."""
    reference = (*key[:-1], "no_grad")
    curves = [key] if key == reference or reference not in a_us else [key, reference]
    flags = [flag for curve in curves for flag in busy[curve]]
    if busy_run(sum(flags), len(flags)):
        return f"not resolved: {sum(flags)} of {len(flags)} cases contended"
    if any(a_us[curve] < 0 for curve in curves):
        return "not resolved: the fit gives a fixed cost below zero, which no call can have"
    if len(curves) == 2:
        smallest, pass_seconds, _, _ = min(points[key], key=lambda point: point[0])
        if a_us[key] - a_us[reference] > pass_seconds * 1e6:
            return (f"not resolved: a({key[-1]}) − a(no_grad) exceeds {key[-1]}'s whole pass at "
                    f"{size_label(int(smallest))} elements")
    return None


BOOTSTRAP_RESAMPLES = 500


def _difference_interval(points: Mapping[tuple[Any, ...], list[tuple[float, float, Any, Any]]],
                         key: tuple[Any, ...], seed: int,
                         cache: dict[tuple[Any, ...], np.ndarray]) -> stats.Interval | None:
    """95 % interval of a(mode) − a(no_grad), in seconds, at the sizes both modes have."""
    reference = (*key[:-1], "no_grad")
    if key[-1] == "no_grad" or reference not in points:
        return None
    mine = {x: (samples, reps) for x, _, samples, reps in points[key]}
    theirs = {x: (samples, reps) for x, _, samples, reps in points[reference]}
    sizes = sorted(mine)
    if set(theirs) != set(mine) or len(sizes) < 2:
        return None  # the point estimates were fitted on different sizes: no interval of their difference
    counts = {len(side[x][1]) for side in (mine, theirs) for x in sizes}
    if len(counts) == 1 and (replicates := counts.pop()) >= 2:
        per_process = [stats.fixed_costs(sizes, [mine[x][1][r] for x in sizes])
                       - stats.fixed_costs(sizes, [theirs[x][1][r] for x in sizes]) for r in range(replicates)]
        return stats.mean_ci(per_process)
    def resampled_fixed_costs(side: Mapping[float, Any], stream: int) -> np.ndarray:
        # One stream for no_grad, another for the mode: resampling the same rounds of both would
        # pair them, which their separately timed rounds are not.
        rng = np.random.default_rng([seed, stream])
        columns = []
        for x in sizes:
            samples = np.asarray(side[x][0], dtype=float)
            draws = samples[rng.integers(0, samples.size, (BOOTSTRAP_RESAMPLES, samples.size))]
            columns.append(np.median(draws, axis=1))
        return stats.fixed_costs(sizes, np.column_stack(columns))

    # no_grad's resamples serve every other mode of its group.
    cache_key = (*reference, *sizes)
    if cache_key not in cache:
        cache[cache_key] = resampled_fixed_costs(theirs, 0)
    return stats.percentile_interval(resampled_fixed_costs(mine, 1) - cache[cache_key])


def compute(cases: pd.DataFrame, skipped: pd.DataFrame, fits: pd.DataFrame, *, scenario_cases: int = 0) -> Findings:
    """Findings for one run; ``cases`` carries add_derived's columns, ``scenario_cases`` counts the
    run's measured scenario cases (shown in their own section)."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for record in cases[cases["pass"] == "forward"].to_dict("records"):  # samples kept: the CIs need them
        groups.setdefault((record["workload"], record["device"], record["dtype"]), []).append(record)
    items: list[Finding] = []
    for (workload, device, dtype), forward in sorted(groups.items())[:MAX_FINDING_GROUPS]:
        where = f"{workload} on {device}" + ("" if dtype == "float32" else f" ({dtype})")
        by_size: dict[int, dict[str, Mapping[str, Any]]] = {}
        for record in forward:
            by_size.setdefault(int(record["size"]), {})[record["mode"]] = record
        busy = sum(bool(record["contended"]) for record in forward)
        # Intervals from rounds timed under load count the rounds' spread, not what the load did.
        suspect = (f" Suspect: {busy} of {len(forward)} of these cases contended, so the intervals are too narrow."
                   if busy_run(busy, len(forward)) else "")
        speed = _speed(where, by_size)
        for topic, text in (("speed", speed and speed + suspect),
                            ("overhead", _overhead(where, fits, workload, device, dtype)),
                            ("memory", _memory(where, by_size))):
            if text:
                items.append(Finding(topic, text))
    if cases.empty and scenario_cases:
        items.append(Finding("measured", f"No mode-matrix case was measured in this run; its {scenario_cases} "
                                         "measured scenario cases are under Scenarios."))
    elif cases.empty:
        items.append(Finding("measured", "Nothing was measured in this run: every selected case was skipped."))
    else:
        items.append(Finding("stability", _stability(cases)))
    if cases["background_cpu"].notna().any():
        items.append(Finding("contention", _contention(cases)))
    if len(skipped):
        items.append(Finding("skipped", _skipped(skipped)))
    n_groups = cases.groupby(GROUP_KEYS).ngroups
    return Findings(items=items, groups_total=n_groups, groups_shown=min(len(groups), MAX_FINDING_GROUPS))


def _speedup(grad: Mapping[str, Any], other: Mapping[str, Any]) -> tuple[float, stats.Interval | None]:
    # The comparison medians and samples: interleaved rounds where measured (see load).
    ratio = grad["cmp_median"] / other["cmp_median"]
    if len(grad["cmp_samples"]) < 2 or len(other["cmp_samples"]) < 2:
        return ratio, None
    # Interleaved samples of one group are paired: round i of every mode shared one time window.
    paired = bool(grad["cmp_interleaved"] and other["cmp_interleaved"]
                  and len(grad["cmp_samples"]) == len(other["cmp_samples"]))
    return ratio, stats.bootstrap_median_ratio_ci(grad["cmp_samples"], other["cmp_samples"], paired=paired)


def _ratio_phrase(mode: str, ratio: float, ci: stats.Interval | None) -> str:
    """``ratio`` is median(grad)/median(mode); ``ci`` its bootstrap interval, if samples exist."""
    if ci is not None and not ci.excludes(1.0):
        return f"{mode} is not significantly different from grad ({ratio:.2f}x, 95% CI {ci.low:.2f}-{ci.high:.2f})"
    if ratio >= 1:
        ci_text = f" (95% CI {ci.low:.2f}-{ci.high:.2f})" if ci else ""
        return f"{mode} is {ratio:.2f}x faster than grad{ci_text}"
    ci_text = f" (95% CI {1 / ci.high:.2f}-{1 / ci.low:.2f})" if ci else ""
    return f"{mode} is {1 / ratio:.2f}x slower than grad{ci_text}"


def _speed(where: str, by_size: Mapping[int, Mapping[str, Mapping[str, Any]]]) -> str | None:
    comparable = [s for s in sorted(by_size) if "grad" in by_size[s] and any(m in by_size[s] for m in OTHER_MODES)]
    if not comparable:
        return None
    small, large = comparable[0], comparable[-1]
    modes = by_size[small]
    best = max((m for m in OTHER_MODES if m in modes),
               key=lambda m: modes["grad"]["cmp_median"] / modes[m]["cmp_median"])
    ratio, ci = _speedup(modes["grad"], modes[best])
    text = f"Forward, {where}: {_ratio_phrase(best, ratio, ci)} at {size_label(small)} elements"
    if large == small:
        return text + "."
    modes = by_size[large]
    ratios = {m: modes["grad"]["cmp_median"] / modes[m]["cmp_median"] for m in OTHER_MODES if m in modes}
    spread = max(abs(r - 1.0) for r in ratios.values())
    if spread <= CONVERGED:
        return text + f"; at {size_label(large)} every mode is within {math.ceil(spread * 100)}% of grad."
    best = max(ratios, key=lambda m: ratios[m])
    ratio, ci = _speedup(modes["grad"], modes[best])
    return text + f"; at {size_label(large)} {_ratio_phrase(best, ratio, ci)}."


def _overhead(where: str, fits: pd.DataFrame, workload: str, device: str, dtype: str) -> str | None:
    rows = fits[(fits["workload"] == workload) & (fits["pass"] == "forward")
                & (fits["device"] == device) & (fits["dtype"] == dtype)]
    by_mode = {row["mode"]: row for row in rows.to_dict("records")}
    if "grad" not in by_mode or "no_grad" not in by_mode:
        return None
    grad, nograd = by_mode["grad"], by_mode["no_grad"]
    if grad["unresolved"]:
        # An impossible or contended fit is no finding: its figures stay in the overhead table, marked.
        return f"Overhead model, forward, {where}: autograd's bookkeeping per call is {grad['unresolved']}."
    low, high = grad["a_minus_no_grad_low_us"], grad["a_minus_no_grad_high_us"]
    interval = f"95% CI {number(low)} to {number(high)} µs" if low == low else "no interval"
    if low == low and low > 0:
        verdict = (f"so autograd's bookkeeping costs about {number(grad['a_minus_no_grad_us'])} µs per call "
                   f"({interval})")
    else:
        # An interval that reaches zero, or below (grad cheaper than no_grad: impossible), resolves nothing.
        verdict = (f"so autograd's bookkeeping per call is not resolved on this machine: a(grad) − a(no_grad) = "
                   f"{number(grad['a_minus_no_grad_us'])} µs ({interval})")
    return (f"Overhead model, forward, {where}: time(n) = a + b·n gives a fixed cost a = {number(grad['a_us'])} µs "
            f"per call under grad vs {number(nograd['a_us'])} µs under no_grad, {verdict}; per element "
            f"b = {number(grad['b_ns'])} ns vs {number(nograd['b_ns'])} ns.")


def _memory(where: str, by_size: Mapping[int, Mapping[str, Mapping[str, Any]]]) -> str | None:
    with_grad = [size for size in sorted(by_size) if "grad" in by_size[size]]
    if not with_grad:
        return None
    at_top = by_size[with_grad[-1]]
    top = at_top["grad"]
    saved = int(top["saved_bytes"])
    count = int(top["saved_tensor_count"])
    text = (f"Memory, forward, {where}: grad keeps {format_bytes(saved)} of saved tensors at "
            f"{size_label(int(top['size']))} elements ({saved / top['elements']:.1f} bytes per element, "
            f"{count} tensor{'s' if count != 1 else ''})")
    graphless = [m for m in ("no_grad", "inference_mode") if m in at_top]
    if graphless:
        zero = all(at_top[m]["saved_bytes"] == 0 for m in graphless)
        text += f"; {' and '.join(graphless)} keep {'none' if zero else 'some (see the physics check)'}"
    peak_grad = top["peak_tensor_bytes"]
    peak_other = at_top["no_grad"]["peak_tensor_bytes"] if "no_grad" in at_top else None
    if top.get("compile") == physics.CUDA_GRAPHS and top.get("tensor_memory_method") != physics.CUDA_GRAPH_POOL_METHOD:
        # A replay allocates nothing new: the allocator's figure for the pass is not the case's memory.
        return text + ("; peak tensor memory not shown: this run measured only what a CUDA-graph replay "
                       "allocates anew (its tensors live in the graphs' pool, which it did not read).")
    pool = top.get("tensor_memory_method") == physics.CUDA_GRAPH_POOL_METHOD
    if _positive(peak_grad) and _positive(peak_other):
        what = ("the CUDA graph pool (the graphs' outputs, saved tensors and static input copies, allocated "
                "while recording; a replay allocates nothing new) holds" if pool else "peak tensor memory is")
        text += (f"; {what} {format_bytes(peak_grad)} under grad vs "
                 f"{format_bytes(peak_other)} under no_grad ({peak_grad / peak_other:.2f}x)")
    elif pool and _positive(peak_grad):
        text += f"; the CUDA graph pool holds {format_bytes(peak_grad)} under grad"
    return text + "."


def _positive(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value > 0


def _stability(cases: pd.DataFrame) -> str:
    unstable = cases[cases["unstable"]]
    verb = "has" if len(unstable) == 1 else "have"
    text = (f"Stability: {len(unstable)} of {len(cases)} cases {verb} an IQR above "
            f"{stats.UNSTABLE_REL_IQR:.0%} of the median (marked ⚠ in the tables)")
    if unstable.empty:
        return text + "." + _pipelined_stability(cases)
    worst = unstable.loc[unstable["rel_iqr"].idxmax()]
    causes = unstable["instability"].value_counts(dropna=False)
    why = [f"{int(count)} {STABILITY_CAUSES[cause][count != 1]}" for cause, count in causes.items()
           if cause in STABILITY_CAUSES]
    unknown = int(unstable["instability"].isna().sum())
    if unknown:
        why.append(f"{unknown} without raw rounds to tell why")
    return text + (f"; the worst is {_case_name(worst)} at {worst['rel_iqr']:.0%}. "
                   + (f"By their rounds: {'; '.join(why)}." if why else "") + _pipelined_stability(cases))


# Why an unstable case's rounds spread (stats.instability_cause): the singular and plural phrase.
STABILITY_CAUSES = {
    stats.DRIFT: ("drifted while timed", "drifted while timed"),
    stats.PROCESSES: ("differs between processes, each steady", "differ between processes, each steady"),
    stats.TAIL: ("has a tail of slow rounds", "have a tail of slow rounds"),
    stats.SPREAD: ("scatters both ways", "scatter both ways"),
}


def _pipelined_stability(cases: pd.DataFrame) -> str:
    """On CUDA: how the latency's spread splits between host- and device-bound cases, and how
    stable the pipelined figure (a mean over blocks of passes) is for the same cases."""
    pipelined = cases[cases["pipelined_unstable"].notna()]
    if pipelined.empty:
        return ""
    bounds = [throughput.bound_of(gpu, pipe) for gpu, pipe in zip(pipelined["gpu_median"].astype(float),
                                                                 pipelined["pipelined_median"].astype(float),
                                                                 strict=True)]
    on_device = [b == throughput.DEVICE for b in bounds]
    device = pipelined[on_device]
    host = pipelined[[not b for b in on_device]]
    return (f" On CUDA, latency is unstable in {int(host['unstable'].sum())} of {len(host)} host-bound or unknown "
            f"cases and {int(device['unstable'].sum())} of {len(device)} device-bound ones; the pipelined figure "
            f"is unstable in {int(pipelined['pipelined_unstable'].astype(bool).sum())} of {len(pipelined)}.")


def _contention(cases: pd.DataFrame) -> str:
    busy = cases[cases["contended"]]
    limit = f"more than {CONTENDED_FRACTION:.0%} of the CPUs"
    if busy.empty:
        return f"Contention: none of the {len(cases)} cases was timed while other processes used {limit}."
    worst = busy.loc[busy["background_cpu"].astype(float).idxmax()]
    verb = "was" if len(busy) == 1 else "were"
    return (f"Contention: {len(busy)} of {len(cases)} cases {verb} timed while other processes used {limit} "
            f"(marked * in the tables), so their times are suspect; the worst is {_case_name(worst)} at "
            f"{float(worst['background_cpu']):.0%}.")


def _skipped(skipped: pd.DataFrame) -> str:
    counts = skipped["reason"].value_counts()
    parts = [f"{count} × {reason}" for reason, count in sorted(counts.items(), key=lambda rc: (-rc[1], rc[0]))]
    return f"Skipped: {len(skipped)} case{'s' if len(skipped) != 1 else ''} ({'; '.join(parts)})."


def _case_name(row: Mapping[str, Any]) -> str:
    return f"{row['workload']} {row['mode']} {row['pass']} at {size_label(int(row['size']))} on {row['device']}"

