"""The registry, and the README's worked example of adding a workload, run as written."""

import re
from pathlib import Path

import pytest

from bench_lib.contract.cases import CaseSpec
from bench_lib.measure.memory import SavedTensorCounter
from bench_lib.measure.runner import prepare, static_skip_reason
from bench_lib.measure.workloads import WORKLOADS, Workload, register

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def readme_workload():
    section = README.read_text().split("## Adding a workload", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, str(README), "exec"), {})
    yield WORKLOADS["conv"]
    del WORKLOADS["conv"]


def test_readme_example_registers_and_runs_with_exact_saved_bytes(readme_workload):
    for size in (2**10, 2**14, 5000):
        case = prepare(CaseSpec("conv", "grad", "step", size, "cpu", "float32"), seed=0)
        with SavedTensorCounter(case.tensors_before_pass()) as counter:
            case.run_once()
        shape = readme_workload.input_shape(size)
        assert counter.saved_bytes == readme_workload.saved_bytes(shape, 4)
    # It has parameters, so detach keeps a backward pass.
    assert static_skip_reason(CaseSpec("conv", "detach", "backward", 1024, "cpu", "float32")) is None


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="workload 'mlp' is already registered"):
        register(Workload("mlp", "again", input_shape=lambda n: (n,), make_model=lambda shape: None))


@pytest.mark.parametrize("name", ["my model", "resnet/18", "_x", "<b>", "mlp\n", ""])
def test_a_workload_name_that_could_carry_markup_is_refused_at_registration(name):
    from bench_lib.measure.workloads import Workload, register

    with pytest.raises(ValueError, match="must be a letter or digit"):
        register(Workload(name=name, description="", input_shape=lambda size: (size,), make_model=lambda s: None))
