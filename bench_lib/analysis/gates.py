"""What makes a comparison of two runs fail: the gates and their default thresholds, in one place,
and the per-case rules (thresholds and controls by case-name glob) that refine them.

Kept free of numpy and pandas: the command line reads the defaults for its help text before it
loads anything heavy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from bench_lib.contract.errors import InputError


@dataclass(frozen=True)
class Gates:
    """What makes ``compare`` exit 1; a threshold of None turns its gate off (still reported)."""

    time: float | None = 0.10       # a case's time (or pipelined time) significantly slower by more than this
    ratio: float | None = 0.10      # an overhead ratio significantly larger by more than this
    peak: float | None = 0.05       # peak tensor memory larger by more than this
    counts: bool = True             # any change of an exact count
    # instructions per call (--gb-counts) more by this. Two runs of one selection count alike within
    # 0.01 % here, but the same case counted in a process that imported other modules (as a change of
    # code does) read up to 0.62 % apart (README: "Instruction counts"): 2 % is three times that
    instructions: float | None = 0.02

    def judged(self) -> Gates:
        """The thresholds the verdicts are judged at: a gate that is off is still reported, at its
        default."""
        default = Gates()
        return Gates(self.time if self.time is not None else default.time,
                     self.ratio if self.ratio is not None else default.ratio,
                     self.peak if self.peak is not None else default.peak, self.counts,
                     self.instructions if self.instructions is not None else default.instructions)


@dataclass(frozen=True)
class Rule:
    """A threshold for the cases whose name matches ``glob`` (fnmatch, case-sensitive, on
    compare.case_name's form, e.g. ``attention grad forward 2^14 cpu float32``)."""

    glob: str
    threshold: float | None  # None: off (the case is judged at its family's threshold, but never fails)
    source: str              # where it was set: a pyproject.toml, or --threshold


@dataclass(frozen=True)
class CaseRules:
    """Per-case thresholds (the last matching rule wins; the command line's come after
    pyproject.toml's) and the controls: cases expected not to change, from which the run-level
    shift of a comparison made in separate time windows is estimated."""

    thresholds: tuple[Rule, ...] = ()
    controls: tuple[str, ...] = ()

    def threshold_for(self, name: str, default: float) -> tuple[float, bool]:
        """(the threshold a case is judged at, whether it can fail a gate)."""
        value, gated = default, True
        for rule in self.thresholds:
            if fnmatchcase(name, rule.glob):
                value, gated = (default, False) if rule.threshold is None else (rule.threshold, True)
        return value, gated

    def is_control(self, name: str) -> bool:
        return any(fnmatchcase(name, glob) for glob in self.controls)

    def unmatched(self, names: Iterable[str]) -> list[str]:
        """The globs (thresholds' and controls') that match none of ``names``: a typo, or cases
        this comparison does not hold."""
        names = list(names)
        globs = [rule.glob for rule in self.thresholds] + list(self.controls)
        return [glob for glob in dict.fromkeys(globs) if not any(fnmatchcase(name, glob) for name in names)]


_PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")


def parse_threshold(text: str, option: str = "--fail-above", *, allow_off: bool = False) -> float | None:
    """"10%" -> 0.10; "off" -> None where allowed. The percent sign is required: a bare "10"
    could mean 10 % or 1000 %."""
    if allow_off and isinstance(text, str) and text.strip().lower() == "off":
        return None
    match = _PERCENT.match(text) if isinstance(text, str) else None
    if not match or float(match.group(1)) <= 0:
        allowed = "a percentage above 0 such as 10% or 2.5%" + (", or off" if allow_off else "")
        raise InputError(option, f"expected {allowed}, got {text!r}")
    return float(match.group(1)) / 100.0


def parse_glob(text: Any, source: str) -> str:
    """A case-name glob: non-empty printable text."""
    if not isinstance(text, str) or not text.strip() or not text.isprintable():
        raise InputError(source, f"expected a glob of case names such as 'attention*' or 'mlp * forward *', "
                                 f"got {text!r}")
    return text


def parse_rule(text: str, source: str = "--threshold") -> Rule:
    """``GLOB=PCT`` from the command line, e.g. ``attention*=20%`` or ``mlp*=off``."""
    glob, equals, value = text.rpartition("=")
    if not equals or not glob.strip():
        raise InputError(source, f"expected GLOB=PCT such as 'attention*=20%' or 'mlp*=off', got {text!r}")
    return Rule(parse_glob(glob, source), parse_threshold(value, f"{source} {glob}", allow_off=True), source)


CONFIG_TABLE = "[tool.gradbench.compare]"
CONFIG_KEYS = ("thresholds", "controls")


def rules_from_config(table: Any, path: str) -> CaseRules:
    """The rules of a pyproject.toml's ``[tool.gradbench.compare]`` table::

        thresholds = {"attention*" = "20%", "mlp * backward *" = "off"}
        controls = ["elementwise no_grad *"]
    """
    where = f"{path} {CONFIG_TABLE}"
    if not isinstance(table, Mapping):
        raise InputError(where, f"must be a table with the keys {', '.join(CONFIG_KEYS)}, got {table!r}")
    unknown = sorted(set(table) - set(CONFIG_KEYS))
    if unknown:
        raise InputError(where, f"unknown key {unknown[0]!r}; allowed: {', '.join(CONFIG_KEYS)}")
    thresholds = table.get("thresholds", {})
    if not isinstance(thresholds, Mapping):
        raise InputError(f"{where} thresholds", "must be a table of GLOB = \"PCT\" such as "
                                                f"{{\"attention*\" = \"20%\"}}, got {thresholds!r}")
    controls = table.get("controls", [])
    if not isinstance(controls, list):
        raise InputError(f"{where} controls", f"must be a list of globs such as [\"mlp*\"], got {controls!r}")
    rules = tuple(Rule(parse_glob(glob, f"{where} thresholds"),
                       parse_threshold(value, f"{where} thresholds {glob!r}", allow_off=True), path)
                  for glob, value in thresholds.items())
    return CaseRules(rules, tuple(parse_glob(glob, f"{where} controls") for glob in controls))


def combined(*rules: CaseRules) -> CaseRules:
    """Rules in order of precedence, the last winning (pyproject.toml's, then the command line's)."""
    return CaseRules(tuple(r for one in rules for r in one.thresholds),
                     tuple(dict.fromkeys(g for one in rules for g in one.controls)))


# The distribution-free check: the exact permutation p (unadjusted) must be at most this.
PERMUTATION_LEVEL = 0.05


def min_permutation_p(n: int, m: int) -> float:
    """The smallest two-sided p an exact permutation test of n against m values can give: the
    observed split is the most extreme of C(n + m, n), on one side, doubled."""
    return min(1.0, 2.0 / math.comb(n + m, n))


# The fewest replicates per run whose exact test can reach PERMUTATION_LEVEL (4: 2/70 = 0.029).
CONFIRMING_REPLICATES = next(n for n in range(2, 100) if min_permutation_p(n, n) <= PERMUTATION_LEVEL)
