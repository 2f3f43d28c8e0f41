"""Read and validate gradbench run files into tidy tables: one row per measured case.

Mode-matrix cases and scenario cases are different kinds of observation (a scenario case has
a variant, and its SPEC_KEYS are shared by its scenario's other variants), so each gets its own
table; skipped cases and the cases autograd rejected get theirs.

Everything the report shows is computed from what this module returns; it never imports
the benchmark code. Validation happens here, at the edge, and names the file and the rule.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_lib.contract import result
from bench_lib.contract.errors import InputError
from bench_lib.contract.result import (
    METRIC_KEYS,
    PARAMETER_KEYS,
    SPEC_KEYS,
    CaseResult,
    Run,
    check_labels,
    check_spec,
    check_version,
    is_count,
    short,
)
from bench_lib.contract.schema import INVALID_KEYS, SCHEMA_VERSION
from bench_lib.scenarios import SCENARIOS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# pytest-benchmark's per-case statistics the report uses (seconds, except rounds/iterations).
STAT_KEYS = ("median", "q1", "q3", "iqr", "min", "max", "mean", "stddev", "rounds", "iterations")
# Where modes are compared (ratios, their CIs): the interleaved rounds when a case has them, since
# they share one time window with the other modes' rounds; otherwise the case's own rounds.
COMPARISON_COLUMNS = ("cmp_median", "cmp_q1", "cmp_q3", "cmp_samples", "cmp_interleaved")
# Per replicate process (schema 4; a run without replicate records counts as one): the case's own
# median, its comparison median (the same interleaved-or-own rule) and its peak tensor bytes.
# Comparisons between runs are made on these, never on pooled rounds.
REPLICATE_COLUMNS = ("rep_medians", "rep_cmp", "rep_peak", "rep_rounds", "rep_pipelined")
# A scenario case's labels ("scenario", "variant", "microbatches") and parameter counts.
SCENARIO_LABELS = ("scenario", "variant", "microbatches")
SCENARIO_COLUMNS = ("run", *SCENARIO_LABELS, *SPEC_KEYS, *METRIC_KEYS, *PARAMETER_KEYS, *STAT_KEYS,
                    "cmp_interleaved", "cmp_median", "cmp_q1", "cmp_q3")


@dataclass(frozen=True)
class Loaded:
    runs: list[Run]
    cases: pd.DataFrame    # one row per measured case; column "samples" holds raw seconds
    skipped: pd.DataFrame  # one row per skipped case, with "reason"
    scenarios: pd.DataFrame         # one row per measured scenario case (SCENARIO_COLUMNS, no samples)
    scenario_skipped: pd.DataFrame  # one row per skipped scenario case, with "reason"
    invalid: pd.DataFrame           # one row per scenario case autograd rejected, with "error"

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
    case_columns = ["run", *SPEC_KEYS, *METRIC_KEYS, *STAT_KEYS, "samples", *COMPARISON_COLUMNS,
                    *REPLICATE_COLUMNS]
    # Column by column: several times faster than a DataFrame from 10,000 row dicts.
    cases = pd.DataFrame({column: [row[column] for row in rows] for column in case_columns}, columns=case_columns)
    skipped = pd.DataFrame(skipped_rows, columns=["run", *SPEC_KEYS, "reason"])
    scenario_rows = [_scenario_row(run, bench) for run in runs for bench in run.scenario_benchmarks]
    scenarios = pd.DataFrame(scenario_rows, columns=list(SCENARIO_COLUMNS))
    scenario_skipped = pd.DataFrame([{"run": run.label, **entry} for run in runs for entry in run.scenario_skipped],
                                    columns=["run", "scenario", "variant", *SPEC_KEYS, "reason"])
    invalid = pd.DataFrame([{"run": run.label, **entry} for run in runs for entry in run.invalid],
                           columns=["run", *INVALID_KEYS])
    return Loaded(runs=runs, cases=cases, skipped=skipped, scenarios=scenarios, scenario_skipped=scenario_skipped,
                  invalid=invalid)


# A run file of 10,000 cases with raw samples is tens of MB; anything far larger is not one.
MAX_RUN_BYTES = 1 << 30
MAX_SECONDS = 86_400.0  # a pass longer than a day is not a measurement


def read_json(path: Path) -> Any:
    source = str(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would hang, /dev/zero never end
            raise InputError(source, "not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_RUN_BYTES + 1)
    except FileNotFoundError:
        raise InputError(source, "no such file") from None
    except OSError as exc:
        raise InputError(source, f"cannot read ({exc.strerror})") from None
    if len(data) > MAX_RUN_BYTES:
        raise InputError(source, f"larger than {MAX_RUN_BYTES >> 20} MiB: not a run file")
    if not data.strip():
        raise InputError(source, "empty file")
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise InputError(source, "not JSON (not UTF-8 text)") from None
    except RecursionError:
        raise InputError(source, "not a run file (JSON nested too deeply)") from None
    except json.JSONDecodeError as exc:
        ends_early = exc.pos >= len(exc.doc.rstrip())
        problem = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        # A run cut short is still a run file; anything else (a CSV, the README) is named for what it is not.
        raise InputError(source, problem + "; the file ends early: truncated?" if ends_early
                         else f"not a run file: {problem}") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise InputError(source, f"not a run file ({exc})") from None


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
    check_version(source, "top-level gradbench", section.get("schema_version", SCHEMA_VERSION))
    cases = [b for b in doc["benchmarks"] if isinstance(b, dict) and result.is_case(b)]
    for bench in cases:
        result.check_case(source, bench)
    # Scenario cases (SCENARIO_KEYS) share SPEC_KEYS between variants: they go to their own table,
    # never into the mode matrix's.
    benchmarks = [b for b in cases if not result.is_scenario_case(b)]
    scenario_benchmarks = [b for b in cases if result.is_scenario_case(b)]
    for bench in scenario_benchmarks:
        result.check_scenario_case(source, bench)
        _check_known_scenario(source, f"benchmark {bench['name']!r}", CaseResult.of(bench).scenario)
    all_skipped = section.get("skipped", [])
    if not isinstance(all_skipped, list):
        raise InputError(source, "gradbench 'skipped' must be a list")
    for entry in all_skipped:
        _check_skipped(source, entry)
    skipped = [entry for entry in all_skipped if "scenario" not in entry]
    scenario_skipped = [entry for entry in all_skipped if "scenario" in entry]
    # Schema 1 runs have no "invalid"; a schema 2 run without scenarios has an empty list.
    invalid = section.get("invalid")
    invalid = [] if invalid is None else invalid
    if not isinstance(invalid, list):
        raise InputError(source, "gradbench 'invalid' must be a list")
    for entry in invalid:
        _check_invalid(source, entry)
    if not cases and not all_skipped and not invalid:
        total = len(doc["benchmarks"])
        raise InputError(source, f"no gradbench cases (none of its {total} benchmark{'s' if total != 1 else ''} "
                                 "has gradbench extra_info, and no skipped cases)")
    _check_unique(source, [CaseResult.of(b).spec_key for b in cases])
    _check_unique(source, [tuple(entry[k] for k in ("scenario", "variant", *SPEC_KEYS)) for entry in invalid],
                  "invalid entry")
    replicates, complete = section.get("replicates"), section.get("complete")
    if replicates is not None and not (is_count(replicates) and replicates >= 1):
        raise InputError(source, f"gradbench 'replicates' must be an integer >= 1, got {replicates!r}")
    if complete is not None and not isinstance(complete, bool):
        raise InputError(source, f"gradbench 'complete' must be true or false, got {complete!r}")
    pairing = section.get("pairing")
    if pairing is not None and not (isinstance(pairing, dict) and isinstance(pairing.get("id"), str)
                                    and pairing.get("side") in ("base", "new")):
        raise InputError(source, "gradbench 'pairing' must be an object with an 'id' string and a 'side' of "
                                 f"base or new, got {short(pairing)}")
    counts = section.get("counts")
    if counts is not None:
        _check_counts(source, counts)
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
        scenario_benchmarks=scenario_benchmarks,
        scenario_skipped=scenario_skipped,
        invalid=invalid,
        ignored_benchmarks=len(doc["benchmarks"]) - len(cases),
        replicates=replicates,
        complete=complete,
        pairing=pairing,
        counts=counts,
    )


def _check_counts(source: str, counts: Any) -> None:
    """The run's instruction-count record (schema 8): an object whose figures are numbers."""
    if not isinstance(counts, dict):
        raise InputError(source, f"gradbench 'counts' must be an object or null, got {short(counts)}")
    for key in ("harness_instructions", "empty_instructions", "seconds"):
        if counts.get(key) is not None and not result.is_finite_number(counts[key]):
            raise InputError(source, f"gradbench counts {key} must be a number or null, got {short(counts[key])}")
    contexts = counts.get("context_instructions")
    if contexts is not None and not (isinstance(contexts, dict) and all(
            isinstance(k, str) and result.is_finite_number(v) for k, v in contexts.items())):
        raise InputError(source, "gradbench counts context_instructions must be an object of numbers, got "
                                 f"{short(contexts)}")
    for key in ("tool", "reason", "valgrind_version"):
        if counts.get(key) is not None and not isinstance(counts[key], str):
            raise InputError(source, f"gradbench counts {key} must be a string or null, got {short(counts[key])}")


def _check_known_scenario(source: str, where: str, scenario: Any) -> None:
    # The report draws a scenario from its definition: one this version does not know cannot be shown.
    if scenario not in SCENARIOS:
        raise InputError(source, f"{where}: scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")


def _check_skipped(source: str, entry: Any) -> None:
    if not result.has_spec(entry) or not isinstance(entry.get("reason"), str):
        raise InputError(source, f"skipped entry {entry!r:.80} must hold {', '.join(SPEC_KEYS)} and a 'reason' string")
    where = f"skipped entry {entry['workload']!r}"
    check_spec(source, where, entry)
    if "scenario" in entry:
        check_labels(source, where, entry)
        _check_known_scenario(source, where, entry["scenario"])


def _check_invalid(source: str, entry: Any) -> None:
    if not isinstance(entry, dict) or any(key not in entry for key in INVALID_KEYS):
        raise InputError(source, f"invalid entry {entry!r:.80} must hold {', '.join(INVALID_KEYS)}")
    where = f"invalid entry {entry['scenario']!r}/{entry['variant']!r}"
    check_spec(source, where, entry)
    check_labels(source, where, entry)
    _check_known_scenario(source, where, entry["scenario"])
    if not isinstance(entry["error"], str):
        raise InputError(source, f"{where}: error must be a string (PyTorch's message), got {entry['error']!r}")


def _check_unique(source: str, keys: Sequence[tuple[Any, ...]], what: str = "case") -> None:
    seen: set[tuple[Any, ...]] = set()
    for key in keys:
        shown = tuple(part for part in key if part is not None)  # a mode-matrix case has no scenario
        if key in seen:
            raise InputError(source, f"{what} {'/'.join(map(str, shown))} appears twice")
        seen.add(key)


def _case_row(run: Run, bench: Mapping[str, Any]) -> dict[str, Any]:
    import numpy as np

    case = CaseResult.of(bench)
    row: dict[str, Any] = {"run": run.label}
    row.update({key: case.get(key) for key in (*SPEC_KEYS, *METRIC_KEYS)})
    row.update({key: case.stats.get(key) for key in STAT_KEYS})
    row["samples"] = _samples(run, bench)
    # The comparison figures, by the one rule (CaseResult.compared).
    compared = case.compared
    row.update(_compared(case))
    row["cmp_samples"] = (_numbers(run, bench, compared.data, "extra_info interleaved_data")
                          if case.has_interleaved and compared.data else row["samples"])
    replicates = case.replicates or [{"median": case.stats["median"], "interleaved_median": case.interleaved_median,
                                      "peak_tensor_bytes": case.peak_tensor_bytes,
                                      "pipelined_median": case.pipelined_median}]
    row["rep_medians"] = np.array([entry["median"] for entry in replicates], dtype=float)
    row["rep_cmp"] = np.array(case.compared_replicate_medians(), dtype=float)
    row["rep_peak"] = np.array([np.nan if entry["peak_tensor_bytes"] is None else entry["peak_tensor_bytes"]
                                for entry in replicates], dtype=float)
    row["rep_pipelined"] = np.array([np.nan if entry.get("pipelined_median") is None else entry["pipelined_median"]
                                     for entry in replicates], dtype=float)
    # How many of cmp_samples each replicate contributed, in order (merged runs pool them in turn).
    rounds = [entry.get("interleaved_rounds" if row["cmp_interleaved"] else "rounds") for entry in replicates]
    row["rep_rounds"] = rounds if all(isinstance(n, int) for n in rounds) else [len(row["cmp_samples"])]
    return row


def _scenario_row(run: Run, bench: Mapping[str, Any]) -> dict[str, Any]:
    """A scenario case without its raw samples: the plots and tables use pytest-benchmark's
    statistics, and bench_lib.analysis.claims reads the saved dicts themselves (Run.scenario_benchmarks)."""
    case = CaseResult.of(bench)
    _samples(run, bench)  # the same check as the mode matrix's, though the samples are not kept
    row: dict[str, Any] = {"run": run.label}
    row.update({key: case.get(key) for key in (*SCENARIO_LABELS, *SPEC_KEYS, *METRIC_KEYS, *PARAMETER_KEYS)})
    row.update({key: case.stats.get(key) for key in STAT_KEYS})
    row.update(_compared(case))
    return row


def _compared(case: CaseResult) -> dict[str, Any]:
    """The figures a case is shown and compared by (CaseResult.compared: interleaved or its own)."""
    compared = case.compared
    return {"cmp_interleaved": case.has_interleaved, "cmp_median": compared.median, "cmp_q1": compared.q1,
            "cmp_q3": compared.q3}


def _samples(run: Run, bench: Mapping[str, Any]) -> np.ndarray:
    """Per-round seconds (pytest-benchmark has divided by iterations already), checked in bulk:
    a large run holds hundreds of thousands of them."""
    return _numbers(run, bench, bench["stats"].get("data", []), "stats data")


def _numbers(run: Run, bench: Mapping[str, Any], data: Any, what: str) -> np.ndarray:
    import numpy as np

    problem = InputError(str(run.path), f"benchmark {bench['name']!r}: {what} must be a list of numbers >= 0")
    try:
        values = np.asarray(data, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise problem from None
    if values.ndim != 1 or not np.all(np.isfinite(values) & (values >= 0)):
        raise problem
    return values
