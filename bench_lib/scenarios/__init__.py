"""The scenarios: the other autograd practices, each one module of this package.

Each module here defines ``SCENARIO`` (a bench_lib.contract.scenario.Scenario) is a scenario: this registry finds it,
and the run, the claims, the terminal and the report take it from here. Adding a scenario is
adding one file (README.md, "Adding a scenario"). Importing the registry does not import torch.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import replace

from bench_lib.contract.cases import ScenarioSelection
from bench_lib.contract.scenario import Scenario, ScenarioSpec
from bench_lib.contract.schema import NAME


def _discover() -> dict[str, Scenario]:
    found: list[Scenario] = []
    for module in pkgutil.iter_modules(__path__):
        scenario = getattr(importlib.import_module(f"{__name__}.{module.name}"), "SCENARIO", None)
        if not isinstance(scenario, Scenario):
            raise TypeError(f"bench_lib/scenarios/{module.name}.py defines no SCENARIO = Scenario(...)")
        if scenario.name != module.name or not NAME.fullmatch(scenario.name):
            raise ValueError(f"scenario {scenario.name!r} must be named as its file, {module.name!r}, in letters, "
                             "digits and _")
        if scenario.reference not in scenario.variants and scenario.rank(scenario.reference)[0] != 1:
            raise ValueError(f"scenario {scenario.name!r}: reference {scenario.reference!r} is not one of its variants")
        found.append(scenario)
    return {scenario.name: scenario for scenario in sorted(found, key=lambda s: (s.order, s.name))}


# Every scenario, by name, in reading order (Scenario.order).
SCENARIOS: dict[str, Scenario] = _discover()


def scenario_specs(
    selection: ScenarioSelection, devices: tuple[str, ...], dtypes: tuple[str, ...]
) -> list[ScenarioSpec]:
    """Every variant of the selected scenarios, per size, device and dtype, and per compile mode
    for a scenario that can run compiled."""
    return [replace(spec, compile=mode) for name in selection.scenarios for size in selection.sizes[name]
            for device in devices for dtype in dtypes for spec in SCENARIOS[name].specs(size, device, dtype, selection)
            for mode in (selection.compiles if SCENARIOS[name].compiles else ("eager",))]
