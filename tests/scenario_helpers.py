"""What the scenario tests share: a registered variant's spec, and its case measured as the suite
measures it (a first run, then the memory probes)."""

from __future__ import annotations

import torch

from bench_lib.contract.cases import ScenarioSelection
from bench_lib.contract.scenario import ScenarioSpec
from bench_lib.measure import devices, runner
from bench_lib.scenarios import SCENARIOS

WIDTH = 128  # mlp and deep_mlp: size = batch x 128
F32 = 4


def spec(scenario: str, variant: str, size: int, *, mode: str = "grad", pass_: str | None = None,
         device: str = "cpu", dtype: str = "float32") -> ScenarioSpec:
    """The spec the scenario itself makes for ``variant`` (in ``mode``, and ``pass_`` when it has several)."""
    number = variant.split("=")[1] if "=" in variant and variant.split("=")[1].isdigit() else "1"
    selection = ScenarioSelection((scenario,), tuple(sorted({1, int(number)})), {scenario: (size,)})
    matches = [s for s in SCENARIOS[scenario].specs(size, device, dtype, selection)
               if s.variant == variant and s.mode == mode and pass_ in (None, s.pass_)]
    assert matches, f"{scenario} has no variant {variant} in {mode} {pass_}"
    return matches[0]


def measured(s: ScenarioSpec) -> tuple[runner.ScenarioCase, dict[str, object]]:
    case = runner.build(s, seed=0)
    case.run_once()  # as the suite does: lazy initialisation out of the figures
    return case, runner.measure_memory(case, lambda: devices.tensor_probe(torch.device(s.device)))  # type: ignore


def info(case: runner.PassCase, memory: dict[str, object]) -> dict[str, object]:
    """The case's extra_info, scenario keys included, as the suite saves it before its rounds."""
    return runner.case_info(case, memory, rounds=1)
