"""The case matrix: what a run measures, chosen by preset and command-line options.

Everything here is plain data and validation; nothing runs torch code except the
meta-device check of whether a workload has parameters.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from bench_lib.contract.schema import MAX_SIZE, MODES, PASSES

DEVICES = ("cpu", "cuda")
# How a case's model runs: as written, or compiled by torch.compile with inductor (its default
# backend), or with inductor's CUDA graphs ("reduce-overhead", CUDA only).
COMPILES = ("eager", "inductor", "reduce-overhead")
DTYPES = ("float32", "float16", "bfloat16")


class SelectionError(ValueError):
    """A user's selection is invalid; the message is one line naming the value and the rule."""


@dataclass(frozen=True)
class Preset:
    sizes: tuple[int, ...]
    # Wall-clock seconds of timed rounds per case; the round count follows from it.
    seconds_per_case: float
    min_rounds: int
    max_rounds: int
    # Independent processes per run (python -m bench_lib bench; REPEAT= overrides). Times move
    # between processes far more than between rounds, so comparing runs needs several.
    replicates: int = 1
    # Whether the scenarios run unless SCENARIOS= names them.
    scenarios: bool = True
    # Whether the workloads run unless WORKLOADS= names them, and the op catalogue unless OPS= does.
    workloads: bool = True
    ops: bool = False


PRESETS: dict[str, Preset] = {
    "quick": Preset(sizes=(2**10, 2**14, 2**18), seconds_per_case=0.1, min_rounds=5, max_rounds=200),
    "default": Preset(
        sizes=(2**10, 2**14, 2**17, 2**21, 2**24), seconds_per_case=0.4, min_rounds=5, max_rounds=1000
    ),
    "full": Preset(sizes=tuple(2**k for k in range(10, 25, 2)), seconds_per_case=1.0, min_rounds=10, max_rounds=5000,
                   replicates=3),
    # Regression gating: many short processes beat few long ones, since the noise that matters is
    # between processes. Five replicates are the fewest whose exact permutation test can reach
    # p < 0.01 (2/252 = 0.008). No scenarios by default: compare gates the mode matrix only, and
    # they would add a fifth to the run, which stays near a minute on 2 cores.
    "ci": Preset(sizes=(2**10, 2**14, 2**18), seconds_per_case=0.04, min_rounds=5, max_rounds=100, replicates=5,
                 scenarios=False),
    # The op catalogue alone (bench_lib.measure.ops): every op, three sizes, short timing, one process.
    "ops": Preset(sizes=(2**10, 2**14, 2**18), seconds_per_case=0.03, min_rounds=5, max_rounds=100,
                  scenarios=False, workloads=False, ops=True),
}

# An op of the catalogue runs as a mode-matrix case whose workload is the op's name after this
# prefix ("op.relu"): groups, comparisons and the run file treat it as any case, and the report
# tells op cases apart by the prefix.
OP_PREFIX = "op."
# An op case's passes: its step would be its forward and backward together, with no optimizer.
OP_PASSES = ("forward", "backward")


def op_workload(op: str) -> str:
    return OP_PREFIX + op


def op_name(workload: str) -> str | None:
    """The op of an op case's workload ("op.relu" -> "relu"), or None for a workload."""
    return workload[len(OP_PREFIX):] if workload.startswith(OP_PREFIX) else None

# Micro-batch counts of the accumulation scenario; k = 1 (the full batch) is always measured.
MICROBATCHES = (1, 2, 4, 8)
MAX_MICROBATCHES = 4096


@dataclass(frozen=True, order=True)
class CaseSpec:
    """What one benchmark case measures. Its fields are the run file's SPEC_KEYS, with the workload
    as measured (``measured_workload``): a compiled case is its own workload, "mlp:inductor", so
    that everything keyed on the workload (groups, the physics check, comparisons) keeps eager
    and compiled cases apart."""

    workload: str
    mode: str
    pass_: str
    size: int
    device: str
    dtype: str
    compile: str = "eager"

    @property
    def measured_workload(self) -> str:
        return self.workload if self.compile == "eager" else f"{self.workload}:{self.compile}"

    @property
    def case_id(self) -> str:
        return f"{self.measured_workload}-{self.pass_}-{self.mode}-{self.size}-{self.device}-{self.dtype}"

    @property
    def group(self) -> str:
        # pytest-benchmark compares the members of a group: here, the four modes.
        return f"{self.measured_workload} {self.pass_} n={self.size} {self.device} {self.dtype}"

    def labels(self) -> dict[str, object]:
        """What names the case beyond SPEC_KEYS: nothing for the mode matrix (a scenario's variant
        adds its scenario and variant)."""
        return {}

    def as_dict(self) -> dict[str, object]:
        return {
            "workload": self.measured_workload,
            "mode": self.mode,
            "pass": self.pass_,
            "size": self.size,
            "device": self.device,
            "dtype": self.dtype,
        }


@dataclass(frozen=True)
class Selection:
    preset: str
    workloads: tuple[str, ...]
    modes: tuple[str, ...]
    passes: tuple[str, ...]
    sizes: tuple[int, ...]
    devices: tuple[str, ...]
    dtypes: tuple[str, ...]
    compiles: tuple[str, ...] = ("eager",)
    ops: tuple[str, ...] = ()

    @property
    def settings(self) -> Preset:
        return PRESETS[self.preset]

    def cases(self) -> list[CaseSpec]:
        """The workloads' cases, then the ops' (in OP_PASSES only)."""
        op_passes = tuple(p for p in self.passes if p in OP_PASSES)
        matrix = [(w, self.passes) for w in self.workloads] + [(op_workload(o), op_passes) for o in self.ops]
        return [
            CaseSpec(w, m, p, s, d, t, c)
            for c, (w, passes) in itertools.product(self.compiles, matrix)
            for p, s, d, t, m in itertools.product(passes, self.sizes, self.devices, self.dtypes, self.modes)
        ]

    def as_dict(self) -> dict[str, object]:
        return {
            "preset": self.preset,
            "workloads": list(self.workloads),
            "modes": list(self.modes),
            "passes": list(self.passes),
            "sizes": list(self.sizes),
            "devices": list(self.devices),
            "dtypes": list(self.dtypes),
            "compiles": list(self.compiles),
            "ops": list(self.ops),
        }


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _choose(kind: str, text: str | None, allowed: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    if text is None:
        return default
    items = _split(text)
    if not items:
        raise SelectionError(f"empty {kind} selection {text!r}; allowed: {', '.join(allowed)}")
    for item in items:
        if item not in allowed:
            raise SelectionError(f"unknown {kind} {item!r}; allowed: {', '.join(allowed)}")
    return tuple(dict.fromkeys(items))  # keeps order, drops repeats


_POWER = re.compile(r"^2(?:\^|\*\*)([0-9]{1,3})$", re.ASCII)
_PLAIN = re.compile(r"^[0-9]{1,20}$", re.ASCII)


def parse_size(text: str) -> int:
    """A size is a positive integer up to 2^50, written plainly (1024) or as a power of two (2^10),
    in ASCII digits."""
    match = _POWER.match(text)
    value = 2 ** int(match.group(1)) if match else int(text) if _PLAIN.match(text) else 0
    if not 1 <= value <= MAX_SIZE:
        raise SelectionError(f"size {text!r} is not an integer from 1 to 2^50; write sizes like 1024 or 2^20")
    return value


def parse_count(option: str, text: str, *, low: int, high: int) -> int:
    """An integer option in ASCII digits, from ``low`` to ``high``."""
    value = int(text) if _PLAIN.match(text) else -1
    if not low <= value <= high:
        raise SelectionError(f"{option} {text!r} is not a whole number from {low} to {high}")
    return value


def parse_selection(
    *,
    preset: str = "default",
    workloads: str | None = None,
    modes: str | None = None,
    passes: str | None = None,
    sizes: str | None = None,
    devices: str | None = None,
    dtypes: str | None = None,
    compiles: str | None = None,
    ops: str | None = None,
    known_workloads: tuple[str, ...],
    known_ops: Mapping[str, str] | None = None,
) -> Selection:
    """Build a Selection from option strings (comma-separated lists; None means the default).

    ``workloads`` may also be ``none``; ``ops`` is ``all``, ``none``, op names and group names
    (``known_ops``: each op's group, in catalogue order). Both default to the preset's choice."""
    if preset not in PRESETS:
        raise SelectionError(f"unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")
    if sizes is None:
        size_values = PRESETS[preset].sizes
    else:
        items = _split(sizes)
        if not items:
            raise SelectionError(f"empty size selection {sizes!r}; write sizes like 1024,2^20")
        size_values = tuple(dict.fromkeys(parse_size(item) for item in items))
    settings = PRESETS[preset]
    if workloads is not None and workloads.strip() == "none":
        workload_names: tuple[str, ...] = ()
    else:
        workload_names = _choose("workload", workloads, known_workloads + ("none",),
                                 known_workloads if settings.workloads else ())
        if "none" in workload_names:
            raise SelectionError(f"workload selection {workloads!r} mixes none with names; use one or the other")
    return Selection(
        preset=preset,
        workloads=workload_names,
        modes=_choose("mode", modes, MODES, MODES),
        passes=_choose("pass", passes, PASSES, PASSES),
        sizes=size_values,
        devices=_choose("device", devices, DEVICES, DEVICES),
        dtypes=_choose("dtype", dtypes, DTYPES, ("float32",)),
        compiles=_choose("compile", compiles, COMPILES, ("eager",)),
        ops=parse_ops(ops, known_ops or {}, default_all=settings.ops),
    )


def parse_ops(text: str | None, known: Mapping[str, str], *, default_all: bool) -> tuple[str, ...]:
    """The ops of ``text`` (None: all when ``default_all``, else none), in catalogue order: ``all``,
    ``none``, or op names and group names (``known``: each op's group)."""
    names = tuple(known)
    if text is None:
        return names if default_all else ()
    if text.strip() in ("all", "none"):
        return names if text.strip() == "all" else ()
    groups = tuple(dict.fromkeys(known.values()))
    chosen = _choose("op", text, names + tuple(g for g in groups if g not in known) + ("all", "none"), names)
    if "all" in chosen or "none" in chosen:
        raise SelectionError(f"op selection {text!r} mixes all/none with names; use one or the other")
    wanted = {op for item in chosen for op in names if op == item or (item not in known and known[op] == item)}
    return tuple(op for op in names if op in wanted)


@dataclass(frozen=True)
class ScenarioSelection:
    """Which scenarios run (bench_lib/scenarios/), with how many micro-batches, at which sizes.

    Devices and dtypes are the mode matrix's (``Selection``).
    """

    scenarios: tuple[str, ...]
    microbatches: tuple[int, ...]
    sizes: dict[str, tuple[int, ...]]  # per selected scenario
    # The mode matrix's compile modes: a scenario that can run compiled (Scenario.compiles) runs its
    # variants in each; the others run eager whatever this says.
    compiles: tuple[str, ...] = ("eager",)

    def as_dict(self) -> dict[str, object]:
        return {
            "scenarios": list(self.scenarios),
            "microbatches": list(self.microbatches),
            "sizes": {scenario: list(sizes) for scenario, sizes in self.sizes.items()},
            "compiles": list(self.compiles),
        }


def parse_scenario_selection(
    *, known: Mapping[str, Mapping[str, tuple[int, ...]]], preset: str = "default", scenarios: str | None = None,
    microbatches: str | None = None, sizes: str | None = None, narrowed: bool = False,
    compiles: tuple[str, ...] = ("eager",),
) -> ScenarioSelection:
    """Build a ScenarioSelection from option strings; None means the preset's choice.

    ``known``: each registered scenario's sizes per preset, in reading order.

    ``narrowed``: the mode matrix's workloads or sizes were named. The scenarios have workloads and
    sizes of their own, so they cannot follow such a selection; they are then off unless
    ``scenarios`` names some (they do follow the devices and dtypes).

    ``scenarios`` is a comma-separated list, ``all`` or ``none``. ``microbatches`` lists positive
    integers; 1 is added when missing, as the full-batch baseline the others are compared to.
    """
    if preset not in PRESETS:
        raise SelectionError(f"unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")
    names = tuple(known)
    if scenarios is None and (narrowed or not PRESETS[preset].scenarios):
        chosen: tuple[str, ...] = ()
    elif scenarios is not None and scenarios.strip() in ("none", "all"):
        chosen = () if scenarios.strip() == "none" else names
    else:
        chosen = _choose("scenario", scenarios, names + ("all", "none"), names)
        if "all" in chosen or "none" in chosen:
            raise SelectionError(f"scenario selection {scenarios!r} mixes all/none with names; use one or the other")
    if microbatches is None:
        ks: tuple[int, ...] = MICROBATCHES
    else:
        items = _split(microbatches)
        if not items:
            raise SelectionError(f"empty microbatches selection {microbatches!r}; write counts like 1,2,4,8")
        ks = tuple(sorted({1, *(parse_count("microbatches", item, low=1, high=MAX_MICROBATCHES) for item in items)}))
    if sizes is None:
        per_scenario = {scenario: tuple(known[scenario][preset]) for scenario in chosen}
    else:
        items = _split(sizes)
        if not items:
            raise SelectionError(f"empty scenario size selection {sizes!r}; write sizes like 2^16,2^20")
        size_values = tuple(dict.fromkeys(parse_size(item) for item in items))
        per_scenario = {scenario: size_values for scenario in chosen}
    return ScenarioSelection(scenarios=chosen, microbatches=ks, sizes=per_scenario, compiles=compiles)
