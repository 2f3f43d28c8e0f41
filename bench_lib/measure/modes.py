"""The four gradient-tracking modes: how each one prepares the input and wraps a pass."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from bench_lib.contract.schema import MODES


@dataclass(frozen=True)
class Mode:
    """How one mode runs a workload.

    The model's parameters require grad in every mode (it is the same model); the modes
    differ in the context a pass runs in and in the input handed to the model.
    """

    name: str
    context: Callable[[], AbstractContextManager[object]]
    track_input: bool  # the input tensor is created with requires_grad=True
    detach_input: bool  # the model sees input.detach(), taken inside the timed pass
    builds_graph: bool  # grad mode is on inside the pass, so tracked tensors build a graph

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach() if self.detach_input else x

    def backward_skip_reason(self, has_trainable_parameters: bool) -> str | None:
        """Why no backward pass exists in this mode, or None when one does."""
        if not self.builds_graph:
            return f"{self.name} builds no autograd graph, so there is nothing to run backward on"
        if self.detach_input and not has_trainable_parameters:
            return "detach cuts the only tracked tensor (the input) and the workload has no parameters"
        return None


_MODES = {
    "grad": Mode("grad", torch.enable_grad, track_input=True, detach_input=False, builds_graph=True),
    "no_grad": Mode("no_grad", torch.no_grad, track_input=False, detach_input=False, builds_graph=False),
    "inference_mode": Mode(
        "inference_mode", torch.inference_mode, track_input=False, detach_input=False, builds_graph=False
    ),
    # The input is a tracked tensor cut from the graph; parameters after it are still tracked.
    "detach": Mode("detach", torch.enable_grad, track_input=True, detach_input=True, builds_graph=True),
}
assert tuple(_MODES) == MODES


def get_mode(name: str) -> Mode:
    return _MODES[name]
