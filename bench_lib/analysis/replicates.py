"""Merge the run files of independent replicate processes into one run file (schema 4).

Times vary far more between processes than between the rounds of one process (the allocator's
regime, frequency, what else the machine does: a case's median moves by 1.1-1.7x from one
process to the next on a 2-core machine while its rounds stay within a few %). A comparison
between runs therefore needs several processes per run and statistics over them. The merged
file stays an ordinary pytest-benchmark run: each case's ``stats`` pool every replicate's rounds,
and ``extra_info["replicates"]`` keeps one summary per process for the comparisons.

Pure functions on the JSON documents: no torch, no files.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench_lib.contract.result import (
    EXACT_KEYS,
    REPLICATES_SCHEMA,
    SAMPLED,
    SPEC_KEYS,
    CaseResult,
    replicate_record,
    with_figures,
)


def pooled_stats(samples: Sequence[float], iterations: int = 1) -> dict[str, Any]:
    """pytest-benchmark's own statistics of ``samples``, with the raw data, as it saves them."""
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for sample in samples:
        stats.update(sample)
    return {**stats.as_dict(), "iterations": iterations, "data": list(samples)}


def merge(docs: Sequence[Mapping[str, Any]], replicate_times: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One run document from the documents of ``len(docs)`` replicate processes, in run order.

    A case measured by only some replicates keeps the replicates that measured it. Counts that
    differ between replicates are not averaged away: the merge refuses them (ValueError), since
    they are meant to be exact.
    """
    if not docs:
        raise ValueError("no replicate run to merge")
    if len(replicate_times) != len(docs):
        raise ValueError("one replicate_times entry per replicate is needed")
    merged = copy.deepcopy(dict(docs[0]))
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for doc in docs:
        for bench in doc["benchmarks"]:
            by_name.setdefault(bench["fullname"], []).append(bench)
    merged["benchmarks"] = [_merge_case(benches) for benches in by_name.values()]
    measured = {CaseResult.of(bench).spec_key for bench in merged["benchmarks"]}
    section = merged.setdefault("gradbench", {})
    section["schema_version"] = _version(doc.get("gradbench", {}).get("schema_version") for doc in docs)
    section["skipped"] = _union_skipped(docs, measured)
    section["replicates"] = len(docs)
    section["complete"] = all(doc.get("gradbench", {}).get("complete") is True for doc in docs)
    section["replicate_times"] = [dict(times) for times in replicate_times]
    return merged


def _merge_case(benches: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    first = benches[0]
    cases = [CaseResult.of(bench) for bench in benches]
    for key in EXACT_KEYS:
        values = {case.get(key) for case in cases}
        if len(values) > 1:
            raise ValueError(f"{first['fullname']}: replicates disagree on {key} ({sorted(map(str, values))}); "
                             "it must be exact")
    data = [sample for case in cases for sample in case.stats["data"]]
    known = [case.background_cpu for case in cases if case.background_cpu is not None]
    # A replicate whose pipelined figures ran out of memory has none: the others' batch stands.
    batches = {case.pipelined_batch for case in cases} - {None}
    if len(batches) > 1:
        raise ValueError(f"{first['fullname']}: replicates disagree on pipelined_batch ({sorted(batches)})")
    figures: dict[str, Any] = {"background_cpu": max(known) if known else None,
                               "pipelined_batch": next(iter(batches), None)}
    for prefix in SAMPLED:
        figures.update(sampled(prefix, [case.get(f"{prefix}_data") for case in cases]))
    figures["schema_version"] = _version(case.schema_version for case in cases)
    return with_figures(copy.deepcopy(dict(first)), pooled_stats(data, first["stats"].get("iterations", 1)),
                        figures, [replicate_record(bench) for bench in benches])


def _version(versions: Iterable[Any]) -> int:
    """The merged document's schema version: its replicates' own (a run of an older or newer
    gradbench, measured with --against, keeps its version), and at least REPLICATES_SCHEMA, since
    a merged run holds replicate records."""
    return max([REPLICATES_SCHEMA, *(v for v in versions if isinstance(v, int) and not isinstance(v, bool))])


def sampled(prefix: str, samples: Sequence[Sequence[float] | None]) -> dict[str, Any]:
    """``<prefix>_median, _q1, _q3, _rounds, _data`` over every replicate's samples, each
    replicate's in turn; all null unless every replicate has samples."""
    if not all(samples):
        return dict.fromkeys(f"{prefix}_{name}" for name in ("median", "q1", "q3", "rounds", "data"))
    pooled = [sample for own in samples for sample in own]  # type: ignore[union-attr]
    stats = pooled_stats(pooled)
    return {f"{prefix}_median": stats["median"], f"{prefix}_q1": stats["q1"], f"{prefix}_q3": stats["q3"],
            f"{prefix}_rounds": len(pooled), f"{prefix}_data": pooled}


def _spec_key(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    """A skipped entry's key, in the order of CaseResult.spec_key."""
    return tuple(entry.get(key) for key in ("scenario", "variant", *SPEC_KEYS))


def _union_skipped(docs: Sequence[Mapping[str, Any]], measured: set[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Every replicate's skipped cases, once each, except those another replicate measured."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for doc in docs:
        for entry in doc.get("gradbench", {}).get("skipped", []):
            key = _spec_key(entry)
            if key not in measured:
                seen.setdefault(key, dict(entry))
    return list(seen.values())
