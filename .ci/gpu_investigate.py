"""On a GPU: two open questions about CUDA-graph cases (torch.compile mode="reduce-overhead"),
answered as one JSON document on stdout (and in the file named by the first argument, rewritten
after each step, so that a run cut short still leaves what it found).

(a) mlp's grad forward at 2^20 elements saves 3 tensors, 12 bytes per element, under
    reduce-overhead against eager's 2 tensors, 8 bytes (h200-cuda-compile-scenarios.json). Every
    tensor the pass saves for backward is listed (saved_tensors_hooks, as the benchmark's counter
    sees them): shape, dtype, address, whether its storage is the input's, a parameter's or the
    output's, whether it equals the input, and which allocator pool it lies in, so as to tell
    whether the third is the CUDA graph's static copy of the input. Eager and plain inductor are
    listed too, for contrast.
(b) A replayed CUDA graph allocates nothing, so the allocator's peak over the pass reads about 0.
    The allocator's counters (torch.cuda.memory_stats) and the snapshot's segments per pool
    (torch.cuda.memory._snapshot: the graph pool is the one whose id is not (0, 0)) are taken
    before the first compiled call and after each of the first calls (warm-up, recording, replay),
    so that "peak memory of a CUDA-graph case" can be defined as the bytes of its graph pool.

Each question runs in its own try block (an error is printed in its place); the whole is bounded
to GPU_INVESTIGATE_SECONDS (60 by default): past it, the remaining steps are skipped. Without a
GPU it prints a skip message and exits 0.

Run from the repository root with PYTHONPATH=$PWD: python .ci/gpu_investigate.py [out.json]
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BUDGET_SECONDS = float(os.environ.get("GPU_INVESTIGATE_SECONDS", "60"))
SIZE = 2**20
DEFAULT_POOL = (0, 0)
STAT_PREFIXES = ("allocated_bytes.all.", "reserved_bytes.all.", "active_bytes.all.", "requested_bytes.all.",
                 "segment.all.", "inactive_split_bytes.all.")
STAT_COUNTS = ("num_alloc_retries", "num_ooms", "num_device_alloc", "num_device_free")


class OutOfTime(Exception):
    pass


def _out_of_time(signum: int, frame: Any) -> None:
    raise OutOfTime(f"signal {signum}: past the time limit")


class Report:
    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self.started = time.monotonic()
        self.doc: dict[str, Any] = {"budget_seconds": BUDGET_SECONDS}

    def left(self) -> float:
        return BUDGET_SECONDS - (time.monotonic() - self.started)

    def save(self) -> None:
        self.doc["elapsed_seconds"] = round(time.monotonic() - self.started, 1)
        if self.path is not None:
            self.path.write_text(json.dumps(self.doc, indent=1, default=str))

    def step(self, name: str, needs_seconds: float, run: Any) -> Any:
        """``run()``'s result under ``name``, or the error it raised, or a note that no time was left."""
        if self.left() < needs_seconds:
            self.doc[name] = {"skipped": f"{self.left():.0f} s left of {BUDGET_SECONDS:.0f}, {needs_seconds:.0f} needed"}
            self.save()
            return None
        try:
            result = run()
            self.doc[name] = result
        except BaseException as error:  # each question reports its own failure
            self.doc[name] = {"error": f"{type(error).__name__}: {error}",
                              "traceback": traceback.format_exc().splitlines()[-8:]}
            result = None
            if isinstance(error, KeyboardInterrupt):
                raise
        self.save()
        return result


# --- the allocator's pools -------------------------------------------------------------------


def pools(torch: Any) -> list[dict[str, Any]]:
    """The snapshot's segments summed per pool (bytes), the default pool (0, 0) included."""
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for segment in torch.cuda.memory._snapshot()["segments"]:
        pool = tuple(segment.get("segment_pool_id", DEFAULT_POOL))
        entry = found.setdefault(pool, {"pool": list(pool), "graph_pool": pool != DEFAULT_POOL, "segments": 0,
                                        "total_size": 0, "allocated_size": 0, "active_size": 0,
                                        "requested_size": 0, "blocks_allocated": 0})
        entry["segments"] += 1
        for key in ("total_size", "allocated_size", "active_size"):
            entry[key] += segment.get(key, 0)
        for block in segment.get("blocks", []):
            if block.get("state") == "active_allocated":
                entry["requested_size"] += block.get("requested_size", block.get("size", 0))
                entry["blocks_allocated"] += 1
    return sorted(found.values(), key=lambda entry: entry["pool"])


def segment_map(torch: Any) -> list[tuple[int, int, tuple[int, int]]]:
    return [(s["address"], s["address"] + s["total_size"], tuple(s.get("segment_pool_id", DEFAULT_POOL)))
            for s in torch.cuda.memory._snapshot()["segments"]]


def pool_of(address: int, segments: list[tuple[int, int, tuple[int, int]]]) -> list[int] | None:
    for start, end, pool in segments:
        if start <= address < end:
            return list(pool)
    return None


def stats(torch: Any) -> dict[str, int]:
    every = torch.cuda.memory_stats()
    return {key: value for key, value in sorted(every.items())
            if key.startswith(STAT_PREFIXES) or key in STAT_COUNTS}


def graph_pool_handle(torch: Any, device_index: int) -> list[int] | None:
    """The pool of cudagraph trees' manager for the device (its private pool), where one exists."""
    try:
        from torch._inductor import cudagraph_trees

        manager = cudagraph_trees.get_manager(device_index, create_if_none_exists=False)
        return None if manager is None else list(manager.cuda_graphs_thread_pool)
    except Exception as error:  # noqa: BLE001 - a private API: report, do not fail
        return [f"{type(error).__name__}: {error}"]  # type: ignore[list-item]


# --- (a) the saved tensors -------------------------------------------------------------------


def saved_tensors(torch: Any, case: Any) -> dict[str, Any]:
    """Every tensor the case's forward saves for backward, described; the pass is run once more."""
    x = case.x
    parameters = {p.untyped_storage().data_ptr(): name for name, p in case.model.named_parameters()}
    packed: list[Any] = []

    def pack(tensor: Any) -> Any:
        packed.append(tensor)
        return tensor

    case.teardown()
    torch.cuda.synchronize()
    graphs = _unique_graphs()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda saved: saved), case.mode.context():
        output = case.model(case.mode.model_input(x))
        loss = output.mean()
    torch.cuda.synchronize()
    segments = segment_map(torch)
    input_storage = x.untyped_storage().data_ptr()
    output_storage = output.untyped_storage().data_ptr()
    rows = []
    for tensor in packed:
        storage = tensor.untyped_storage()
        same_shape = tuple(tensor.shape) == tuple(x.shape) and tensor.dtype == x.dtype
        rows.append({
            "shape": list(tensor.shape), "dtype": str(tensor.dtype), "data_ptr": tensor.data_ptr(),
            "storage_ptr": storage.data_ptr(), "storage_nbytes": storage.nbytes(),
            "bytes_per_input_element": storage.nbytes() / x.numel(),
            "is_input_storage": storage.data_ptr() == input_storage,
            "parameter": parameters.get(storage.data_ptr()),
            "is_output_storage": storage.data_ptr() == output_storage,
            "equals_input": bool(same_shape and torch.equal(tensor.detach(), x.detach())),
            "pool": pool_of(storage.data_ptr(), segments),
        })
    new = {row["storage_ptr"]: row["storage_nbytes"] for row in rows
           if not row["is_input_storage"] and row["parameter"] is None}
    del loss, output
    packed.clear()
    case.teardown()
    return {
        "input": {"shape": list(x.shape), "data_ptr": x.data_ptr(), "pool": pool_of(x.data_ptr(), segments)},
        "saved": rows,
        "counted_like_the_benchmark": {"tensors": len(new), "bytes": sum(new.values()),
                                       "bytes_per_input_element": sum(new.values()) / x.numel()},
        "static_input_copies": sum(1 for row in rows if row["equals_input"] and not row["is_input_storage"]),
        # A new graph here would mean the hooks made Dynamo compile again: the listing would then be
        # of that graph's first (warm-up) run, not of a replay.
        "graphs_compiled_under_the_hooks": None if graphs is None else _unique_graphs() - graphs,
    }


def _unique_graphs() -> int | None:
    try:
        from torch._dynamo.utils import counters

        return int(counters["stats"]["unique_graphs"])
    except Exception:  # noqa: BLE001 - a private API: no figure rather than a failure
        return None


def main(argv: list[str]) -> int:
    report = Report(argv[1] if len(argv) > 1 else None)
    try:
        import torch
    except ImportError as error:
        report.doc["skipped"] = f"torch is not importable: {error}"
        report.save()
        print(json.dumps(report.doc, indent=1))
        return 0
    if not torch.cuda.is_available():
        report.doc["skipped"] = "no CUDA device (torch.cuda.is_available() is False): nothing to investigate here"
        report.save()
        print(json.dumps(report.doc, indent=1))
        return 0

    signal.signal(signal.SIGTERM, _out_of_time)
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(max(1, int(BUDGET_SECONDS)))
    from bench_lib.contract.cases import CaseSpec
    from bench_lib.measure import devices
    from bench_lib.measure.runner import prepare

    device_index = torch.cuda.current_device()
    report.doc["device"] = torch.cuda.get_device_name(device_index)
    report.doc["torch"] = torch.__version__
    report.doc["case"] = f"mlp grad forward 2^{SIZE.bit_length() - 1} cuda float32"

    # Eager first: the two ReLU outputs, the input and the weights (the input and weights are
    # storages from before the pass, which the benchmark does not count).
    report.step("a_eager", 5, lambda: saved_tensors(torch, prepare(
        CaseSpec("mlp", "grad", "forward", SIZE, "cuda", "float32"), seed=0)))

    timeline: list[dict[str, Any]] = []
    report.doc["b_reduce_overhead_memory"] = {"timeline": timeline}
    state: dict[str, Any] = {}

    def take(label: str, probe_bytes: int | None = None) -> dict[str, Any]:
        torch.cuda.synchronize()
        entry = {"after": label, "graph_pool_handle": graph_pool_handle(torch, device_index),
                 "pools": pools(torch), "memory_stats": stats(torch)}
        if probe_bytes is not None:
            entry["cuda_allocator_probe_peak_bytes"] = probe_bytes
        timeline.append(entry)
        report.save()
        return entry

    def compiled_calls() -> dict[str, Any]:
        torch.cuda.empty_cache()
        case = prepare(CaseSpec("mlp", "grad", "forward", SIZE, "cuda", "float32", "reduce-overhead"), seed=0)
        state["case"] = case
        take("prepare (nothing compiled yet)")
        seconds = []
        for label in ("call 1 (compile, cudagraph trees' warm-up run)", "call 2 (recording the graph)",
                      "call 3 (replay)"):
            started = time.monotonic()
            with devices.CudaAllocatorProbe(case.device) as probe:  # the benchmark's CUDA tensor probe
                case.run_once()
            seconds.append(round(time.monotonic() - started, 3))
            take(label, probe.peak_bytes)
        graph = [p for p in timeline[-1]["pools"] if p["graph_pool"]]
        return {"call_seconds": seconds, "graph_pools_after_replay": graph,
                "graph_pool_bytes_after_replay": sum(p["total_size"] for p in graph),
                "graph_pool_allocated_after_replay": sum(p["allocated_size"] for p in graph),
                "probe_peak_bytes_per_call": [e.get("cuda_allocator_probe_peak_bytes") for e in timeline[1:]]}

    report.step("b_summary", 25, compiled_calls)
    def listed_replay() -> dict[str, Any]:
        found = saved_tensors(torch, state.pop("case"))
        take("the saved-tensor listing (a replay under saved_tensors_hooks)")
        return found

    if "case" in state:
        report.step("a_reduce_overhead", 5, listed_replay)
    # Plain inductor, no CUDA graphs: does it save what eager saves?
    report.step("a_inductor", 20, lambda: saved_tensors(torch, _ran(prepare(
        CaseSpec("mlp", "grad", "forward", SIZE, "cuda", "float32", "inductor"), seed=0))))
    signal.alarm(0)
    report.save()
    print(json.dumps(report.doc, indent=1, default=str))
    return 0


def _ran(case: Any) -> Any:
    """``case`` after its first call (the compile)."""
    case.run_once()
    return case


if __name__ == "__main__":
    sys.exit(main(sys.argv))
