"""Read and validate gradbench run files into a tidy table: one row per measured case.

Everything the report shows is computed from what this module returns; it never imports
the benchmark code. Validation happens here, at the edge, and names the file and the rule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_lib.report.errors import InputError
from bench_lib.schema import CASE_KEYS, MODES, PASSES, SCHEMA_VERSION, SPEC_KEYS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Keys that joined schema 1 after runs had been saved with it; older files lack them, and they
# read as null (unknown) instead of making those runs unreadable.
LATE_KEYS = ("background_cpu",)
# pytest-benchmark's per-case statistics the report uses (seconds, except rounds/iterations).
STAT_KEYS = ("median", "q1", "q3", "iqr", "min", "max", "mean", "stddev", "rounds", "iterations")
METRIC_KEYS = tuple(k for k in CASE_KEYS if k not in SPEC_KEYS and k != "schema_version")


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
    benchmarks: Sequence[Mapping[str, Any]]
    skipped: Sequence[Mapping[str, Any]]
    scenario_cases: int      # scenario cases, measured or skipped: not part of the mode matrix
    ignored_benchmarks: int  # benchmarks in the file without gradbench extra_info


@dataclass(frozen=True)
class Loaded:
    runs: list[Run]
    cases: pd.DataFrame    # one row per measured case; column "samples" holds raw seconds
    skipped: pd.DataFrame  # one row per skipped case, with "reason"

    @property
    def primary(self) -> Run:
        """The run the plots and findings describe: the newest by its saved datetime."""
        return max(reversed(self.runs), key=lambda run: run.datetime)


def load_runs(paths: Sequence[Path]) -> Loaded:
    raw = [(path, read_json(path)) for path in paths]
    labels = _labels([path for path, _ in raw])
    runs = [_run(path, label, doc) for (path, doc), label in zip(raw, labels, strict=True)]
    rows = [_case_row(run, bench) for run in runs for bench in run.benchmarks]
    # Imported only now: bad input is reported without paying for pandas.
    import pandas as pd

    skipped_rows = [{"run": run.label, **entry} for run in runs for entry in run.skipped]
    case_columns = ["run", *SPEC_KEYS, *METRIC_KEYS, *STAT_KEYS, "samples"]
    # Column by column: several times faster than a DataFrame from 10,000 row dicts.
    cases = pd.DataFrame({column: [row[column] for row in rows] for column in case_columns}, columns=case_columns)
    skipped = pd.DataFrame(skipped_rows, columns=["run", *SPEC_KEYS, "reason"])
    return Loaded(runs=runs, cases=cases, skipped=skipped)


def read_json(path: Path) -> Any:
    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(source, "no such file") from None
    except OSError as exc:
        raise InputError(source, f"cannot read ({exc.strerror})") from None
    if not data.strip():
        raise InputError(source, "empty file")
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise InputError(source, "not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        ends_early = exc.pos >= len(exc.doc.rstrip())
        problem = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        raise InputError(source, problem + ("; the file ends early: truncated?" if ends_early else "")) from None


def _labels(paths: Sequence[Path]) -> list[str]:
    """Short names for the page: the file stem, with the machine folder where stems repeat."""
    stems = [p.stem for p in paths]
    labels = [s if stems.count(s) == 1 else f"{p.parent.name}/{s}" for p, s in zip(paths, stems, strict=True)]
    return [label if labels.count(label) == 1 else str(p) for p, label in zip(paths, labels, strict=True)]


def _run(path: Path, label: str, doc: Any) -> Run:
    source = str(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise InputError(source, "not a pytest-benchmark run file (no top-level 'benchmarks' list)")
    if not isinstance(doc.get("machine_info"), dict):
        raise InputError(source, "not a pytest-benchmark run file (no 'machine_info' object)")
    section = doc.get("gradbench", {})
    if not isinstance(section, dict):
        raise InputError(source, "the top-level 'gradbench' entry must be an object")
    _check_version(source, "top-level gradbench", section.get("schema_version", SCHEMA_VERSION))
    cases = [b for b in doc["benchmarks"] if isinstance(b, dict) and _is_case(b.get("extra_info"))]
    for bench in cases:
        _check_case(source, bench)
    # Scenario cases (schema.SCENARIO_KEYS) share SPEC_KEYS between variants; this report shows
    # the mode matrix, so they are counted and left out.
    benchmarks = [b for b in cases if "scenario" not in b["extra_info"]]
    all_skipped = section.get("skipped", [])
    if not isinstance(all_skipped, list):
        raise InputError(source, "gradbench 'skipped' must be a list")
    for entry in all_skipped:
        _check_skipped(source, entry)
    skipped = [entry for entry in all_skipped if "scenario" not in entry]
    if not cases and not all_skipped:
        total = len(doc["benchmarks"])
        raise InputError(source, f"no gradbench cases (none of its {total} benchmark{'s' if total != 1 else ''} "
                                 "has gradbench extra_info, and no skipped cases)")
    _check_unique(source, [b["extra_info"] for b in benchmarks])
    machine_info = doc["machine_info"]
    environment = machine_info.get("gradbench") or {}
    if not isinstance(environment, dict):
        raise InputError(source, "machine_info 'gradbench' must be an object")
    return Run(
        path=path,
        label=label,
        machine_id=path.parent.name,
        datetime=str(doc.get("datetime", "")),
        environment=environment,
        machine_info=machine_info,
        commit_info=doc.get("commit_info") if isinstance(doc.get("commit_info"), dict) else {},
        pytest_benchmark_version=str(doc.get("version", "")),
        selection=section.get("selection"),
        benchmarks=benchmarks,
        skipped=skipped,
        scenario_cases=len(cases) - len(benchmarks) + len(all_skipped) - len(skipped),
        ignored_benchmarks=len(doc["benchmarks"]) - len(cases),
    )


def _is_case(info: Any) -> bool:
    return isinstance(info, dict) and all(key in info for key in SPEC_KEYS)


def _check_version(source: str, where: str, version: Any) -> None:
    if not isinstance(version, int) or version < 1:
        raise InputError(source, f"{where} schema_version must be a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise InputError(source, f"{where} schema_version {version} is newer than this report reads ({SCHEMA_VERSION})")


def _check_spec(source: str, where: str, info: Mapping[str, Any]) -> None:
    if info["mode"] not in MODES:
        raise InputError(source, f"{where}: mode must be one of {', '.join(MODES)}, got {info['mode']!r}")
    if info["pass"] not in PASSES:
        raise InputError(source, f"{where}: pass must be one of {', '.join(PASSES)}, got {info['pass']!r}")
    if not isinstance(info["size"], int) or isinstance(info["size"], bool) or info["size"] < 1:
        raise InputError(source, f"{where}: size must be a positive integer, got {info['size']!r}")
    for key in ("workload", "device", "dtype"):
        if not isinstance(info[key], str) or not info[key]:
            raise InputError(source, f"{where}: {key} must be a non-empty string, got {info[key]!r}")


def _check_case(source: str, bench: Mapping[str, Any]) -> None:
    where = f"benchmark {bench.get('name', '?')!r}"
    info = bench["extra_info"]
    missing = [key for key in CASE_KEYS if key not in info and key not in LATE_KEYS]
    if missing:
        raise InputError(source, f"{where}: extra_info lacks {', '.join(missing)}")
    _check_version(source, where, info["schema_version"])
    _check_spec(source, where, info)
    stats = bench.get("stats")
    if not isinstance(stats, dict):
        raise InputError(source, f"{where}: no 'stats' object")
    for key in ("median", "q1", "q3", "iqr", "min", "max", "mean", "stddev"):
        if not _is_finite_number(stats.get(key)) or stats[key] < 0:
            raise InputError(source, f"{where}: stats {key} must be a number >= 0, got {stats.get(key)!r}")
    if not isinstance(stats.get("rounds"), int) or stats["rounds"] < 1:
        raise InputError(source, f"{where}: stats rounds must be an integer >= 1, got {stats.get('rounds')!r}")
    if not isinstance(stats.get("data", []), list):
        raise InputError(source, f"{where}: stats data must be a list of numbers >= 0")
    if not isinstance(bench.get("name"), str):
        raise InputError(source, f"{where}: no 'name' string")


def _check_skipped(source: str, entry: Any) -> None:
    if not isinstance(entry, dict) or not _is_case(entry) or not isinstance(entry.get("reason"), str):
        raise InputError(source, f"skipped entry {entry!r:.80} must hold {', '.join(SPEC_KEYS)} and a 'reason' string")
    _check_spec(source, f"skipped entry {entry['workload']!r}", entry)


def _check_unique(source: str, infos: Sequence[Mapping[str, Any]]) -> None:
    seen: set[tuple[Any, ...]] = set()
    for info in infos:
        key = tuple(info[k] for k in SPEC_KEYS)
        if key in seen:
            raise InputError(source, f"case {'/'.join(map(str, key))} appears twice")
        seen.add(key)


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _case_row(run: Run, bench: Mapping[str, Any]) -> dict[str, Any]:
    info, stats = bench["extra_info"], bench["stats"]
    row: dict[str, Any] = {"run": run.label}
    row.update({key: info[key] for key in SPEC_KEYS})
    row.update({key: info.get(key) for key in METRIC_KEYS})
    row.update({key: stats.get(key) for key in STAT_KEYS})
    row["samples"] = _samples(run, bench)
    return row


def _samples(run: Run, bench: Mapping[str, Any]) -> np.ndarray:
    """Per-round seconds (pytest-benchmark has divided by iterations already), checked in bulk:
    a large run holds hundreds of thousands of them."""
    import numpy as np

    problem = InputError(str(run.path), f"benchmark {bench['name']!r}: stats data must be a list of numbers >= 0")
    try:
        values = np.asarray(bench["stats"].get("data", []), dtype=float)
    except (TypeError, ValueError):
        raise problem from None
    if values.ndim != 1 or not np.all(np.isfinite(values) & (values >= 0)):
        raise problem
    return values
