"""The run-file contract between the benchmark suite and the report.

A gradbench run is an ordinary pytest-benchmark JSON file (``.benchmarks/<machine>/NNNN_*.json``)
with three additions, all plain JSON:

* ``benchmarks[i]["extra_info"]``: one case's description and memory metrics (``CASE_KEYS``).
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
"""

from __future__ import annotations

import re

SCHEMA_VERSION = 6

# What identifies a case; together they are unique within a run.
SPEC_KEYS = ("workload", "mode", "pass", "size", "device", "dtype")

# Everything in a measured case's extra_info. Byte counts are ints; a metric that a device
# cannot measure is null, never missing.
CASE_KEYS = SPEC_KEYS + (
    "schema_version",         # SCHEMA_VERSION of the writer
    "elements",               # elements in the workload's input actually used (size rounded to the shape)
    "shape",                  # the input's shape as text, e.g. "8192x128"
    "input_bytes",            # elements * dtype itemsize: the data one pass reads at least once
    "peak_tensor_bytes",      # peak live tensor bytes during the timed pass, above its start; null for
                              # a compiled case on CPU (the dispatch tracker would turn compilation off)
    "retained_tensor_bytes",  # live tensor bytes left at the end of the pass, above its start (null
                              # where peak_tensor_bytes is)
    "peak_new_tensor_bytes",  # gross, one meaning on every device (the dispatch ledger): the most bytes
                              # of tensors made during the pass alive at once; null for compiled cases
    "peak_growth_tensor_bytes",  # net, the same ledger: the most tensor bytes alive above the pass's
                              # start, frees of the setup's tensors (a backward's saved ones) counted;
                              # peak_tensor_bytes is the device probe's: gross on CPU, net on CUDA
    "tensor_memory_method",   # "dispatch-tracker" (CPU) or "cuda-allocator" (CUDA)
    "cuda_peak_reserved_bytes",  # caching-allocator reserve growth (CUDA only, else null)
    "peak_rss_bytes",         # peak process RSS growth during the pass
    "rss_method",             # "vmhwm-reset" (Linux peak counter) or "rss-delta" (psutil, end-start)
    "saved_bytes",            # bytes saved for backward by the forward of this case's graph,
                              # each storage once, storages alive before the pass excluded
    "saved_tensor_count",     # distinct storages counted in saved_bytes
    "graph_nodes",            # autograd nodes reachable from the loss (AccumulateGrad included)
    "rounds_planned",         # rounds the calibration chose
    "compile",                # "eager", "inductor" or "reduce-overhead" (torch.compile's mode)
    "compile_seconds",        # compiled: the case's first call (compiling, unless an earlier case
                              # compiled the same graph), never part of the timed rounds; eager: null
    "recompiles",             # compiled: graphs torch.compile made at that first call (0: a cached
                              # graph served it); eager: null
    "graph_breaks",           # compiled: graph breaks torch._dynamo counted at that call; eager: null
    # CUDA forward and step passes (null elsewhere; bench_lib.measure.pipeline): pytest-benchmark's rounds
    # are latency (one pass, a synchronize at each end). Pipelined: pipelined_batch passes queued
    # back to back and one synchronize, per pass, a sample per block. GPU: the device's own time
    # for one pass between CUDA events, L2 flushed before it, the host queued ahead (null where
    # it could not get ahead). The *_data are the raw seconds per pass.
    "pipelined_batch",
    "pipelined_median",
    "pipelined_q1",
    "pipelined_q3",
    "pipelined_rounds",       # blocks
    "pipelined_data",
    "gpu_median",
    "gpu_q1",
    "gpu_q3",
    "gpu_rounds",             # passes timed
    "gpu_data",
    "background_cpu",         # share (0-1) of all CPUs that other processes (and hypervisor steal)
                              # used during the timed rounds; above 0.1 the times are suspect
    # Forward passes and scenario cases (null elsewhere): the members of a group (its modes, or a
    # scenario's variants) timed again in interleaved rounds, in one shared window, so that
    # machine drift cancels in their ratios. The physics check and the claims compare on these.
    "interleaved_median",
    "interleaved_q1",
    "interleaved_q3",
    "interleaved_rounds",
    "interleaved_data",       # their raw per-round seconds, for confidence intervals of ratios;
                              # with replicates, each replicate's rounds in turn, in the same
                              # order for every member of the group (so round i pairs up)
)

# One process's view of a case, kept per replicate in a merged run's extra_info["replicates"]
# (a list, one entry per process that measured the case; the only key a merged case adds to
# CASE_KEYS). Times vary
# between processes far more than between the rounds of one, so comparisons between runs are
# made on these, never on pooled rounds.
REPLICATE_KEYS = (
    "median", "q1", "q3", "rounds",          # of that process's timed rounds (seconds)
    "interleaved_median", "interleaved_rounds",  # null where the case has no interleaved rounds
    "background_cpu",
    "peak_tensor_bytes", "saved_bytes", "saved_tensor_count", "graph_nodes",
    "pipelined_median",       # schema 6: null where the case has no pipelined figure
)

# The run as a whole, in output_json["gradbench"] (schema 4).
RUN_KEYS = (
    "replicates",        # independent processes merged into this file (>= 1)
    "complete",          # true only when every replicate's pytest session ended with exit status 0
    "replicate_times",   # per replicate: {"started": ISO time, "seconds": wall-clock seconds}
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

# --- scenarios: the other autograd practices (bench_lib/scenarios/, one module each) ------------

# Added to CASE_KEYS in a scenario case's extra_info; all present in every scenario case, null
# where they do not apply. CASE_KEYS keep their meaning; a scenario's module says how its
# variants read them (e.g. accumulation's saved_bytes: one micro-batch's graph). The input is
# data (requires_grad=False), only parameters train, unless the module says otherwise.
SCENARIO_KEYS = (
    "scenario",                      # a registered scenario's name (bench_lib.scenarios.SCENARIOS)
    "variant",                       # e.g. "k=4", "set_to_none", "first_half_frozen", "relu_"
    "microbatches",                  # accumulation: k (1 = the full batch); null elsewhere
    "parameter_tensors",             # parameter tensors in the model (0 for inplace)
    "trainable_parameter_tensors",   # those with requires_grad=True (fewer when frozen)
    "trainable_parameter_bytes",     # their bytes: what one set of gradients takes
)

# One entry of output_json["gradbench"]["invalid"]: a scenario case that autograd rejected. The
# pytest case is reported as skipped with reason "invalid in <mode>: <error>".
INVALID_KEYS = (
    "scenario", "variant", "workload", "mode", "pass", "size", "device", "dtype",
    "error",                         # PyTorch's message, first line
)
