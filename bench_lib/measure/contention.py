"""How much of the machine other processes used while a case was timed.

On a small machine one busy neighbour is enough to slow torch's multi-threaded kernels by an
order of magnitude (a thread waits at a barrier for a core it does not have). The figure is
recorded with every case so that a suspicious number can be traced to its cause.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from types import SimpleNamespace

import psutil

# The kernel counts CPU time in clock ticks (10 ms on Linux), per CPU and per process.
TICK_SECONDS = 1.0 / os.sysconf("SC_CLK_TCK")


def _system_busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


def _process_busy_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system + times.children_user + times.children_system


class BackgroundLoad:
    """Share of all CPUs busy with other work (other processes, hypervisor steal) inside the context,
    as a lower bound that tick rounding cannot inflate."""

    def __init__(
        self,
        system_busy: Callable[[], float] = _system_busy_seconds,
        process_busy: Callable[[], float] = _process_busy_seconds,
        clock: Callable[[], float] = time.monotonic,
        cpus: int | None = None,
        tick: float = TICK_SECONDS,
    ) -> None:
        self._system_busy, self._process_busy, self._clock = system_busy, process_busy, clock
        self._cpus = cpus or psutil.cpu_count(logical=True) or 1
        self._tick = tick
        self.fraction = 0.0

    def __enter__(self) -> BackgroundLoad:
        self._start = SimpleNamespace(system=self._system_busy(), process=self._process_busy(), wall=self._clock())
        return self

    def __exit__(self, *exc: object) -> None:
        wall = self._clock() - self._start.wall
        others = (self._system_busy() - self._start.system) - (self._process_busy() - self._start.process)
        # A lower bound: each CPU's counter and our own can each be off by up to a tick, so up to
        # (cpus + 1) ticks of "others" may be rounding. Without that slack a 4 ms window on a quiet
        # machine reads 100 % busy whenever a tick falls into it.
        slack = (self._cpus + 1) * self._tick
        self.fraction = min(1.0, max(0.0, (others - slack) / (wall * self._cpus))) if wall > 0 else 0.0
