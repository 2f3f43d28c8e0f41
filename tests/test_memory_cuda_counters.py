"""The CUDA probe's arithmetic on the caching allocator's counters, faked: it runs without a GPU.

tests/test_memory.py measures a real CUDA pass where there is one; here the counters start far
from zero, as on a device that already holds the model, the input and earlier cases' tensors, so
a figure not taken relative to the pass's start shows.
"""

import torch

from bench_lib.measure.memory import CudaAllocatorProbe

MiB = 2**20


class FakeAllocator:
    """torch.cuda's counters for one device, set by the test; calls are logged."""

    def __init__(self, allocated: int, reserved: int) -> None:
        self.allocated, self.max_allocated = allocated, allocated
        self.reserved, self.max_reserved = reserved, reserved
        self.log: list[str] = []

    def install(self, monkeypatch, device: torch.device) -> None:
        def counter(name):
            def read(where=None):
                assert where == device
                return getattr(self, name)
            return read

        def reset(where=None):
            assert where == device
            self.log.append("reset")
            self.max_allocated, self.max_reserved = self.allocated, self.reserved

        monkeypatch.setattr(torch.cuda, "synchronize", lambda where=None: self.log.append("synchronize"))
        monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", reset)
        for name in ("memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved"):
            monkeypatch.setattr(torch.cuda, name, counter(name.replace("memory_", "")))

    def run(self, peak: int, end: int, peak_reserved: int) -> None:
        """A pass: the allocator's counters move as the pass allocates and frees."""
        self.max_allocated = max(self.max_allocated, peak)
        self.allocated = end
        self.max_reserved = max(self.max_reserved, peak_reserved)
        self.reserved = peak_reserved


def test_peak_retained_and_reserved_are_taken_above_the_passs_start(monkeypatch):
    device = torch.device("cuda", 0)
    allocator = FakeAllocator(allocated=100 * MiB, reserved=128 * MiB)
    allocator.max_allocated = 900 * MiB  # an earlier case's peak: the probe resets it first
    allocator.install(monkeypatch, device)
    with CudaAllocatorProbe(device) as probe:
        assert allocator.log == ["synchronize", "reset"]
        allocator.run(peak=168 * MiB, end=104 * MiB, peak_reserved=192 * MiB)
    assert allocator.log == ["synchronize", "reset", "synchronize"]  # the pass's kernels are done when read
    assert probe.peak_bytes == 68 * MiB
    assert probe.retained_bytes == 4 * MiB
    assert probe.peak_reserved_bytes == 64 * MiB


def test_a_pass_that_frees_what_it_found_retains_a_negative_amount(monkeypatch):
    device = torch.device("cuda", 0)
    allocator = FakeAllocator(allocated=100 * MiB, reserved=128 * MiB)
    allocator.install(monkeypatch, device)
    with CudaAllocatorProbe(device) as probe:
        allocator.run(peak=100 * MiB, end=96 * MiB, peak_reserved=128 * MiB)
    assert (probe.peak_bytes, probe.retained_bytes, probe.peak_reserved_bytes) == (0, -4 * MiB, 0)
