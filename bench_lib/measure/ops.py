"""The op catalogue: single PyTorch ops measured like the workloads, one declaration each.

An op is its operands for a size (shapes and roles) and the call. Its case runs the call on the
operands and reduces the output with ``.mean()`` to the loss, as a workload's case runs its model;
the case's workload reads ``op.NAME`` (bench_lib.contract.cases.OP_PREFIX). Register your own with
``register(Op(...))``, in your own module loaded as a pytest plugin (``-p MODULE``, ``PLUGINS=``),
as a workload; the README has an example.

Roles: an ``input`` is the data the op is fed, which in a model is an earlier op's output. A
floating-point input requires grad under grad and detach (and is detached inside the pass under
detach); an integer input (indices) never does. A ``parameter`` is trainable in every mode, and a
``buffer`` is module state that is not trained (batch_norm's running statistics). An op case's
saved bytes count every saved storage but its parameters' and buffers': an input the op saves
is memory its backward keeps alive (a workload's input is not counted, since its caller holds it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench_lib.contract.schema import NAME

Shape = tuple[int, ...]
ROLES = ("input", "parameter", "buffer")
# Rows of the 2-D ops (softmax, layer_norm, linear, ...) are this wide: size = rows x ROW_WIDTH.
ROW_WIDTH = 64


@dataclass(frozen=True)
class Operand:
    shape: Shape
    role: str = "input"
    # Integer operands (indices) are drawn from range(high); None: a float operand from randn.
    high: int | None = None
    # A float operand's fill instead of randn (batch_norm's running variance: ones).
    fill: float | None = None


@dataclass(frozen=True)
class Op:
    name: str
    group: str  # a name the selection accepts for all its ops (elementwise, reduction, ...)
    description: str
    operands: Callable[[int], Sequence[Operand]]  # size -> operands; the first one has about `size` elements
    call: Callable[..., torch.Tensor]  # the operands, in order -> the output
    # Rough peak bytes of a pass as a multiple of the first operand's (at the case's dtype), to skip a
    # size that cannot fit (see Workload.memory_factor).
    memory_factor: float = 8.0

    def has_trainable_parameters(self, size: int) -> bool:
        return any(operand.role == "parameter" for operand in self.operands(size))


OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    for kind, value in (("op name", op.name), ("op group", op.group)):
        if not NAME.fullmatch(value):
            raise ValueError(f"{kind} {value!r} must be a letter or digit, then letters, digits and _ . : + = - "
                             "(at most 80)")
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} is already registered")
    # The first operand is the case's input: its size, its bytes, what the mode tracks.
    roles = [operand.role for operand in op.operands(ROW_WIDTH)]
    if not roles or roles[0] != "input" or not set(roles) <= set(ROLES):
        raise ValueError(f"op {op.name!r}: its first operand must be an input, and every role one of "
                         f"{', '.join(ROLES)}; got {roles}")
    if op.name in ("all", "none") or op.group in ("all", "none") or op.group in OPS or op.name in groups():
        raise ValueError(f"op {op.name!r} of group {op.group!r}: an op and a group cannot share a name, nor be "
                         "all or none")
    OPS[op.name] = op
    return op


def groups() -> dict[str, str]:
    """Each op's group, in catalogue order (what the selection needs)."""
    return {name: op.group for name, op in OPS.items()}


class OpModule(nn.Module):
    """The op as a module: its parameters and buffers held (so .to() moves and casts them), its
    inputs given to ``forward`` in the order of the inputs among the operands."""

    def __init__(self, op: Op, roles: Sequence[str], parameters: Sequence[torch.Tensor],
                 buffers: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.call = op.call
        self.roles = tuple(roles)
        self.weights = nn.ParameterList([nn.Parameter(tensor) for tensor in parameters])
        for index, tensor in enumerate(buffers):
            self.register_buffer(f"buffer{index}", tensor)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        sources: dict[str, Iterator[torch.Tensor]] = {
            "input": iter(inputs), "parameter": iter(self.weights), "buffer": iter(self.buffers())}
        return self.call(*(next(sources[role]) for role in self.roles))


def make(op: Op, size: int) -> tuple[OpModule, list[torch.Tensor]]:
    """The op's module and its inputs for ``size``, on the CPU in float32 (the caller seeds torch
    and moves them)."""
    operands = op.operands(size)
    tensors = [_tensor(operand) for operand in operands]
    module = OpModule(op, [operand.role for operand in operands],
                      [t for t, o in zip(tensors, operands, strict=True) if o.role == "parameter"],
                      [t for t, o in zip(tensors, operands, strict=True) if o.role == "buffer"])
    return module, [t for t, o in zip(tensors, operands, strict=True) if o.role == "input"]


def _tensor(operand: Operand) -> torch.Tensor:
    if operand.high is not None:
        return torch.randint(0, operand.high, operand.shape)
    if operand.fill is not None:
        return torch.full(operand.shape, operand.fill)
    return torch.randn(operand.shape)


# --- shapes -----------------------------------------------------------------------------------


def flat(size: int) -> Shape:
    return (size,)


def rows(size: int) -> Shape:
    """``size`` as rows of ROW_WIDTH (fewer columns below it)."""
    width = min(ROW_WIDTH, size)
    return (size // width, width)


# Convolution: CONV_CHANNELS channels of side x side pixels, a 3x3 kernel.
CONV_CHANNELS = 8
# Embedding: a table of EMBEDDING_ROWS vectors of EMBEDDING_DIM; size = the number of indices.
EMBEDDING_ROWS = 1024
EMBEDDING_DIM = 16
# Attention: the attention workload's shape (batch x seq x dim).
ATTENTION_DIM = 32
ATTENTION_MAX_SEQ = 128


def batch_shape(size: int) -> Shape:
    """Rows of up to ROW_WIDTH features, at least two rows: training batch_norm needs more than one
    value per feature."""
    width = max(1, min(ROW_WIDTH, size // 2))
    return (max(2, size // width), width)


def conv_shape(size: int) -> Shape:
    side = max(1, math.isqrt(size // CONV_CHANNELS))
    return (1, CONV_CHANNELS, side, side)


def attention_shape(size: int) -> Shape:
    dim = min(ATTENTION_DIM, size)
    seq = min(ATTENTION_MAX_SEQ, size // dim)
    return (size // (seq * dim), seq, dim)


def _one(shape: Callable[[int], Shape]) -> Callable[[int], list[Operand]]:
    return lambda size: [Operand(shape(size))]


def _two(shape: Callable[[int], Shape]) -> Callable[[int], list[Operand]]:
    return lambda size: [Operand(shape(size)), Operand(shape(size))]


def _unary(name: str, group: str, description: str, call: Callable[[torch.Tensor], torch.Tensor],
           shape: Callable[[int], Shape] = flat) -> None:
    register(Op(name, group, description, _one(shape), call))


# --- the catalogue ------------------------------------------------------------------------------

register(Op("add", "elementwise", "x + y, both tracked", _two(flat), torch.add))
register(Op("mul", "elementwise", "x * y, both tracked", _two(flat), torch.mul))
_unary("exp", "elementwise", "exp(x)", torch.exp)
_unary("relu", "elementwise", "relu(x)", torch.relu)
_unary("gelu", "elementwise", "gelu(x), exact (erf)", F.gelu)
_unary("silu", "elementwise", "silu(x) = x * sigmoid(x)", F.silu)
_unary("sigmoid", "elementwise", "sigmoid(x)", torch.sigmoid)
_unary("tanh", "elementwise", "tanh(x)", torch.tanh)
_unary("pow", "elementwise", "x ** 3", lambda x: torch.pow(x, 3))

_unary("sum", "reduction", "x.sum() (then .mean() of the scalar, as every op)", torch.sum)
_unary("mean", "reduction", "x.mean()", torch.mean)
_unary("softmax", "reduction", f"softmax over rows of {ROW_WIDTH}", lambda x: torch.softmax(x, -1), rows)
_unary("log_softmax", "reduction", f"log_softmax over rows of {ROW_WIDTH}", lambda x: torch.log_softmax(x, -1),
       rows)

register(Op("layer_norm", "norm", f"layer_norm over rows of {ROW_WIDTH}, with weight and bias",
            lambda size: [Operand(rows(size)), Operand(rows(size)[1:], "parameter"),
                          Operand(rows(size)[1:], "parameter")],
            lambda x, weight, bias: F.layer_norm(x, x.shape[-1:], weight, bias)))
register(Op("batch_norm", "norm", f"batch_norm in training over {ROW_WIDTH} features, with weight, bias and "
            "running statistics",
            lambda size: [Operand(batch_shape(size)), *(Operand(batch_shape(size)[1:], "parameter") for _ in "wb"),
                          Operand(batch_shape(size)[1:], "buffer", fill=0.0),
                          Operand(batch_shape(size)[1:], "buffer", fill=1.0)],
            lambda x, weight, bias, mean, var: F.batch_norm(x, mean, var, weight, bias, training=True)))

register(Op("matmul", "linalg", f"x @ y: rows of {ROW_WIDTH} times a tracked {ROW_WIDTH} x {ROW_WIDTH} matrix",
            lambda size: [Operand(rows(size)), Operand((rows(size)[1],) * 2)], torch.matmul))
register(Op("linear", "linalg", f"Linear({ROW_WIDTH}, {ROW_WIDTH}) on rows of {ROW_WIDTH}",
            lambda size: [Operand(rows(size)), Operand((rows(size)[1],) * 2, "parameter"),
                          Operand(rows(size)[1:], "parameter")], F.linear))
register(Op("conv2d", "linalg", f"3x3 convolution, {CONV_CHANNELS} to {CONV_CHANNELS} channels, padding 1",
            lambda size: [Operand(conv_shape(size)),
                          Operand((CONV_CHANNELS, CONV_CHANNELS, 3, 3), "parameter")],
            lambda x, weight: F.conv2d(x, weight, padding=1)))

register(Op("embedding", "indexing", f"embedding: size indices into {EMBEDDING_ROWS} x {EMBEDDING_DIM}",
            lambda size: [Operand((size,), high=EMBEDDING_ROWS),
                          Operand((EMBEDDING_ROWS, EMBEDDING_DIM), "parameter")],
            F.embedding, memory_factor=8.0 * EMBEDDING_DIM))
register(Op("index_select", "indexing", "every other row of x (rows of 64), by an index tensor",
            lambda size: [Operand(rows(size)), Operand((max(1, rows(size)[0] // 2),), high=rows(size)[0])],
            lambda x, index: torch.index_select(x, 0, index)))
register(Op("gather", "indexing", "half of each row of x (rows of 64), by an index tensor",
            lambda size: [Operand(rows(size)), Operand((rows(size)[0], max(1, rows(size)[1] // 2)),
                                                       high=rows(size)[1])],
            lambda x, index: torch.gather(x, 1, index)))
register(Op("cat", "indexing", "torch.cat([x, y]), both tracked", _two(flat), lambda x, y: torch.cat([x, y])))

_unary("view", "views", f"x.view(-1) of rows of {ROW_WIDTH}", lambda x: x.view(-1), rows)
_unary("transpose", "views", f"x.transpose(0, 1) of rows of {ROW_WIDTH}", lambda x: x.transpose(0, 1), rows)

_unary("dropout", "random", "dropout(x, p=0.5) in training", lambda x: F.dropout(x, 0.5, training=True))

register(Op("sdpa", "attention", f"scaled_dot_product_attention(q, k, v), all tracked, dim {ATTENTION_DIM}, "
            f"sequence up to {ATTENTION_MAX_SEQ}",
            lambda size: [Operand(attention_shape(size)) for _ in range(3)], F.scaled_dot_product_attention,
            memory_factor=16.0 + 4.0 * ATTENTION_MAX_SEQ / ATTENTION_DIM))

# In place against out of place: relu of a fresh product (relu_ cannot modify a leaf that requires grad).
_unary("scale_relu", "inplace", "relu(x * 2)", lambda x: torch.relu(x * 2.0))
_unary("scale_relu_", "inplace", "(x * 2).relu_(): the product's storage reused", lambda x: torch.relu_(x * 2.0))
