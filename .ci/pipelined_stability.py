"""Why a CUDA case's pipelined figure is unstable, from run files: the figures behind the README's
"Why a case is unstable" (pipelined), computed again on any run.

For each run file given: how many pipelined figures are unstable (IQR above 10 % of the median,
with pytest-benchmark's quartiles, as the run stores them), how many would be within each
replicate process alone, how far the processes' medians lie apart, whether the first timed block
of a case stands out (the slowest of its case more often than chance; its ratio to the median of
the others), whether a case's blocks move in one step (a level shift), and how steady the device's
own time (GPU time) was. Prints one JSON object per run file.

Usage: python .ci/pipelined_stability.py RUN.json [RUN.json ...]
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from typing import Any

UNSTABLE = 0.10


def quartile_spread(samples: list[float]) -> float:
    """IQR / median with pytest-benchmark's quartiles (the medians of the lower and upper halves)."""
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for sample in samples:
        stats.update(sample)
    return (stats.q3 - stats.q1) / stats.median


def per_process(info: dict[str, Any]) -> list[list[float]] | None:
    """The pooled pipelined samples split back into each replicate's blocks (the merge concatenates
    them in replicate order), found from each replicate's own median; None where no split fits."""
    data, replicates = info["pipelined_data"], info.get("replicates") or []
    medians = [entry.get("pipelined_median") for entry in replicates]
    if len(replicates) <= 1:
        return [data]
    if any(m is None for m in medians):
        return None

    def split(start: int, index: int) -> list[list[float]] | None:
        if index == len(medians) - 1:
            rest = data[start:]
            return [rest] if rest and math.isclose(statistics.median(rest), medians[index], rel_tol=1e-9) else None
        for end in range(start + 1, len(data)):
            part = data[start:end]
            if math.isclose(statistics.median(part), medians[index], rel_tol=1e-9):
                tail = split(end, index + 1)
                if tail is not None:
                    return [part, *tail]
        return None

    return split(0, 0)


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return {"q1": round(q[0], 3), "median": round(q[1], 3), "q3": round(q[2], 3), "n": len(ordered)}


def analyse(doc: dict[str, Any]) -> dict[str, Any]:
    cases = [b["extra_info"] for b in doc.get("benchmarks", [])
             if b.get("extra_info", {}).get("device") == "cuda" and b["extra_info"].get("pipelined_data")]
    pooled_unstable = split_failed = 0
    process_spreads, between, first_ratio, shifts, gpu_spreads = [], [], [], [], []
    slowest_first = expected_first = 0.0
    for info in cases:
        pooled_unstable += quartile_spread(info["pipelined_data"]) > UNSTABLE
        if info.get("gpu_data"):
            gpu_spreads.append(quartile_spread(info["gpu_data"]))
        parts = per_process(info)
        if parts is None:
            split_failed += 1
            continue
        if len(parts) > 1:
            medians = [statistics.median(p) for p in parts]
            between.append(max(medians) / min(medians))
        for blocks in parts:
            if len(blocks) < 3:
                continue
            process_spreads.append(quartile_spread(blocks))
            first_ratio.append(blocks[0] / statistics.median(blocks[1:]))
            slowest_first += blocks.index(max(blocks)) == 0
            expected_first += 1 / len(blocks)
            logs = [math.log(b) for b in blocks]
            total = statistics.pvariance(logs) * len(logs)
            if total > 0:  # the share of the blocks' variance that one step between two levels explains
                shifts.append(max(1 - (statistics.pvariance(logs[:k]) * k + statistics.pvariance(logs[k:]) * (len(logs) - k))
                                  / total for k in range(1, len(logs))))
    return {
        "cases_with_a_pipelined_figure": len(cases),
        "replicates": doc.get("gradbench", {}).get("replicates", 1),
        "unstable_pooled": pooled_unstable,
        "unstable_within_one_process": sum(s > UNSTABLE for s in process_spreads),
        "process_figures": len(process_spreads),
        "process_spread": _quantiles(process_spreads),
        "between_processes_max_over_min": _quantiles(between),
        "between_processes_beyond_10_percent": sum(b > 1 + UNSTABLE for b in between),
        "first_block_over_median_of_the_rest": _quantiles(first_ratio),
        "first_block_slowest": int(slowest_first), "first_block_slowest_by_chance": round(expected_first, 1),
        "one_level_shift_explains_80_percent": sum(s >= 0.8 for s in shifts), "of": len(shifts),
        "gpu_time_spread": _quantiles(gpu_spreads),
        "gpu_time_unstable": sum(s > UNSTABLE for s in gpu_spreads),
        "split_failed": split_failed,
    }


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    for path in paths:
        try:
            with open(path) as handle:
                found = analyse(json.load(handle))
        except (OSError, ValueError, KeyError, TypeError) as error:
            found = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps({"run": path, **found}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
