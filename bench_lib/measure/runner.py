"""One case, from spec to the callables pytest-benchmark times and the memory it measures.

Timing and memory come from separate executions of the same pass: the probes (a dispatch mode,
saved-tensor hooks, /proc reads) would distort the times.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from bench_lib.analysis.replicates import sampled
from bench_lib.contract import cases
from bench_lib.contract.cases import CaseSpec, Preset, op_name
from bench_lib.contract.result import SCENARIO_KEYS, record
from bench_lib.contract.scenario import ScenarioSpec
from bench_lib.contract.schema import SCHEMA_VERSION
from bench_lib.measure import devices, ops, pipeline
from bench_lib.measure.contention import BackgroundLoad
from bench_lib.measure.memory import (
    LiveSavedTensorCounter,
    PassProbe,
    RssProbe,
    SavedTensorCounter,
    TensorLedger,
    count_graph_nodes,
)
from bench_lib.measure.modes import Mode, get_mode
from bench_lib.measure.workloads import WORKLOADS, Workload, make_deep_mlp
from bench_lib.scenarios import SCENARIOS

# The torch dtype of each name the selection allows (bench_lib.contract.cases.DTYPES, torch's own names).
DTYPES: dict[str, torch.dtype] = {name: getattr(torch, name) for name in cases.DTYPES}
# Headroom kept free when deciding whether a size fits: other processes, allocator slack.
FIT_FRACTION = 0.7


K = TypeVar("K")
Spec = CaseSpec  # a mode-matrix case, or a scenario's variant (a ScenarioSpec is a CaseSpec)

# Messages of the errors by which autograd rejects a combination (a practice's misuse, which the
# run records as invalid) rather than a bug of the harness (which must fail the run).
AUTOGRAD_REJECTIONS = (
    "modified by an inplace operation",
    "is being used in an in-place operation",
    "Inference tensors cannot be saved for backward",
)


def static_skip_reason(spec: Spec) -> str | None:
    """Why the case cannot exist on any machine (a pass the mode does not have), or None."""
    if spec.compile == "reduce-overhead" and spec.device != "cuda":
        return f"reduce-overhead replays CUDA graphs; on {spec.device} there are none"
    if isinstance(spec, ScenarioSpec):
        return SCENARIOS[spec.scenario].static_skip_reason(spec, scenario_input_shape(spec))
    if spec.pass_ == "forward":
        return None
    op = op_name(spec.workload)
    if op is not None:
        has_parameters = ops.OPS[op].has_trainable_parameters(spec.size)
    else:
        workload = WORKLOADS[spec.workload]
        has_parameters = workload.has_trainable_parameters(workload.input_shape(spec.size))
    return get_mode(spec.mode).backward_skip_reason(has_parameters)


def scenario_input_shape(spec: ScenarioSpec) -> tuple[int, ...]:
    return WORKLOADS[SCENARIOS[spec.scenario].shape_like].input_shape(spec.size)


def estimated_peak_bytes(spec: Spec) -> int:
    if isinstance(spec, ScenarioSpec):
        shape, factor = scenario_input_shape(spec), SCENARIOS[spec.scenario].memory_factor
    elif (op := op_name(spec.workload)) is not None:
        shape, factor = ops.OPS[op].operands(spec.size)[0].shape, ops.OPS[op].memory_factor
    else:
        workload = WORKLOADS[spec.workload]
        shape = workload.input_shape(spec.size)
        factor = workload.memory_factor(shape)
    return int(math.prod(shape) * DTYPES[spec.dtype].itemsize * factor)


def machine_skip_reason(spec: Spec) -> str | None:
    """Why the case cannot run on this machine (no such device, size does not fit, no compiler
    for a compiled case), or None."""
    reason = device_skip_reason(spec.device, spec.size, estimated_peak_bytes(spec))
    if reason is None and spec.compile != "eager":
        reason = devices.compiler_missing_reason(spec.device)
    return reason


def device_skip_reason(device: str, size: int, needed: int) -> str | None:
    """Why ``needed`` bytes for a case of ``size`` cannot be had on ``device`` here, or None."""
    reason = devices.unavailable_reason(device)
    if reason:
        return reason
    free = devices.free_bytes(torch.device(device))
    if needed > FIT_FRACTION * free:
        return (
            f"size {size} needs about {needed / 2**30:.1f} GiB on {device}, "
            f"more than {FIT_FRACTION:.0%} of the {free / 2**30:.1f} GiB free"
        )
    return None


def autograd_rejection(error: BaseException) -> str | None:
    """PyTorch's message (first line) when ``error`` is autograd rejecting the case; else None."""
    text = str(error)
    if isinstance(error, RuntimeError) and any(marker in text for marker in AUTOGRAD_REJECTIONS):
        return text.splitlines()[0]
    return None


def unrunnable_reason(spec: Spec, error: BaseException) -> str | None:
    """The skip reason for an error that means "cannot run here", or None for a real failure."""
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    if spec.compile != "eager" and _from_compiler(error):
        return f"torch.compile ({spec.compile}) failed here, the eager cases still run: {first_line}"
    if devices.is_out_of_memory(error):
        return f"out of memory on {spec.device}: {first_line}"
    if isinstance(error, NotImplementedError) or "not implemented for" in str(error):
        return f"{spec.dtype} on {spec.device} is not supported by an op: {first_line}"
    return None


def _from_compiler(error: BaseException) -> bool:
    """Whether ``error`` (or its cause) was raised by torch.compile's Dynamo or Inductor."""
    while error is not None:
        if type(error).__module__.startswith(("torch._dynamo", "torch._inductor")):
            return True
        error = error.__cause__  # type: ignore[assignment]
    return False


@dataclass
class PassCase:
    """A built case: pytest-benchmark calls ``setup`` and ``teardown`` untimed and times ``target``.

    The mode matrix (PreparedCase) and the scenarios (bench_lib.scenarios) differ only in their
    setup and target; the memory probes, warm-up and timing work on this interface.
    """

    spec: Any  # a Spec
    model: torch.nn.Module
    x: torch.Tensor
    device: torch.device
    loss: torch.Tensor | None = field(default=None)
    # measure_memory runs setup inside the probes when setup makes state the pass frees.
    count_setup: bool = field(default=False, kw_only=True)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape)

    @property
    def compiled(self) -> bool:
        return getattr(self.spec, "compile", "eager") != "eager"

    def tensors_before_pass(self) -> list[torch.Tensor]:
        return [self.x, *self.model.parameters()]

    def kept_anyway(self) -> list[torch.Tensor]:
        """The tensors that live whatever the pass saves: a saved reference to one costs nothing,
        so the saved bytes leave them out."""
        return self.tensors_before_pass()

    def setup(self) -> None:
        # Gradients accumulate: without this reset, round N would do more work than round 1.
        self.teardown()
        devices.synchronize(self.device)

    @property
    def pipelinable(self) -> bool:
        """Whether passes can be queued back to back (launch, teardown, launch, ...): false where
        each pass needs an untimed preparation (a backward's fresh graph, a scenario's ``before``)."""
        return False

    def target(self) -> None:
        self.launch()
        devices.synchronize(self.device)

    def launch(self) -> None:
        """The pass, queued: on CUDA it returns before the device has run it."""
        raise NotImplementedError

    def teardown(self) -> None:
        # Frees the graph and the outputs here, untimed, rather than in the next timed pass.
        self.loss = None
        for tensor in self.tensors_before_pass():
            tensor.grad = None

    def run_once(self) -> None:
        self.setup()
        self.target()
        self.teardown()


@dataclass
class PreparedCase(PassCase):
    """A mode-matrix case: one workload's pass under one mode."""

    spec: CaseSpec
    mode: Mode = field(kw_only=True)

    def _forward(self) -> torch.Tensor:
        with self.mode.context():
            return self.model(self.mode.model_input(self.x)).mean()

    def setup(self) -> None:
        self.teardown()
        if self.spec.pass_ == "backward":
            self.loss = self._forward()  # backward needs a fresh graph every round; building it is not timed
        devices.synchronize(self.device)

    @property
    def pipelinable(self) -> bool:
        return self.spec.pass_ != "backward"

    def launch(self) -> None:
        if self.spec.pass_ == "forward":
            self.loss = self._forward()
        elif self.spec.pass_ == "backward":
            assert self.loss is not None
            self.loss.backward()
        else:
            self.loss = self._forward()
            self.loss.backward()


@dataclass
class OpCase(PreparedCase):
    """An op of the catalogue (bench_lib.measure.ops): the model is the op, fed ``inputs`` (``x``
    is the first). The inputs the op saves count as saved bytes (ops' module docstring)."""

    inputs: list[torch.Tensor] = field(kw_only=True)

    def _forward(self) -> torch.Tensor:
        with self.mode.context():
            return self.model(*(self.mode.model_input(tensor) for tensor in self.inputs)).mean()

    def tensors_before_pass(self) -> list[torch.Tensor]:
        return [*self.inputs, *self.model.parameters()]

    def kept_anyway(self) -> list[torch.Tensor]:
        return [*self.model.parameters(), *self.model.buffers()]


def prepare_op(spec: CaseSpec, seed: int, op: ops.Op) -> OpCase:
    mode = get_mode(spec.mode)
    device = torch.device(spec.device)
    dtype = DTYPES[spec.dtype]
    torch.manual_seed(seed)  # the same operands in every mode
    model, inputs = ops.make(op, spec.size)
    model = model.to(device=device, dtype=dtype)
    inputs = [tensor.to(device=device, dtype=dtype if tensor.is_floating_point() else tensor.dtype)
              for tensor in inputs]
    for tensor in inputs:
        tensor.requires_grad_(mode.track_input and tensor.is_floating_point())
    if spec.compile != "eager":
        model = compiled(model, spec.compile)
    return OpCase(spec=spec, mode=mode, model=model, x=inputs[0], device=device, inputs=inputs)


def prepare(spec: CaseSpec, seed: int) -> PreparedCase:
    op = op_name(spec.workload)
    if op is not None:
        return prepare_op(spec, seed, ops.OPS[op])
    workload: Workload = WORKLOADS[spec.workload]
    mode = get_mode(spec.mode)
    device = torch.device(spec.device)
    dtype = DTYPES[spec.dtype]
    shape = workload.input_shape(spec.size)
    torch.manual_seed(seed)  # the same weights and input in every mode
    model = workload.make_model(shape).to(device=device, dtype=dtype)
    x = torch.randn(shape, dtype=torch.float32).to(device=device, dtype=dtype)
    x.requires_grad_(mode.track_input)
    if spec.compile != "eager":
        model = compiled(model, spec.compile)
    return PreparedCase(spec=spec, mode=mode, model=model, x=x, device=device)


def compiled(function: Any, compile_mode: str) -> Any:
    """``function`` (a model) under torch.compile (inductor), one static graph per shape and grad mode."""
    import torch._dynamo

    # Every size and mode of a workload is its own graph: far more than Dynamo's default limit of
    # 8, past which it would run the model eagerly without a word. Fail instead of falling back.
    # (The names changed in torch 2.7; older builds have the cache_size ones.)
    config = torch._dynamo.config
    for names, value in ((("recompile_limit", "cache_size_limit"), 4096),
                         (("accumulated_recompile_limit", "accumulated_cache_size_limit"), 65536),
                         (("fail_on_recompile_limit_hit", "fail_on_cache_limit_hit"), True)):
        name = next((n for n in names if hasattr(config, n)), None)
        if name is not None:
            setattr(config, name, value)
    return torch.compile(function, mode=None if compile_mode == "inductor" else compile_mode, dynamic=False)


def compile_figures(case: PassCase, clock: Callable[[], float] = time.perf_counter) -> dict[str, object]:
    """The case's first run, untimed by the benchmark: for a compiled case, its latency (the
    compile, unless an earlier case compiled the same graph, or inductor's on-disk cache serves
    it), the graphs Dynamo made and the graph breaks it counted; the compile keys of CASE_KEYS.
    Lazy initialisation stays out of the figures that follow either way."""
    if not case.compiled:
        case.run_once()
        return {"compile": "eager", "compile_seconds": None, "recompiles": None, "graph_breaks": None}
    from torch._dynamo.utils import counters

    graphs, breaks = counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())
    started = clock()
    case.run_once()
    return {"compile": case.spec.compile, "compile_seconds": clock() - started,
            "recompiles": counters["stats"]["unique_graphs"] - graphs,
            "graph_breaks": sum(counters["graph_break"].values()) - breaks}


@dataclass
class ScenarioCase(PassCase):
    """A scenario's variant: PassCase's lifecycle with the scenario's own pass (``step``) and,
    untimed before each pass, its own preparation (``before``). Both get the case, whose
    ``loss`` the step sets (graph_nodes counts from it)."""

    spec: ScenarioSpec
    step: Callable[[ScenarioCase], None] = field(kw_only=True)
    before: Callable[[ScenarioCase], None] | None = field(default=None, kw_only=True)

    def setup(self) -> None:
        self.teardown()
        if self.before is not None:
            self.before(self)
        devices.synchronize(self.device)

    def launch(self) -> None:
        self.step(self)


def scenario_case(
    spec: ScenarioSpec,
    seed: int,
    make_model: Callable[[tuple[int, ...]], torch.nn.Module],
    step: Callable[[ScenarioCase], None],
    *,
    before: Callable[[ScenarioCase], None] | None = None,
    count_setup: bool = False,
) -> ScenarioCase:
    """The variant's model and input (the same weights and data in every variant, for ``seed``),
    on its device and dtype, around its step. The input is data (requires_grad=False)."""
    device = torch.device(spec.device)
    dtype = DTYPES[spec.dtype]
    shape = scenario_input_shape(spec)
    torch.manual_seed(seed)
    model = make_model(shape).to(device=device, dtype=dtype)
    x = torch.randn(shape, dtype=torch.float32).to(device=device, dtype=dtype)
    return ScenarioCase(spec, model, x, device, step=step, before=before, count_setup=count_setup)


class _Kit:
    """bench_lib.contract.scenario.Kit: what a scenario's build uses from here."""

    case = staticmethod(scenario_case)

    @staticmethod
    def model(workload: str, shape: tuple[int, ...]) -> torch.nn.Module:
        return make_deep_mlp(shape[1]) if workload == "deep_mlp" else WORKLOADS[workload].make_model(shape)

    @staticmethod
    def mode(name: str) -> Mode:
        return get_mode(name)

    compile = staticmethod(compiled)


KIT = _Kit()


def build(spec: Spec, seed: int) -> PassCase:
    """The case of a mode-matrix spec or of a scenario's variant, ready to run."""
    if isinstance(spec, ScenarioSpec):
        return SCENARIOS[spec.scenario].build(spec, seed, KIT)  # type: ignore[no-any-return]
    return prepare(spec, seed)


def measure_memory(
    case: PassCase,
    tensor_probe: Callable[[], PassProbe],
    rss_probe: Callable[[], PassProbe] = RssProbe,
    ledger: Callable[[str], TensorLedger] | None = TensorLedger,
) -> dict[str, object]:
    """Memory metrics of one pass, from untimed executions: one hooked (saved tensors, the
    device's tensor probe, graph nodes), one plain (RSS), and one under the TensorLedger (the peak
    of new bytes and of growth above the pass's start, the same meaning on every device; not for
    a compiled case, which a dispatch mode would turn eager).

    A case with ``count_setup`` has its setup inside the memory probes: its setup makes state the
    pass frees or replaces (gradients before a training step), and the probes only see frees of
    tensors made inside them. A scenario's saved bytes are the most alive at once
    (LiveSavedTensorCounter): accumulation frees one micro-batch's graph before the next.
    """
    count_setup = case.count_setup
    counter = LiveSavedTensorCounter if isinstance(case, ScenarioCase) else SavedTensorCounter
    saved = counter(case.kept_anyway())
    with saved:  # the forward that saves may be setup (backward pass) or target
        if not count_setup:
            case.setup()
        with tensor_probe() as tensors:
            if count_setup:
                case.setup()
            case.target()
    graph_nodes = count_graph_nodes(case.loss)
    case.teardown()

    if not count_setup:
        case.setup()
    with rss_probe() as rss:
        if count_setup:
            case.setup()
        case.target()
    case.teardown()

    gross = growth = None
    if ledger is not None and not case.compiled:
        with ledger(case.device.type) as book:
            case.setup()
            book.mark()
            case.target()
        case.teardown()
        gross, growth = book.peak_new_bytes, book.peak_growth_bytes
    return {
        "peak_tensor_bytes": tensors.peak_bytes,
        "retained_tensor_bytes": tensors.retained_bytes,
        "peak_new_tensor_bytes": gross,
        "peak_growth_tensor_bytes": growth,
        "tensor_memory_method": tensors.method,
        "cuda_peak_reserved_bytes": getattr(tensors, "peak_reserved_bytes", None),
        "peak_rss_bytes": rss.peak_bytes,
        "rss_method": rss.method,
        "saved_bytes": saved.saved_bytes,
        "saved_tensor_count": saved.saved_count,
        "graph_nodes": graph_nodes,
    }


def warm_up(case: PassCase, seconds: float, clock: Callable[[], float] = time.perf_counter) -> float:
    """Run whole rounds (setup, pass, teardown) for about ``seconds``; return the median round time.

    At least two rounds run, so the allocator has grown back (the RSS probe returns free heap
    memory to the system) before the timed rounds.
    """
    durations: list[float] = []
    deadline = clock() + seconds
    while len(durations) < 2 or clock() < deadline:
        start = clock()
        case.run_once()
        durations.append(clock() - start)
    return statistics.median(durations)


def plan_rounds(round_seconds: float, preset: Preset) -> int:
    """Rounds that fill the preset's time per case, within its bounds."""
    wanted = math.ceil(preset.seconds_per_case / max(round_seconds, 1e-9))
    return max(preset.min_rounds, min(preset.max_rounds, wanted))


def case_info(case: PassCase, memory: dict[str, object], rounds: int,
              compiling: dict[str, object] | None = None) -> dict[str, object]:
    """The case's extra_info before its timed rounds: schema.CASE_KEYS, plus SCENARIO_KEYS for a
    scenario's variant. ``compiling``: compile_figures' keys (eager's when None). The caller adds
    ``background_cpu`` and the interleaved figures after."""
    info = _case_keys(case, memory, rounds, compiling or {
        "compile": "eager", "compile_seconds": None, "recompiles": None, "graph_breaks": None})
    if isinstance(case, ScenarioCase):
        parameters = list(case.model.parameters())
        trainable = [p for p in parameters if p.requires_grad]
        info |= {
            **case.spec.labels(),
            "microbatches": case.spec.microbatches,
            "parameter_tensors": len(parameters),
            "trainable_parameter_tensors": len(trainable),
            "trainable_parameter_bytes": sum(p.numel() * p.element_size() for p in trainable),
        }
        assert tuple(info)[-len(SCENARIO_KEYS):] == SCENARIO_KEYS
    return info


def _case_keys(case: PassCase, memory: dict[str, object], rounds: int,
               compiling: dict[str, object]) -> dict[str, object]:
    elements = case.x.numel()
    return {
        **case.spec.as_dict(),
        "schema_version": SCHEMA_VERSION,
        "elements": elements,
        "shape": "x".join(map(str, case.shape)),
        "input_bytes": elements * case.x.element_size(),
        **memory,
        "rounds_planned": rounds,
        **compiling,
        **pipeline.NULL_FIGURES,  # benchmark_case fills them in for a pipelinable CUDA case
    }


def benchmark_case(benchmark: Any, case: PassCase, preset: Preset) -> None:  # benchmark: pytest-benchmark's fixture
    """A case's life under pytest-benchmark: a first run, the memory executions, warm-up, timed rounds."""
    cuda_graphs = getattr(case.spec, "compile", "eager") == "reduce-overhead"
    pool_start = devices.fresh_cuda_graphs(case.device) if cuda_graphs else None
    compiling = compile_figures(case)
    if cuda_graphs:
        # CUDA graph trees warm up at the first call and record at the second: measure the replays.
        # A replay allocates nothing new, so the case's peak tensor memory is its graphs' pool
        # (CudaGraphPoolProbe; README, "Eager against compiled").
        case.run_once()
        case.run_once()
    memory = measure_memory(case, lambda: devices.tensor_probe(case.device, compiled=case.compiled,
                                                                graph_pool_start=pool_start))
    round_seconds = warm_up(case, seconds=preset.seconds_per_case / 4)
    rounds = plan_rounds(round_seconds, preset)
    record(benchmark.extra_info, case_info(case, memory, rounds, compiling))
    with BackgroundLoad() as load:
        benchmark.pedantic(case.target, setup=case.setup, teardown=case.teardown, rounds=rounds)
    record(benchmark.extra_info, {"background_cpu": round(load.fraction, 3)})
    if case.device.type == "cuda" and case.pipelinable:
        try:
            with devices.CudaTimer(case.device) as timer:
                record(benchmark.extra_info,
                       pipeline.figures(case, round_seconds, preset.seconds_per_case / 2, timer))
        except Exception as error:
            if not devices.is_out_of_memory(error):
                raise
            # The L2 flush buffer beside the case left too little room: its latency stands, the
            # figures stay null.
            case.teardown()
            devices.release_memory(case.device)


def interleaved_times(
    cases: list[PassCase], rounds: int, clock: Callable[[], float] = time.perf_counter
) -> list[list[float]]:
    """Time the cases' passes in alternating rounds: case 0, 1, ..., n-1, then n-1, ..., 0, ...

    This machine's speed drifts by up to 2x for seconds at a time; cases timed one after the
    other each sample a different stretch of that drift, interleaved rounds sample the same
    one, so their ratios hold. Returns one list of pass times per case.
    """
    samples: list[list[float]] = [[] for _ in cases]
    for round_ in range(rounds):
        order = range(len(cases)) if round_ % 2 == 0 else reversed(range(len(cases)))
        for index in order:
            case = cases[index]
            case.setup()
            start = clock()
            case.target()
            samples[index].append(clock() - start)
            case.teardown()
    return samples


def interleaved_stats(cases: Mapping[K, PassCase], preset: Preset) -> dict[K, dict[str, object]]:
    """The interleaved_* extra_info of each case of one group, from one shared window."""
    round_seconds = sum(warm_up(case, seconds=0.0) for case in cases.values())
    samples = interleaved_times(list(cases.values()), plan_rounds(round_seconds, preset))
    return {key: sampled("interleaved", [times]) for key, times in zip(cases, samples, strict=True)}


# Passes recorded when a case is profiled: enough to see steady state past the first.
PROFILED_PASSES = 5


def profile_case(case: PassCase, folder: Path, name: str) -> list[Path]:
    """Hand one case to PyTorch's own tools, after its measurement (nothing here is timed):
    ``<name>.trace.json``, a torch.profiler Chrome trace of PROFILED_PASSES whole rounds (CPU, and
    CUDA kernels on a GPU; open it in chrome://tracing or https://ui.perfetto.dev), and on CUDA
    ``<name>.memory.pickle``, a memory snapshot of the same rounds for
    https://pytorch.org/memory_viz. Each file is written whole or not at all."""
    from torch.profiler import ProfilerActivity, profile

    folder.mkdir(parents=True, exist_ok=True)
    cuda = case.device.type == "cuda"
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    with profile(activities=activities, record_shapes=True, profile_memory=True) as profiler:
        for _ in range(PROFILED_PASSES):
            case.run_once()
    written = [_atomically(folder / f"{name}.trace.json", profiler.export_chrome_trace)]
    if cuda:
        torch.cuda.memory._record_memory_history(max_entries=100_000)
        try:
            for _ in range(PROFILED_PASSES):
                case.run_once()
            written.append(_atomically(folder / f"{name}.memory.pickle", torch.cuda.memory._dump_snapshot))
        finally:
            torch.cuda.memory._record_memory_history(enabled=None)
    return written


def _atomically(path: Path, write: Callable[[str], object]) -> Path:
    partial = path.with_name(f".{path.name}.partial")
    try:
        write(str(partial))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
