"""The workload registry: what a pass computes, and how a size maps to an input shape.

A workload is a model (an ``nn.Module`` whose output is reduced with ``.mean()`` to the loss)
and a rule mapping the requested size, in input elements, to an input shape. Register your
own with ``register(Workload(...))``; the README has a worked example.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from bench_lib.contract.cases import OP_PREFIX
from bench_lib.contract.schema import NAME

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    input_shape: Callable[[int], Shape]  # size in elements -> input shape (may round the size down)
    make_model: Callable[[Shape], nn.Module]  # input shape -> model; its parameters are trained
    # Analytic bytes saved for backward under grad mode, for tests and cross-checks; None if unknown.
    saved_bytes: Callable[[Shape, int], int] | None = None
    # Rough peak bytes of a grad-mode step, as a multiple of the input's bytes, used to skip a
    # size that cannot fit before trying it (Linux overcommits: a CPU allocation that does not
    # fit kills the process instead of raising).
    memory_factor: Callable[[Shape], float] = lambda shape: 8.0

    def has_trainable_parameters(self, shape: Shape) -> bool:
        # Built on the meta device: no memory, no initialisation cost.
        with torch.device("meta"):
            model = self.make_model(shape)
        return any(p.requires_grad for p in model.parameters())


WORKLOADS: dict[str, Workload] = {}


def register(workload: Workload) -> Workload:
    if not NAME.fullmatch(workload.name):
        raise ValueError(f"workload name {workload.name!r} must be a letter or digit, then letters, digits and "
                         "_ . : + = - (at most 80): it is shown in HTML, Markdown, CSV and plot labels")
    if workload.name.startswith(OP_PREFIX):
        raise ValueError(f"workload name {workload.name!r} cannot start with {OP_PREFIX!r}: that names the ops "
                         "of the catalogue (bench_lib.measure.ops)")
    if workload.name in WORKLOADS:
        raise ValueError(f"workload {workload.name!r} is already registered")
    WORKLOADS[workload.name] = workload
    return workload


# --- elementwise: the chain from autograd teaching material ----------------------------------


class Elementwise(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Scalar mul/add save nothing; relu saves its output: one tensor of the input's size.
        return torch.relu(x * 2.0 + 1.0)


register(
    Workload(
        name="elementwise",
        description="relu(x * 2 + 1).mean() on a 1-D tensor; no parameters",
        input_shape=lambda size: (size,),
        make_model=lambda shape: Elementwise(),
        saved_bytes=lambda shape, itemsize: math.prod(shape) * itemsize,
        memory_factor=lambda shape: 6.0,
    )
)


# --- mlp: Linear+ReLU stack with trainable parameters ----------------------------------------

MLP_WIDTH = 128
MLP_RELUS = 2


def _mlp_shape(size: int) -> Shape:
    width = min(MLP_WIDTH, size)
    return (size // width, width)


def _mlp_model(shape: Shape) -> nn.Module:
    width = shape[1]
    layers: list[nn.Module] = []
    for _ in range(MLP_RELUS):
        layers += [nn.Linear(width, width), nn.ReLU()]
    layers.append(nn.Linear(width, width))
    return nn.Sequential(*layers)


register(
    Workload(
        name="mlp",
        description=f"{MLP_RELUS + 1} Linear layers of width {MLP_WIDTH} with ReLU between; size = batch x width",
        input_shape=_mlp_shape,
        make_model=_mlp_model,
        # Each ReLU output is saved once (the next Linear saves the same storage); the first
        # Linear's input and the weights existed before the pass.
        saved_bytes=lambda shape, itemsize: MLP_RELUS * math.prod(shape) * itemsize,
        memory_factor=lambda shape: 14.0,
    )
)


# --- attention: softmax attention, whose saved tensors grow with sequence length squared -----

ATTENTION_DIM = 32
ATTENTION_MAX_SEQ = 128


def _attention_shape(size: int) -> Shape:
    dim = min(ATTENTION_DIM, size)
    seq = min(ATTENTION_MAX_SEQ, size // dim)
    return (size // (seq * dim), seq, dim)


class SelfAttention(nn.Module):
    """Single-head self-attention: softmax(q k^T / sqrt(d)) v with separate projections."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.q(x), self.k(x), self.v(x)
        weights = torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1)
        return weights @ v


def _attention_saved_bytes(shape: Shape, itemsize: int) -> int:
    batch, seq, dim = shape
    # q and k (saved by q @ k^T), v and the softmax output (saved by softmax and by weights @ v).
    return (3 * batch * seq * dim + batch * seq * seq) * itemsize


register(
    Workload(
        name="attention",
        description=(
            f"single-head softmax self-attention, dim {ATTENTION_DIM}, sequence up to "
            f"{ATTENTION_MAX_SEQ}; size = batch x seq x dim; saves a seq x seq matrix per item"
        ),
        input_shape=_attention_shape,
        make_model=lambda shape: SelfAttention(shape[2]),
        saved_bytes=_attention_saved_bytes,
        memory_factor=lambda shape: 12.0 + 3.0 * shape[1] / shape[2],
    )
)


# --- deep_mlp: many layers of one width, for the scenarios (not a mode-matrix workload) -------

# Many parameter tensors (2 per layer) for zero_grad, many layers to freeze or checkpoint.
DEEP_MLP_LAYERS = 16


def make_deep_mlp(width: int, layers: int = DEEP_MLP_LAYERS) -> nn.Sequential:
    """``layers`` Linear(width, width) with ReLU between: 2 parameter tensors per layer."""
    modules: list[nn.Module] = []
    for index in range(layers):
        modules.append(nn.Linear(width, width))
        if index < layers - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)
