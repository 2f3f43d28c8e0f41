"""Where CPU and CUDA differ: availability, synchronisation, tensor-memory probe, free memory."""

from __future__ import annotations

import gc

import psutil
import torch

from bench_lib.memory import CpuTensorTracker, CudaAllocatorProbe


def unavailable_reason(device: str) -> str | None:
    if device == "cuda" and not torch.cuda.is_available():
        return "CUDA is not available (torch.cuda.is_available() is False)"
    return None


def synchronize(device: torch.device) -> None:
    # CUDA kernels run asynchronously: a clock read without this measures the launch only.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def tensor_probe(device: torch.device) -> CpuTensorTracker | CudaAllocatorProbe:
    return CudaAllocatorProbe(device) if device.type == "cuda" else CpuTensorTracker()


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
