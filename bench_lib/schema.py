"""The run-file contract between the benchmark suite and the report.

A gradbench run is an ordinary pytest-benchmark JSON file (``.benchmarks/<machine>/NNNN_*.json``)
with three additions, all plain JSON:

* ``benchmarks[i]["extra_info"]``: one case's description and memory metrics (``CASE_KEYS``).
* ``machine_info["gradbench"]``: the run's environment (``ENVIRONMENT_KEYS``).
* ``output_json["gradbench"]``: ``{"schema_version", "selection", "skipped": [...]}``, where each
  skipped entry holds the case keys of ``SPEC_KEYS`` plus ``"reason"``.

Times are pytest-benchmark's own: ``benchmarks[i]["stats"]`` in seconds per pass, with the raw
per-round samples in ``stats["data"]`` (the suite always saves them).

Schema history:
  1: first version.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

# What identifies a case; together they are unique within a run.
SPEC_KEYS = ("workload", "mode", "pass", "size", "device", "dtype")

# Everything in a measured case's extra_info. Byte counts are ints; a metric that a device
# cannot measure is null, never missing.
CASE_KEYS = SPEC_KEYS + (
    "schema_version",         # SCHEMA_VERSION of the writer
    "elements",               # elements in the workload's input actually used (size rounded to the shape)
    "shape",                  # the input's shape as text, e.g. "8192x128"
    "input_bytes",            # elements * dtype itemsize: the data one pass reads at least once
    "peak_tensor_bytes",      # peak live tensor bytes during the timed pass, above its start
    "retained_tensor_bytes",  # live tensor bytes left at the end of the pass, above its start
    "tensor_memory_method",   # "dispatch-tracker" (CPU) or "cuda-allocator" (CUDA)
    "cuda_peak_reserved_bytes",  # caching-allocator reserve growth (CUDA only, else null)
    "peak_rss_bytes",         # peak process RSS growth during the pass
    "rss_method",             # "vmhwm-reset" (Linux peak counter) or "rss-delta" (psutil, end-start)
    "saved_bytes",            # bytes saved for backward by the forward of this case's graph,
                              # each storage once, storages alive before the pass excluded
    "saved_tensor_count",     # distinct storages counted in saved_bytes
    "graph_nodes",            # autograd nodes reachable from the loss (AccumulateGrad included)
    "rounds_planned",         # rounds the calibration chose
    "background_cpu",         # share (0-1) of all CPUs that other processes (and hypervisor steal)
                              # used during the timed rounds; above 0.1 the times are suspect
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

MODES = ("grad", "no_grad", "inference_mode", "detach")
PASSES = ("forward", "backward", "step")
