"""The other autograd practices, measured: accumulation, gradient reset, freezing, in-place.

Each scenario is a set of variants of one training pattern. A variant is a case like the mode
matrix's: untimed ``setup``/``teardown``, a timed ``target``, and memory from
``runner.measure_memory`` in separate untimed executions. Only what differs lives here: the
models the scenarios need, what each variant's pass does, and the scenario keys of its
``extra_info`` (schema.SCENARIO_KEYS).

Unlike the mode matrix, the input is data (``requires_grad=False``) in every scenario but
``inplace``: only parameters train, as in a training loop. That is what lets freezing shrink the
graph: with a tracked input, every layer would still need its input gradient.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from bench_lib import devices, runner
from bench_lib.cases import CaseSpec, ScenarioSelection
from bench_lib.memory import SavedTensorCounter
from bench_lib.modes import get_mode
from bench_lib.schema import FREEZING_VARIANTS, INPLACE_VARIANTS, SCENARIO_KEYS, ZERO_GRAD_VARIANTS
from bench_lib.workloads import WORKLOADS

# deep_mlp: many parameter tensors (2 per layer) for zero_grad, many layers to freeze for freezing.
DEEP_MLP_LAYERS = 16
# The modes the inplace scenario runs: grad to show what autograd rejects, the other two for cost.
INPLACE_MODES = ("grad", "no_grad", "inference_mode")

# Messages of the errors by which autograd rejects a combination (a practice's misuse, which the
# run records as invalid) rather than a bug of the harness (which must fail the run).
AUTOGRAD_REJECTIONS = (
    "modified by an inplace operation",
    "is being used in an in-place operation",
    "Inference tensors cannot be saved for backward",
)


@dataclass(frozen=True, order=True)
class ScenarioSpec:
    """One variant of one scenario. The first eight fields are the run file's SPEC_KEYS and labels."""

    scenario: str
    variant: str
    workload: str
    mode: str
    pass_: str
    size: int
    device: str
    dtype: str
    microbatches: int | None = None

    @property
    def case_id(self) -> str:
        return f"{self.scenario}-{self.variant}-{self.mode}-{self.size}-{self.device}-{self.dtype}"

    @property
    def group(self) -> str:
        # pytest-benchmark compares the members of a group: here, a scenario's variants.
        return f"scenario {self.scenario} {self.workload} n={self.size} {self.device} {self.dtype}"

    @property
    def case(self) -> CaseSpec:
        """The SPEC_KEYS part: what the variant runs, as a mode-matrix spec."""
        return CaseSpec(self.workload, self.mode, self.pass_, self.size, self.device, self.dtype)

    def as_dict(self) -> dict[str, object]:
        return self.case.as_dict()

    def labels(self) -> dict[str, object]:
        return {"scenario": self.scenario, "variant": self.variant}


def scenario_specs(
    selection: ScenarioSelection, devices_: tuple[str, ...], dtypes: tuple[str, ...]
) -> list[ScenarioSpec]:
    """Every variant of the selected scenarios, per size, device and dtype."""
    specs: list[ScenarioSpec] = []
    for scenario in selection.scenarios:
        for size in selection.sizes[scenario]:
            for device in devices_:
                for dtype in dtypes:
                    specs += _variants(scenario, size, device, dtype, selection.microbatches)
    return specs


def _variants(scenario: str, size: int, device: str, dtype: str, ks: tuple[int, ...]) -> list[ScenarioSpec]:
    if scenario == "accumulation":
        return [ScenarioSpec(scenario, f"k={k}", "mlp", "grad", "step", size, device, dtype, k) for k in ks]
    if scenario == "zero_grad":
        return [ScenarioSpec(scenario, v, "deep_mlp", "grad", "step", size, device, dtype) for v in ZERO_GRAD_VARIANTS]
    if scenario == "freezing":
        return [
            ScenarioSpec(scenario, v, "deep_mlp", "grad", "backward", size, device, dtype) for v in FREEZING_VARIANTS
        ]
    if scenario == "inplace":
        return [
            ScenarioSpec(scenario, v, "tanh_relu", m, "step" if m == "grad" else "forward", size, device, dtype)
            for v in INPLACE_VARIANTS
            for m in INPLACE_MODES
        ]
    raise ValueError(f"unknown scenario {scenario!r}")


# --- shapes and models -----------------------------------------------------------------------


def input_shape(spec: ScenarioSpec) -> tuple[int, ...]:
    if spec.workload == "tanh_relu":
        return (spec.size,)
    return WORKLOADS["mlp"].input_shape(spec.size)  # batch x 128, for mlp and deep_mlp alike


def make_deep_mlp(width: int, layers: int = DEEP_MLP_LAYERS) -> nn.Sequential:
    """``layers`` Linear(width, width) with ReLU between: 2 parameter tensors per layer."""
    modules: list[nn.Module] = []
    for index in range(layers):
        modules.append(nn.Linear(width, width))
        if index < layers - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def _tanh_relu(x: torch.Tensor) -> torch.Tensor:
    # tanh saves its output for backward (as sigmoid and exp do); relu saves its own output.
    return torch.relu(torch.tanh(x))


def _tanh_relu_inplace(x: torch.Tensor) -> torch.Tensor:
    # One tensor fewer than relu; under grad it overwrites what tanh saved.
    return torch.tanh(x).relu_()


def _tanh_detach_then_modify(x: torch.Tensor) -> torch.Tensor:
    hidden = torch.tanh(x)
    # The detached tensor shares storage and version counter with ``hidden``: this changes
    # hidden too, and under grad the version counter catches it at backward.
    hidden.detach().relu_()
    return hidden


INPLACE_FORWARDS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": _tanh_relu,
    "relu_": _tanh_relu_inplace,
    "detach_then_modify": _tanh_detach_then_modify,
}
assert tuple(INPLACE_FORWARDS) == INPLACE_VARIANTS

# Rough peak bytes of a case as a multiple of its input's (see Workload.memory_factor).
_MEMORY_FACTORS = {"mlp": 14.0, "deep_mlp": 2.0 * DEEP_MLP_LAYERS + 8.0, "tanh_relu": 6.0}


def static_skip_reason(spec: ScenarioSpec) -> str | None:
    """Why the variant cannot exist at this size on any machine, or None."""
    if spec.microbatches is not None:
        rows = input_shape(spec)[0]
        if rows % spec.microbatches:
            return f"k={spec.microbatches} micro-batches do not divide the batch of {rows} rows at size {spec.size}"
    return None


def machine_skip_reason(spec: ScenarioSpec) -> str | None:
    """Why the variant cannot run on this machine (no such device, size does not fit), or None."""
    needed = int(math.prod(input_shape(spec)) * runner.DTYPES[spec.dtype].itemsize * _MEMORY_FACTORS[spec.workload])
    return runner.device_skip_reason(spec.device, spec.size, needed)


def autograd_rejection(error: BaseException) -> str | None:
    """PyTorch's message (first line) when ``error`` is autograd rejecting the case; else None."""
    text = str(error)
    if isinstance(error, RuntimeError) and any(marker in text for marker in AUTOGRAD_REJECTIONS):
        return text.splitlines()[0]
    return None


# --- the cases -------------------------------------------------------------------------------


class LiveSavedTensorCounter(SavedTensorCounter):
    """The most bytes saved for backward that are alive at once.

    For a pass with one graph this is SavedTensorCounter's figure (saved tensors live until
    backward). Accumulation builds and frees one graph per micro-batch, and a freed storage's
    address can come back in the next micro-batch: here a storage leaves the count when a
    weak-reference finaliser sees it freed, so the figure is one micro-batch's saved bytes.
    """

    def __init__(self, existing: list[torch.Tensor]) -> None:
        super().__init__(existing)
        self._live: dict[int, int] = {}
        self._live_bytes = 0
        self._peak = (0, 0)  # (bytes, storages) when the live bytes peaked
        self._finalizers: list[weakref.finalize] = []

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in self._existing and key not in self._live and storage.nbytes() > 0:
            self._live[key] = storage.nbytes()
            self._live_bytes += storage.nbytes()
            self._peak = max(self._peak, (self._live_bytes, len(self._live)))
            self._finalizers.append(weakref.finalize(storage, self._release, key))
        return tensor

    def _release(self, key: int) -> None:
        self._live_bytes -= self._live.pop(key, 0)

    @property
    def saved_bytes(self) -> int:
        return self._peak[0]

    @property
    def saved_count(self) -> int:
        return self._peak[1]

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        for finalizer in self._finalizers:  # figures are final once the pass is over
            finalizer.detach()
        self._finalizers.clear()


@dataclass
class ScenarioCase(runner.PassCase):
    """A built variant: runner.PassCase's lifecycle, with the scenario's setup and target."""

    spec: ScenarioSpec

    def scenario_info(self) -> dict[str, object]:
        """The SCENARIO_KEYS of this variant."""
        parameters = list(self.model.parameters())
        trainable = [p for p in parameters if p.requires_grad]
        return {
            **self.spec.labels(),
            "microbatches": self.spec.microbatches,
            "parameter_tensors": len(parameters),
            "trainable_parameter_tensors": len(trainable),
            "trainable_parameter_bytes": sum(p.numel() * p.element_size() for p in trainable),
        }


class AccumulationCase(ScenarioCase):
    """One effective batch as k micro-batches, each with its own forward and backward."""

    def target(self) -> None:
        k = self.spec.microbatches
        assert k is not None
        for chunk in self.x.chunk(k):  # views: no copy of the input
            # mean / k over equal chunks: the same gradients as the full batch's mean.
            self.loss = self.model(chunk).mean() / k
            self.loss.backward()
        devices.synchronize(self.device)


class ZeroGradCase(ScenarioCase):
    """A training step that starts from the previous step's gradients, reset per the variant.

    Every round starts from the same state: weights restored and the gradients of one step
    present (made in setup, untimed), so "accumulate" does the same work each round.
    """

    count_setup = True

    def __init__(self, spec: ScenarioSpec, model: nn.Module, x: torch.Tensor, device: torch.device) -> None:
        super().__init__(spec, model, x, device)
        self.parameters = list(model.parameters())
        self.optimizer = torch.optim.SGD(self.parameters, lr=1e-3)
        self.weights = [p.detach().clone() for p in self.parameters]
        self.model(self.x).mean().backward()
        self.gradients = [p.grad.detach().clone() for p in self.parameters]  # type: ignore[union-attr]
        self.teardown()

    def setup(self) -> None:
        self.teardown()
        with torch.no_grad():
            for parameter, weight, gradient in zip(self.parameters, self.weights, self.gradients, strict=True):
                parameter.copy_(weight)
                parameter.grad = gradient.clone()
        devices.synchronize(self.device)

    def target(self) -> None:
        variant = self.spec.variant
        if variant == "zero_":
            for parameter in self.parameters:
                parameter.grad.zero_()  # type: ignore[union-attr]
        elif variant == "set_to_none":
            self.optimizer.zero_grad(set_to_none=True)
        elif variant != "accumulate":
            raise ValueError(f"unknown zero_grad variant {variant!r}")
        self.loss = self.model(self.x).mean()
        self.loss.backward()
        self.optimizer.step()
        devices.synchronize(self.device)


class FreezingCase(ScenarioCase):
    """Backward of a deep MLP with some layers frozen (``requires_grad_(False)``)."""

    def setup(self) -> None:
        self.teardown()
        self.loss = self.model(self.x).mean()  # backward needs a fresh graph; building it is not timed
        devices.synchronize(self.device)

    def target(self) -> None:
        assert self.loss is not None
        self.loss.backward()
        devices.synchronize(self.device)


def trainable_layers(variant: str, layers: int = DEEP_MLP_LAYERS) -> int:
    """How many of the last layers train in a freezing variant."""
    return {"all_trainable": layers, "first_half_frozen": layers - layers // 2, "last_layer_only": 1}[variant]


class InplaceCase(ScenarioCase):
    """relu(tanh(x)), out of place, in place, or through a detached alias, in one mode."""

    def __init__(self, spec: ScenarioSpec, model: nn.Module, x: torch.Tensor, device: torch.device) -> None:
        super().__init__(spec, model, x, device)
        self.mode = get_mode(spec.mode)
        self.forward = INPLACE_FORWARDS[spec.variant]
        x.requires_grad_(self.mode.track_input)

    def target(self) -> None:
        with self.mode.context():
            self.loss = self.forward(self.x).mean()
        if self.spec.pass_ == "step":
            self.loss.backward()
        devices.synchronize(self.device)


def prepare_scenario(spec: ScenarioSpec, seed: int) -> ScenarioCase:
    device = torch.device(spec.device)
    dtype = runner.DTYPES[spec.dtype]
    shape = input_shape(spec)
    torch.manual_seed(seed)  # the same weights and input in every variant
    if spec.workload == "mlp":
        model: nn.Module = WORKLOADS["mlp"].make_model(shape)
    elif spec.workload == "deep_mlp":
        model = make_deep_mlp(shape[1])
    else:
        model = nn.Module()  # no parameters
    model = model.to(device=device, dtype=dtype)
    x = torch.randn(shape, dtype=torch.float32).to(device=device, dtype=dtype)
    if spec.scenario == "accumulation":
        return AccumulationCase(spec, model, x, device)
    if spec.scenario == "zero_grad":
        return ZeroGradCase(spec, model, x, device)
    if spec.scenario == "freezing":
        linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
        for layer in linears[: len(linears) - trainable_layers(spec.variant, len(linears))]:
            layer.requires_grad_(False)
        return FreezingCase(spec, model, x, device)
    if spec.scenario == "inplace":
        return InplaceCase(spec, model, x, device)
    raise ValueError(f"unknown scenario {spec.scenario!r}")


def measure_scenario_memory(case: ScenarioCase, tensor_probe: Callable[[], object]) -> dict[str, object]:
    return runner.measure_memory(
        case, tensor_probe, saved_counter=LiveSavedTensorCounter, count_setup=case.count_setup  # type: ignore[arg-type]
    )


def scenario_case_info(case: ScenarioCase, memory: dict[str, object], rounds: int) -> dict[str, object]:
    """The case's extra_info before its timed rounds: runner.case_info's keys plus SCENARIO_KEYS.

    The caller adds ``background_cpu`` after the rounds, as for the mode matrix.
    """
    info = {**runner.case_info(case, memory, rounds), **case.scenario_info()}  # type: ignore[arg-type]
    assert tuple(info)[-len(SCENARIO_KEYS):] == SCENARIO_KEYS
    return info
