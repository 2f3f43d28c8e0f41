"""On a GPU: gradbench's pipelined and GPU times against triton's do_bench and a plain
synchronised loop, for a few cases (issue 10: at a large size the pipelined throughput agrees with
do_bench within 10 %). Prints one line per case and writes $OUT/reference.json."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from bench_lib.contract.cases import CaseSpec
from bench_lib.measure import devices, pipeline
from bench_lib.measure.runner import prepare, warm_up

CASES = [("elementwise", "no_grad", "forward", 2**18), ("elementwise", "no_grad", "forward", 2**24),
         ("mlp", "grad", "forward", 2**24), ("mlp", "grad", "step", 2**24), ("mlp", "grad", "step", 2**10)]


def plain_loop(case, calls: int = 200) -> float:
    times = []
    for _ in range(calls):
        case.teardown()
        torch.cuda.synchronize()
        start = time.perf_counter()
        case.launch()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    from triton.testing import do_bench

    found = []
    for workload, mode, pass_, size in CASES:
        case = prepare(CaseSpec(workload, mode, pass_, size, "cuda", "float32"), seed=0)
        latency = warm_up(case, seconds=0.3)
        with devices.CudaTimer(case.device) as timer:
            figures = pipeline.figures(case, latency, budget_seconds=0.3, timer=timer)

        def call() -> None:
            case.teardown()
            case.launch()

        try:
            reference = do_bench(call, warmup=50, rep=300, return_mode="median") / 1e3
        except TypeError:  # an older triton: no return_mode
            reference = do_bench(call, warmup=50, rep=300, quantiles=[0.5]) / 1e3
        row = {"case": f"{workload} {mode} {pass_} 2^{size.bit_length() - 1}", "latency": plain_loop(case),
               "pipelined": figures["pipelined_median"], "gpu": figures["gpu_median"], "do_bench": reference}
        found.append(row)
        gpu = "null" if row["gpu"] is None else f"{row['gpu'] * 1e6:.1f} µs"
        print(f"{row['case']}: latency {row['latency'] * 1e6:.1f} µs, pipelined {row['pipelined'] * 1e6:.1f} µs, "
              f"GPU {gpu}, do_bench {reference * 1e6:.1f} µs, pipelined/do_bench {row['pipelined'] / reference:.3f}")
    Path(os.environ.get("OUT", "."), "reference.json").write_text(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
