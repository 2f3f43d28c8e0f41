"""Latency's two companions on CUDA: pipelined throughput and GPU time.

A pass timed alone, with a synchronize at each end (pytest-benchmark's rounds), is latency: the
host's launches plus one round trip to the device. A training loop is pipelined: the host queues
the next pass while the device still runs this one, so a pass costs about the larger of the host's
time and the device's. Two more figures tell which of the two a pass is bound by:

* pipelined: PIPELINE_BATCH passes queued back to back (each frees the previous pass's graph and
  gradients, as a training loop does) and one synchronize at the end, per pass; a sample per such
  block, as torch.utils.benchmark's blocked_autorange takes them. WARM_UP_BLOCKS untimed blocks
  go first: the first block after the latency rounds ran slow (in three H200 runs, the slowest of
  its case's blocks in 124 of 269 cases and processes, where 52 are expected by chance; a median
  2-4 % above the case's other blocks).
* GPU time: the device's own time for one pass, between two CUDA events, with the L2 cache flushed
  before each pass, as triton's do_bench does. The host is held back behind a sleep kernel until it
  has queued a whole batch, so that the events time the device's work and not gaps where the
  device waited for the host's launches. A batch the device caught up with is timed again with a
  longer hold; where that keeps failing, no later batch is timed, and the GPU time is null unless
  GPU_PASSES[0] passes were timed by then: never the host's time under the device's name. It is
  null too where the flush buffer does not fit beside the case.

A CPU runs a pass synchronously: its latency is its throughput, and these figures are null. So are
they for passes that need an untimed preparation each time (a backward's fresh graph, a scenario's
``before``): those cannot be queued back to back.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any, Protocol

from bench_lib.analysis.replicates import sampled

# Passes per synchronize: one round trip (7 µs on an H200) spread over 50 passes is noise.
PIPELINE_BATCH = 50
PIPELINE_BLOCKS = (5, 25)   # fewest, most blocks
WARM_UP_BLOCKS = 1          # untimed, before them
GPU_BATCH = 10              # passes queued behind one hold
GPU_PASSES = (10, 100)      # fewest, most passes timed with events
HOLD_ATTEMPTS = 3           # each doubles the hold
# The hold per queued pass, as a multiple of the host's time to queue it: the pipelined time per
# pass bounds that from above (a pipelined pass costs the larger of the host's and the device's
# time), plus QUEUE_SECONDS for queueing the flush and the two events; 1.5x leaves a margin.
HOLD_PER_PASS = 1.5
QUEUE_SECONDS = 20e-6

NULL_FIGURES: dict[str, object] = {"pipelined_batch": None, **sampled("pipelined", [None]), **sampled("gpu", [None])}


class Pipelinable(Protocol):
    """What runner.PassCase offers: a queued pass and its untimed cleanup."""

    def launch(self) -> None: ...
    def teardown(self) -> None: ...


class DeviceTimer(Protocol):
    """The device's clocks and queue (devices.CudaTimer; fakes in the tests)."""

    @property
    def flushes(self) -> bool: ...  # whether flush_l2 can run (its buffer fitted on the device)
    def synchronize(self) -> None: ...
    def flush_l2(self) -> None: ...
    def hold(self, seconds: float) -> None: ...
    def event(self) -> Any: ...  # an event recorded on the device's queue now
    def reached(self, event: Any) -> bool: ...  # whether the device has run up to ``event``
    def seconds(self, start: Any, end: Any) -> float: ...


def pipelined_times(case: Pipelinable, blocks: int, timer: DeviceTimer,
                    clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Seconds per pass of each of ``blocks`` blocks of PIPELINE_BATCH queued passes, after
    WARM_UP_BLOCKS such blocks untimed."""
    times = []
    for _ in range(WARM_UP_BLOCKS + blocks):
        case.teardown()
        timer.synchronize()
        started = clock()
        for _ in range(PIPELINE_BATCH):
            case.teardown()  # frees the previous pass's graph, outputs and gradients
            case.launch()
        timer.synchronize()
        times.append((clock() - started) / PIPELINE_BATCH)
    case.teardown()
    return times[WARM_UP_BLOCKS:]


def gpu_times(case: Pipelinable, passes: int, host_seconds: float, timer: DeviceTimer) -> list[float] | None:
    """The device's seconds for each of ``passes`` passes, L2 flushed before each. ``host_seconds``:
    at least what the host takes to queue one pass (a pipelined pass takes no less). None when the
    host could not queue a batch before the device reached it, even with the longest hold, and
    fewer than GPU_PASSES[0] passes were timed before that."""
    times: list[float] = []
    hold = HOLD_PER_PASS * (host_seconds + QUEUE_SECONDS)
    while len(times) < passes:
        batch = min(GPU_BATCH, passes - len(times))
        for _ in range(HOLD_ATTEMPTS):
            case.teardown()
            timer.synchronize()
            timer.hold(hold * batch)
            held = timer.event()
            pairs = []
            for _ in range(batch):
                case.teardown()
                timer.flush_l2()
                start = timer.event()
                case.launch()
                pairs.append((start, timer.event()))
            ahead = not timer.reached(held)  # the device still held: every pass was queued in time
            timer.synchronize()
            if ahead:
                times += [timer.seconds(start, end) for start, end in pairs]
                break
            hold *= 2
        else:
            break
    case.teardown()
    return times if len(times) >= min(passes, GPU_PASSES[0]) else None


def figures(case: Pipelinable, latency: float, budget_seconds: float, timer: DeviceTimer,
            clock: Callable[[], float] = time.perf_counter) -> dict[str, object]:
    """NULL_FIGURES' keys for a case whose pass takes about ``latency`` seconds alone: as many
    blocks and events as ``budget_seconds`` each allow, within PIPELINE_BLOCKS and GPU_PASSES
    (the holds counted; the warm-up blocks come on top)."""
    latency = max(latency, 1e-9)
    blocks = _within(math.ceil(budget_seconds / (PIPELINE_BATCH * latency)), PIPELINE_BLOCKS)
    pipelined = pipelined_times(case, blocks, timer, clock)
    host = statistics.median(pipelined)
    passes = _within(math.ceil(budget_seconds / (latency + HOLD_PER_PASS * (host + QUEUE_SECONDS))), GPU_PASSES)
    return {"pipelined_batch": PIPELINE_BATCH, **sampled("pipelined", [pipelined]),
            **sampled("gpu", [gpu_times(case, passes, host, timer) if timer.flushes else None])}


def _within(value: int, bounds: tuple[int, int]) -> int:
    return max(bounds[0], min(bounds[1], value))
