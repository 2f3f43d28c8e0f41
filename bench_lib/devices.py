"""Where CPU and CUDA differ: availability, synchronisation, tensor-memory probe, free memory."""

from __future__ import annotations

import gc
import os
import shlex
import shutil

import psutil
import torch

from bench_lib.memory import CpuTensorTracker, CudaAllocatorProbe, NoTensorProbe


def unavailable_reason(device: str) -> str | None:
    if device == "cuda" and not torch.cuda.is_available():
        return "CUDA is not available (torch.cuda.is_available() is False)"
    return None


def synchronize(device: torch.device) -> None:
    # CUDA kernels run asynchronously: a clock read without this measures the launch only.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def tensor_probe(
    device: torch.device, compiled: bool = False
) -> CpuTensorTracker | CudaAllocatorProbe | NoTensorProbe:
    """The device's tensor-memory probe. A compiled case on CPU gets none: under the dispatch
    tracker (a TorchDispatchMode) torch.compile runs the model eagerly, and stops compiling it."""
    if device.type == "cuda":
        return CudaAllocatorProbe(device)
    return NoTensorProbe() if compiled else CpuTensorTracker()


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
