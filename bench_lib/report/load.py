"""Read and validate gradbench run files into tidy tables: one row per measured case.

Mode-matrix cases and scenario cases are different kinds of observation (a scenario case has
a variant, and its SPEC_KEYS are shared by its scenario's other variants), so each gets its own
table; skipped cases and the cases autograd rejected get theirs.

Everything the report shows is computed from what this module returns; it never imports
the benchmark code. Validation happens here, at the edge, and names the file and the rule.
"""

from __future__ import annotations

import json
import math
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_lib.analysis.physics import compared_median, has_interleaved
from bench_lib.contract.errors import InputError
from bench_lib.contract.result import Run
from bench_lib.contract.schema import (
    CASE_KEYS,
    INVALID_KEYS,
    MAX_SIZE,
    MODES,
    NAME,
    PASSES,
    REPLICATE_KEYS,
    SCENARIO_KEYS,
    SCHEMA_VERSION,
    SPEC_KEYS,
)
from bench_lib.scenarios import SCENARIOS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Keys that joined the schema after runs had been saved (versions 2, 3 and 5); older files lack
# them, and they read as null (unknown) instead of making those runs unreadable.
LATE_KEYS = (
    "background_cpu",
    "interleaved_median", "interleaved_q1", "interleaved_q3", "interleaved_rounds", "interleaved_data",
    "compile", "compile_seconds", "recompiles", "graph_breaks",  # version 5
    "peak_new_tensor_bytes", "peak_growth_tensor_bytes",
    "pipelined_batch", *(f"{prefix}_{name}" for prefix in ("pipelined", "gpu")  # version 6
                         for name in ("median", "q1", "q3", "rounds", "data")),
)
# Replicate keys that records written before schema 6 lack (read as null).
LATE_REPLICATE_KEYS = ("pipelined_median",)
# pytest-benchmark's per-case statistics the report uses (seconds, except rounds/iterations).
STAT_KEYS = ("median", "q1", "q3", "iqr", "min", "max", "mean", "stddev", "rounds", "iterations")
# Raw samples stay out of the tables: the report reads their medians and quartiles.
SAMPLE_KEYS = ("interleaved_data", "pipelined_data", "gpu_data")
METRIC_KEYS = tuple(k for k in CASE_KEYS if k not in SPEC_KEYS and k != "schema_version" and k not in SAMPLE_KEYS)
# Where modes are compared (ratios, their CIs): the interleaved rounds when a case has them, since
# they share one time window with the other modes' rounds; otherwise the case's own rounds.
COMPARISON_COLUMNS = ("cmp_median", "cmp_samples", "cmp_interleaved")
# Per replicate process (schema 4; a run without replicate records counts as one): the case's own
# median, its comparison median (the same interleaved-or-own rule) and its peak tensor bytes.
# Comparisons between runs are made on these, never on pooled rounds.
REPLICATE_COLUMNS = ("rep_medians", "rep_cmp", "rep_peak", "rep_rounds", "rep_pipelined")
# A scenario case's labels ("scenario", "variant", "microbatches") and parameter counts.
SCENARIO_LABELS = ("scenario", "variant", "microbatches")
PARAMETER_KEYS = tuple(k for k in SCENARIO_KEYS if k not in SCENARIO_LABELS)
# Metrics that may be null in the mode matrix but that bench_lib.analysis.claims reads as integers.
CLAIM_METRICS = ("peak_tensor_bytes", "saved_bytes", "graph_nodes")
SCENARIO_COLUMNS = ("run", *SCENARIO_LABELS, *SPEC_KEYS, *METRIC_KEYS, *PARAMETER_KEYS, *STAT_KEYS)


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
        raise InputError(source, problem + ("; the file ends early: truncated?" if ends_early else "")) from None
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
    _check_version(source, "top-level gradbench", section.get("schema_version", SCHEMA_VERSION))
    cases = [b for b in doc["benchmarks"] if isinstance(b, dict) and _is_case(b.get("extra_info"))]
    for bench in cases:
        _check_case(source, bench)
    # Scenario cases (schema.SCENARIO_KEYS) share SPEC_KEYS between variants: they go to their
    # own table, never into the mode matrix's.
    benchmarks = [b for b in cases if "scenario" not in b["extra_info"]]
    scenario_benchmarks = [b for b in cases if "scenario" in b["extra_info"]]
    for bench in scenario_benchmarks:
        _check_scenario_case(source, bench)
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
    _check_unique(source, [b["extra_info"] for b in benchmarks])
    _check_unique(source, [b["extra_info"] for b in scenario_benchmarks], ("scenario", "variant", *SPEC_KEYS))
    _check_unique(source, invalid, ("scenario", "variant", *SPEC_KEYS), "invalid entry")
    replicates, complete = section.get("replicates"), section.get("complete")
    if replicates is not None and not (_is_count(replicates) and replicates >= 1):
        raise InputError(source, f"gradbench 'replicates' must be an integer >= 1, got {replicates!r}")
    if complete is not None and not isinstance(complete, bool):
        raise InputError(source, f"gradbench 'complete' must be true or false, got {complete!r}")
    for bench in cases:
        _check_replicates(source, bench)
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
    if not _is_count(info["size"]) or not 1 <= info["size"] <= MAX_SIZE:
        raise InputError(source, f"{where}: size must be an integer from 1 to 2^50, got {_short(info['size'])}")
    for key in ("workload", "device", "dtype"):
        if not isinstance(info[key], str) or not NAME.fullmatch(info[key]):
            raise InputError(source, f"{where}: {key} must be a name: a letter or digit, then letters, "
                                     f"digits and _ . : + = - (at most 80), got {_short(info[key])}")


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
        if not _is_finite_number(stats.get(key)) or not 0 <= stats[key] <= MAX_SECONDS:
            raise InputError(source, f"{where}: stats {key} must be a number of seconds from 0 to 86400, "
                                     f"got {_short(stats.get(key))}")
    if stats["median"] <= 0:
        raise InputError(source, f"{where}: stats median must be above 0 (a pass takes time), got {stats['median']!r}")
    _check_metrics(source, where, info)
    if not isinstance(stats.get("rounds"), int) or stats["rounds"] < 1:
        raise InputError(source, f"{where}: stats rounds must be an integer >= 1, got {stats.get('rounds')!r}")
    if not isinstance(stats.get("data", []), list):
        raise InputError(source, f"{where}: stats data must be a list of numbers >= 0")
    if not isinstance(bench.get("name"), str):
        raise InputError(source, f"{where}: no 'name' string")


# extra_info metrics by kind: an integer >= 0, a number >= 0, a name; each may be null.
COUNT_METRICS = ("elements", "input_bytes", "peak_tensor_bytes", "cuda_peak_reserved_bytes", "peak_rss_bytes",
                 "saved_bytes", "saved_tensor_count", "graph_nodes", "rounds_planned", "interleaved_rounds",
                 "recompiles", "graph_breaks", "peak_new_tensor_bytes", "peak_growth_tensor_bytes",
                 "pipelined_batch", "pipelined_rounds", "gpu_rounds")
# Net changes, which can be negative: on CUDA a backward frees the saved tensors it consumed.
SIGNED_METRICS = ("retained_tensor_bytes",)
REQUIRED_COUNTS = ("elements", "input_bytes")  # known for every case on every device
NUMBER_METRICS = ("interleaved_median", "interleaved_q1", "interleaved_q3", "compile_seconds",
                  "pipelined_median", "pipelined_q1", "pipelined_q3", "gpu_median", "gpu_q1", "gpu_q3")
# Medians of a pass's time, which cannot be 0.
PASS_MEDIANS = ("interleaved_median", "pipelined_median", "gpu_median")
NAME_METRICS = ("tensor_memory_method", "rss_method", "compile")


def _check_metrics(source: str, where: str, info: Mapping[str, Any]) -> None:
    for key in REQUIRED_COUNTS:
        if not _is_count(info.get(key)):
            raise InputError(source, f"{where}: {key} must be an integer >= 0, got {_short(info.get(key))}")
    for key in COUNT_METRICS:
        if info.get(key) is not None and not _is_count(info[key]):
            raise InputError(source, f"{where}: {key} must be an integer >= 0 or null, got {_short(info[key])}")
    for key in SIGNED_METRICS:
        value = info.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool)
                                      and abs(value) <= MAX_INTEGER):
            raise InputError(source, f"{where}: {key} must be an integer or null, got {_short(value)}")
    for key in NUMBER_METRICS:
        value = info.get(key)
        if value is not None and not (_is_finite_number(value) and 0 <= value <= MAX_SECONDS):
            raise InputError(source, f"{where}: {key} must be a number of seconds from 0 to 86400 or null, "
                                     f"got {_short(value)}")
    for key in PASS_MEDIANS:
        if info.get(key) == 0:
            raise InputError(source, f"{where}: {key} must be above 0 (a pass takes time), got 0")
    interleaved, rounds = info.get("interleaved_data"), info.get("interleaved_rounds")
    if isinstance(interleaved, list) and rounds is not None and rounds != len(interleaved):
        raise InputError(source, f"{where}: interleaved_rounds must equal the {len(interleaved)} samples of "
                                 f"interleaved_data, got {_short(rounds)}")
    for prefix in ("pipelined", "gpu"):
        samples, rounds = info.get(f"{prefix}_data"), info.get(f"{prefix}_rounds")
        if samples is not None and not (isinstance(samples, list) and all(
                _is_finite_number(v) and 0 <= v <= MAX_SECONDS for v in samples)):
            raise InputError(source, f"{where}: {prefix}_data must be a list of seconds from 0 to 86400 or null, "
                                     f"got {_short(samples)}")
        if samples is not None and rounds != len(samples):
            raise InputError(source, f"{where}: {prefix}_rounds must equal the {len(samples)} samples of "
                                     f"{prefix}_data, got {_short(rounds)}")
    background = info.get("background_cpu")
    if background is not None and not (_is_finite_number(background) and 0 <= background <= 1):
        raise InputError(source, f"{where}: background_cpu must be a share from 0 to 1 or null, "
                                 f"got {_short(background)}")
    for key in NAME_METRICS:
        if info.get(key) is not None and not (isinstance(info[key], str) and NAME.fullmatch(info[key])):
            raise InputError(source, f"{where}: {key} must be a name of letters, digits and _ . : + = - or null, "
                                     f"got {_short(info[key])}")
    if not isinstance(info.get("shape", ""), str):
        raise InputError(source, f"{where}: shape must be a string, got {_short(info['shape'])}")


def _short(value: Any) -> str:
    """A value for an error message: repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_scenario_case(source: str, bench: Mapping[str, Any]) -> None:
    """SCENARIO_KEYS on top of _check_case's rules, and the metrics bench_lib.analysis.claims reads."""
    where = f"benchmark {bench.get('name', '?')!r}"
    info = bench["extra_info"]
    missing = [key for key in SCENARIO_KEYS if key not in info]
    if missing:
        raise InputError(source, f"{where}: extra_info of a scenario case lacks {', '.join(missing)}")
    _check_labels(source, where, info)
    for key in PARAMETER_KEYS:
        if info[key] is not None and not _is_count(info[key]):
            raise InputError(source, f"{where}: {key} must be an integer >= 0 or null, got {info[key]!r}")
    for key in CLAIM_METRICS:
        # A compiled case on CPU has no tensor probe (a dispatch mode would turn compilation off).
        unprobed = (key == "peak_tensor_bytes" and info[key] is None and info.get("compile") not in (None, "eager")
                    and info.get("tensor_memory_method") == "none-under-compile")
        if not _is_count(info[key]) and not unprobed:
            raise InputError(source, f"{where}: {key} must be an integer >= 0 in a scenario case "
                                     f"(its claim is checked from it), got {info[key]!r}")


def _check_labels(source: str, where: str, entry: Mapping[str, Any]) -> None:
    if entry["scenario"] not in SCENARIOS:
        raise InputError(source, f"{where}: scenario must be one of {', '.join(SCENARIOS)}, got {entry['scenario']!r}")
    if not isinstance(entry.get("variant"), str) or not NAME.fullmatch(entry["variant"]):
        raise InputError(source, f"{where}: variant must be a name: a letter or digit, then letters, digits and "
                                 f"_ . : + = - (at most 80), got {_short(entry.get('variant'))}")
    k = entry.get("microbatches")
    if entry["scenario"] == "accumulation" and "microbatches" in entry and not (_is_count(k) and k >= 1):
        raise InputError(source, f"{where}: microbatches of an accumulation case must be an integer >= 1, got {k!r}")


def _check_skipped(source: str, entry: Any) -> None:
    if not isinstance(entry, dict) or not _is_case(entry) or not isinstance(entry.get("reason"), str):
        raise InputError(source, f"skipped entry {entry!r:.80} must hold {', '.join(SPEC_KEYS)} and a 'reason' string")
    where = f"skipped entry {entry['workload']!r}"
    _check_spec(source, where, entry)
    if "scenario" in entry:
        _check_labels(source, where, entry)


def _check_replicates(source: str, bench: Mapping[str, Any]) -> None:
    entries = bench["extra_info"].get("replicates")
    if entries is None:
        return
    where = f"benchmark {bench.get('name', '?')!r}"
    if not isinstance(entries, list) or not entries:
        raise InputError(source, f"{where}: extra_info replicates must be a non-empty list")
    for entry in entries:
        if not isinstance(entry, dict) or any(key not in entry for key in REPLICATE_KEYS
                                              if key not in LATE_REPLICATE_KEYS):
            raise InputError(source, f"{where}: each replicate must hold "
                                     f"{', '.join(k for k in REPLICATE_KEYS if k not in LATE_REPLICATE_KEYS)}")
        pipelined = entry.get("pipelined_median")
        if pipelined is not None and not (_is_finite_number(pipelined) and 0 < pipelined <= MAX_SECONDS):
            raise InputError(source, f"{where}: replicate pipelined_median must be a number of seconds above 0 "
                                     f"and at most 86400, or null, got {_short(pipelined)}")
        if not (_is_count(entry["rounds"]) and entry["rounds"] >= 1):
            raise InputError(source, f"{where}: replicate rounds must be an integer >= 1, "
                                     f"got {_short(entry['rounds'])}")
        if entry["interleaved_rounds"] is not None and not _is_count(entry["interleaved_rounds"]):
            raise InputError(source, f"{where}: replicate interleaved_rounds must be an integer >= 0 or null, "
                                     f"got {_short(entry['interleaved_rounds'])}")
        if not _is_finite_number(entry["median"]) or entry["median"] < 0:
            raise InputError(source, f"{where}: replicate median must be a number >= 0, got {entry['median']!r}")
        interleaved = entry["interleaved_median"]
        if interleaved is not None and not (_is_finite_number(interleaved) and interleaved >= 0):
            raise InputError(source, f"{where}: replicate interleaved_median must be a number >= 0 or null, "
                                     f"got {interleaved!r}")
        if entry["peak_tensor_bytes"] is not None and not _is_count(entry["peak_tensor_bytes"]):
            raise InputError(source, f"{where}: replicate peak_tensor_bytes must be an integer >= 0 or null, "
                                     f"got {entry['peak_tensor_bytes']!r}")


def _check_invalid(source: str, entry: Any) -> None:
    if not isinstance(entry, dict) or any(key not in entry for key in INVALID_KEYS):
        raise InputError(source, f"invalid entry {entry!r:.80} must hold {', '.join(INVALID_KEYS)}")
    where = f"invalid entry {entry['scenario']!r}/{entry['variant']!r}"
    _check_spec(source, where, entry)
    _check_labels(source, where, entry)
    if not isinstance(entry["error"], str):
        raise InputError(source, f"{where}: error must be a string (PyTorch's message), got {entry['error']!r}")


def _check_unique(source: str, infos: Sequence[Mapping[str, Any]], keys: Sequence[str] = SPEC_KEYS,
                  what: str = "case") -> None:
    seen: set[tuple[Any, ...]] = set()
    for info in infos:
        key = tuple(info[k] for k in keys)
        if key in seen:
            raise InputError(source, f"{what} {'/'.join(map(str, key))} appears twice")
        seen.add(key)


# Integers beyond this are not counts of anything (and overflow a float, or numpy's int64).
MAX_INTEGER = 2**62


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INTEGER


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) <= MAX_INTEGER  # math.isfinite would overflow on 10**400
    return isinstance(value, float) and math.isfinite(value)


def _case_row(run: Run, bench: Mapping[str, Any]) -> dict[str, Any]:
    info, stats = bench["extra_info"], bench["stats"]
    row: dict[str, Any] = {"run": run.label}
    row.update({key: info[key] for key in SPEC_KEYS})
    row.update({key: info.get(key) for key in METRIC_KEYS})
    row.update({key: stats.get(key) for key in STAT_KEYS})
    row["samples"] = _samples(run, bench)
    # The comparison figures, by the one rule (bench_lib.analysis.physics.has_interleaved).
    row["cmp_interleaved"] = has_interleaved(info)
    row["cmp_median"] = compared_median(bench)
    interleaved = info.get("interleaved_data")
    row["cmp_samples"] = (_numbers(run, bench, interleaved, "extra_info interleaved_data")
                          if row["cmp_interleaved"] and interleaved else row["samples"])
    import numpy as np

    replicates = info.get("replicates") or [{"median": stats["median"], "interleaved_median": info.get(
        "interleaved_median"), "peak_tensor_bytes": info.get("peak_tensor_bytes"),
        "pipelined_median": info.get("pipelined_median")}]
    row["rep_medians"] = np.array([entry["median"] for entry in replicates], dtype=float)
    # The interleaved-or-own rule, per replicate, as for cmp_median.
    row["rep_cmp"] = np.array([entry["interleaved_median"] if row["cmp_interleaved"] else entry["median"]
                               for entry in replicates], dtype=float)
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
    info, stats = bench["extra_info"], bench["stats"]
    _samples(run, bench)  # the same check as the mode matrix's, though the samples are not kept
    row: dict[str, Any] = {"run": run.label}
    row.update({key: info[key] for key in (*SCENARIO_LABELS, *SPEC_KEYS)})
    row.update({key: info.get(key) for key in (*METRIC_KEYS, *PARAMETER_KEYS)})
    row.update({key: stats.get(key) for key in STAT_KEYS})
    return row


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
