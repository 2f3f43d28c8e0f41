"""Time-matched A/B: two checkouts' cases timed in alternating blocks, case by case.

``bench --against REF`` (launch.py) measures REF and this checkout as replicate runs for the
figures that drift cannot touch (memory, saved bytes, graph nodes, the interleaved mode ratios),
then hands the times to this module: one worker process per checkout (bench_lib.measure.abworker,
each importing its own checkout's bench_lib), both alive for the whole comparison. For each case
both workers build it and warm it up; then the launcher asks them in turn for blocks of rounds,
base, new, new, base, ... (PAIRS pairs, each block about BLOCK_SECONDS), so that the two blocks
of a pair are a fraction of a second apart and sample the same stretch of the machine. A
block's figure is the median of its rounds; the pairs go into both runs as ``paired_data`` and
compare tests them with bench_lib.analysis.paired.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_lib.commands.checkout import Checkout

# 40 pairs of 15 ms blocks, 20 from each generation of workers (below): a pair's two blocks start
# ~15 ms apart, so few slow stretches split a pair, and each generation's signed-rank test shrugs
# off the few that do (with 10 pairs of 30 ms a generation, two or three pairs split by a busy
# machine left 1.27x changes inconclusive); 2/2^20 lets one changed case survive the correction
# across cases.
PAIRS = 40
BLOCK_SECONDS = 0.015
# A process can sit in a slow regime for a case for its whole life (on this 2-core machine a case's
# median moved 2-60x between processes while its rounds agreed), which pairing within one pair of
# processes cannot tell from a change. So the pairs come from GENERATIONS fresh pairs of workers,
# the second going through the cases in reverse (another history before each case), and the test
# asks every generation to agree (analysis.paired).
GENERATIONS = 2
# Two workers share the cores, one working while the other waits for its next request: OpenMP's
# threads must sleep when idle, not spin (libgomp's default), or they slow the other side's block.
WORKER_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
MIN_ROUNDS, MAX_ROUNDS = 5, 500  # a block's median of fewer rounds is one slow round away from wild


class ABError(Exception):
    """The comparison cannot go on; the message is one line."""


class Worker:
    """One checkout's worker process, spoken to one JSON line at a time."""

    def __init__(self, checkout: Checkout, options: Sequence[str]) -> None:
        self.label = checkout.label
        command = [sys.executable, "-m", "bench_lib.measure.abworker", *options]
        environment = {**os.environ, **(checkout.environment() or {}), **WORKER_ENVIRONMENT}
        self.process = subprocess.Popen(command, cwd=checkout.root, env=environment, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        hello = self.ask({"op": "hello"})
        if hello.get("protocol") != 1:
            raise ABError(f"{self.label}'s A/B worker speaks protocol {hello.get('protocol')!r}, this checkout 1")
        if Path(str(hello.get("root"))).resolve() != checkout.root.resolve():
            raise ABError(f"{self.label}'s A/B worker runs the code in {hello.get('root')}, not {checkout.root}: "
                          f"{self.label} predates the time-matched A/B (bench_lib/measure/abworker.py)")

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass  # the read below reports the worker's end
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            hint = " (it has no bench_lib/measure/abworker.py: a ref from before the time-matched A/B)" \
                if code == 1 and request["op"] == "hello" else ""
            raise ABError(f"{self.label}'s A/B worker ended with exit status {code}{hint}")
        answer = json.loads(line)
        if "error" in answer:
            raise ABError(f"{self.label}'s A/B worker: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.ask_quit()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.process.kill()
                self.process.wait()

    def ask_quit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
        self.process.stdin.flush()


@dataclass(frozen=True)
class Paired:
    """One case's pairs: each side's block medians (seconds per pass), pair i = (base[i], new[i])."""

    base: list[float]
    new: list[float]
    rounds: int  # rounds per block (the fewest of its generations)


def worker_options(pytest_args: Sequence[str]) -> list[str]:
    """What a worker needs of the pytest arguments beyond the selection: the thread count and the
    user's workload modules (-p MODULE)."""
    options: list[str] = []
    args = list(pytest_args)
    for index, arg in enumerate(args):
        following = args[index + 1] if index + 1 < len(args) else None
        if arg.startswith("--gb-threads="):
            options.append(f"--threads={arg.split('=', 1)[1]}")
        elif arg == "--gb-threads" and following is not None:
            options.append(f"--threads={following}")
        elif arg == "-p" and following is not None and not following.startswith("no:"):
            options.append(f"--plugin={following}")
        elif arg.startswith("-p") and len(arg) > 2 and not arg[2:].startswith("no:"):
            options.append(f"--plugin={arg[2:]}")
    return options


def check(checkout: Checkout, pytest_args: Sequence[str]) -> None:
    """ABError unless ``checkout`` has a worker that speaks this protocol and runs its own code:
    asked before any replicate, so that an old ref fails in seconds, not after the replicates."""
    Worker(checkout, worker_options(pytest_args)).close()


def measure(base: Checkout, new: Checkout, pytest_args: Sequence[str], pairs: int = PAIRS,
            block_seconds: float = BLOCK_SECONDS, generations: int = GENERATIONS) -> dict[tuple[Any, ...], Paired]:
    """Every eager mode-matrix case of the selection that both checkouts can run, timed in pairs
    of blocks, ``pairs // generations`` by each of ``generations`` fresh pairs of workers (the
    second going through the cases in reverse order); keyed as CaseResult.spec."""
    options = worker_options(pytest_args)
    per_generation = pairs // generations
    found: dict[tuple[Any, ...], list[Paired]] = {}
    started, steps, done = time.monotonic(), 0, 0
    for generation in range(generations):
        workers: list[Worker] = []
        try:
            workers = [Worker(base, options), Worker(new, options)]
            listing = workers[1].ask({"op": "cases", "args": list(pytest_args)})
            specs, seed = listing["specs"], listing["seed"]
            if generation == 0:
                steps = len(specs) * generations
                print(f"gradbench: A/B: {len(specs)} cases, {pairs} pairs of blocks each (base, new, new, base, "
                      f"...), from {generations} pairs of worker processes", flush=True)
            for spec in specs if generation % 2 == 0 else reversed(specs):
                paired = _measure_case(workers, spec, seed, per_generation, block_seconds)
                key = tuple(spec[k] for k in ("workload", "mode", "pass_", "size", "device", "dtype"))
                if paired is not None:
                    found.setdefault(key, []).append(paired)
                done += 1
                if done * 10 // steps > (done - 1) * 10 // steps:
                    elapsed = time.monotonic() - started
                    print(f"gradbench: A/B {done}/{steps} case timings, {elapsed:.0f} s elapsed, "
                          f"about {elapsed / done * (steps - done):.0f} s left", flush=True)
        finally:
            for worker in workers:
                worker.close()
    # A case counts where every generation timed it: its blocks in generation order.
    return {key: Paired([b for p in parts for b in p.base], [b for p in parts for b in p.new],
                        min(p.rounds for p in parts))
            for key, parts in found.items() if len(parts) == generations}


def _measure_case(workers: Sequence[Worker], spec: dict[str, Any], seed: int, pairs: int,
                  block_seconds: float) -> Paired | None:
    answers = [worker.ask({"op": "case", "spec": spec, "seed": seed}) for worker in workers]
    if not all(answer["ok"] for answer in answers):
        return None  # a side cannot run it here (its skip reason is in its run)
    slowest = max(float(answer["round_seconds"]) for answer in answers)
    rounds = max(MIN_ROUNDS, min(MAX_ROUNDS, math.ceil(block_seconds / max(slowest, 1e-9))))
    blocks: list[list[float]] = [[], []]
    for pair in range(pairs):
        # base, new, then new, base: a drift within a pair favours neither side.
        for side in (0, 1) if pair % 2 == 0 else (1, 0):
            times = workers[side].ask({"op": "block", "rounds": rounds})["times"]
            blocks[side].append(statistics.median(times))
    return Paired(blocks[0], blocks[1], rounds)
