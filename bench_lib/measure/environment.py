"""What a run's numbers depend on, recorded with the run."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import psutil
import torch

from bench_lib.contract.schema import SCHEMA_VERSION

# Read by glibc (or a preloaded allocator) when the process starts; they decide whether large
# tensors come from mmap (fresh pages, a page fault per 4 KiB on every call) or the heap.
ALLOCATOR_VARIABLES = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_ARENA_MAX",
    "GLIBC_TUNABLES",
    "LD_PRELOAD",
)


def allocator_settings() -> dict[str, str]:
    return {name: os.environ[name] for name in ALLOCATOR_VARIABLES if name in os.environ}


def allocator_note(settings: dict[str, str]) -> str:
    if "LD_PRELOAD" in settings:
        return f"preloaded allocator {settings['LD_PRELOAD']}"
    if "MALLOC_MMAP_THRESHOLD_" in settings and "MALLOC_TRIM_THRESHOLD_" in settings:
        return "glibc malloc, large blocks kept on the heap: steady-state times, as in a training loop"
    return (
        "glibc malloc defaults: large tensors may come from mmap with a page fault per 4 KiB, "
        "and which regime a case gets depends on earlier cases (run through `make bench`)"
    )


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def collect(seed: int) -> dict[str, object]:
    """The environment, as schema.ENVIRONMENT_KEYS."""
    cuda = torch.cuda.is_available()
    settings = allocator_settings()
    return {
        "schema_version": SCHEMA_VERSION,
        "torch_version": torch.__version__,
        "torch_git_version": torch.version.git_version,
        "torch_debug": torch.version.debug,
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if cuda else None,
        "gpu_names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "cpu_model": cpu_model(),
        "logical_cpus": psutil.cpu_count(logical=True),
        "physical_cpus": psutil.cpu_count(logical=False),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "allocator": settings,
        "allocator_note": allocator_note(settings),
        "seed": seed,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
    }
