"""Where CPU and CUDA differ: availability, synchronisation, tensor-memory probe, free memory."""

from __future__ import annotations

import gc
import os
import shlex
import shutil

import psutil
import torch

from bench_lib.measure.memory import (
    CpuTensorTracker,
    CudaAllocatorProbe,
    CudaGraphPoolProbe,
    NoTensorProbe,
    cuda_graph_pool_bytes,
)


def unavailable_reason(device: str) -> str | None:
    if device == "cuda" and not torch.cuda.is_available():
        return "CUDA is not available (torch.cuda.is_available() is False)"
    return None


def synchronize(device: torch.device) -> None:
    # CUDA kernels run asynchronously: a clock read without this measures the launch only.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class CudaTimer:
    """bench_lib.measure.pipeline.DeviceTimer on a CUDA device: its stream's events, a sleep kernel to hold
    it back, and an L2 flush. A context manager that makes the case's device current; the flush
    buffer lives only inside it."""

    # What triton's do_bench writes to flush the L2 cache: several times any GPU's L2 (50 MiB on an H100).
    L2_FLUSH_BYTES = 256 * 2**20
    # Cycles of the sleep kernel that calibrate its clock (about 1 ms at a 2 GHz boost).
    CALIBRATION_CYCLES = 2_000_000

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._flush: torch.Tensor | None = None
        self._current = torch.cuda.device(device)
        self.cycles_per_second = 0.0

    def __enter__(self) -> CudaTimer:
        self._current.__enter__()
        try:
            try:
                self._flush = torch.empty(self.L2_FLUSH_BYTES // 4, dtype=torch.int32, device=self.device)
            except torch.OutOfMemoryError:
                self._flush = None  # a case that fills the device: no GPU time, the pipelined figure still
            # The first launch of a kernel in a process can load its module (CUDA's lazy loading) between
            # the events: on an H200 at 1980 MHz that made the calibration read 171 MHz. Launch it once first.
            torch.cuda._sleep(1000)
            self.synchronize()
            # torch.cuda._sleep spins for cycles of the SM clock, whatever its frequency now: measure it.
            start = self.event()
            torch.cuda._sleep(self.CALIBRATION_CYCLES)
            end = self.event()
            self.synchronize()
            self.cycles_per_second = self.CALIBRATION_CYCLES / max(self.seconds(start, end), 1e-9)
        except BaseException:
            self._flush = None
            self._current.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._flush = None
        torch.cuda.synchronize(self.device)
        self._current.__exit__(*exc)

    @property
    def flushes(self) -> bool:
        return self._flush is not None

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def flush_l2(self) -> None:
        assert self._flush is not None, "CudaTimer is used inside a with block"
        self._flush.zero_()

    def hold(self, seconds: float) -> None:
        torch.cuda._sleep(max(1, int(seconds * self.cycles_per_second)))

    def event(self) -> torch.cuda.Event:
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def reached(self, event: torch.cuda.Event) -> bool:
        return bool(event.query())

    def seconds(self, start: torch.cuda.Event, end: torch.cuda.Event) -> float:
        return float(start.elapsed_time(end)) / 1e3  # elapsed_time is in milliseconds


def tensor_probe(
    device: torch.device, compiled: bool = False, graph_pool_start: int | None = None
) -> CpuTensorTracker | CudaAllocatorProbe | NoTensorProbe:
    """The device's tensor-memory probe. A compiled case on CPU gets none: under the dispatch
    tracker (a TorchDispatchMode) torch.compile runs the model eagerly, and stops compiling it.
    A CUDA-graph case (``graph_pool_start``: fresh_cuda_graphs' figure before its first call) gets
    its graphs' pool."""
    if device.type == "cuda":
        return CudaAllocatorProbe(device) if graph_pool_start is None else CudaGraphPoolProbe(device, graph_pool_start)
    return NoTensorProbe() if compiled else CpuTensorTracker()


def fresh_cuda_graphs(device: torch.device) -> int:
    """Before a CUDA-graph case's first call: free the CUDA graph trees of earlier cases (their graphs
    share one pool per device, which a new case's recording would reuse), release the cached
    segments, and return the graph pools' bytes left on ``device``: the case's pool is what grows
    above it. Safe between cases: each compiled case has its own model, never called again after
    its measurement (compiled groups are not interleaved)."""
    try:
        from torch._inductor.cudagraph_trees import reset_cudagraph_trees
    except ImportError:  # a torch without CUDA graph trees: the pool is read above what is there
        pass
    else:
        reset_cudagraph_trees()
    release_memory(device)
    return cuda_graph_pool_bytes(device)


def compiler_missing_reason(device: str) -> str | None:
    """Why torch.compile's inductor cannot generate code for ``device`` here, or None. On CPU it
    compiles C++, with the compiler that $CXX names or a usual one on PATH."""
    if device != "cpu":
        return None
    names = [shlex.split(os.environ["CXX"])[0]] if os.environ.get("CXX", "").strip() else ["g++", "c++", "clang++"]
    if any(shutil.which(name) for name in names):
        return None
    return f"torch.compile's inductor needs a C++ compiler on cpu; none found ({', '.join(names)})"


def free_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free
    return psutil.virtual_memory().available


def release_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, torch.OutOfMemoryError):
        return True
    # CPU allocation failures are plain RuntimeErrors ("DefaultCPUAllocator: can't allocate memory").
    return isinstance(error, RuntimeError) and (
        "out of memory" in str(error) or "can't allocate memory" in str(error)
    )
