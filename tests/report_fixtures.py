"""Builders of gradbench run files for the report tests, with fixed, seeded numbers.

``python tests/report_fixtures.py`` rewrites the committed fixtures tests/data/report_*.json.
Their numbers feed golden files: after changing this script, rerun it and then the golden
tests with GRADBENCH_UPDATE_GOLDEN=1, and review the diff. The 10,000-case input of the
render test is built in memory by ``synthetic_run`` instead of being committed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pytest_benchmark.stats import Stats

DATA = Path(__file__).parent / "data"
MIB = 2**20

# Fixed per-call cost a (seconds) and per-element cost b (seconds) of a forward pass per
# mode, shaped like the numbers measured on the project's machine: grad pays autograd's bookkeeping per op.
FORWARD_MODEL = {
    "grad": (30e-6, 0.51e-9),
    "no_grad": (22e-6, 0.50e-9),
    "inference_mode": (20e-6, 0.50e-9),
    "detach": (23e-6, 0.50e-9),
}
BACKWARD_MODEL = (45e-6, 1.1e-9)
STEP_MODEL = (60e-6, 1.3e-9)


def environment(**overrides: Any) -> dict[str, Any]:
    env = {
        "schema_version": 1,
        "torch_version": "2.13.0+cpu",
        "torch_git_version": "0123456789abcdef0123456789abcdef01234567",
        "torch_debug": False,
        "cuda_version": None,
        "cudnn_version": None,
        "gpu_names": [],
        "cpu_model": "AMD EPYC",
        "logical_cpus": 2,
        "physical_cpus": 1,
        "threads": 2,
        "interop_threads": 2,
        "allocator": {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736"},
        "allocator_note": "large blocks stay on the heap: steady-state timings, no page faults per call",
        "seed": 0,
        "python_version": "3.11.7",
        "platform": "Linux-6.18.44-x86_64-with-glibc2.36",
    }
    env.update(overrides)
    return env


def case(
    workload: str,
    mode: str,
    pass_: str,
    size: int,
    samples: list[float],
    *,
    device: str = "cpu",
    dtype: str = "float32",
    shape: str | None = None,
    saved_bytes: int = 0,
    saved_tensor_count: int = 0,
    peak_tensor_bytes: int | None = None,
    retained_tensor_bytes: int | None = None,
    peak_rss_bytes: int | None = None,
    graph_nodes: int = 0,
    background_cpu: float = 0.01,
    pipelined: list[float] | None = None,
) -> dict[str, Any]:
    """One benchmark entry as pytest-benchmark saves it, with gradbench extra_info; ``pipelined``:
    the samples of a pipelined figure (bench_lib.measure.pipeline), one per block."""
    stats = Stats()
    for value in samples:
        stats.update(value)
    cuda = device.startswith("cuda")
    extra_info = {
        "workload": workload, "mode": mode, "pass": pass_, "size": size, "device": device, "dtype": dtype,
        "schema_version": 1,
        "elements": size,
        "shape": shape or str(size),
        "input_bytes": 4 * size,
        "peak_tensor_bytes": 8 * size if peak_tensor_bytes is None else peak_tensor_bytes,
        "retained_tensor_bytes": 4 if retained_tensor_bytes is None else retained_tensor_bytes,
        "tensor_memory_method": "cuda-allocator" if cuda else "dispatch-tracker",
        "cuda_peak_reserved_bytes": 2 * MIB if cuda else None,
        "peak_rss_bytes": 0 if cuda else (8 * size if peak_rss_bytes is None else peak_rss_bytes),
        "rss_method": "vmhwm-reset",
        "saved_bytes": saved_bytes,
        "saved_tensor_count": saved_tensor_count,
        "graph_nodes": graph_nodes,
        "rounds_planned": len(samples),
        "background_cpu": background_cpu,
    }
    if pipelined is not None:
        from bench_lib.analysis.replicates import sampled

        extra_info.update(pipelined_batch=50, **sampled("pipelined", [pipelined]))
    name = f"test_{pass_}[{workload}-{mode}-{size}-{device}-{dtype}]"
    return {
        "group": f"{workload}-{pass_}-{device}",
        "name": name,
        "fullname": f"benchmarks/test_gradbench.py::{name}",
        "params": {"case": f"{workload}-{mode}-{pass_}-{size}-{device}-{dtype}"},
        "param": f"{workload}-{mode}-{pass_}-{size}-{device}-{dtype}",
        "extra_info": extra_info,
        "options": {"disable_gc": True, "timer": "perf_counter", "min_rounds": 5, "max_time": 1.0,
                    "min_time": 5e-06, "precision": None, "confidence": None, "warmup": False},
        "stats": {**stats.as_dict(), "iterations": 1, "data": list(samples)},
    }


def run_doc(benchmarks: list[dict[str, Any]], skipped: list[dict[str, Any]] | None = None, *,
            datetime: str = "2026-01-05T10:00:00.000000+00:00", commit: str = "a1b2c3d4e5f6",
            env: dict[str, Any] | None = None, node: str = "vm") -> dict[str, Any]:
    """A whole run file as pytest-benchmark writes it, plus gradbench's additions."""
    return {
        "machine_info": {
            "node": node, "processor": "", "machine": "x86_64", "python_compiler": "GCC 12.2.0",
            "python_implementation": "CPython", "python_implementation_version": "3.11.7",
            "python_version": "3.11.7", "python_build": ["main", "May  9 2026 07:35:25"],
            "release": "6.18.44", "system": "Linux",
            "cpu": {"arch": "X86_64", "bits": 64, "count": 2, "brand_raw": "AMD EPYC", "vendor_id_raw": "AuthenticAMD"},
            "gradbench": env or environment(),
        },
        "commit_info": {"id": commit, "time": "2026-01-05T09:00:00+00:00", "author_time": "2026-01-05T09:00:00+00:00",
                        "dirty": False, "project": "gradbench", "branch": "main"},
        "benchmarks": benchmarks,
        "datetime": datetime,
        "version": "5.3.1",
        "gradbench": {"schema_version": 1, "selection": {"preset": "quick"}, "skipped": skipped or []},
    }


def skip(workload: str, mode: str, pass_: str, size: int, reason: str, device: str = "cpu") -> dict[str, Any]:
    return {"workload": workload, "mode": mode, "pass": pass_, "size": size, "device": device,
            "dtype": "float32", "reason": reason}


def noisy(rng: np.random.Generator, seconds: float, rounds: int, spread: float = 0.02) -> list[float]:
    """Samples around ``seconds`` with a relative spread, rounded so the JSON stays short."""
    return [round(float(v), 12) for v in seconds * (1.0 + spread * rng.standard_normal(rounds))]


def modelled(model: tuple[float, float], n: int) -> float:
    a, b = model
    return a + b * n


def pointwise_cases(rng: np.random.Generator, sizes: list[int], device: str = "cpu", rounds: int = 15,
                    modes: tuple[str, ...] = tuple(FORWARD_MODEL), unstable: tuple[str, int] | None = None,
                    contended: tuple[str, int] | None = None) -> list[dict[str, Any]]:
    """relu(x*2+1).mean(): saves ReLU's output (4n bytes) under grad; no parameters, so
    detach builds no graph and only grad has a backward pass."""
    out = []
    for n in sizes:
        for mode in modes:
            spread = 0.3 if unstable == (mode, n) else 0.02
            grad = mode == "grad"
            samples = noisy(rng, modelled(FORWARD_MODEL[mode], n), rounds, spread)
            out.append(case("pointwise", mode, "forward", n, samples,
                            device=device, saved_bytes=4 * n if grad else 0, saved_tensor_count=int(grad),
                            peak_tensor_bytes=12 * n if grad else 8 * n,
                            retained_tensor_bytes=4 * n + 4 if grad else 4, graph_nodes=5 if grad else 0,
                            background_cpu=0.35 if contended == (mode, n) else 0.01))
        if "grad" in modes:
            out.append(case("pointwise", "grad", "backward", n, noisy(rng, modelled(BACKWARD_MODEL, n), rounds),
                            device=device, saved_bytes=4 * n, saved_tensor_count=1, peak_tensor_bytes=8 * n,
                            retained_tensor_bytes=4 * n, graph_nodes=5))
    return out


def mlp_cases(rng: np.random.Generator, sizes: list[int], rounds: int = 15) -> list[dict[str, Any]]:
    """A width-128 Linear/ReLU stack with 2 ReLUs: saves 2*B*W*4 bytes under grad and detach
    (the parameters are still tracked after detaching the input)."""
    out = []
    for n in sizes:
        shape = f"{n // 128}x128"
        for mode in FORWARD_MODEL:
            graph = mode in ("grad", "detach")
            a, b = FORWARD_MODEL[mode]
            out.append(case("mlp", mode, "forward", n, noisy(rng, 2 * a + 64 * b * n, rounds), shape=shape,
                            saved_bytes=8 * n if graph else 0, saved_tensor_count=2 if graph else 0,
                            peak_tensor_bytes=16 * n if graph else 8 * n,
                            retained_tensor_bytes=8 * n + 4 if graph else 4, graph_nodes=9 if graph else 0))
        for mode in ("grad", "detach"):
            for pass_, model in (("backward", BACKWARD_MODEL), ("step", STEP_MODEL)):
                out.append(case("mlp", mode, pass_, n, noisy(rng, 2 * model[0] + 128 * model[1] * n, rounds),
                                shape=shape, saved_bytes=8 * n, saved_tensor_count=2,
                                peak_tensor_bytes=12 * n, retained_tensor_bytes=4 * n, graph_nodes=9))
    return out


def small_run() -> dict[str, Any]:
    rng = np.random.default_rng(1)
    sizes = [2**10, 2**14, 2**18, 2**22]
    benchmarks = pointwise_cases(rng, sizes, unstable=("detach", 2**14), contended=("no_grad", 2**18))
    benchmarks += mlp_cases(rng, sizes)
    skipped = [skip("pointwise", mode, "forward", n, "CUDA is not available on this machine", device="cuda")
               for n in sizes[:2] for mode in ("grad", "no_grad")]
    skipped.append(skip("mlp", "grad", "step", 2**24, "needs 1.2 GiB, more than the 1.0 GiB memory cap"))
    return run_doc(benchmarks, skipped)


def cuda_single_size_run() -> dict[str, Any]:
    rng = np.random.default_rng(2)
    env = environment(torch_version="2.13.0+cu128", cuda_version="12.8", cudnn_version=91000,
                      gpu_names=["NVIDIA H100 80GB HBM3"], cpu_model="Intel Xeon Platinum 8480+",
                      logical_cpus=16, physical_cpus=16, threads=16, interop_threads=16,
                      allocator={"PYTORCH_CUDA_ALLOC_CONF": None}, allocator_note="CUDA caching allocator defaults")
    return run_doc(pointwise_cases(rng, [2**20], device="cuda"), datetime="2026-01-06T10:00:00.000000+00:00",
                   env=env, node="gpu-box")


def single_mode_run() -> dict[str, Any]:
    rng = np.random.default_rng(3)
    return run_doc(pointwise_cases(rng, [2**10, 2**16, 2**22], modes=("grad",)),
                   datetime="2026-01-07T10:00:00.000000+00:00")


def all_skipped_run() -> dict[str, Any]:
    """A CUDA-only selection on a machine without CUDA: nothing measured, everything skipped."""
    skipped = [skip("pointwise", mode, "forward", n, "CUDA is not available on this machine", device="cuda")
               for n in (2**10, 2**20) for mode in FORWARD_MODEL]
    return run_doc([], skipped, datetime="2026-01-09T10:00:00.000000+00:00")


def artifact_run() -> dict[str, Any]:
    """Breaks both physics rules: grad forward far below no_grad at one size (the glibc
    mmap-threshold artifact described in the README) and bytes saved under inference_mode."""
    rng = np.random.default_rng(4)
    benchmarks = pointwise_cases(rng, [2**10, 2**22])
    for bench in benchmarks:
        info = bench["extra_info"]
        if info["size"] == 2**22 and info["pass"] == "forward" and info["mode"] != "grad":
            bench.update(case("pointwise", info["mode"], "forward", 2**22, noisy(rng, 13.8e-3, 15),
                              saved_bytes=info["saved_bytes"]))
        if info["size"] == 2**10 and info["mode"] == "inference_mode":
            info["saved_bytes"] = 4096
    return run_doc(benchmarks, datetime="2026-01-08T10:00:00.000000+00:00")


COMPARISON_REPLICATES = 5
# Process-to-process noise of the comparison fixtures: each replicate's times are scaled by one
# lognormal factor of this spread, as a real process's allocator regime or clock would.
PROCESS_SPREAD = 0.02


def comparison_pair() -> tuple[dict[str, Any], dict[str, Any]]:
    """Base and new runs of COMPARISON_REPLICATES replicates each, merged by bench_lib.analysis.replicates:
    grad at 2^10 20 % slower, no_grad at 2^18 15 % faster, the rest unchanged; 2^22 only in the
    base, inference_mode only in the new run; the new grad at 2^14 saves 4 bytes more per element
    (an exact count that changed) and its peak memory is 50 % larger."""
    rng = np.random.default_rng(5)
    factors = {("grad", 2**10): 1.20, ("no_grad", 2**18): 0.85}
    return (replicated(lambda: _comparison_cases(rng, {}, in_new=False), commit="base000",
                       datetime="2026-01-01T10:00:00.000000+00:00"),
            replicated(lambda: _comparison_cases(rng, factors, in_new=True), commit="new0000",
                       datetime="2026-01-02T10:00:00.000000+00:00"))


def _comparison_cases(rng: np.random.Generator, factors: dict[tuple[str, int], float],
                      in_new: bool) -> list[dict[str, Any]]:
    """One replicate process's cases: its own noise factor on every time, and interleaved rounds
    shared by the modes of each forward group (paired round by round)."""
    process = float(np.exp(PROCESS_SPREAD * rng.standard_normal()))
    benchmarks = []
    for n in (2**10, 2**14, 2**18):
        modes = ("grad", "no_grad", "inference_mode") if in_new else ("grad", "no_grad")
        window = 1.0 + 0.02 * rng.standard_normal(20)  # the drift that all modes of the group share
        for mode in modes:
            t = modelled(FORWARD_MODEL[mode], n) * process * factors.get((mode, n), 1.0)
            grad = mode == "grad"
            changed = in_new and grad and n == 2**14
            saved = {"saved_bytes": (8 if changed else 4) * n, "saved_tensor_count": 1} if grad else {}
            bench = case("pointwise", mode, "forward", n, noisy(rng, t, 30), **saved,
                         peak_tensor_bytes=12 * n if changed else 8 * n)
            interleaved = [round(float(v), 12) for v in t * window * (1.0 + 0.01 * rng.standard_normal(20))]
            bench["extra_info"].update(interleaved_median=float(np.median(interleaved)),
                                       interleaved_q1=min(interleaved), interleaved_q3=max(interleaved),
                                       interleaved_rounds=len(interleaved), interleaved_data=interleaved)
            benchmarks.append(bench)
    if not in_new:
        benchmarks.append(case("pointwise", "grad", "forward", 2**22,
                               noisy(rng, modelled(FORWARD_MODEL["grad"], 2**22) * process, 30)))
    return benchmarks


def replicated(build: Callable[[], list[dict[str, Any]]], replicates: int = COMPARISON_REPLICATES,
               **run_options: Any) -> dict[str, Any]:
    """A run file as ``python -m bench_lib bench`` saves it: ``replicates`` process documents,
    each from ``build()``, merged."""
    from bench_lib.analysis.replicates import merge

    docs = []
    for _ in range(replicates):
        doc = run_doc(build(), **run_options)
        doc["gradbench"]["complete"] = True
        docs.append(doc)
    times = [{"started": "2026-01-01T10:00:00+00:00", "seconds": 10.0}] * replicates
    return merge(docs, times)


INPLACE_ERROR = (
    "one of the variables needed for gradient computation has been modified by an inplace operation: "
    "[torch.FloatTensor [65536]], which is output 0 of Tanh, is at version 1; expected version 0 instead. Hint: "
    "enable anomaly detection to find the operation that failed to compute its gradient, with "
    "torch.autograd.set_detect_anomaly(True, check_nan=False)."
)
DEEP_MLP_LAYER_BYTES = (128 * 128 + 128) * 4  # one Linear(128, 128): weight and bias, float32


OWN_ROUNDS_DRIFT = 1.2


def scenario_case(scenario: str, variant: str, workload: str, mode: str, pass_: str, size: int,
                  samples: list[float], *, microbatches: int | None = None, parameter_tensors: int = 0,
                  trainable_parameter_tensors: int | None = None, trainable_parameter_bytes: int = 0,
                  device: str = "cpu", **metrics: Any) -> dict[str, Any]:
    """One scenario case as benchmarks/test_scenarios.py saves it (schema 3, SCENARIO_KEYS).

    ``samples`` are the interleaved rounds, which the claims compare; the case's own rounds ran
    OWN_ROUNDS_DRIFT slower, as on a machine whose speed drifted between cases, so a view that
    shows the wrong figure cannot pass for the right one.
    """
    bench = case(workload, mode, pass_, size, [s * OWN_ROUNDS_DRIFT for s in samples], device=device, **metrics)
    interleaved = Stats()
    for sample in samples:
        interleaved.update(sample)
    bench["extra_info"].update(
        interleaved_median=interleaved.median, interleaved_q1=interleaved.q1, interleaved_q3=interleaved.q3,
        interleaved_rounds=len(samples), interleaved_data=list(samples))
    bench["extra_info"].update(
        schema_version=3, scenario=scenario, variant=variant, microbatches=microbatches,
        parameter_tensors=parameter_tensors,
        trainable_parameter_tensors=parameter_tensors if trainable_parameter_tensors is None
        else trainable_parameter_tensors,
        trainable_parameter_bytes=trainable_parameter_bytes)
    case_id = f"{scenario}-{variant}-{mode}-{size}-{device}-float32"
    bench.update(group=f"scenario {scenario} {workload} n={size} {device} float32",
                 name=f"test_scenario[{case_id}]", fullname=f"benchmarks/test_scenarios.py::test_scenario[{case_id}]",
                 params={"scenario_case": case_id}, param=case_id)
    return bench


def scenario_cases(rng: np.random.Generator, rounds: int = 15) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every scenario on CPU at one size each, with a real quick run's memory figures, and the two
    inplace combinations autograd rejects. The verdicts: accumulation, zero_grad and inplace
    hold; freezing does not (last_layer_only's backward is within noise of first_half_frozen's),
    and zero_grad's accumulate variant was timed on a busy machine."""
    out = []
    grads_mlp = 3 * DEEP_MLP_LAYER_BYTES  # mlp: three Linear(128, 128)
    for k, peak, ms in ((1, 4260360, 3.1), (2, 2361352, 3.4), (4, 1312776, 3.9), (8, 788488, 4.8)):
        out.append(scenario_case("accumulation", f"k={k}", "mlp", "grad", "step", 2**18, noisy(rng, ms * 1e-3, rounds),
                                 microbatches=k, parameter_tensors=6, trainable_parameter_bytes=grads_mlp,
                                 shape="2048x128", peak_tensor_bytes=peak, retained_tensor_bytes=grads_mlp + 4,
                                 saved_bytes=2097152 // k, saved_tensor_count=2, graph_nodes=16))
    all_grads = 16 * DEEP_MLP_LAYER_BYTES
    for variant, peak, ms, busy in (("zero_", 1401352, 1.05, 0.01), ("set_to_none", 1073160, 0.98, 0.01),
                                    ("accumulate", 1401352, 0.97, 0.2)):
        out.append(scenario_case("zero_grad", variant, "deep_mlp", "grad", "step", 2**12,
                                 noisy(rng, ms * 1e-3, rounds), parameter_tensors=32,
                                 trainable_parameter_bytes=all_grads, shape="32x128", peak_tensor_bytes=peak,
                                 retained_tensor_bytes=all_grads, saved_bytes=245760, saved_tensor_count=31,
                                 graph_nodes=80, background_cpu=busy))
    for variant, trainable, nodes, saved, peak, ms in (
            ("all_trainable", 32, 80, 3932160, 1515012, 2.4), ("first_half_frozen", 16, 40, 2097152, 986628, 1.5),
            ("last_layer_only", 2, 5, 262144, 328196, 1.45)):
        out.append(scenario_case("freezing", variant, "deep_mlp", "grad", "backward", 2**16,
                                 noisy(rng, ms * 1e-3, rounds), parameter_tensors=32,
                                 trainable_parameter_tensors=trainable,
                                 trainable_parameter_bytes=trainable // 2 * DEEP_MLP_LAYER_BYTES, shape="512x128",
                                 peak_tensor_bytes=peak, retained_tensor_bytes=trainable // 2 * DEEP_MLP_LAYER_BYTES,
                                 saved_bytes=saved, saved_tensor_count=nodes // 2, graph_nodes=nodes))
    n = 2**16
    for variant, mode, pass_, peak, saved, nodes, us in (
            ("relu", "grad", "step", 1048584, 524288, 4, 120), ("relu", "no_grad", "forward", 524288, 0, 0, 60),
            ("relu", "inference_mode", "forward", 524288, 0, 0, 58),
            ("relu_", "no_grad", "forward", 262148, 0, 0, 45), ("relu_", "inference_mode", "forward", 262148, 0, 0, 44),
            ("detach_then_modify", "no_grad", "forward", 262148, 0, 0, 47),
            ("detach_then_modify", "inference_mode", "forward", 262148, 0, 0, 46)):
        out.append(scenario_case("inplace", variant, "tanh_relu", mode, pass_, n, noisy(rng, us * 1e-6, rounds),
                                 peak_tensor_bytes=peak, retained_tensor_bytes=4, saved_bytes=saved,
                                 saved_tensor_count=int(saved > 0) * 2, graph_nodes=nodes))
    invalid = [{"scenario": "inplace", "variant": variant, "workload": "tanh_relu", "mode": "grad", "pass": "step",
                "size": n, "device": "cpu", "dtype": "float32", "error": INPLACE_ERROR}
               for variant in ("relu_", "detach_then_modify")]
    return out, invalid


# dynamic_graph's (mode, pass) slots: grad's forward and backward, no_grad's forward.
DYNAMIC_GRAPH_SLOTS = (("grad", "forward"), ("grad", "backward"), ("no_grad", "forward"))


def dynamic_graph_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """dynamic_graph at depths 1 and 2 in its three slots: rows that must name their pass."""
    return [scenario_case("dynamic_graph", f"depth={depth}", "shared_block", mode, pass_, 2**10,
                          noisy(rng, depth * 1e-4, 15), graph_nodes=2 * depth + 1, saved_bytes=4096 * depth)
            for depth in (1, 2) for mode, pass_ in DYNAMIC_GRAPH_SLOTS]


def input_tracking_cases(rng: np.random.Generator, variants: Sequence[str]) -> list[dict[str, Any]]:
    """input_tracking at one size: its variants' names sit side by side under the bars."""
    return [scenario_case("input_tracking", variant, "mlp", "grad", "step", 2**16, noisy(rng, 1e-3 * (i + 1), 15),
                          graph_nodes=5 + i, saved_bytes=4096 * (i + 1))
            for i, variant in enumerate(variants)]


def scenarios_run() -> dict[str, Any]:
    """A schema 2 run with a small mode matrix and every scenario; zero_grad is also selected on a
    CUDA device the machine lacks, so three of its cases are skipped."""
    rng = np.random.default_rng(6)
    benchmarks = pointwise_cases(rng, [2**10, 2**14, 2**18])
    for bench in benchmarks:
        bench["extra_info"]["schema_version"] = 2
    cases, invalid = scenario_cases(rng)
    reason = "CUDA is not available (torch.cuda.is_available() is False)"
    skipped = [{**skip("deep_mlp", "grad", "step", 2**12, reason, device="cuda"), "scenario": "zero_grad",
                "variant": variant} for variant in ("zero_", "set_to_none", "accumulate")]
    doc = run_doc(benchmarks + cases, skipped, datetime="2026-01-10T10:00:00.000000+00:00",
                  env=environment(schema_version=2))
    doc["gradbench"].update(
        schema_version=2, invalid=invalid,
        scenario_selection={"scenarios": ["accumulation", "zero_grad", "freezing", "inplace"],
                            "microbatches": [1, 2, 4, 8],
                            "sizes": {"accumulation": [2**18], "zero_grad": [2**12], "freezing": [2**16],
                                      "inplace": [2**16]}})
    return doc


def synthetic_run(n_cases: int, rounds: int = 30, seed: int = 7, scenarios: bool = False) -> dict[str, Any]:
    """A large run for the render-time test: workloads w000, w001, ... on CPU and CUDA,
    20 sizes, every mode and pass, until ``n_cases`` cases exist; with ``scenarios``, the
    scenario cases of scenario_cases on top (the page draws one figure per scenario)."""
    rng = np.random.default_rng(seed)
    combos = [(m, "forward") for m in FORWARD_MODEL]
    combos += [(m, p) for p in ("backward", "step") for m in ("grad", "detach")]
    benchmarks: list[dict[str, Any]] = []
    workload = 0
    while len(benchmarks) < n_cases:
        for device in ("cpu", "cuda"):
            for n in (2**k for k in range(8, 28)):
                for mode, pass_ in combos:
                    if len(benchmarks) == n_cases:
                        break
                    model = FORWARD_MODEL[mode] if pass_ == "forward" else BACKWARD_MODEL
                    graph = mode in ("grad", "detach")
                    benchmarks.append(case(f"w{workload:03d}", mode, pass_, n,
                                           noisy(rng, modelled(model, n), rounds), device=device,
                                           saved_bytes=4 * n if graph else 0, saved_tensor_count=int(graph)))
        workload += 1
    doc = run_doc(benchmarks)
    if scenarios:
        cases, invalid = scenario_cases(rng)
        doc["benchmarks"] += cases
        doc["gradbench"].update(schema_version=2, invalid=invalid)
    return doc


# The operator catalogue's fixture: (op, saved bytes per element under grad, saved tensors, forward
# time factor over FORWARD_MODEL's, backward time factor).
OPS = (("relu", 4, 1, 1.0, 1.5), ("add", 0, 0, 0.8, 1.0), ("mul", 8, 2, 1.2, 3.0))


def ops_run() -> dict[str, Any]:
    """Three op cases of the catalogue (workload op.NAME) at 2^10 and 2^14, in the four forward
    modes and grad's backward; mul the slowest under grad, add saving nothing."""
    rng = np.random.default_rng(23)
    out = []
    for op, per_element, tensors, factor, backward in OPS:
        for n in (1024, 16384):
            for mode, model in FORWARD_MODEL.items():
                grad = mode == "grad"
                seconds = factor * modelled(model, n) * (factor if grad else 1.0)
                out.append(case(f"op.{op}", mode, "forward", n, noisy(rng, seconds, 15),
                                saved_bytes=per_element * n if grad else 0, saved_tensor_count=tensors if grad else 0,
                                graph_nodes=3 if grad else 0))
            out.append(case(f"op.{op}", "grad", "backward", n, noisy(rng, backward * factor * modelled(
                FORWARD_MODEL["grad"], n), 15), saved_bytes=per_element * n, saved_tensor_count=tensors, graph_nodes=3))
    return run_doc(out)


def write_fixtures() -> None:
    base, new = comparison_pair()
    files = {
        "report_small.json": small_run(),
        "report_cuda_single_size.json": cuda_single_size_run(),
        "report_single_mode.json": single_mode_run(),
        "report_artifact.json": artifact_run(),
        "report_all_skipped.json": all_skipped_run(),
        "report_scenarios.json": scenarios_run(),
        "report_ops.json": ops_run(),
        "report_base.json": base,
        "report_new.json": new,
    }
    for name, doc in files.items():
        (DATA / name).write_text(json.dumps(doc, indent=1) + "\n")
    # Bad inputs: each must give a one-line error naming the file.
    (DATA / "bad_empty.json").write_text("")
    (DATA / "bad_truncated.json").write_text(json.dumps(files["report_cuda_single_size.json"], indent=1)[:900])
    (DATA / "bad_other_tool.json").write_text(json.dumps({"name": "eslint", "results": [{"errors": 0}]}) + "\n")
    plain = run_doc([])
    del plain["gradbench"]
    plain["benchmarks"] = [{**case("pointwise", "grad", "forward", 1024, [1e-5] * 5), "extra_info": {}}]
    (DATA / "bad_no_cases.json").write_text(json.dumps(plain, indent=1) + "\n")


if __name__ == "__main__":
    write_fixtures()
