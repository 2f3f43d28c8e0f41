"""The op catalogue's physics: each op's saved bytes and saved tensor count under grad, at two sizes,
against a table written from what its backward needs (float32: 4 bytes per element).

A mismatch is a bug, in the table or in the measurement. The counts leave out parameters and
buffers (they live anyway); an op's inputs count when saved (bench_lib.measure.ops).
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bench_lib.contract.cases import CaseSpec, SelectionError, op_workload, parse_selection
from bench_lib.measure import ops
from bench_lib.measure.devices import tensor_probe
from bench_lib.measure.runner import measure_memory, prepare, static_skip_reason

F32 = 4
INDEX = 8  # int64
SIZES = (2**10, 2**14)


def _rows(n: int) -> tuple[int, int]:
    return ops.rows(n)


def _conv_elements(n: int) -> int:
    return math.prod(ops.conv_shape(n))


def _sdpa(n: int) -> tuple[int, int]:
    batch, seq, dim = ops.attention_shape(n)
    # The CPU's math path (no fused kernel when the inputs require grad): q and k are each scaled by
    # sqrt(scale) (new tensors, saved by q @ k^T), the softmax output (batch x seq x seq, saved by
    # softmax and by weights @ v: one storage), and v itself.
    return (3 * batch * seq * dim + batch * seq * seq) * F32, 4


# op -> size -> (saved bytes, saved tensors). Why, where the obvious answer is not the figure.
EXPECTED: dict[str, Callable[[int], tuple[int, int]]] = {
    "add": lambda n: (0, 0),                    # d(x + y) = 1: nothing
    "mul": lambda n: (2 * n * F32, 2),          # each operand's gradient is the other operand
    "exp": lambda n: (n * F32, 1),              # its output (exp' = exp)
    "relu": lambda n: (n * F32, 1),             # its output (the sign is all it needs)
    "gelu": lambda n: (n * F32, 1),             # its input (erf of it, recomputed)
    "silu": lambda n: (n * F32, 1),             # its input (sigmoid recomputed)
    "sigmoid": lambda n: (n * F32, 1),          # its output: s(1 - s)
    "tanh": lambda n: (n * F32, 1),             # its output: 1 - t^2
    "pow": lambda n: (n * F32, 1),              # its input: 3 x^2
    "sum": lambda n: (0, 0),                    # sizes only
    "mean": lambda n: (0, 0),
    "softmax": lambda n: (n * F32, 1),          # its output
    "log_softmax": lambda n: (n * F32, 1),      # its output (softmax = exp of it)
    # Input, mean and rstd (one per row); the weight is a parameter.
    "layer_norm": lambda n: ((n + 2 * _rows(n)[0]) * F32, 3),
    # Input, the batch's mean and inverse std (one per feature); weight and running statistics
    # (also saved) live in the module anyway.
    "batch_norm": lambda n: ((n + 2 * ops.batch_shape(n)[1]) * F32, 3),
    "matmul": lambda n: ((n + _rows(n)[1] ** 2) * F32, 2),  # both operands
    "linear": lambda n: (n * F32, 1),           # its input; the weight is a parameter
    "conv2d": lambda n: (_conv_elements(n) * F32, 1),  # its input (size rounded to 8 x side^2); weight a parameter
    "embedding": lambda n: (n * INDEX, 1),      # the indices; the table is a parameter
    "index_select": lambda n: (max(1, _rows(n)[0] // 2) * INDEX, 1),  # the index
    # Why: gather's derivative formula takes self (for its sizes) as well as the index, so autograd
    # keeps the whole input alive although its values are never read.
    "gather": lambda n: (n * F32 + _rows(n)[0] * (_rows(n)[1] // 2) * INDEX, 2),
    "cat": lambda n: (0, 0),                    # sizes only: the gradient is split
    "view": lambda n: (0, 0),                   # a view shares storage and needs no values
    "transpose": lambda n: (0, 0),
    # Why 4 bytes, not a 1-byte mask: on the CPU F.dropout is input * (bernoulli mask / (1 - p)), a
    # float mask of the input's dtype saved by the multiply (CUDA's fused kernel saves a bool mask).
    "dropout": lambda n: (n * F32, 1),
    "sdpa": _sdpa,
    "scale_relu": lambda n: (n * F32, 1),       # relu's output; x * 2 saves nothing (scalar)
    # Why the same bytes as out of place: relu_ saves its output, which is the product's storage.
    "scale_relu_": lambda n: (n * F32, 1),
}


def _memory(op: str, size: int, mode: str = "grad") -> dict[str, object]:
    case = prepare(CaseSpec(op_workload(op), mode, "forward", size, "cpu", "float32"), seed=0)
    case.run_once()
    return measure_memory(case, lambda: tensor_probe(case.device, compiled=False, graph_pool_start=None))


def test_the_catalogue_has_every_op_the_table_has():
    assert list(ops.OPS)[:len(EXPECTED)] == list(EXPECTED)
    assert len(EXPECTED) >= 24


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("op", list(EXPECTED))
def test_saved_bytes_and_tensors_under_grad_equal_the_analytic_table(op, size):
    memory = _memory(op, size)
    assert (memory["saved_bytes"], memory["saved_tensor_count"]) == EXPECTED[op](size)


@pytest.mark.parametrize("op", ["mul", "layer_norm", "sdpa"])
@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_nothing_is_saved_outside_grad(op, mode):
    memory = _memory(op, SIZES[0], mode)
    assert (memory["saved_bytes"], memory["saved_tensor_count"], memory["graph_nodes"]) == (0, 0, 0)


def test_in_place_relu_saves_the_same_and_peaks_lower_than_out_of_place():
    out_of_place, in_place = _memory("scale_relu", 2**14), _memory("scale_relu_", 2**14)
    assert in_place["saved_bytes"] == out_of_place["saved_bytes"]
    assert in_place["peak_new_tensor_bytes"] < out_of_place["peak_new_tensor_bytes"]


def test_backward_under_detach_exists_only_for_ops_with_parameters():
    def reason(op: str) -> str | None:
        return static_skip_reason(CaseSpec(op_workload(op), "detach", "backward", 2**10, "cpu", "float32"))

    assert reason("linear") is None
    assert "no parameters" in str(reason("relu"))


@pytest.mark.parametrize(("operands", "problem"), [
    (lambda size: [ops.Operand((8, 8), "parameter"), ops.Operand((size,))], "first operand must be an input"),
    (lambda size: [ops.Operand((size,)), ops.Operand((size,), "weight")], "every role one of input"),
])
def test_an_op_whose_operands_do_not_fit_the_case_is_refused_at_registration(operands, problem):
    with pytest.raises(ValueError, match=problem):
        ops.register(ops.Op("odd", "mine", "", operands, lambda *tensors: tensors[0]))
    assert "odd" not in ops.OPS


def test_selection_by_name_group_all_and_none():
    known = ops.groups()

    def chosen(text: str | None, preset: str = "default") -> tuple[str, ...]:
        return parse_selection(preset=preset, ops=text, known_workloads=("mlp",), known_ops=known).ops

    assert chosen(None) == ()
    assert chosen(None, "ops") == tuple(known)
    assert chosen("all") == tuple(known) and chosen("none") == ()
    assert chosen("views,relu") == ("relu", "view", "transpose")
    with pytest.raises(SelectionError, match="unknown op 'relux'; allowed: add, mul"):
        chosen("relux")
    with pytest.raises(SelectionError, match="mixes all/none"):
        chosen("all,relu")
    # The ops preset runs no workload unless named; WORKLOADS=none leaves the ops alone in any preset.
    assert parse_selection(preset="ops", known_workloads=("mlp",), known_ops=known).workloads == ()
    assert parse_selection(workloads="none", ops="relu", known_workloads=("mlp",), known_ops=known).workloads == ()
    with pytest.raises(SelectionError, match="workload selection 'none,mlp' mixes none with names"):
        parse_selection(workloads="none,mlp", known_workloads=("mlp",), known_ops=known)
    # An op case has no step pass (it would be forward and backward with no optimizer).
    selection = parse_selection(preset="ops", passes="forward,step", sizes="2^10", devices="cpu",
                                known_workloads=("mlp",), known_ops={"relu": "elementwise"})
    assert {(c.workload, c.pass_) for c in selection.cases()} == {("op.relu", "forward")}


def test_an_op_from_a_plugin_module_outside_the_project_runs_in_the_catalogue(tmp_path: Path):
    # README's example, as written: softplus saves its input, 4 bytes per element at float32.
    root = Path(__file__).resolve().parents[1]
    section = (root / "README.md").read_text().split("### Adding an op", 1)[1]
    (tmp_path / "my_ops.py").write_text(re.search(r"```python\n(.*?)```", section, re.S).group(1))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(root / "benchmarks"), "-p", "my_ops", "-p", "no:cacheprovider", "-q",
         "--gb-preset=ops", "--gb-ops=mine", "--gb-sizes=2^10", "--gb-devices=cpu", "--gb-modes=grad",
         "--gb-passes=forward", f"--benchmark-json={tmp_path / 'run.json'}", "--benchmark-min-rounds=1",
         f"--rootdir={root}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": f"{tmp_path}:{root}", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    import json

    cases = json.loads((tmp_path / "run.json").read_text())["benchmarks"]
    assert [(c["extra_info"]["workload"], c["extra_info"]["saved_bytes"]) for c in cases] == [("op.softplus", 4096)]
