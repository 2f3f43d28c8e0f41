import pytest
import torch

from bench_lib.contract.cases import CaseSpec
from bench_lib.measure.modes import get_mode
from bench_lib.measure.runner import prepare, static_skip_reason


def forward(mode, workload="mlp", size=1024):
    case = prepare(CaseSpec(workload, mode, "forward", size, "cpu", "float32"), seed=0)
    case.setup()
    case.target()
    return case


def test_grad_tracks_input_and_builds_graph():
    case = forward("grad")
    assert case.x.requires_grad and case.x.is_leaf
    assert case.loss.requires_grad and case.loss.grad_fn is not None


def test_no_grad_builds_nothing_but_tensors_are_ordinary():
    case = forward("no_grad")
    assert not case.x.requires_grad
    assert case.loss.grad_fn is None and not case.loss.is_inference()
    assert all(p.requires_grad for p in case.model.parameters())  # same model in every mode


def test_inference_mode_outputs_are_inference_tensors_that_cannot_enter_autograd():
    case = forward("inference_mode")
    assert case.loss.is_inference() and case.loss.grad_fn is None
    weight = torch.ones((), requires_grad=True)
    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
        (case.loss * weight).backward()


def test_detach_cuts_the_input_but_parameters_stay_tracked():
    mode = get_mode("detach")
    x = torch.ones(3, requires_grad=True)
    assert not mode.model_input(x).requires_grad
    assert mode.model_input(x).untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    case = forward("detach")
    assert case.loss.grad_fn is not None  # the Linear weights are still tracked
    case.loss.backward()
    assert case.x.grad is None and all(p.grad is not None for p in case.model.parameters())


def test_detach_without_parameters_builds_no_graph():
    assert forward("detach", workload="elementwise").loss.grad_fn is None


@pytest.mark.parametrize("name", ["grad", "no_grad", "inference_mode", "detach"])
def test_grad_mode_is_restored_after_an_exception_inside_a_pass(name):
    case = prepare(CaseSpec("elementwise", name, "forward", 16, "cpu", "float32"), seed=0)

    def explode(x):
        raise ValueError("boom")

    case.model.forward = explode
    with pytest.raises(ValueError):
        case.target()
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


@pytest.mark.parametrize(
    "workload,mode,pass_,expected",
    [
        ("mlp", "grad", "backward", None),
        ("mlp", "detach", "step", None),
        ("elementwise", "grad", "forward", None),
        ("mlp", "no_grad", "backward", "no_grad builds no autograd graph"),
        ("mlp", "inference_mode", "step", "inference_mode builds no autograd graph"),
        ("elementwise", "detach", "backward", "detach cuts the only tracked tensor"),
        ("elementwise", "no_grad", "forward", None),
    ],
)
def test_passes_a_mode_cannot_have_are_skipped_with_a_reason(workload, mode, pass_, expected):
    reason = static_skip_reason(CaseSpec(workload, mode, pass_, 1024, "cpu", "float32"))
    assert reason is None if expected is None else expected in reason
