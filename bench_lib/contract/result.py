"""A case's result and a run, as the run file holds them (the contract between measurement and analysis)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Run:
    """One run file: its provenance and its gradbench benchmark dicts as saved."""

    path: Path
    label: str
    machine_id: str
    datetime: str
    environment: Mapping[str, Any]
    machine_info: Mapping[str, Any]
    commit_info: Mapping[str, Any]
    pytest_benchmark_version: str
    selection: Any
    benchmarks: Sequence[Mapping[str, Any]]           # mode-matrix cases
    skipped: Sequence[Mapping[str, Any]]              # skipped mode-matrix cases
    scenario_benchmarks: Sequence[Mapping[str, Any]]  # scenario cases (schema.SCENARIO_KEYS), as saved
    scenario_skipped: Sequence[Mapping[str, Any]]     # skipped scenario cases, with "reason"
    invalid: Sequence[Mapping[str, Any]]              # scenario cases autograd rejected (schema.INVALID_KEYS)
    ignored_benchmarks: int  # benchmarks in the file without gradbench extra_info
    # Replicate processes merged into the file (schema 4); None for a file without that record
    # (written by pytest directly, or before schema 4): it has no process-to-process noise to show.
    replicates: int | None = None
    complete: bool | None = None  # False: interrupted or a case failed; None: not recorded (schema < 4)

    @property
    def scenario_cases(self) -> int:
        """Scenario cases of every kind: measured, skipped or rejected by autograd."""
        return len(self.scenario_benchmarks) + len(self.scenario_skipped) + len(self.invalid)
