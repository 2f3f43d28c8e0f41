"""A case's result, as the run file holds it: one typed record, built from one table of fields.

``CaseResult`` *is* the table. Each field says its kind (spec, label, bytes, count, seconds,
samples, share, name, text), its unit, the heading a view gives it, the schema version that
introduced it (older runs read it as null), whether it is exact (deterministic: replicates must
agree and a comparison gates any change), whether each replicate keeps it, and whether it is
filled after the timed rounds, or whether it is derived from other fields when a case is read
(never saved). Everything else is derived from it: the run file's keys
(``CASE_KEYS``, ``SCENARIO_KEYS``, ``REPLICATE_KEYS``), the checks made when a run is read
(``check_case``), the exact-count gate's list (``EXACT_KEYS``) and the tidy tables' columns.

This is the only module that reads or writes a benchmark's ``extra_info`` by key: everything
else holds a ``CaseResult`` (``CaseResult.of(bench)``) or hands figures to ``record``.
Adding a metric: a field here, the code that measures it, and the view that shows it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_lib.contract.errors import InputError
from bench_lib.contract.schema import MAX_SIZE, MODES, NAME, PASSES, SCHEMA_VERSION

# Kinds of field, each with its rule when a run is read (``check_case``):
SPEC = "spec"          # what identifies the case (SPEC_KEYS)
LABEL = "label"        # a scenario case's scenario and variant
VERSION = "version"    # the writer's schema version
BYTES = "bytes"        # an integer >= 0 (bytes)
SIGNED_BYTES = "signed bytes"  # an integer (a net change, which can be negative)
COUNT = "count"        # an integer >= 0
SECONDS = "seconds"    # a number of seconds from 0 to a day
SAMPLES = "samples"    # a list of seconds (raw per-round samples)
BLOCKS = "blocks"      # a list of seconds (one figure per block of rounds, in pair order)
SHARE = "share"        # a fraction from 0 to 1
NAME_KIND = "name"     # a name (schema.NAME)
TEXT = "text"          # free text
RATIO = "ratio"        # a quotient of two other fields, derived when a case is read (not in the run file)
INSTRUCTIONS = "instructions"  # a number of CPU instructions >= 0 (per call: a mean, so not a whole number)
INTEGERS = (BYTES, SIGNED_BYTES, COUNT)

# Integers beyond this are not counts of anything (and overflow a float, or numpy's int64).
MAX_INTEGER = 2**62
MAX_SECONDS = 86_400.0  # a pass longer than a day is not a measurement
# The schema version that introduced replicate records (analysis.replicates).
REPLICATES_SCHEMA = 4


def _field(kind: str, heading: str = "", unit: str = "", *, since: int = 1, exact: bool = False,
           replicate: bool = False, after_rounds: bool = False, required: bool = False, key: str | None = None,
           scenario: bool = False, derive: Callable[[Mapping[str, Any]], Any] | None = None) -> Any:
    """One row of the table (see the module's docstring). ``required``: known for every case on
    every device, so never null; ``scenario``: only scenario cases hold it; ``derive``: computed
    from the case's other fields (by run-file key) when it is read, never saved."""
    metadata = {"kind": kind, "heading": heading, "unit": unit, "since": since, "exact": exact,
                "replicate": replicate, "after_rounds": after_rounds, "required": required, "key": key,
                "scenario": scenario, "derive": derive}
    return field(default=None, metadata=metadata)


@dataclass(frozen=True)
class CaseResult:
    """One measured case: its spec, its figures (null where a device cannot measure them) and
    pytest-benchmark's own name and statistics (seconds per pass, raw rounds in ``data``)."""

    # --- the spec: together unique within a run (a scenario's variants add scenario and variant)
    workload: str = _field(SPEC, "workload")
    mode: str = _field(SPEC, "mode")
    pass_: str = _field(SPEC, "pass", key="pass")
    size: int = _field(SPEC, "size", "elements")
    device: str = _field(SPEC, "device")
    dtype: str = _field(SPEC, "dtype")
    schema_version: int = _field(VERSION, "schema version")
    # elements in the workload's input actually used (size rounded to the shape)
    elements: int = _field(COUNT, "input elements", "elements", required=True)
    shape: str | None = _field(TEXT, "input shape")  # e.g. "8192x128"
    # elements * dtype itemsize: the data one pass reads at least once
    input_bytes: int = _field(BYTES, "input", "B", required=True)
    # peak live tensor bytes during the timed pass, above its start (the device probe: gross on CPU,
    # net on CUDA); null for a compiled case on CPU (the dispatch tracker would turn compilation off)
    peak_tensor_bytes: int | None = _field(BYTES, "peak tensor memory", "B", replicate=True)
    # live tensor bytes left at the end of the pass, above its start (null where peak is)
    retained_tensor_bytes: int | None = _field(SIGNED_BYTES, "retained tensor memory", "B")
    # gross, one meaning on every device (the dispatch ledger): the most bytes of tensors made during
    # the pass alive at once; null for compiled cases
    peak_new_tensor_bytes: int | None = _field(BYTES, "peak new tensor memory", "B", since=5)
    # net, the same ledger: the most tensor bytes alive above the pass's start, frees of the setup's
    # tensors (a backward's saved ones) counted
    peak_growth_tensor_bytes: int | None = _field(BYTES, "peak tensor growth", "B", since=5)
    tensor_memory_method: str | None = _field(NAME_KIND, "tensor memory method")  # dispatch-tracker, cuda-allocator
    cuda_peak_reserved_bytes: int | None = _field(BYTES, "CUDA reserve growth", "B")  # CUDA only
    peak_rss_bytes: int | None = _field(BYTES, "peak RSS growth", "B")
    rss_method: str | None = _field(NAME_KIND, "RSS method")  # vmhwm-reset or rss-delta
    # bytes saved for backward by the forward of this case's graph, each storage once, storages
    # alive before the pass excluded
    saved_bytes: int | None = _field(BYTES, "saved for backward", "B", exact=True, replicate=True)
    # the same per input element: the figure that does not grow with size
    saved_bytes_per_element: float | None = _field(
        RATIO, "saved per element", "B", derive=lambda info: None if info.get("saved_bytes") is None
        or not info.get("elements") else info["saved_bytes"] / info["elements"])
    saved_tensor_count: int | None = _field(COUNT, "saved tensors", "tensors", exact=True, replicate=True)
    # autograd nodes reachable from the loss (AccumulateGrad included)
    graph_nodes: int | None = _field(COUNT, "graph nodes", "nodes", exact=True, replicate=True)
    rounds_planned: int | None = _field(COUNT, "rounds planned", "rounds")
    # eager, inductor or reduce-overhead (torch.compile's mode)
    compile: str | None = _field(NAME_KIND, "compile", since=5)
    # compiled: the case's first call (compiling, unless an earlier case compiled the same graph),
    # never part of the timed rounds; eager: null
    compile_seconds: float | None = _field(SECONDS, "compile time", "s", since=5)
    recompiles: int | None = _field(COUNT, "graphs compiled", "graphs", since=5)
    graph_breaks: int | None = _field(COUNT, "graph breaks", "breaks", since=5)
    # CUDA forward and step passes (null elsewhere; measure.pipeline): pipelined_batch passes queued
    # back to back and one synchronize, per pass, a sample per block; GPU: the device's own time for
    # one pass between CUDA events, L2 flushed before it (null where the host could not get ahead)
    pipelined_batch: int | None = _field(COUNT, "passes per block", "passes", since=6)
    pipelined_median: float | None = _field(SECONDS, "pipelined time", "s", since=6, replicate=True)
    pipelined_q1: float | None = _field(SECONDS, "pipelined q1", "s", since=6)
    pipelined_q3: float | None = _field(SECONDS, "pipelined q3", "s", since=6)
    pipelined_rounds: int | None = _field(COUNT, "pipelined blocks", "blocks", since=6)
    pipelined_data: list[float] | None = _field(SAMPLES, "pipelined samples", "s", since=6)
    gpu_median: float | None = _field(SECONDS, "GPU time", "s", since=6)
    gpu_q1: float | None = _field(SECONDS, "GPU time q1", "s", since=6)
    gpu_q3: float | None = _field(SECONDS, "GPU time q3", "s", since=6)
    gpu_rounds: int | None = _field(COUNT, "GPU passes timed", "passes", since=6)
    gpu_data: list[float] | None = _field(SAMPLES, "GPU time samples", "s", since=6)
    # share (0-1) of all CPUs that other processes (and hypervisor steal) used during the timed
    # rounds; above schema.CONTENDED_FRACTION the times are suspect
    background_cpu: float | None = _field(SHARE, "other processes' CPU", "share", since=2, after_rounds=True,
                                          replicate=True)
    # Forward passes and scenario cases (null elsewhere): the members of a group (its modes, or a
    # scenario's variants) timed again in interleaved rounds, in one shared window, so that machine
    # drift cancels in their ratios; with replicates, each replicate's rounds in turn, in the same
    # order for every member of the group (so round i pairs up)
    interleaved_median: float | None = _field(SECONDS, "interleaved time", "s", since=3, after_rounds=True,
                                              replicate=True)
    interleaved_q1: float | None = _field(SECONDS, "interleaved q1", "s", since=3, after_rounds=True)
    interleaved_q3: float | None = _field(SECONDS, "interleaved q3", "s", since=3, after_rounds=True)
    interleaved_rounds: int | None = _field(COUNT, "interleaved rounds", "rounds", since=3, after_rounds=True,
                                            replicate=True)
    interleaved_data: list[float] | None = _field(SAMPLES, "interleaved samples", "s", since=3, after_rounds=True)
    # Time-matched A/B (bench --against; commands.ab): this checkout's block medians, seconds per pass,
    # block i paired with block i of the other run (the run's gradbench.pairing names it); null elsewhere
    paired_data: list[float] | None = _field(BLOCKS, "paired blocks", "s", since=7, after_rounds=True)
    paired_rounds: int | None = _field(COUNT, "rounds per paired block", "rounds", since=7, after_rounds=True)
    # Instruction counts (--gb-counts; bench_lib.measure.counts): the CPU instructions one call of the
    # timed pass executes, counted under callgrind with the harness removed, once per run in one
    # process, one thread; eager CPU mode-matrix cases only. Not exact (they repeat within ~0.1 %, not
    # to the instruction): compare gates them with a threshold. instructions_note: why a case has no
    # count when counts were asked for (a CUDA case, valgrind missing); all null without --gb-counts
    instructions_per_call: float | None = _field(INSTRUCTIONS, "instructions per call", "instructions", since=8,
                                                 after_rounds=True)
    instructions_calls: int | None = _field(COUNT, "calls per counted batch", "calls", since=8, after_rounds=True)
    # |first - second| / mean of two counts of the same batch size: the case's own repeatability
    instructions_spread: float | None = _field(SHARE, "instruction count spread", "share", since=8,
                                               after_rounds=True)
    instructions_note: str | None = _field(TEXT, "why no instruction count", since=8, after_rounds=True)
    # the memory allocators' own instructions per call (glibc's malloc and free, CPython's object
    # allocator), left out of instructions_per_call: they depend on the heap's history, not on the code
    instructions_allocators: float | None = _field(INSTRUCTIONS, "allocators' instructions per call",
                                                   "instructions", since=8, after_rounds=True)
    # --- scenario cases only (present in every one, null where they do not apply); a mode-matrix
    # case has no "scenario" key, and that is how a reader tells them apart
    scenario: str | None = _field(LABEL, "scenario", scenario=True, since=2)
    variant: str | None = _field(LABEL, "variant", scenario=True, since=2)  # e.g. "k=4", "relu_"
    microbatches: int | None = _field(COUNT, "micro-batches", scenario=True, since=2)  # accumulation's k
    parameter_tensors: int | None = _field(COUNT, "parameter tensors", "tensors", scenario=True, since=2)
    trainable_parameter_tensors: int | None = _field(COUNT, "trainable tensors", "tensors", scenario=True,
                                                     since=2)
    # their bytes: what one set of gradients takes
    trainable_parameter_bytes: int | None = _field(BYTES, "trainable parameters", "B", scenario=True, since=2)

    # --- pytest-benchmark's own, beside extra_info (not in the table)
    name: str = field(default="", metadata={})
    stats: Mapping[str, Any] = field(default_factory=dict, metadata={})
    # One process's view of the case per replicate (REPLICATE_KEYS); empty for a single process.
    replicates: tuple[Mapping[str, Any], ...] = field(default=(), metadata={})

    @classmethod
    def of(cls, bench: Mapping[str, Any]) -> CaseResult:
        """The case of one benchmark dict as saved (its extra_info; a key a run lacks reads as null)."""
        info = bench["extra_info"]
        values = {spec.attribute: info.get(spec.key) for spec in FIELDS if spec.derive is None}
        values.update({spec.attribute: spec.derive(info) for spec in FIELDS if spec.derive is not None})
        return cls(**values, name=str(bench.get("name", "")), stats=bench.get("stats") or {},
                   replicates=tuple(info.get("replicates") or ()))

    @property
    def is_scenario(self) -> bool:
        return self.scenario is not None

    @property
    def spec_key(self) -> tuple[Any, ...]:
        """What identifies the case in its run: the scenario and variant (None in the mode matrix),
        then SPEC_KEYS."""
        return (self.scenario, self.variant, *self.spec)

    @property
    def spec(self) -> tuple[Any, ...]:
        return (self.workload, self.mode, self.pass_, self.size, self.device, self.dtype)

    def get(self, key: str) -> Any:
        """A field by its run-file key (a scenario table's column names one)."""
        return getattr(self, BY_KEY[key].attribute)

    # --- the one rule of every comparison between the members of a group (modes, or a scenario's
    # variants): a case that has interleaved rounds is compared on them, since they shared one time
    # window with the rest of its group; otherwise on its own rounds.
    @property
    def has_interleaved(self) -> bool:
        return self.interleaved_median is not None

    @property
    def compared(self) -> Times:
        """The median and quartiles the case is shown and compared by (the rule above)."""
        if self.has_interleaved:
            return Times("interleaved", self.interleaved_median, self.interleaved_q1, self.interleaved_q3,
                         self.interleaved_data)
        return self.own

    @property
    def own(self) -> Times:
        """The case's own pytest-benchmark rounds."""
        return Times("sequential", float(self.stats["median"]), float(self.stats["q1"]), float(self.stats["q3"]),
                     self.stats.get("data"))

    @property
    def compared_median(self) -> float:
        return self.compared.median

    def compared_replicate_medians(self) -> list[float]:
        """Per replicate process, the median by the same rule (a single process: its own)."""
        if not self.replicates:
            return [self.compared_median]
        key = "interleaved_median" if self.has_interleaved else "median"
        return [float(entry[key]) for entry in self.replicates]


@dataclass(frozen=True)
class Times:
    """A case's median and quartiles from one source: its "interleaved" rounds or its own
    ("sequential") pytest-benchmark rounds, with the raw samples where saved."""

    source: str
    median: float
    q1: float
    q3: float
    data: Sequence[float] | None = None


@dataclass(frozen=True)
class Field:
    """One row of the table, as the rest of the code reads it."""

    attribute: str  # CaseResult's attribute
    key: str        # the run file's key
    kind: str
    heading: str
    unit: str
    since: int
    exact: bool
    replicate: bool
    after_rounds: bool
    required: bool
    scenario: bool
    derive: Callable[[Mapping[str, Any]], Any] | None


FIELDS: tuple[Field, ...] = tuple(
    Field(attribute=f.name, key=f.metadata["key"] or f.name,
          **{k: v for k, v in f.metadata.items() if k != "key"})
    for f in dataclasses.fields(CaseResult) if f.metadata
)
BY_KEY: dict[str, Field] = {spec.key: spec for spec in FIELDS}

SPEC_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.kind == SPEC)
# Everything in a measured mode-matrix case's extra_info (a scenario case adds SCENARIO_KEYS).
CASE_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if not f.scenario and f.derive is None)
SCENARIO_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.scenario)
# Filled after the timed rounds (the runner leaves them out of the first record).
AFTER_ROUNDS_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.after_rounds)
INTERLEAVED_KEYS: tuple[str, ...] = tuple(k for k in CASE_KEYS if k.startswith("interleaved_"))
# Keys that joined the schema after runs had been saved: older files lack them, and they read as
# null (unknown) instead of making those runs unreadable.
LATE_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.since > 1 and not f.scenario and f.derive is None)
# The deterministic counts: replicates of a case must agree on them, and compare gates any change.
EXACT_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.exact)
# Extra figures kept as raw samples (``<prefix>_data``) beside their median and quartiles.
SAMPLED: tuple[str, ...] = tuple(f.key.removesuffix("_data") for f in FIELDS if f.kind == SAMPLES)
# The metrics a table of cases holds (raw samples stay out: the tables read their medians).
METRIC_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.kind not in (SPEC, VERSION, SAMPLES, LABEL)
                                     and not f.scenario)
PAIRED_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.kind == BLOCKS) + ("paired_rounds",)
# The instruction counts (--gb-counts), measured once per run rather than per replicate.
COUNT_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.key.startswith("instructions_"))
PARAMETER_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.scenario and f.kind != LABEL
                                        and f.key != "microbatches")

# One process's view of a case, kept per replicate in a merged run's extra_info["replicates"] (a
# list, one entry per process that measured the case). Times vary between processes far more than
# between the rounds of one, so comparisons between runs are made on these, never on pooled rounds.
REPLICATE_STATS = ("median", "q1", "q3", "rounds")  # of that process's timed rounds (seconds)
REPLICATE_KEYS: tuple[str, ...] = REPLICATE_STATS + tuple(f.key for f in FIELDS if f.replicate)
# Replicate keys that records written before they joined the schema lack (read as null).
LATE_REPLICATE_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.replicate and f.since > REPLICATES_SCHEMA)


def heading(key: str) -> str:
    """The column heading of a field, with its unit where it has one."""
    spec = BY_KEY[key]
    return f"{spec.heading} ({spec.unit})" if spec.unit and spec.unit not in ("share",) else spec.heading


# --- writing ---------------------------------------------------------------------------------


def record(extra_info: MutableMapping[str, Any], figures: Mapping[str, Any]) -> None:
    """Add a case's ``figures`` to its extra_info (pytest-benchmark's fixture's): only fields of the
    table, so a typo cannot write a key no reader knows."""
    _check_keys(figures)
    extra_info.update(figures)


def _check_keys(figures: Mapping[str, Any]) -> None:
    unknown = [key for key in figures if key not in BY_KEY]
    if unknown:
        raise KeyError(f"not fields of a case's result: {', '.join(unknown)}")


def is_case(bench: Mapping[str, Any]) -> bool:
    """A gradbench case: its extra_info holds the spec (other benchmarks in a file are ignored)."""
    return has_spec(bench.get("extra_info"))


def has_spec(entry: Any) -> bool:
    """An object holding every spec key (a case's extra_info, or a skipped entry)."""
    return isinstance(entry, dict) and all(key in entry for key in SPEC_KEYS)


def is_scenario_case(bench: Mapping[str, Any]) -> bool:
    return "scenario" in bench["extra_info"]


def replicate_record(bench: Mapping[str, Any]) -> dict[str, Any]:
    """One process's REPLICATE_KEYS for one case."""
    info, stats = bench["extra_info"], bench["stats"]
    entry = {key: stats[key] for key in REPLICATE_STATS}
    entry.update({key: info.get(key) for key in REPLICATE_KEYS if key not in entry})
    return entry


def with_figures(bench: Mapping[str, Any], stats: Mapping[str, Any], figures: Mapping[str, Any],
                 replicates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A copy of ``bench`` with new pytest-benchmark ``stats``, its extra_info updated with ``figures``
    (fields of the table) and its replicate records."""
    _check_keys(figures)
    info = {**bench["extra_info"], **figures, "replicates": [dict(entry) for entry in replicates]}
    return {**bench, "stats": dict(stats), "extra_info": info}


def with_pairs(doc: Mapping[str, Any], pairs: Mapping[tuple[Any, ...], tuple[Sequence[float], int]],
               pairing: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of run document ``doc`` whose cases hold their time-matched blocks (``pairs``, by
    CaseResult.spec: the block medians and the rounds per block) and whose gradbench section
    records the ``pairing`` (its id, this run's side, the pairs per case)."""
    benchmarks = []
    for bench in doc["benchmarks"]:
        found = pairs.get(CaseResult.of(bench).spec) if is_case(bench) else None
        figures = {"paired_data": list(found[0]), "paired_rounds": found[1]} if found else \
            {"paired_data": None, "paired_rounds": None}
        benchmarks.append({**bench, "extra_info": {**bench["extra_info"], **figures}} if is_case(bench) else bench)
    return {**doc, "benchmarks": benchmarks, "gradbench": {**doc.get("gradbench", {}), "pairing": dict(pairing)}}


# --- reading: the checks made on every case of a run file -------------------------------------


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INTEGER


def is_finite_number(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) <= MAX_INTEGER  # math.isfinite would overflow on 10**400
    return isinstance(value, float) and math.isfinite(value)


def short(value: Any) -> str:
    """A value for an error message: repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_version(source: str, where: str, version: Any) -> None:
    if not isinstance(version, int) or version < 1:
        raise InputError(source, f"{where} schema_version must be a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise InputError(source, f"{where} schema_version {version} is newer than this report reads ({SCHEMA_VERSION})")


def check_spec(source: str, where: str, entry: Mapping[str, Any]) -> None:
    """The spec keys of a case, or of a skipped or rejected entry."""
    if entry["mode"] not in MODES:
        raise InputError(source, f"{where}: mode must be one of {', '.join(MODES)}, got {entry['mode']!r}")
    if entry["pass"] not in PASSES:
        raise InputError(source, f"{where}: pass must be one of {', '.join(PASSES)}, got {entry['pass']!r}")
    if not is_count(entry["size"]) or not 1 <= entry["size"] <= MAX_SIZE:
        raise InputError(source, f"{where}: size must be an integer from 1 to 2^50, got {short(entry['size'])}")
    for key in ("workload", "device", "dtype"):
        if not isinstance(entry[key], str) or not NAME.fullmatch(entry[key]):
            raise InputError(source, f"{where}: {key} must be a name: a letter or digit, then letters, "
                                     f"digits and _ . : + = - (at most 80), got {short(entry[key])}")


# The rule of each kind, as the error states it; (check, what it must be).
_KIND_RULES = {
    BYTES: (is_count, "an integer >= 0"),
    COUNT: (is_count, "an integer >= 0"),
    SIGNED_BYTES: (lambda v: isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_INTEGER,
                   "an integer"),
    SECONDS: (lambda v: is_finite_number(v) and 0 <= v <= MAX_SECONDS, "a number of seconds from 0 to 86400"),
    SAMPLES: (lambda v: isinstance(v, list) and all(is_finite_number(s) and 0 <= s <= MAX_SECONDS for s in v),
              "a list of seconds from 0 to 86400"),
    BLOCKS: (lambda v: isinstance(v, list) and all(is_finite_number(s) and 0 < s <= MAX_SECONDS for s in v),
             "a list of seconds above 0, at most 86400"),
    SHARE: (lambda v: is_finite_number(v) and 0 <= v <= 1, "a share from 0 to 1"),
    INSTRUCTIONS: (lambda v: is_finite_number(v) and 0 <= v <= MAX_INTEGER, "a number of instructions >= 0"),
    NAME_KIND: (lambda v: isinstance(v, str) and NAME.fullmatch(v) is not None,
                "a name of letters, digits and _ . : + = -"),
    TEXT: (lambda v: isinstance(v, str), "a string"),
}
STAT_SECONDS = ("median", "q1", "q3", "iqr", "min", "max", "mean", "stddev")


def check_case(source: str, bench: Mapping[str, Any]) -> None:
    """A measured case's extra_info and stats, by the table's kinds; InputError names the rule."""
    where = f"benchmark {bench.get('name', '?')!r}"
    info = bench["extra_info"]
    missing = [key for key in CASE_KEYS if key not in info and key not in LATE_KEYS]
    if missing:
        raise InputError(source, f"{where}: extra_info lacks {', '.join(missing)}")
    check_version(source, where, info["schema_version"])
    check_spec(source, where, info)
    stats = bench.get("stats")
    if not isinstance(stats, dict):
        raise InputError(source, f"{where}: no 'stats' object")
    for key in STAT_SECONDS:
        if not is_finite_number(stats.get(key)) or not 0 <= stats[key] <= MAX_SECONDS:
            raise InputError(source, f"{where}: stats {key} must be a number of seconds from 0 to 86400, "
                                     f"got {short(stats.get(key))}")
    if stats["median"] <= 0:
        raise InputError(source, f"{where}: stats median must be above 0 (a pass takes time), got {stats['median']!r}")
    _check_fields(source, where, info)
    if not isinstance(stats.get("rounds"), int) or stats["rounds"] < 1:
        raise InputError(source, f"{where}: stats rounds must be an integer >= 1, got {stats.get('rounds')!r}")
    if not isinstance(stats.get("data", []), list):
        raise InputError(source, f"{where}: stats data must be a list of numbers >= 0")
    if not isinstance(bench.get("name"), str):
        raise InputError(source, f"{where}: no 'name' string")
    _check_replicates(source, where, info.get("replicates"))


def _check_fields(source: str, where: str, info: Mapping[str, Any]) -> None:
    for spec in FIELDS:
        if spec.kind not in _KIND_RULES or spec.scenario:
            continue
        value = info.get(spec.key)
        valid, rule = _KIND_RULES[spec.kind]
        if value is None and not spec.required:
            continue
        if value is None or not valid(value):
            nullable = "" if spec.required else " or null"
            raise InputError(source, f"{where}: {spec.key} must be {rule}{nullable}, got {short(value)}")
    for prefix in SAMPLED:
        # A pass takes time: a median of 0 is not a measurement.
        if info.get(f"{prefix}_median") == 0:
            raise InputError(source, f"{where}: {prefix}_median must be above 0 (a pass takes time), got 0")
        samples, rounds = info.get(f"{prefix}_data"), info.get(f"{prefix}_rounds")
        if samples is not None and rounds is not None and rounds != len(samples):
            raise InputError(source, f"{where}: {prefix}_rounds must equal the {len(samples)} samples of "
                                     f"{prefix}_data, got {short(rounds)}")
        if samples is not None and rounds is None and prefix != "interleaved":
            raise InputError(source, f"{where}: {prefix}_rounds must equal the {len(samples)} samples of "
                                     f"{prefix}_data, got None")


# Metrics that may be null in the mode matrix but that analysis.claims reads as integers.
CLAIM_METRICS = ("peak_tensor_bytes", "saved_bytes", "graph_nodes")


def check_scenario_case(source: str, bench: Mapping[str, Any]) -> None:
    """SCENARIO_KEYS on top of check_case's rules, and the metrics the claims read."""
    where = f"benchmark {bench.get('name', '?')!r}"
    info = bench["extra_info"]
    missing = [key for key in SCENARIO_KEYS if key not in info]
    if missing:
        raise InputError(source, f"{where}: extra_info of a scenario case lacks {', '.join(missing)}")
    check_labels(source, where, info)
    for key in PARAMETER_KEYS:
        if info[key] is not None and not is_count(info[key]):
            raise InputError(source, f"{where}: {key} must be an integer >= 0 or null, got {info[key]!r}")
    for key in CLAIM_METRICS:
        # A compiled case on CPU has no tensor probe (a dispatch mode would turn compilation off).
        unprobed = (key == "peak_tensor_bytes" and info[key] is None and info.get("compile") not in (None, "eager")
                    and info.get("tensor_memory_method") == "none-under-compile")
        if not is_count(info[key]) and not unprobed:
            raise InputError(source, f"{where}: {key} must be an integer >= 0 in a scenario case "
                                     f"(its claim is checked from it), got {info[key]!r}")


def check_labels(source: str, where: str, entry: Mapping[str, Any]) -> None:
    """A scenario entry's variant and micro-batches (whether its scenario is known is the report's
    question: it needs the scenario's definition)."""
    if not isinstance(entry.get("scenario"), str) or not NAME.fullmatch(entry["scenario"]):
        raise InputError(source, f"{where}: scenario must be a name, got {short(entry.get('scenario'))}")
    if not isinstance(entry.get("variant"), str) or not NAME.fullmatch(entry["variant"]):
        raise InputError(source, f"{where}: variant must be a name: a letter or digit, then letters, digits and "
                                 f"_ . : + = - (at most 80), got {short(entry.get('variant'))}")
    k = entry.get("microbatches")
    if entry["scenario"] == "accumulation" and "microbatches" in entry and not (is_count(k) and k >= 1):
        raise InputError(source, f"{where}: microbatches of an accumulation case must be an integer >= 1, got {k!r}")


def _check_replicates(source: str, where: str, entries: Any) -> None:
    if entries is None:
        return
    if not isinstance(entries, list) or not entries:
        raise InputError(source, f"{where}: extra_info replicates must be a non-empty list")
    needed = [key for key in REPLICATE_KEYS if key not in LATE_REPLICATE_KEYS]
    for entry in entries:
        if not isinstance(entry, dict) or any(key not in entry for key in needed):
            raise InputError(source, f"{where}: each replicate must hold {', '.join(needed)}")
        pipelined = entry.get("pipelined_median")
        if pipelined is not None and not (is_finite_number(pipelined) and 0 < pipelined <= MAX_SECONDS):
            raise InputError(source, f"{where}: replicate pipelined_median must be a number of seconds above 0 "
                                     f"and at most 86400, or null, got {short(pipelined)}")
        if not (is_count(entry["rounds"]) and entry["rounds"] >= 1):
            raise InputError(source, f"{where}: replicate rounds must be an integer >= 1, got {short(entry['rounds'])}")
        if entry["interleaved_rounds"] is not None and not is_count(entry["interleaved_rounds"]):
            raise InputError(source, f"{where}: replicate interleaved_rounds must be an integer >= 0 or null, "
                                     f"got {short(entry['interleaved_rounds'])}")
        if not is_finite_number(entry["median"]) or entry["median"] < 0:
            raise InputError(source, f"{where}: replicate median must be a number >= 0, got {entry['median']!r}")
        interleaved = entry["interleaved_median"]
        if interleaved is not None and not (is_finite_number(interleaved) and interleaved >= 0):
            raise InputError(source, f"{where}: replicate interleaved_median must be a number >= 0 or null, "
                                     f"got {interleaved!r}")
        if entry["peak_tensor_bytes"] is not None and not is_count(entry["peak_tensor_bytes"]):
            raise InputError(source, f"{where}: replicate peak_tensor_bytes must be an integer >= 0 or null, "
                                     f"got {entry['peak_tensor_bytes']!r}")


def cases_of(benchmarks: Iterable[Mapping[str, Any]]) -> list[CaseResult]:
    return [CaseResult.of(bench) for bench in benchmarks]


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
    scenario_benchmarks: Sequence[Mapping[str, Any]]  # scenario cases (SCENARIO_KEYS), as saved
    scenario_skipped: Sequence[Mapping[str, Any]]     # skipped scenario cases, with "reason"
    invalid: Sequence[Mapping[str, Any]]              # scenario cases autograd rejected (schema.INVALID_KEYS)
    ignored_benchmarks: int  # benchmarks in the file without gradbench extra_info
    # Replicate processes merged into the file (schema 4); None for a file without that record
    # (written by pytest directly, or before schema 4): it has no process-to-process noise to show.
    replicates: int | None = None
    complete: bool | None = None  # False: interrupted or a case failed; None: not recorded (schema < 4)
    # A time-matched A/B (schema 7): {"id", "side": "base" or "new", "against", "pairs", ...}; None otherwise.
    pairing: Mapping[str, Any] | None = None
    # Instruction counts (schema 8, --gb-counts): the run's record (schema.COUNTS_KEYS); None without.
    counts: Mapping[str, Any] | None = None

    @property
    def scenario_cases(self) -> int:
        """Scenario cases of every kind: measured, skipped or rejected by autograd."""
        return len(self.scenario_benchmarks) + len(self.scenario_skipped) + len(self.invalid)
