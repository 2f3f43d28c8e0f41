"""What a scenario is: one training practice, measured in variants, with its claim and its views.

A scenario is one module of bench_lib/scenarios/ that defines ``SCENARIO = Scenario(...)``; the
package finds it (bench_lib/scenarios/__init__.py). Everything about it lives there: its variants and
sizes, how a variant's pass is built, the claim checked from the numbers, the table's columns and
the plot's panels. This module is torch-free (the run-file contract): the report reads scenarios
without torch, and only ``Scenario.build`` loads it, when a case runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from bench_lib.contract.cases import CaseSpec
from bench_lib.contract.result import CaseResult
from bench_lib.contract.units import format_seconds

Record = Mapping[str, Any]
Shape = tuple[int, ...]
Verdict = tuple[str, str]  # (one of claims.VERDICTS, the figures in one sentence)
# The (mode, pass) a scenario's variants run in unless it says otherwise: a training step under grad.
GRAD_STEP: tuple[tuple[str, str], ...] = (("grad", "step"),)

# Rough peak bytes of a deep_mlp step as a multiple of its input's (Scenario.memory_factor, the
# default of a scenario on deep_mlp): two per layer of its 16 (bench_lib.measure.workloads.DEEP_MLP_LAYERS),
# plus 8.
DEEP_MLP_MEMORY_FACTOR = 40.0

_NUMBERED = re.compile(r"^[a-z_]+=(\d+)$")


def variant_number(variant: str) -> int | None:
    """N of a numbered variant such as "k=4" or "depth=16" (the x of a line plot), else None."""
    match = _NUMBERED.match(variant)
    return int(match.group(1)) if match else None


@dataclass(frozen=True, order=True)
class ScenarioSpec(CaseSpec):
    """One variant of one scenario: the case it runs (CaseSpec's fields, the run file's SPEC_KEYS),
    named by its scenario and variant (the run file's labels). It is a CaseSpec, so the mode matrix
    and the scenarios share one spec protocol: case_id, group, as_dict and labels."""

    scenario: str = field(kw_only=True)
    variant: str = field(kw_only=True)
    microbatches: int | None = field(default=None, kw_only=True)  # accumulation's k; None elsewhere

    @property
    def case_id(self) -> str:
        # The scenario and variant before the id the same case would have in the mode matrix.
        return "-".join((self.scenario, self.variant, super().case_id))

    @property
    def group(self) -> str:
        # pytest-benchmark compares the members of a group: here, a scenario's variants.
        return f"scenario {self.scenario} {self.measured_workload} n={self.size} {self.device} {self.dtype}"

    def labels(self) -> dict[str, object]:
        return {"scenario": self.scenario, "variant": self.variant}


Specs = Callable[[int, str, str, Any], list[ScenarioSpec]]  # (size, device, dtype, ScenarioSelection)


class Kit(Protocol):
    """What a scenario's ``build`` gets from the measurement layer (bench_lib.measure.runner.KIT), so that
    a scenario module imports no measurement code: only torch, inside ``build``."""

    def case(self, spec: ScenarioSpec, seed: int, make_model: Callable[[Shape], Any], step: Callable[[Any], None], *,
             before: Callable[[Any], None] | None = None, count_setup: bool = False) -> Any:
        """The variant's case (runner.ScenarioCase): its model and input, around its timed ``step``
        and its untimed ``before``; both get the case and set its ``loss``."""

    def model(self, workload: str, shape: Shape) -> Any:
        """A registered workload's model for ``shape`` ("deep_mlp": bench_lib.measure.workloads.make_deep_mlp)."""

    def mode(self, name: str) -> Any:
        """One of the four modes (bench_lib.measure.modes.Mode): its context and input handling."""

    def compile(self, function: Callable[..., Any], mode: str) -> Callable[..., Any]:
        """``function`` under torch.compile in ``mode`` (a spec's compile), as the mode matrix's
        models are: static shapes, and a failure rather than a silent eager run past the limit."""


@dataclass(frozen=True)
class Group:
    """One group of a scenario's cases in a run (workload, size, device, dtype): what a claim is
    checked on. ``cases`` are the measured cases (benchmark dicts as saved are read into
    CaseResults); ``rejected`` the run's invalid entries."""

    cases: Sequence[CaseResult]
    rejected: Sequence[Record] = ()

    def __post_init__(self) -> None:
        typed = tuple(case if isinstance(case, CaseResult) else CaseResult.of(case) for case in self.cases)
        object.__setattr__(self, "cases", typed)

    def find(self, variant: str, mode: str | None = None, pass_: str | None = None) -> CaseResult | None:
        """The measured case of ``variant`` (in ``mode`` and ``pass_`` when given), or None."""
        for case in self.cases:
            if case.variant == variant and mode in (None, case.mode) and pass_ in (None, case.pass_):
                return case
        return None

    def rejection(self, variant: str, mode: str | None = None) -> str | None:
        """Autograd's message for ``variant`` (in ``mode``), when it rejected it."""
        for entry in self.rejected:
            if entry["variant"] == variant and mode in (None, entry["mode"]):
                return str(entry["error"])
        return None

    def variants(self) -> list[str]:
        return list(dict.fromkeys(str(case.variant) for case in self.cases))

    def needs(self, what: str, order: Sequence[str] | None = None) -> str:
        """The sentence of a claim this group cannot check: what it needs, and the variants it has
        (in ``order`` when given, else as measured), e.g. "needs a and b; measured a"."""
        have = self.variants() if order is None else [v for v in order if v in self.variants()]
        return f"needs {what}; measured {', '.join(have) or 'none'}"

    def __iter__(self) -> Iterator[CaseResult]:
        return iter(self.cases)


def time_against(case: CaseResult, other: CaseResult) -> str:
    """``case``'s time against ``other``'s, the times a claim compares (compared_median), and their
    ratio: "1.20 ms against 1.00 ms (1.20x)"."""
    return (f"{format_seconds(case.compared_median)} against {format_seconds(other.compared_median)} "
            f"({case.compared_median / other.compared_median:.2f}x)")


@dataclass(frozen=True)
class Column:
    """A column of the scenario's table; ``value`` gets the row's record and its reference's."""

    name: str
    kind: str  # "time" (median [IQR]), "bytes", "count", "ratio" (×), "fraction" or "text"
    value: Callable[[Record, Record | None], Any]


def get(key: str) -> Callable[[Record, Record | None], Any]:
    """A column of the record's own ``key``."""
    return lambda record, _reference: record[key]


def ratio(key: str) -> Callable[[Record, Record | None], float | None]:
    """A column of the record's ``key`` over the reference variant's (None without one)."""
    def value(record: Record, reference: Record | None) -> float | None:
        if reference is None or not reference[key]:
            return None
        return float(record[key]) / float(reference[key])
    return value


def time_columns(what: str, reference: str) -> tuple[Column, Column]:
    """A scenario's time per case, ``what`` (the median its claim compares, with the IQR), and
    that time over the reference variant's, headed "time ÷ ``reference``"."""
    return (Column(f"{what} [IQR]", "time", get("cmp_median")),
            Column(f"time ÷ {reference}", "ratio", ratio("cmp_median")))


def time_panel(what: str) -> Panel:
    """The figure's panel of the same time, ``what``."""
    return Panel(f"{what} (median, IQR bars)", "time", "cmp_median", "median time")


@dataclass(frozen=True)
class Panel:
    """A panel of the scenario's figure: one metric of every measured case."""

    title: str
    kind: str  # "time" (median with IQR bars), "bytes" or "count"
    key: str   # the record's column
    ylabel: str  # the unit is appended for times and bytes
    # A dashed horizontal line at the first record's value of this key, with its label (one group only).
    line: tuple[str, str] | None = None


@dataclass(frozen=True)
class Plot:
    """How the scenario's figure lays out its panels.

    * "bars": a bar per variant, one slot per group (several sizes: variants side by side);
    * "bars_by_mode": a slot per group and mode (pass), variants side by side, rejected marked;
    * "lines": a line per group (and mode) against the variants' numbers ("k=4" -> 4); variants
      without a number stay in the table only.
    """

    panels: tuple[Panel, ...]
    layout: str = "bars"
    x_label: str = ""  # lines: what the variants' number is
    x_log: bool = True  # lines: a log2 x axis (k = 1, 2, 4, 8); False where linearity is the point


@dataclass(frozen=True)
class Scenario:
    name: str
    order: int        # its place in the report and the terminal (the lecture's order)
    claim: str        # the sentence the numbers hold or refute
    workload: str     # the model its variants share, as the run file names it
    variants: tuple[str, ...]   # fixed variants, in reading order; numbered ones ("k=4") sort by number
    reference: str    # the variant ratios are taken against, in the same group, mode and pass
    sizes: Mapping[str, tuple[int, ...]]  # per preset (preset_sizes): each claim has its own regime
    check: Callable[[Group], Verdict]
    build: Callable[[ScenarioSpec, int, Kit], Any]  # (spec, seed, kit) -> kit.case(...); imports torch
    columns: tuple[Column, ...]
    caption: str      # under the table's title, e.g. "one row per ...; ratios against ..."
    plot: Plot
    rows: str = "variant"  # what a table row is, e.g. "variant" or "variant · mode"
    # The registered workload whose rule maps a size to the input's shape ("mlp": batch x 128).
    shape_like: str = "mlp"
    # Its cases at one size: (size, device, dtype, ScenarioSelection) -> specs. None (the usual):
    # each variant in each (mode, pass) of ``cases``, on ``workload`` (variant_specs); a scenario
    # whose variants come from the selection (accumulation's k) gives its own.
    specs: Specs | None = None
    cases: tuple[tuple[str, str], ...] = GRAD_STEP
    # Rough peak bytes of a case as a multiple of its input's (see Workload.memory_factor). None:
    # DEEP_MLP_MEMORY_FACTOR on deep_mlp, else 8.
    memory_factor: float | None = None
    # Whether its variants also run compiled when COMPILE= names a compile mode (its build honours
    # spec.compile through kit.compile); the others run eager whatever COMPILE says.
    compiles: bool = False
    # Why a variant cannot exist on any machine, from its spec and input shape; None if it can.
    static_skip_reason: Callable[[ScenarioSpec, Shape], str | None] = field(default=lambda spec, shape: None)

    def __post_init__(self) -> None:
        if self.specs is None:
            object.__setattr__(self, "specs", partial(variant_specs, self.name, self.workload, self.variants, self.cases))
        if self.memory_factor is None:
            object.__setattr__(self, "memory_factor", DEEP_MLP_MEMORY_FACTOR if self.workload == "deep_mlp" else 8.0)

    def rank(self, variant: str) -> tuple[int, int, str]:
        """Reading order: the fixed variants as listed, then numbered ones by number, then others."""
        if variant in self.variants:
            return (0, self.variants.index(variant), "")
        number = variant_number(variant)
        return (1, number, "") if number is not None else (2, 0, variant)

    def ordered(self, variants: Iterator[str] | Sequence[str]) -> list[str]:
        return sorted(set(variants), key=self.rank)


def preset_sizes(quick: tuple[int, ...], default: tuple[int, ...], full: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """A scenario's sizes per preset (Scenario.sizes). The ci and ops presets run no scenario unless
    one is named (contract.cases.Preset.scenarios), and then at quick's sizes."""
    return {"quick": quick, "ci": quick, "ops": quick, "default": default, "full": full}


def variant_specs(scenario: str, workload: str, variants: Sequence[str], cases: Sequence[tuple[str, str]],
                  size: int, device: str, dtype: str, selection: Any = None) -> list[ScenarioSpec]:
    """A scenario's cases at one size when they are each variant in each (mode, pass) of ``cases``,
    on ``workload`` (a Scenario's ``specs`` unless it gives its own); the selection plays no part."""
    return [ScenarioSpec(workload, mode, pass_, size, device, dtype, scenario=scenario, variant=variant)
            for variant in variants for mode, pass_ in cases]
