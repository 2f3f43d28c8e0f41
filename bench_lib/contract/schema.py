"""The run-file contract between the benchmark suite and the report.

A gradbench run is an ordinary pytest-benchmark JSON file (``.benchmarks/<machine>/NNNN_*.json``)
with three additions, all plain JSON:

* ``benchmarks[i]["extra_info"]``: one case's description and metrics (``CASE_KEYS``, derived from
  the table of fields in ``bench_lib.contract.result``).
* ``machine_info["gradbench"]``: the run's environment (``ENVIRONMENT_KEYS``).
* ``output_json["gradbench"]``: ``{"schema_version", "selection", "skipped": [...]}`` and the run's
  ``RUN_KEYS``, where each
  skipped entry holds the case keys of ``SPEC_KEYS`` plus ``"reason"`` (a skipped scenario case
  also holds ``"scenario"`` and ``"variant"``); plus ``"scenario_selection"`` and ``"invalid"``
  (``INVALID_KEYS``: scenario cases autograd rejected), written by runs that have scenarios.

Scenario cases (``benchmarks/test_scenarios.py``) are benchmarks too. Their ``extra_info`` holds
every key of ``CASE_KEYS`` plus ``SCENARIO_KEYS``; mode-matrix cases have no ``"scenario"`` key,
and that is how a reader tells them apart. The variants of one scenario share their SPEC_KEYS
(the k of accumulation is not a spec key), so SPEC_KEYS identify a mode-matrix case only.

Op cases of the operator catalogue (bench_lib.measure.ops) are mode-matrix cases whose workload is
``op.NAME`` (cases.OP_PREFIX), with the same keys; the selection lists them under ``"ops"`` (absent
from runs made before the catalogue: none). Their saved bytes count the inputs the op saves.

Times are pytest-benchmark's own: ``benchmarks[i]["stats"]`` in seconds per pass, with the raw
per-round samples in ``stats["data"]`` (the suite always saves them).

Schema history:
  1: first version.
  2: ``background_cpu`` in every case; scenario cases (``SCENARIO_KEYS``) and the run's
     ``scenario_selection`` and ``invalid`` list. Readers take version 1 runs with
     ``background_cpu`` as null and no scenarios.
  3: ``interleaved_median``, ``interleaved_q1``, ``interleaved_q3``, ``interleaved_rounds``,
     ``interleaved_data`` (forward passes and scenario cases). Readers take older runs with
     these as null.
  4: replicates. A run is ``replicates`` independent processes of the same case matrix, merged
     into one file by ``python -m bench_lib bench``: each case's ``stats`` pool every replicate's
     rounds (so ``pytest-benchmark compare`` reads it as before) and its ``extra_info["replicates"]``
     holds one ``REPLICATE_KEYS`` summary per process. The top-level section gains ``RUN_KEYS``.
     Readers take older runs as one replicate of unknown completeness.
  5: torch.compile. A compiled case's ``workload`` is the registered workload and the compile
     mode, "mlp:inductor" (eager cases keep the plain name), and every case holds ``compile``,
     ``compile_seconds``, ``recompiles`` and ``graph_breaks``. The selection gains "compiles".
     Every case gains ``peak_new_tensor_bytes`` and ``peak_growth_tensor_bytes`` (one meaning of
     peak tensor memory on CPU and CUDA). Readers take older runs as eager, with these null.
  6: latency and throughput. Every case holds ``pipelined_batch`` and the ``pipelined_*`` and
     ``gpu_*`` figures (bench_lib.measure.pipeline), measured for CUDA forward and step passes, null
     elsewhere; each replicate record gains ``pipelined_median``. Readers take older runs with
     these null.
  7: time-matched A/B (``bench --against``). Every case holds ``paired_data`` (its block medians,
     paired by index with the other run's) and ``paired_rounds``, null outside an A/B; the run's
     section gains ``pairing`` ({"id", "side", "against", "pairs", "block_seconds"}). Readers take
     older runs with these null. Result fields may also be derived when a case is read
     (``saved_bytes_per_element``): those are never saved.
  8: instruction counts (``--gb-counts``, bench_lib.measure.counts). Every case holds
     ``instructions_per_call``, ``instructions_calls``, ``instructions_spread``,
     ``instructions_allocators`` and ``instructions_note`` (null without counts; counted for eager
     CPU cases, the others carry the reason in ``instructions_note``); the run's section gains
     ``counts`` (``COUNTS_KEYS``: the tool, its version, the harness and context-entry costs), null
     without counts. Measured once per run (the first replicate), never per replicate. Readers take
     older runs with these null.
"""

from __future__ import annotations

import re

SCHEMA_VERSION = 8

# A case's keys (extra_info: CASE_KEYS, SPEC_KEYS, SCENARIO_KEYS, REPLICATE_KEYS) are derived from
# the one table of fields in bench_lib.contract.result.

# The run as a whole, in output_json["gradbench"] (schema 4).
RUN_KEYS = (
    "replicates",        # independent processes merged into this file (>= 1)
    "complete",          # true only when every replicate's pytest session ended with exit status 0
    "replicate_times",   # per replicate: {"started": ISO time, "seconds": wall-clock seconds}
)

# The run's instruction-count record, in output_json["gradbench"]["counts"] (schema 8): null
# without --gb-counts; {"tool", "reason"} where counts were asked for but could not be taken here.
COUNTS_KEYS = (
    "tool",                  # "callgrind"
    "reason",                # why nothing was counted (valgrind missing), else null
    "valgrind_version",      # "valgrind-3.19.0": counts from another version are not compared
    "threads",               # torch intra-op threads while counting (1)
    "settings",              # the counting process's environment variables (kernels, threads, hash seed)
    "harness_instructions",  # per call: the toggles around an empty call, subtracted from every count
    "batch_instructions",    # per batch of calls: the toggle and dump that close it, subtracted too
    "empty_instructions",    # the empty call counted as a case, less the harness: ~0 (a check)
    "context_instructions",  # {"grad": ..., "no_grad": ..., "inference_mode": ...}: entering and leaving
                             # the mode's context around nothing, per call (grad's is torch.enable_grad)
    "cases",                 # cases counted
    "seconds",               # wall-clock seconds of the counting process, valgrind's start-up included
)

ENVIRONMENT_KEYS = (
    "schema_version",
    "torch_version",
    "torch_git_version",
    "torch_debug",
    "cuda_version",           # torch.version.cuda, null on CPU builds
    "cudnn_version",
    "gpu_names",              # list, empty without CUDA
    "cpu_model",
    "logical_cpus",
    "physical_cpus",
    "threads",                # torch intra-op threads fixed for the run
    "interop_threads",
    "allocator",              # {"MALLOC_MMAP_THRESHOLD_": ..., ...}: the allocator settings in force
    "allocator_note",         # one line: what the allocator settings mean for the numbers
    "seed",
    "python_version",
    "platform",
)

# Above this share of all CPUs used by other processes while a case was timed (its
# background_cpu), the case's times are flagged as contended: suspect.
CONTENDED_FRACTION = 0.1

# How a workload, variant, device, dtype or memory method is named: a letter or digit, then
# letters, digits and _ . : + = -, at most 80 (use fullmatch). Such names reach HTML, Markdown,
# CSV, the terminal and plot labels, so they can carry no markup; the registry and the run-file
# reader both hold to it.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+=-]{0,79}")

# The largest size (input elements) a case may have: far beyond any machine's memory, far below
# an overflow. Option parsing and the run-file reader both hold to it.
MAX_SIZE = 2**50

MODES = ("grad", "no_grad", "inference_mode", "detach")
PASSES = ("forward", "backward", "step")

# One entry of output_json["gradbench"]["invalid"]: a scenario case that autograd rejected. The
# pytest case is reported as skipped with reason "invalid in <mode>: <error>".
INVALID_KEYS = (
    "scenario", "variant", "workload", "mode", "pass", "size", "device", "dtype",
    "error",                         # PyTorch's message, first line
)
