"""One side of a time-matched A/B comparison (bench_lib.commands.ab): a worker process that builds
this checkout's cases and times blocks of their rounds on request.

Two runs made minutes apart on a shared machine differ by more than the regressions people look
for (1.3x between runs of identical code), and slow stretches last seconds. Two workers, one per
checkout, both alive for the whole comparison, let the launcher alternate them case by case in
blocks a fraction of a second long, so that each pair of blocks samples the same stretch of the
machine. Each worker imports its own checkout's bench_lib (its PYTHONPATH), so each side measures
its own code.

The protocol: one JSON object per line on stdin, one answer per line on stdout.

    {"op": "hello"}                           -> {"ok": true, "protocol": PROTOCOL, "torch": "2.13.0", "root": ...}
    {"op": "cases", "args": [--gb-... options]} -> {"ok": true, "specs": [{...}, ...], "seed": 0}
    {"op": "case", "spec": {...}, "seed": 0}  -> {"ok": true, "round_seconds": s} | {"ok": false, "skip": why}
    {"op": "block", "rounds": n}              -> {"ok": true, "times": [s, ...]}  (the current case)
    {"op": "quit"}                            -> (exits)

A failure answers {"ok": false, "error": "<one line>"}; the launcher stops the comparison with it.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

# The launcher refuses a worker that speaks another version (a ref from before this protocol has
# no worker at all, and says so).
PROTOCOL = 1
# Warm-up before a case's first block: the allocator grows to its steady state, caches fill. The
# round time the launcher sizes blocks by is measured after it (CALIBRATION_SECONDS): a first call
# can take 100x a steady one, and a block of 3 rounds sized by it says little.
WARM_UP_SECONDS = 0.05
CALIBRATION_SECONDS = 0.02


def selected_specs(args: Sequence[str]) -> tuple[list[dict[str, Any]], int]:
    """The eager mode-matrix cases that the plugin's ``--gb-*`` options in ``args`` select (scenarios
    and compiled cases are not paired), as CaseSpec fields; and the seed."""
    from dataclasses import asdict

    from bench_lib.contract.cases import parse_count, parse_selection
    from bench_lib.measure.ops import groups
    from bench_lib.measure.workloads import WORKLOADS

    options = _options(args)
    selection = parse_selection(
        preset=options.get("preset", "default"), known_workloads=tuple(WORKLOADS),
        ops=options.get("ops"), known_ops=groups(),
        **{name: options.get(name) for name in ("workloads", "modes", "passes", "sizes", "devices", "dtypes")})
    seed = parse_count("--gb-seed", options.get("seed", "0"), low=0, high=2**63 - 1)
    return [asdict(spec) for spec in selection.cases()], seed


def _options(args: Sequence[str]) -> dict[str, str]:
    """``--gb-NAME=VALUE`` and ``--gb-NAME VALUE`` as {NAME: VALUE}; other arguments are pytest's."""
    found, items = {}, list(args)
    for index, arg in enumerate(items):
        if arg.startswith("--gb-"):
            name, sep, value = arg[5:].partition("=")
            if not sep and index + 1 < len(items):
                value = items[index + 1]
            found[name.replace("-", "_")] = value
    return found


def serve(requests: IO[str], answers: IO[str]) -> None:
    """Answer requests until "quit" or the end of input."""
    import torch

    from bench_lib.contract.cases import CaseSpec
    from bench_lib.measure.runner import build, interleaved_times, machine_skip_reason, static_skip_reason, warm_up

    case: Any = None
    for line in requests:
        request = json.loads(line)
        op = request.get("op")
        try:
            if op == "quit":
                return
            if op == "hello":
                # The checkout whose code this worker runs: an editable install can serve a module a
                # ref lacks from another checkout, and the launcher must not time that as the ref.
                root = str(Path(sys.modules[build.__module__].__file__ or "").resolve().parents[2])
                answer: dict[str, Any] = {"ok": True, "protocol": PROTOCOL, "torch": torch.__version__, "root": root}
            elif op == "cases":
                specs, seed = selected_specs(request["args"])
                answer = {"ok": True, "specs": specs, "seed": seed}
            elif op == "case":
                case = None  # one case's tensors at a time
                spec = CaseSpec(**request["spec"])
                reason = static_skip_reason(spec) or machine_skip_reason(spec)
                if reason:
                    answer = {"ok": False, "skip": reason}
                else:
                    case = build(spec, int(request["seed"]))
                    warm_up(case, WARM_UP_SECONDS)
                    answer = {"ok": True, "round_seconds": warm_up(case, CALIBRATION_SECONDS)}
            elif op == "block":
                if case is None:
                    raise ValueError("no case is prepared")
                [times] = interleaved_times([case], int(request["rounds"]))
                answer = {"ok": True, "times": times}
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as error:  # reported to the launcher, which stops the comparison with it
            case = None
            answer = {"ok": False, "error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench_lib.measure.abworker")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads, fixed for the run")
    parser.add_argument("--plugin", action="append", default=[], help="a module to import (your workloads)")
    args = parser.parse_args(argv)
    # Only answers go to the real stdout: a stray print (a warning, a plugin's output) would break the protocol.
    answers, sys.stdout = sys.stdout, sys.stderr
    # A collection inside a timed round is noise, as under bench (--benchmark-disable-gc).
    gc.disable()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    for module in args.plugin:
        importlib.import_module(module)
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
