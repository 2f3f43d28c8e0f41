"""Memory probes: tensor bytes, saved-for-backward bytes, graph size and process RSS.

Each probe is a context manager around one pass that leaves its figures on the object, so the
measurement code can swap real probes for fakes in tests. None of them runs while a pass is
timed: hooks and dispatch modes cost time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import platform
import re
import sys
import weakref
from pathlib import Path
from types import TracebackType
from typing import Protocol

import psutil
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class PassProbe(Protocol):
    """A context manager that measures the pass run inside it; figures are read after exit."""

    method: str
    peak_bytes: int

    def __enter__(self) -> PassProbe: ...

    def __exit__(self, *exc: object) -> None: ...


def _tensors(tree: object) -> list[torch.Tensor]:
    return [leaf for leaf in tree_flatten(tree)[0] if isinstance(leaf, torch.Tensor)]


class CpuTensorTracker(TorchDispatchMode):
    """Live and peak bytes of the tensor storages created inside the context.

    PyTorch keeps no statistics for ordinary CPU memory, so this watches every op below
    autograd (backward's ops included): each output storage that none of the op's inputs
    already had is counted once, and uncounted when a weak-reference finaliser sees it freed.
    Storages that existed before the context are never counted, even when an in-place op
    returns them. Scratch buffers an op frees before returning are invisible.
    """

    method = "dispatch-tracker"

    def __init__(self, device_type: str | None = None) -> None:
        super().__init__()
        self._device_type = device_type  # count only storages on this kind of device (None: all)
        self.live_bytes = 0
        self.peak_bytes = 0
        self._finalizers: dict[int, weakref.finalize] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in _tensors((args, kwargs))}
        for tensor in _tensors(out):
            if self._device_type is not None and tensor.device.type != self._device_type:
                continue
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key in inputs or key in self._finalizers or storage.nbytes() == 0:
                continue
            self.live_bytes += storage.nbytes()
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
            self._finalizers[key] = weakref.finalize(storage, self._remove, key, storage.nbytes())
            self._added(key, storage.nbytes())
        return out

    def _added(self, key: int, nbytes: int) -> None:
        """A new storage of ``nbytes`` was counted (a hook for TensorLedger)."""

    def _remove(self, key: int, nbytes: int) -> None:
        self.live_bytes -= nbytes
        self._finalizers.pop(key, None)

    @property
    def retained_bytes(self) -> int:
        return self.live_bytes

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        # Storages freed later must not change the figures already taken.
        for finalizer in self._finalizers.values():
            finalizer.detach()
        self._finalizers.clear()


class TensorLedger(CpuTensorTracker):
    """The dispatch tracker with a mark at the start of the pass, on any device: one meaning of
    peak tensor memory for CPU and CUDA alike, in two figures.

    Entered before the case's setup, so the tensors setup makes (a backward's graph and its saved
    tensors) are known, and their frees during the pass are seen. After ``mark()``:
    * ``peak_new_bytes`` (gross): the most bytes of storages made during the pass alive at once;
    * ``peak_growth_bytes`` (net): the most tensor bytes alive above the pass's start, frees of
      setup's tensors counted (0 when the pass never rises above its start).
    Tensors made before the ledger (parameters, input, gradients of earlier rounds) are never seen,
    nor those on another kind of device than ``device_type`` (save_on_cpu's host copies of a CUDA
    case's saved tensors).
    """

    method = "dispatch-ledger"

    def __init__(self, device_type: str | None = None) -> None:
        super().__init__(device_type)
        self._baseline = 0
        self._born_since_mark: set[int] = set()
        self.new_live_bytes = 0
        self.peak_new_bytes = 0
        self._peak_since_mark = 0

    def mark(self) -> None:
        self._baseline = self._peak_since_mark = self.live_bytes
        self._born_since_mark.clear()
        self.new_live_bytes = self.peak_new_bytes = 0

    @property
    def peak_growth_bytes(self) -> int:
        return self._peak_since_mark - self._baseline

    def _added(self, key: int, nbytes: int) -> None:
        self._peak_since_mark = max(self._peak_since_mark, self.live_bytes)
        self._born_since_mark.add(key)
        self.new_live_bytes += nbytes
        self.peak_new_bytes = max(self.peak_new_bytes, self.new_live_bytes)

    def _remove(self, key: int, nbytes: int) -> None:
        super()._remove(key, nbytes)
        if key in self._born_since_mark:
            self._born_since_mark.discard(key)
            self.new_live_bytes -= nbytes


class NoTensorProbe:
    """Where no tensor-memory probe can watch the pass (a compiled model on CPU): null figures."""

    method = "none-under-compile"
    peak_bytes = None
    retained_bytes = None

    def __enter__(self) -> NoTensorProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class CudaAllocatorProbe:
    """Peak and retained tensor bytes from the CUDA caching allocator's own counters."""

    method = "cuda-allocator"

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_bytes = 0
        self.retained_bytes = 0
        self.peak_reserved_bytes = 0

    def __enter__(self) -> CudaAllocatorProbe:
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        self._start = torch.cuda.memory_allocated(self.device)
        self._start_reserved = torch.cuda.memory_reserved(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        torch.cuda.synchronize(self.device)
        self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._start
        self.retained_bytes = torch.cuda.memory_allocated(self.device) - self._start
        self.peak_reserved_bytes = torch.cuda.max_memory_reserved(self.device) - self._start_reserved


def cuda_graph_pool_bytes(device: torch.device) -> int:
    """Bytes of ``device``'s segments that belong to a CUDA graph pool: the caching allocator's
    memory snapshot, segments whose ``segment_pool_id`` is not (0, 0) (the default pool's). CUDA
    graph trees allocate a graph's outputs, saved tensors and static input copies there while
    warming up and recording, and keep the segments for its replays."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    segments = torch.cuda.memory._snapshot()["segments"]
    return sum(int(segment["total_size"]) for segment in segments
               if segment.get("device", index) == index and tuple(segment.get("segment_pool_id", (0, 0))) != (0, 0))


class CudaGraphPoolProbe(CudaAllocatorProbe):
    """A CUDA-graph case (reduce-overhead): its replay allocates nothing new, since CUDA graph trees
    gave its tensors a private pool while recording, before the pass. Its peak tensor memory is
    that pool, the bytes its graphs' segments hold above ``pool_start`` (the graph pools' bytes
    before the case's first call), plus what the pass allocates outside the pool; read after the
    pass, so every graph of the case has been recorded. ``pass_peak_bytes`` keeps the allocator's
    figure for the pass alone (1.5 KiB on an H200 for an mlp grad forward)."""

    method = "cuda-graph-pool"

    def __init__(self, device: torch.device, pool_start: int) -> None:
        super().__init__(device)
        self.pool_start = pool_start
        self.pool_bytes = 0
        self.pass_peak_bytes = 0

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.pass_peak_bytes = self.peak_bytes
        self.pool_bytes = max(0, cuda_graph_pool_bytes(self.device) - self.pool_start)
        self.peak_bytes = self.pool_bytes + self.pass_peak_bytes


class SavedTensorCounter:
    """Bytes that autograd saves for backward inside the context.

    A saved tensor is a reference, not a copy: each storage counts once, and storages in
    ``existing`` (inputs and parameters alive before the pass) count not at all.
    """

    def __init__(self, existing: list[torch.Tensor]) -> None:
        self._existing = {t.untyped_storage().data_ptr() for t in existing}
        self._seen: dict[int, int] = {}
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda saved: saved)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        # Saved storages stay alive while the graph does, so their addresses cannot be reused
        # by another saved storage of the same pass.
        if storage.data_ptr() not in self._existing:
            self._seen.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    @property
    def saved_bytes(self) -> int:
        return sum(self._seen.values())

    @property
    def saved_count(self) -> int:
        return len(self._seen)

    def __enter__(self) -> SavedTensorCounter:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.__exit__(*exc)


class LiveSavedTensorCounter(SavedTensorCounter):
    """The most bytes saved for backward that are alive at once.

    For a pass with one graph this is SavedTensorCounter's figure (saved tensors live until
    backward). Accumulation builds and frees one graph per micro-batch, and a freed storage's
    address can come back in the next micro-batch: here a storage leaves the count when a
    weak-reference finaliser sees it freed, so the figure is one micro-batch's saved bytes.
    """

    def __init__(self, existing: list[torch.Tensor]) -> None:
        super().__init__(existing)
        self._live: dict[int, int] = {}
        self._live_bytes = 0
        self._peak = (0, 0)  # (bytes, storages) when the live bytes peaked
        self._finalizers: list[weakref.finalize] = []

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in self._existing and key not in self._live and storage.nbytes() > 0:
            self._live[key] = storage.nbytes()
            self._live_bytes += storage.nbytes()
            self._peak = max(self._peak, (self._live_bytes, len(self._live)))
            self._finalizers.append(weakref.finalize(storage, self._release, key))
        return tensor

    def _release(self, key: int) -> None:
        self._live_bytes -= self._live.pop(key, 0)

    @property
    def saved_bytes(self) -> int:
        return self._peak[0]

    @property
    def saved_count(self) -> int:
        return self._peak[1]

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        for finalizer in self._finalizers:  # figures are final once the pass is over
            finalizer.detach()
        self._finalizers.clear()


def count_graph_nodes(output: torch.Tensor | None) -> int:
    """Autograd nodes reachable from ``output`` (AccumulateGrad nodes included)."""
    root = output.grad_fn if output is not None else None
    if root is None:
        return 0
    seen = {root}
    stack = [root]
    while stack:
        for child, _ in stack.pop().next_functions:
            if child is not None and child not in seen:
                seen.add(child)
                stack.append(child)
    return len(seen)


_PROC_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_bytes(field: str) -> int:
    for line in _PROC_STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    raise RuntimeError(f"{field} missing from {_PROC_STATUS}")


def _release_free_heap() -> None:
    # glibc keeps freed heap memory (by design, and more so with MALLOC_TRIM_THRESHOLD_ set);
    # returning it first makes the RSS growth show what this pass needs, not what earlier
    # cases left free in the heap.
    if sys.platform.startswith("linux"):
        libc_name = ctypes.util.find_library("c")
        if libc_name:
            libc = ctypes.CDLL(libc_name)
            if hasattr(libc, "malloc_trim"):
                libc.malloc_trim(0)


def peak_rss_supported() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        _status_bytes("VmHWM")
        return True
    except (OSError, RuntimeError):
        return False


def _kernel_version(release: str) -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", release)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def rss_error_bytes(release: str | None = None, cpus: int | None = None, threads: int | None = None) -> int:
    """How far a peak-RSS figure (VmHWM at the end less VmRSS at the start) can be from the bytes
    actually mapped, on this machine's Linux kernel (its release, online CPUs and this process's
    threads by default).

    The kernel counts a process's resident pages in approximate counters, per kind of page
    (anonymous and file-backed change during a pass; shared memory does not, since neither torch's
    CPU allocator nor Python maps any):
    * since Linux 6.2, per-CPU counters (percpu_counter): each CPU folds its count into the shared
      total only once it reaches the batch, max(32, 2 x online CPUs) pages either way, so the total
      can lack up to batch - 1 pages per CPU per kind. VmHWM is such a total (the kernel records
      the peak when memory is unmapped, from the shared totals, and clear_refs resets it from them
      too), while VmRSS is exactly summed since 6.16 ("mm: fix the inaccurate memory statistics
      issue for users"): one approximate reading per figure there, two before (start and end);
    * before 6.2, a per-thread cache folded in every 64 page faults: up to 64 pages per thread
      per kind, in both readings.
    On the H200 machine (16 CPUs, Linux 6.18) that is 2 x 31 x 16 pages, 3.9 MiB: a 64 MiB block
    freed before the end read 62.55 MiB there (1.45 MiB short). On 2 CPUs it is 0.48 MiB.
    """
    major_minor = _kernel_version(platform.release() if release is None else release)
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    kinds = 2  # anonymous and file-backed pages
    if major_minor >= (6, 2):
        readings = 1 if major_minor >= (6, 16) else 2
        per_kind = (max(32, 2 * cpus) - 1) * cpus
    else:
        readings = 2
        per_kind = 64 * (psutil.Process().num_threads() if threads is None else threads)
    return readings * kinds * per_kind * page


class RssProbe:
    """Process RSS growth during the pass.

    On Linux the kernel's peak counter (VmHWM) is reset to the current RSS by writing 5 to
    /proc/self/clear_refs, so the figure is the peak, to within ``error_bytes`` (the kernel's
    counters are approximate: rss_error_bytes). Elsewhere it falls back to psutil's RSS at the
    end minus the start, which misses memory freed before the end.
    """

    def __init__(self) -> None:
        self.method = "vmhwm-reset" if peak_rss_supported() else "rss-delta"
        self.peak_bytes = 0
        self.error_bytes = rss_error_bytes() if sys.platform.startswith("linux") else 0

    def __enter__(self) -> RssProbe:
        gc.collect()
        _release_free_heap()
        if self.method == "vmhwm-reset":
            _CLEAR_REFS.write_text("5")
            self._start = _status_bytes("VmRSS")
        else:
            self._start = psutil.Process().memory_info().rss
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        end = _status_bytes("VmHWM") if self.method == "vmhwm-reset" else psutil.Process().memory_info().rss
        self.peak_bytes = max(0, end - self._start)
