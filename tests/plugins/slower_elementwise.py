"""A pytest plugin that makes the elementwise workload do about 1.3x its work, under the same name.

For checking the regression gate with a real slowdown rather than scaled numbers:

    python -m bench_lib bench --preset=ci -- -p tests.plugins.slower_elementwise

The extra op runs under no_grad and its result is dropped, so the graph and the saved bytes are
the elementwise workload's own: only the time (and the forward's transient peak) changes.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from bench_lib.measure.workloads import WORKLOADS


class SlowerElementwise(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            torch.mul(x, 2.0)  # a fourth elementwise op beside the three below: ~1.3x the work
        return torch.relu(x * 2.0 + 1.0)


WORKLOADS["elementwise"] = dataclasses.replace(WORKLOADS["elementwise"], make_model=lambda shape: SlowerElementwise())
