"""One case, from spec to the callables pytest-benchmark times and the memory it measures.

Timing and memory come from separate executions of the same pass: the probes (a dispatch mode,
saved-tensor hooks, /proc reads) would distort the times.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch

from bench_lib import devices
from bench_lib.cases import CaseSpec, Preset
from bench_lib.contention import BackgroundLoad
from bench_lib.memory import PassProbe, RssProbe, SavedTensorCounter, count_graph_nodes
from bench_lib.modes import Mode, get_mode
from bench_lib.replicates import pooled_stats
from bench_lib.schema import SCHEMA_VERSION
from bench_lib.workloads import WORKLOADS, Workload

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Headroom kept free when deciding whether a size fits: other processes, allocator slack.
FIT_FRACTION = 0.7


K = TypeVar("K")


def static_skip_reason(spec: CaseSpec) -> str | None:
    """Why the case cannot exist on any machine (a pass the mode does not have), or None."""
    if spec.pass_ == "forward":
        return None
    workload = WORKLOADS[spec.workload]
    has_parameters = workload.has_trainable_parameters(workload.input_shape(spec.size))
    return get_mode(spec.mode).backward_skip_reason(has_parameters)


def estimated_peak_bytes(spec: CaseSpec) -> int:
    workload = WORKLOADS[spec.workload]
    shape = workload.input_shape(spec.size)
    return int(math.prod(shape) * DTYPES[spec.dtype].itemsize * workload.memory_factor(shape))


def machine_skip_reason(spec: CaseSpec) -> str | None:
    """Why the case cannot run on this machine (no such device, size does not fit), or None."""
    return device_skip_reason(spec.device, spec.size, estimated_peak_bytes(spec))


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


def unrunnable_reason(spec: CaseSpec, error: BaseException) -> str | None:
    """The skip reason for an error that means "cannot run here", or None for a real failure."""
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    if devices.is_out_of_memory(error):
        return f"out of memory on {spec.device}: {first_line}"
    if isinstance(error, NotImplementedError) or "not implemented for" in str(error):
        return f"{spec.dtype} on {spec.device} is not supported by an op: {first_line}"
    return None


@dataclass
class PassCase:
    """A built case: pytest-benchmark calls ``setup`` and ``teardown`` untimed and times ``target``.

    The mode matrix (PreparedCase) and the scenarios (bench_lib.scenarios) differ only in their
    setup and target; the memory probes, warm-up and timing work on this interface.
    """

    spec: Any  # CaseSpec or scenarios.ScenarioSpec
    model: torch.nn.Module
    x: torch.Tensor
    device: torch.device
    loss: torch.Tensor | None = field(default=None)
    # measure_memory runs setup inside the probes when setup makes state the pass frees.
    count_setup: ClassVar[bool] = False

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape)

    def tensors_before_pass(self) -> list[torch.Tensor]:
        return [self.x, *self.model.parameters()]

    def setup(self) -> None:
        # Gradients accumulate: without this reset, round N would do more work than round 1.
        self.teardown()
        devices.synchronize(self.device)

    def target(self) -> None:
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

    def target(self) -> None:
        if self.spec.pass_ == "forward":
            self.loss = self._forward()
        elif self.spec.pass_ == "backward":
            assert self.loss is not None
            self.loss.backward()
        else:
            self.loss = self._forward()
            self.loss.backward()
        devices.synchronize(self.device)


def prepare(spec: CaseSpec, seed: int) -> PreparedCase:
    workload: Workload = WORKLOADS[spec.workload]
    mode = get_mode(spec.mode)
    device = torch.device(spec.device)
    dtype = DTYPES[spec.dtype]
    shape = workload.input_shape(spec.size)
    torch.manual_seed(seed)  # the same weights and input in every mode
    model = workload.make_model(shape).to(device=device, dtype=dtype)
    x = torch.randn(shape, dtype=torch.float32).to(device=device, dtype=dtype)
    x.requires_grad_(mode.track_input)
    return PreparedCase(spec=spec, mode=mode, model=model, x=x, device=device)


def measure_memory(
    case: PassCase,
    tensor_probe: Callable[[], PassProbe],
    rss_probe: Callable[[], PassProbe] = RssProbe,
    *,
    saved_counter: Callable[[list[torch.Tensor]], SavedTensorCounter] = SavedTensorCounter,
    count_setup: bool = False,
) -> dict[str, object]:
    """Memory metrics of one pass, from two untimed executions (one hooked, one plain).

    ``count_setup`` puts the case's setup inside the memory probes, for a case whose setup makes
    state the pass frees or replaces (gradients before a training step): the probes only see
    frees of tensors made inside them.
    """
    saved = saved_counter(case.tensors_before_pass())
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
    return {
        "peak_tensor_bytes": tensors.peak_bytes,
        "retained_tensor_bytes": tensors.retained_bytes,
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


def case_info(case: PassCase, memory: dict[str, object], rounds: int) -> dict[str, object]:
    """The case's extra_info: schema.CASE_KEYS, nothing else."""
    elements = case.x.numel()
    return {
        **case.spec.as_dict(),
        "schema_version": SCHEMA_VERSION,
        "elements": elements,
        "shape": "x".join(map(str, case.shape)),
        "input_bytes": elements * case.x.element_size(),
        **memory,
        "rounds_planned": rounds,
    }


def benchmark_case(
    benchmark: Any,  # pytest-benchmark's fixture
    case: PassCase,
    preset: Preset,
    measure: Callable[[Any, Callable[[], PassProbe]], dict[str, object]],
    describe: Callable[[Any, dict[str, object], int], dict[str, object]],
) -> None:
    """A case's life under pytest-benchmark: a first run, the memory executions, warm-up, timed rounds.

    ``measure`` is measure_memory or a variant of it; ``describe`` builds the extra_info.
    """
    case.run_once()  # lazy initialisation stays out of the memory figures
    memory = measure(case, lambda: devices.tensor_probe(case.device))
    rounds = plan_rounds(warm_up(case, seconds=preset.seconds_per_case / 4), preset)
    benchmark.extra_info.update(describe(case, memory, rounds))
    with BackgroundLoad() as load:
        benchmark.pedantic(case.target, setup=case.setup, teardown=case.teardown, rounds=rounds)
    benchmark.extra_info["background_cpu"] = round(load.fraction, 3)


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


def quartiles(samples: list[float]) -> dict[str, float]:
    """Median and quartiles computed by pytest-benchmark's own code, as for its stats."""
    stats = pooled_stats(samples)
    return {"median": stats["median"], "q1": stats["q1"], "q3": stats["q3"]}


def interleaved_stats(cases: Mapping[K, PassCase], preset: Preset) -> dict[K, dict[str, object]]:
    """The interleaved_* extra_info of each case of one group, from one shared window."""
    round_seconds = sum(warm_up(case, seconds=0.0) for case in cases.values())
    samples = interleaved_times(list(cases.values()), plan_rounds(round_seconds, preset))
    return {
        key: {f"interleaved_{name}": value for name, value in quartiles(times).items()}
        | {"interleaved_rounds": len(times), "interleaved_data": times}
        for key, times in zip(cases, samples, strict=True)
    }
