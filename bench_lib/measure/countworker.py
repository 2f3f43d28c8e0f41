"""The process that runs under callgrind and counts the instructions of many cases' passes.

Started by bench_lib.measure.counts as ``valgrind --tool=callgrind --collect-atstart=no ...
python -m bench_lib.measure.countworker REQUEST.json``: valgrind's start-up (torch's import under
valgrind, most of a minute) is paid once for every case of the request. Collection is off except
around each measured call of a case's pass: ``torch._C._valgrind_toggle()`` turns it on right
before ``case.target()`` and off right after, so the case's untimed ``setup`` and ``teardown`` stay
out of the count, as they stay out of the times. After a batch of calls,
``torch._C._valgrind_toggle_and_dump_stats()`` writes the batch's total (callgrind's ``totals:``
line) to the next numbered dump file, which this process reads back at once.

What remains inside the counted region besides the pass is the harness: the end of one toggle
call, the Python call of ``target`` and the start of the next toggle call (about 800 instructions
per call), plus a fixed cost per batch (the toggle and dump calls that close it). Both are
measured once, on an empty ``target`` (a bound method that does nothing) in batches of N and 2N
calls: (I(2N) - I(N)) / N is the harness per call, and I(N) less N times that is the fixed cost
per batch. A case's batch of N calls then counts, less the empty batch of N calls, the body of
the case's ``target`` and nothing else: what pytest-benchmark times, i.e. the mode's context
entered as the suite enters it, the model and the input (``PreparedCase.launch``).

Each case is counted in two batches of N calls (after warm-up calls, and warm-up batches until two
in a row agree), and a third where those two differ by more than 0.1 %: the count is their median,
and the difference between the two closest is the case's own repeatability figure
(``instructions_spread``). N is chosen from one call's count so that a batch holds about TARGET_INSTRUCTIONS. The
worker runs one intra-op thread (OpenMP threads spin-wait, and every spin is counted) with the
cyclic garbage collector off (a collection inside a counted call would add its work to one case at
random).

Answers, one JSON object per line on stdout:
    {"harness": instructions per call, "batch": fixed instructions per batch}
    {"context": mode, "instructions": per call}       (entering and leaving the mode's context)
    {"empty": per call}                               (the empty target again, less the harness: ~0)
    {"spec": {...}, "instructions": per call, "calls": N, "spread": share, "seconds": s}
    {"spec": {...}, "skip": why}
    {"spec": {...}, "error": one line}
    {"done": true}
"""

from __future__ import annotations

import gc
import importlib
import json
import math
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

# Instructions a batch of N calls should hold (N is chosen from one call's count): large enough
# that the per-call noise (a few hundred instructions of allocator and dict state) averages out,
# small enough that a case takes a fraction of a second under callgrind.
TARGET_INSTRUCTIONS = 4_000_000
MAX_CALLS = 200
HARNESS_CALLS = 200
WARM_UP_CALLS = 3       # empty batches before the harness is measured
CASE_WARM_UP_CALLS = 2  # whole rounds of a case (setup, pass, teardown) before it is counted
MAX_WARM_UP_BATCHES = 6  # then batches until two in a row agree within SETTLED
SETTLED = 0.0005
AGREE = 0.001  # two counts of a case further apart than this get a third
# The memory allocators' own functions, left out of the counts (Dumps): glibc's malloc and free and
# their internals, CPython's object and raw allocators. How many instructions a malloc takes depends
# on what the heap holds (its bins, its free lists), i.e. on everything the process did before: builds
# of one case in one process read up to 1.2 % apart with them (an elementwise call at 2^10: 13,100 to
# 13,560 of its 112,000 instructions are theirs), and within 0.1 % without. The calls into them, and
# everything that allocates, still count; their own instructions are recorded apart, ungated.
ALLOCATORS = re.compile(
    r"(malloc|free|cfree|calloc|realloc|posix_memalign|memalign|aligned_alloc|valloc|pvalloc|_int_\w+|"
    r"malloc_consolidate|unlink_chunk(\.\w+)*|sysmalloc|alloc_perturb|tcache_\w+|_mid_memalign|__libc_\w+|"
    r"__posix_memalign|_PyObject_(Malloc|Free|Calloc|Realloc)|PyObject_(Malloc|Free|Calloc|Realloc)|"
    r"pymalloc_\w+|_PyMem_\w+|PyMem_\w+)")


class Dumps:
    """callgrind's numbered dump files, ``<prefix>.<pid>.<n>`` (valgrind runs with
    ``--callgrind-out-file=<prefix>.%p``): this process's own."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.allocators = 0  # the allocators' instructions in the last dump read

    def next_total(self) -> int:
        """The Ir of the dump just written, the allocators' own left out (read, then deleted: so it is
        the only one there)."""
        [path] = Path(self.prefix).parent.glob(f"{Path(self.prefix).name}.{os.getpid()}.*")
        total, self.allocators = read_costs(path.read_text())
        path.unlink()
        return total - self.allocators


def read_total(text: str) -> int:
    """The instruction count (Ir) of one callgrind dump: its ``totals:`` line (``summary:`` in
    older files), near its end."""
    for key in ("\ntotals:", "\nsummary:"):
        at = f"\n{text}".rfind(key)
        if at >= 0:
            return int(f"\n{text}"[at + len(key):].split()[0])
    raise ValueError("a callgrind dump without a totals: line")


def read_costs(text: str) -> tuple[int, int]:
    """(total Ir, the ALLOCATORS' own Ir) of one callgrind dump, uncompressed names: each function's
    self cost is on the cost lines after its ``fn=`` line, except the line after a ``calls=`` line,
    which holds the inclusive cost of a call. Only the allocators' sections are read line by line:
    this runs under valgrind, where Python is fifty times slower."""
    allocators = 0
    for section in text.split("\nfn=")[1:]:
        name, _, body = section.partition("\n")
        if not ALLOCATORS.fullmatch(name.strip()):
            continue
        after_call = False
        for line in body.split("\n"):
            if line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if after_call:
                    after_call = False
                elif len(parts := line.split()) > 1:
                    allocators += int(parts[1])
    return read_total(text), allocators


def per_call(batch: float, calls: int, harness: float, fixed: float) -> float:
    """Per-call instructions of a batch of ``calls`` calls that counted ``batch`` instructions: the
    empty batch of as many calls (``fixed`` + ``calls`` x ``harness``) taken off."""
    return (batch - fixed) / calls - harness


def harness_of(single: float, double: float, calls: int) -> tuple[float, float]:
    """(per call, per batch) of the harness, from empty batches of ``calls`` (``single``) and twice as
    many (``double``) calls: the per-batch cost cancels in their difference."""
    harness = (double - single) / calls
    return harness, single - calls * harness


class Counter:
    """Counts batches of calls under callgrind; ``torch`` is passed in for the tests' sake."""

    def __init__(self, torch: Any, dumps: Dumps) -> None:
        self.toggle = torch._C._valgrind_toggle
        self.toggle_and_dump = torch._C._valgrind_toggle_and_dump_stats
        self.dumps = dumps
        self.harness = 0.0  # per call
        self.fixed = 0.0    # per batch
        self.allocators = 0.0  # per call, of the last per_call: the allocators' own instructions

    def batch(self, target: Callable[[], object], calls: int, setup: Callable[[], object] | None = None,
              teardown: Callable[[], object] | None = None) -> int:
        """Instructions of ``calls`` calls of ``target``, collection on only around each call."""
        toggle = self.toggle
        for _ in range(calls):
            if setup is not None:
                setup()
            toggle()
            target()
            toggle()
            if teardown is not None:
                teardown()
        toggle()
        self.toggle_and_dump()
        return self.dumps.next_total()

    def calibrate(self, empty: Callable[[], object], calls: int) -> None:
        """The harness's cost per call and per batch, from empty batches of N and 2N calls."""
        single = (self.batch(empty, calls) + self.batch(empty, calls)) / 2
        self.harness, self.fixed = harness_of(single, self.batch(empty, 2 * calls), calls)

    def per_call(self, target: Callable[[], object], calls: int, setup: Callable[[], object] | None = None,
                 teardown: Callable[[], object] | None = None) -> tuple[float, float]:
        """(instructions per call, spread), the harness taken off: two batches of ``calls`` calls, and a
        third where they differ by more than AGREE (now and then a batch pays for a bytecode
        re-specialisation). The count is their median; the spread, the relative difference between
        the two closest. ``allocators`` holds the allocators' own instructions per call, the median too."""
        allocators: list[float] = []

        def one() -> float:
            counted = per_call(self.batch(target, calls, setup, teardown), calls, self.harness, self.fixed)
            allocators.append(self.dumps.allocators / calls)
            return counted

        counts = [one(), one()]
        if abs(counts[0] - counts[1]) > AGREE * abs(counts[0] + counts[1]) / 2:
            counts.append(one())
        middle = statistics.median(counts)
        self.allocators = statistics.median(allocators)
        closest = min(abs(a - b) for i, a in enumerate(counts) for b in counts[i + 1:])
        return middle, closest / middle if middle > 0 else 0.0


class _Empty:
    """The harness's own cost: a bound method that does nothing, called as a case's target is."""

    def target(self) -> None:
        pass


class _Context:
    """Entering and leaving a mode's context around nothing, as PreparedCase._forward enters it."""

    def __init__(self, context: Callable[[], Any]) -> None:
        self.context = context

    def target(self) -> None:
        with self.context():
            pass


def calls_for(one_call: float) -> int:
    """Calls per batch for a pass of ``one_call`` instructions."""
    return max(1, min(MAX_CALLS, math.ceil(TARGET_INSTRUCTIONS / max(one_call, 1.0))))


def serve(request: dict[str, Any], answers: IO[str], torch: Any) -> None:
    from bench_lib.measure.modes import get_mode

    def say(answer: dict[str, Any]) -> None:
        answers.write(json.dumps(answer) + "\n")
        answers.flush()

    counter = Counter(torch, Dumps(request["dumps"]))
    empty = _Empty()
    for _ in range(WARM_UP_CALLS):  # the loop itself warms up (Python specialises its bytecode)
        counter.batch(empty.target, HARNESS_CALLS)
    counter.calibrate(empty.target, HARNESS_CALLS)
    say({"harness": counter.harness, "batch": counter.fixed})
    for mode in request.get("contexts", ()):
        entry = _Context(get_mode(mode).context)
        counter.batch(entry.target, HARNESS_CALLS)
        say({"context": mode, "instructions": counter.per_call(entry.target, HARNESS_CALLS)[0]})
    say({"empty": counter.per_call(empty.target, HARNESS_CALLS)[0]})
    seed = int(request["seed"])
    for fields in request["specs"]:
        try:
            say(_count_case(fields, seed, counter))
        except Exception as error:  # noqa: BLE001 - reported per case, the others still counted
            text = str(error).splitlines()[0] if str(error) else ""
            say({"spec": fields, "error": f"{type(error).__name__}: {text}"})
        gc.collect()  # the case's tensors and graph, before the next is built
    say({"done": True})


def _count_case(fields: dict[str, Any], seed: int, counter: Counter) -> dict[str, Any]:
    from bench_lib.contract.cases import CaseSpec
    from bench_lib.measure.runner import build, machine_skip_reason, static_skip_reason

    spec = CaseSpec(**fields)
    started = time.perf_counter()
    reason = static_skip_reason(spec) or machine_skip_reason(spec)
    if reason:
        return {"spec": fields, "skip": reason}
    case = build(spec, seed)
    for _ in range(CASE_WARM_UP_CALLS):
        case.run_once()
    one = per_call(counter.batch(case.target, 1, case.setup, case.teardown), 1, counter.harness,
                   counter.fixed)  # also a warm-up of the batch
    calls = calls_for(one)
    # Warm-up batches until two in a row agree: CPython specialises a code object's bytecode over its
    # first calls (and retries later, less and less often), which a first batch still pays for.
    previous = counter.batch(case.target, calls, case.setup, case.teardown)
    for _ in range(MAX_WARM_UP_BATCHES):
        current = counter.batch(case.target, calls, case.setup, case.teardown)
        if abs(current - previous) <= SETTLED * current:
            break
        previous = current
    instructions, spread = counter.per_call(case.target, calls, case.setup, case.teardown)
    return {"spec": fields, "instructions": instructions, "calls": calls, "spread": spread,
            "allocators": counter.allocators, "seconds": time.perf_counter() - started}


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    request = json.loads(Path(args[0]).read_text())
    # Only answers go to the real stdout: a stray print (a warning, a plugin's output) would break them.
    answers, sys.stdout = sys.stdout, sys.stderr
    gc.disable()
    import torch

    torch.set_num_threads(1)
    for module in request.get("plugins", ()):
        importlib.import_module(module)
    serve(request, answers, torch)


if __name__ == "__main__":
    main()
