"""Two workloads beside elementwise for the instruction-count tests (tests/test_counts.py), counted
in the same callgrind process:

* ``elementwise_twin``: elementwise's own model under another name, so that two counts of identical
  code in one run can be compared (determinism);
* ``elementwise_slow``: elementwise with one wasted element-wise op under torch.no_grad(), as
  tests/plugins/slower_elementwise.py makes it, under its own name (the count gate must see it).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from bench_lib.measure.workloads import WORKLOADS, register


class SlowerElementwise(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            torch.mul(x, 2.0)  # a fourth elementwise op, its result dropped
        return torch.relu(x * 2.0 + 1.0)


if "elementwise_twin" not in WORKLOADS:
    register(dataclasses.replace(WORKLOADS["elementwise"], name="elementwise_twin"))
    register(dataclasses.replace(WORKLOADS["elementwise"], name="elementwise_slow",
                                 make_model=lambda shape: SlowerElementwise()))
