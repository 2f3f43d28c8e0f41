"""Each scenario's claim, checked from a run file's numbers: holds, does not hold, or not measured.

Pure functions of the run file's benchmark dicts (and its ``invalid`` list): no torch, so the
live summary and the report share them. A claim is checked per group (workload, size, device,
dtype) by its scenario's ``check`` (bench_lib/scenarios/); the scenario's verdict is "does not
hold" if any group's is, else "holds" if any group was measured, else "not measured". Time
comparisons count only beyond noise: a median more than NOISE_TOLERANCE away and outside the
other's quartile, on the interleaved rounds where the variants have them (they share one time
window, so the machine's drift cancels). A group timed while other processes used more than
CONTENDED_FRACTION of the CPUs says so in its sentence (``Check.background_cpu``): its time
comparison is suspect, whatever the verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench_lib.analysis import physics
from bench_lib.analysis.physics import comparable_times
from bench_lib.contract.result import CaseResult
from bench_lib.contract.scenario import Group, Scenario, Verdict
from bench_lib.contract.schema import CONTENDED_FRACTION
from bench_lib.contract.units import size_label

HOLDS = "holds"
FAILS = "does not hold"
NOT_MEASURED = "not measured"
VERDICTS = (HOLDS, FAILS, NOT_MEASURED)
# physics' tolerance of "beyond noise" (one rule for the physics check and the claims), as the views name it.
NOISE_TOLERANCE = physics.NOISE_TOLERANCE



@dataclass(frozen=True)
class Check:
    """The claim in one group of a scenario's cases."""

    group: str  # e.g. "mlp n=2^20 cpu float32"
    verdict: str
    sentence: str  # the figures, one sentence without the final full stop
    background_cpu: float = 0.0  # the largest share of CPUs others used while the group was timed

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")


@dataclass(frozen=True)
class ScenarioClaim:
    scenario: str
    claim: str
    verdict: str
    sentence: str  # every group's figures, in one sentence
    checks: tuple[Check, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "claim": self.claim,
            "verdict": self.verdict,
            "sentence": self.sentence,
            "checks": [
                {"group": c.group, "verdict": c.verdict, "sentence": c.sentence, "background_cpu": c.background_cpu}
                for c in self.checks
            ],
        }


def check_run(run: Mapping[str, Any], scenarios: Mapping[str, Scenario]) -> dict[str, ScenarioClaim]:
    """The claims of a whole run file (its benchmarks and its top-level gradbench.invalid)."""
    section = run.get("gradbench") or {}
    return check_claims(run.get("benchmarks", []), section.get("invalid", []), scenarios)


def check_claims(
    benchmarks: Iterable[Mapping[str, Any]], invalid: Iterable[Mapping[str, Any]],
    scenarios: Mapping[str, Scenario],
) -> dict[str, ScenarioClaim]:
    """One ScenarioClaim per scenario of ``scenarios`` (the registry, in its order), from benchmark
    dicts. Benchmarks without a "scenario" key (the mode matrix) are ignored."""
    cases: dict[str, dict[tuple[Any, ...], list[CaseResult]]] = {name: {} for name in scenarios}
    rejected: dict[str, dict[tuple[Any, ...], list[Mapping[str, Any]]]] = {name: {} for name in scenarios}
    for case in map(CaseResult.of, benchmarks):
        if case.scenario in cases:
            cases[case.scenario].setdefault(_group_key(case), []).append(case)
    for entry in invalid:
        if entry.get("scenario") in rejected:
            rejected[entry["scenario"]].setdefault(_entry_key(entry), []).append(entry)
    claims = {}
    for name, scenario in scenarios.items():
        checks = []
        for key in sorted(set(cases[name]) | set(rejected[name]), key=_sort_key):
            group = Group(tuple(cases[name].get(key, ())), tuple(rejected[name].get(key, ())))
            verdict, sentence = scenario.check(group)
            busy = max((float(case.background_cpu or 0.0) for case in group), default=0.0)
            if busy > CONTENDED_FRACTION:
                sentence += f" (timed while other processes used up to {busy:.0%} of the CPUs: times suspect)"
            checks.append(Check(_group_label(key), verdict, sentence, busy))
        claims[name] = _combine(scenario, checks)
    return claims


def _group_key(case: CaseResult) -> tuple[Any, ...]:
    return (case.workload, case.size, case.device, case.dtype)


def _entry_key(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    """The group of a rejected case (an entry of the run's ``invalid`` list)."""
    return (entry["workload"], entry["size"], entry["device"], entry["dtype"])


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    workload, size, device, dtype = key
    return (str(workload), str(device), str(dtype), int(size))


def _group_label(key: tuple[Any, ...]) -> str:
    workload, size, device, dtype = key
    return f"{workload} n={size_label(int(size))} {device} {dtype}"


def _combine(scenario: Scenario, checks: list[Check]) -> ScenarioClaim:
    verdicts = {c.verdict for c in checks}
    verdict = FAILS if FAILS in verdicts else HOLDS if HOLDS in verdicts else NOT_MEASURED
    if checks:
        sentence = "; ".join(f"{c.group}: {c.sentence}" for c in checks) + "."
    else:
        sentence = f"No {scenario.name} case was measured in this run."
    return ScenarioClaim(scenario.name, scenario.claim, verdict, sentence, tuple(checks))


# --- what the scenarios' checks share ------------------------------------------------------------


def slower_beyond_noise(a: CaseResult, b: CaseResult) -> bool:
    """physics' rule of "beyond noise", on the times where comparing the two cases is fair."""
    _, a_times, b_times = comparable_times(a, b)
    return physics.slower_beyond_noise(a_times, b_times)


def time_ratio(a: CaseResult, b: CaseResult) -> tuple[float, bool]:
    """a's median over b's, and whether a is slower beyond noise, both on the times where comparing
    the two cases is fair: a sentence quoting the ratio agrees with the verdict on it."""
    _, a_times, b_times = comparable_times(a, b)
    return a_times.median / b_times.median, physics.slower_beyond_noise(a_times, b_times)


def faster_beyond_noise(a: CaseResult, b: CaseResult) -> bool:
    _, a_times, b_times = comparable_times(a, b)
    return physics.faster_beyond_noise(a_times, b_times)


def peak(case: CaseResult) -> int:
    return int(case.peak_tensor_bytes)  # type: ignore[arg-type]  # a scenario case always has it (load checks)


def peak_new(case: CaseResult) -> int:
    """The pass's own allocations at their peak (gross, the same on every device); the device
    probe's peak for runs that predate it (schema < 5), which is the same figure on CPU."""
    value = case.peak_new_tensor_bytes
    return int(case.peak_tensor_bytes if value is None else value)  # type: ignore[arg-type]


def figure(case: CaseResult, key: str) -> int:
    """An integer field of a case, by its run-file key (e.g. "saved_bytes")."""
    return int(case.get(key))


def decreasing(values: Sequence[float]) -> bool:
    return all(later < earlier for earlier, later in zip(values, values[1:]))


def verdict(sentence: str, reasons: Sequence[str]) -> Verdict:
    """Holds with the figures, or does not hold with the figures and every reason why."""
    return (HOLDS, sentence) if not reasons else (FAILS, f"{sentence}: {' and '.join(reasons)}")


def shorten(message: str, limit: int = 110) -> str:
    return message if len(message) <= limit else message[: limit - 3].rstrip() + "..."
