"""Instruction counts per call (``--gb-counts``): one process under callgrind counts every CPU case.

On a shared machine a case's time moves by 1.3x between runs of identical code; the instructions
its pass executes hardly do (they repeat within a fraction of a percent under callgrind). The bookkeeping that
autograd does in grad mode and skips under no_grad is host work, so at small sizes instructions
are the noise-free figure of it, and a gate on them cannot cry wolf.

valgrind's start-up (torch's import under it) takes most of a minute, so it is paid once per
run: ``measure`` starts one worker, bench_lib.measure.countworker, under ``valgrind
--tool=callgrind --collect-atstart=no``, hands it every case to count, and reads one answer per
case (the worker's docstring says how a count is made and how the harness is kept out of it).

Counts are taken for eager CPU cases of the mode matrix. A CUDA case's work runs on the device,
where callgrind sees nothing; a compiled case would compile under valgrind for minutes; the
scenarios are not counted yet. Each of these gets its reason (``instructions_note``), and so does
every case when valgrind is missing: the rest of the run goes on without counts.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench_lib.contract.cases import CaseSpec
from bench_lib.contract.result import COUNT_KEYS
from bench_lib.contract.schema import MODES

TOOL = "callgrind"
# Collection off until the worker turns it on around each call; per-function totals only (no
# per-instruction or per-line costs: the dumps stay small and are read for their totals).
VALGRIND_OPTIONS = ("--tool=callgrind", "--collect-atstart=no", "--dump-instr=no", "--dump-line=no",
                    "--compress-strings=no")
# The contexts whose entry cost is measured on its own: the grad and detach modes enter
# torch.enable_grad(), the others theirs (bench_lib.measure.modes).
CONTEXT_MODES = ("grad", "no_grad", "inference_mode")
# The worker's environment: one thread everywhere (a spinning OpenMP thread's instructions would
# be counted), one hash seed (dicts and sets lay out alike in every run), and MKL's and oneDNN's
# SSE4.2 kernels: valgrind emulates FMA instructions lane by lane in software, so the AVX2 GEMM
# kernels (FMA loops) run about 100x slower under it than anything else (ten 2048x128 @ 128x128
# matmuls: 17 s against 0.15 s here). The counts describe these kernels, and the rest of torch on
# valgrind's virtual CPU (AVX2 at most: valgrind does not emulate AVX-512), not the code path the
# timed rounds take on this CPU; they are a deterministic proxy of the host's work, recorded with
# these settings and compared only with counts made with the same.
#
# And one allocator regime: make bench's (large blocks on the heap, never trimmed), without glibc's
# fastbins (mxfast=0). Torch allocates tensor data with posix_memalign, which glibc serves through
# its bins whatever the heap holds; with fastbins, a free now and then consolidates them, and
# identical code counted after different cases read up to 1 % apart (malloc_consolidate and
# _int_malloc, per callgrind's functions). The allocators' own instructions are left out of the
# counts anyway (countworker.ALLOCATORS); without fastbins the rest is steadier too.
WORKER_ENVIRONMENT = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
                      "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41",
                      "MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736",
                      "GLIBC_TUNABLES": "glibc.malloc.mxfast=0"}


class CountsError(Exception):
    """The counting process failed; the message is one line."""


def unavailable_reason() -> str | None:
    """Why no instruction can be counted here, or None."""
    if platform.system() != "Linux":
        return f"instruction counts need valgrind's callgrind on Linux; this is {platform.system()}"
    if shutil.which("valgrind") is None:
        return "valgrind is not installed (not found on PATH): apt-get install valgrind"
    import torch

    if not torch._C._valgrind_supported_platform():
        return "this torch build has no valgrind support (torch._C._valgrind_supported_platform() is False)"
    return None


def valgrind_version() -> str | None:
    """``valgrind-3.19.0``, or None without valgrind."""
    try:
        done = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def case_reason(spec: Any) -> str | None:
    """Why a case gets no count even where valgrind runs, or None."""
    if not isinstance(spec, CaseSpec) or type(spec) is not CaseSpec:
        return "instruction counts cover the mode matrix's cases; scenarios are not counted"
    if spec.device != "cpu":
        return (f"instruction counts are for CPU cases: a {spec.device} pass runs its work on the device, "
                "where callgrind counts nothing")
    if spec.compile != "eager":
        return f"instruction counts are for eager cases: compiling ({spec.compile}) under valgrind takes minutes"
    return None


def null_figures() -> dict[str, Any]:
    """COUNT_KEYS, all null: a run without --gb-counts."""
    return dict.fromkeys(COUNT_KEYS)


def note_figures(reason: str) -> dict[str, Any]:
    return {**null_figures(), "instructions_note": reason}


@dataclass
class Counts:
    """What one counting process found: each counted spec's figures (COUNT_KEYS), the reason for
    every spec it did not count, and the run's record (schema.COUNTS_KEYS)."""

    figures: dict[CaseSpec, dict[str, Any]] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # set when nothing could be counted here

    def for_spec(self, spec: Any) -> dict[str, Any]:
        """The case's COUNT_KEYS: its count, or its reason for having none."""
        if self.reason is not None:
            return note_figures(self.reason)
        reason = case_reason(spec)
        if reason is not None:
            return note_figures(reason)
        return self.figures.get(spec) or note_figures("not counted: the case was not selected when counting")


def unavailable(reason: str) -> Counts:
    return Counts(record={"tool": TOOL, "reason": reason}, reason=reason)


def request(specs: Sequence[CaseSpec], seed: int, plugins: Sequence[str], dumps: str) -> dict[str, Any]:
    return {"specs": [asdict(spec) for spec in specs], "seed": seed, "plugins": list(plugins), "dumps": dumps,
            "contexts": list(CONTEXT_MODES)}


def command(request_path: Path, workdir: Path, python: str = sys.executable) -> list[str]:
    """valgrind around the worker, run with this interpreter (``python`` from PATH might be another
    one, without torch)."""
    return ["valgrind", *VALGRIND_OPTIONS, f"--callgrind-out-file={workdir / 'callgrind.out'}.%p",
            f"--log-file={workdir / 'valgrind.log'}", python, "-m", "bench_lib.measure.countworker",
            str(request_path)]


def measure(specs: Iterable[Any], seed: int, plugins: Sequence[str] = (),
            progress: Callable[[str], None] | None = None) -> Counts:
    """Count the instructions of every countable spec of ``specs`` in one callgrind process.
    Without valgrind, a Counts whose ``reason`` says why; CountsError when the process fails."""
    reason = unavailable_reason()
    if reason is not None:
        return unavailable(reason)
    from bench_lib.measure.runner import static_skip_reason

    # A case that cannot exist (backward under no_grad) is skipped by pytest: nothing to count.
    chosen = [spec for spec in dict.fromkeys(specs) if case_reason(spec) is None and static_skip_reason(spec) is None]
    say = progress or (lambda line: None)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gradbench-counts-") as folder:
        workdir = Path(folder)
        request_path = workdir / "request.json"
        request_path.write_text(json.dumps(request(chosen, seed, plugins, str(workdir / "callgrind.out"))))
        say(f"gradbench: counting instructions of {len(chosen)} CPU case{'s' if len(chosen) != 1 else ''} under "
            "callgrind (one process; valgrind's start-up takes about a minute)")
        answers = _run_worker(command(request_path, workdir), workdir, len(chosen), say)
    counts = Counts(record={
        "tool": TOOL, "reason": None, "valgrind_version": valgrind_version(), "threads": 1,
        "settings": dict(WORKER_ENVIRONMENT), "harness_instructions": answers.harness,
        "batch_instructions": answers.batch, "empty_instructions": answers.empty,
        "context_instructions": answers.contexts, "cases": len(answers.figures),
        "seconds": round(time.perf_counter() - started, 1),
    })
    by_fields = {tuple(sorted(asdict(spec).items())): spec for spec in chosen}
    for fields, figures in answers.figures.items():
        counts.figures[by_fields[fields]] = figures
    return counts


@dataclass
class _Answers:
    harness: float | None = None
    batch: float | None = None
    empty: float | None = None
    contexts: dict[str, float] = field(default_factory=dict)
    figures: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)


def _run_worker(argv: list[str], workdir: Path, total: int, say: Callable[[str], None]) -> _Answers:
    env = {**os.environ, **WORKER_ENVIRONMENT}
    answers, done, finished = _Answers(), 0, False
    errors: list[str] = []
    # The worker's warnings and valgrind's own lines go to files: a full pipe would stall it.
    with (workdir / "worker.log").open("w") as log, \
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True, env=env) as process:
        assert process.stdout is not None
        for line in process.stdout:
            answer = json.loads(line)
            if "harness" in answer:
                answers.harness, answers.batch = round(float(answer["harness"]), 1), round(float(answer["batch"]), 1)
            elif "context" in answer:
                answers.contexts[answer["context"]] = round(float(answer["instructions"]), 1)
            elif "empty" in answer:
                answers.empty = round(float(answer["empty"]), 1)
            elif "spec" in answer:
                key = tuple(sorted(answer["spec"].items()))
                if "error" in answer:
                    errors.append(f"{CaseSpec(**answer['spec']).case_id}: {answer['error']}")
                    continue
                answers.figures[key] = _figures(answer)
                done += 1
                if done == total or done * 10 // total != (done - 1) * 10 // total:
                    say(f"gradbench: counted {done}/{total} cases")
            elif answer.get("done"):
                finished = True
        code = process.wait()
    if code != 0 or not finished or errors:
        tail = _last_line(workdir / "worker.log") or _last_line(workdir / "valgrind.log")
        what = "; ".join(errors[:3]) if errors else f"exit status {code}: {tail}"
        raise CountsError(f"counting instructions under callgrind failed: {what}")
    return answers


def _figures(answer: dict[str, Any]) -> dict[str, Any]:
    if "skip" in answer:
        return note_figures(str(answer["skip"]))
    return {"instructions_per_call": round(float(answer["instructions"]), 1), "instructions_calls": answer["calls"],
            "instructions_spread": min(1.0, round(float(answer["spread"]), 6)), "instructions_note": None,
            "instructions_allocators": round(float(answer["allocators"]), 1)}


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


assert set(CONTEXT_MODES) <= set(MODES)
