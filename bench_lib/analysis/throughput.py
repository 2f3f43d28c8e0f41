"""Latency against throughput: where a pass stops being bound by the host and becomes bound by
the device, per mode, from a run's CUDA figures (bench_lib.measure.pipeline).

In a pipelined loop a pass costs about the larger of the host's time (Python, autograd's
bookkeeping, the launches) and the device's. Where the device is busy for most of a pipelined
pass (its GPU time is at least DEVICE_BOUND of the pipelined time), the host's extra work, and so
most of what grad adds over no_grad, is hidden behind the device's; below, the host is the limit
and every microsecond of bookkeeping shows. The GPU time is taken with the L2 cache flushed, so
at sizes that fit in L2 it can exceed the pipelined time, whose passes find their data cached.

Pure functions of the run file's benchmark dicts, no torch: the terminal and the report share them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench_lib.contract.result import CaseResult
from bench_lib.contract.units import size_label

Record = Mapping[str, Any]

# The device's share of a pipelined pass from which the pass is device-bound.
DEVICE_BOUND = 0.8
HOST, DEVICE, UNKNOWN = "host-bound", "device-bound", "unknown"


def bound_of(gpu: float | None, pipelined: float) -> str:
    """DEVICE where the device is busy for at least DEVICE_BOUND of a pipelined pass, HOST below,
    UNKNOWN without a GPU time."""
    if gpu is None or math.isnan(gpu):
        return UNKNOWN
    return DEVICE if gpu / pipelined >= DEVICE_BOUND else HOST


@dataclass(frozen=True)
class ThroughputRow:
    """One case's three times, seconds per pass."""

    workload: str
    pass_: str
    mode: str
    device: str
    dtype: str
    size: int
    latency: float            # a pass alone, a synchronize at each end (the case's own median)
    pipelined: float          # queued back to back
    gpu: float | None         # the device's own time; None where the host could not get ahead
    batch: int                # passes per synchronize in the pipelined figure

    @property
    def busy(self) -> float | None:
        """The device's share of a pipelined pass."""
        return None if self.gpu is None else self.gpu / self.pipelined

    @property
    def bound(self) -> str:
        return bound_of(self.gpu, self.pipelined)

    @property
    def group(self) -> tuple[str, str, str, str]:
        return self.workload, self.pass_, self.device, self.dtype


@dataclass(frozen=True)
class Crossover:
    """One mode of one workload and pass: the size from which it is device-bound."""

    workload: str
    pass_: str
    mode: str
    device: str
    dtype: str
    size: int | None  # the smallest measured size from which every larger one is device-bound
    sentence: str


def rows(benchmarks: Iterable[Record]) -> list[ThroughputRow]:
    """The mode-matrix cases that carry a pipelined figure, by workload, pass, mode and size."""
    found = []
    for case in map(CaseResult.of, benchmarks):
        if case.is_scenario or case.pipelined_median is None:
            continue
        found.append(ThroughputRow(case.workload, case.pass_, case.mode, case.device, case.dtype, case.size,
                                   case.stats["median"], case.pipelined_median, case.gpu_median,
                                   case.pipelined_batch))
    return sorted(found, key=lambda r: (*r.group, r.mode, r.size))


def crossovers(found: Sequence[ThroughputRow]) -> list[Crossover]:
    """Per workload, pass, device, dtype and mode, in that order."""
    keys = list(dict.fromkeys((*r.group, r.mode) for r in found))
    return [_crossover([r for r in found if (*r.group, r.mode) == key]) for key in keys]


def _crossover(own: Sequence[ThroughputRow]) -> Crossover:
    """The walk from the largest size down, over the sizes with a GPU time: a size without one
    (the host never got ahead, or the flush buffer did not fit) says nothing either way."""
    first = own[0]
    where = f"{first.workload} {first.pass_} {first.mode} on {first.device} {first.dtype}"
    known = [r for r in own if r.busy is not None]
    size = None
    for row in reversed(known):  # the largest size first: the device-bound stretch runs to the end
        if row.bound != DEVICE:
            break
        size = row.size
    if not known:
        text = "no GPU time (the host never got ahead of the device), so no bound is known"
    elif size is None:
        text = f"host-bound at every size with a GPU time (GPU busy {_busy_range(known)})"
    elif size == known[0].size:
        text = f"device-bound at every size with a GPU time (GPU busy {_busy_range(known)})"
    else:
        last_host = max((r for r in known if r.size < size), key=lambda r: r.size)
        at_size = next(r for r in known if r.size == size)
        text = (f"host-bound up to {size_label(last_host.size)} (GPU busy {_percent(last_host.busy)} there), "
                f"device-bound from {size_label(size)} (GPU busy {_percent(at_size.busy)})")
    unknown = [size_label(r.size) for r in own if r.busy is None]
    if known and unknown:
        text += f"; no GPU time at {', '.join(unknown)}"
    return Crossover(first.workload, first.pass_, first.mode, first.device, first.dtype, size, f"{where}: {text}")


def hidden_overhead(found: Sequence[ThroughputRow]) -> list[str]:
    """Per forward group holding grad and no_grad: what grad adds per pass, pipelined, at the
    smallest and the largest size both ran: the bookkeeping that a busy device hides."""
    sentences = []
    for group in dict.fromkeys(r.group for r in found if r.pass_ == "forward"):
        by_mode = {(r.mode, r.size): r for r in found if r.group == group}
        sizes = sorted(size for mode, size in by_mode if mode == "grad" and ("no_grad", size) in by_mode)
        if not sizes:
            continue
        parts = []
        for size in dict.fromkeys((sizes[0], sizes[-1])):
            grad, plain = by_mode[("grad", size)], by_mode[("no_grad", size)]
            parts.append(f"{grad.pipelined / plain.pipelined:.2f}× at {size_label(size)} ({grad.bound})")
        sentences.append(f"{group[0]} forward on {group[2]} {group[3]}: grad ÷ no_grad pipelined "
                         + ", ".join(parts))
    return sentences


def _percent(value: float | None) -> str:
    return "?" if value is None else f"{value:.0%}"


def _busy_range(known: Sequence[ThroughputRow]) -> str:
    low, high = min(r.busy for r in known), max(r.busy for r in known)  # type: ignore[type-var]
    return _percent(low) if _percent(low) == _percent(high) else f"{_percent(low)}-{_percent(high)}"


def sentences(found: Sequence[ThroughputRow]) -> list[str]:
    """What the terminal, summary.md and the page say: each mode's crossover, then grad's overhead."""
    return [c.sentence for c in crossovers(found)] + hidden_overhead(found)
