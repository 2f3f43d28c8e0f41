"""Eager against compiled: what torch.compile changes in gradient tracking, from a run's numbers.

A compiled case's workload reads "mlp:inductor" (bench_lib.contract.cases.CaseSpec.measured_workload); it
is paired with the eager "mlp" of the same pass, size, device and dtype. Pure functions of the
run file's benchmark dicts, no torch: the terminal and the report share them. Times of an eager
and a compiled case come from separate windows (each group's modes are interleaved, the two
groups are not), so "faster" needs the noise rule of bench_lib.analysis.claims on their own rounds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench_lib.analysis.claims import FAILS, HOLDS
from bench_lib.analysis.physics import CUDA_GRAPHS, faster_beyond_noise
from bench_lib.contract.result import CaseResult
from bench_lib.contract.units import format_seconds, size_label

Record = Mapping[str, Any]  # a benchmark dict as saved


@dataclass(frozen=True)
class PairRow:
    """One size of an eager workload and its compiled twin, grad forward."""

    workload: str  # the compiled one, e.g. "mlp:inductor"
    device: str
    dtype: str
    size: int
    eager_saved_per_element: float | None
    compiled_saved_per_element: float | None
    eager_overhead: float | None     # grad / no_grad forward, eager: on its interleaved rounds
    compiled_overhead: float | None  # the same compiled: on their own rounds (not interleaved)
    eager_seconds: float | None      # grad forward median, the case's own rounds
    compiled_seconds: float | None
    compile_seconds: float | None    # the compiled grad forward case's first call
    recompiles: int | None
    graph_breaks: int | None
    compiled_faster: bool            # beyond noise, on their own rounds
    # reduce-overhead: the input's bytes per element, the most a static copy of it can add to what
    # the compiled graph saves (CUDA graph trees copy an input that is not a parameter into the
    # graph's static buffer; a graph that saves its input saves that copy); None elsewhere
    input_copy_per_element: float | None = None


@dataclass(frozen=True)
class CompileClaim:
    workload: str  # the compiled workload, e.g. "mlp:inductor"
    group: str     # e.g. "mlp:inductor against mlp on cpu float32"
    claim: str
    verdict: str | None  # HOLDS or FAILS; None where the figures are reported, not judged
    sentence: str


def _base(workload: str) -> tuple[str, str]:
    name, _, mode = workload.partition(":")
    return name, mode


def _index(benchmarks: Iterable[Record]) -> dict[tuple[Any, ...], CaseResult]:
    return {case.spec: case for case in map(CaseResult.of, benchmarks) if not case.is_scenario}


def pair_rows(benchmarks: Iterable[Record]) -> list[PairRow]:
    """Every size at which both a compiled workload and its eager twin ran grad forward."""
    cases = _index(benchmarks)
    rows = []
    for (workload, mode, pass_, size, device, dtype), compiled in sorted(cases.items(), key=lambda kv: str(kv[0])):
        base, compile_mode = _base(workload)
        if not compile_mode or mode != "grad" or pass_ != "forward":
            continue
        eager = cases.get((base, "grad", "forward", size, device, dtype))
        if eager is None:
            continue
        plain = {name: cases.get((name, "no_grad", "forward", size, device, dtype)) for name in (base, workload)}
        rows.append(PairRow(
            workload, device, dtype, size,
            eager.saved_bytes_per_element, compiled.saved_bytes_per_element,
            _overhead(eager, plain[base]), _overhead(compiled, plain[workload]),
            eager.stats["median"], compiled.stats["median"],
            compiled.compile_seconds, compiled.recompiles, compiled.graph_breaks,
            faster_beyond_noise(compiled.own, eager.own),
            _input_copy_per_element(compiled) if compile_mode == CUDA_GRAPHS else None,
        ))
    return sorted(rows, key=lambda r: (r.workload, r.device, r.dtype, r.size))


def _input_copy_per_element(case: CaseResult) -> float | None:
    return None if not case.elements or case.input_bytes is None else case.input_bytes / case.elements


def _saved_claim(own: Sequence[PairRow]) -> tuple[str, str, str]:
    """The claim on saved bytes, its verdict and its sentence. Under CUDA graphs (reduce-overhead)
    the graph saves a static copy of its input where eager and inductor save the input itself,
    which existed before the pass and is not counted: mlp saves 12 B per element there against
    eager's 8 B (an H200, torch 2.11: 3 tensors against 2, the third equal to the input, in the
    graph's pool). That copy is by design, so the claim allows one copy of the input."""
    per_size = ", ".join(f"{_b(r.compiled_saved_per_element)} against {_b(r.eager_saved_per_element)} "
                         f"at {size_label(r.size)}" for r in own)
    judged = [r for r in own if r.compiled_saved_per_element is not None and r.eager_saved_per_element is not None]
    more = [r for r in judged if r.compiled_saved_per_element > r.eager_saved_per_element]  # type: ignore[operator]
    copy = [r for r in own if r.input_copy_per_element is not None]
    if not copy:
        return ("The compiled grad forward saves at most what eager saves.", FAILS if more else HOLDS,
                f"saved per input element, compiled against eager: {per_size}"
                + (f": more at {', '.join(size_label(r.size) for r in more)}" if more else ""))
    beyond = [r for r in more if r.compiled_saved_per_element - (r.input_copy_per_element or 0.0)  # type: ignore[operator]
              > r.eager_saved_per_element]  # type: ignore[operator]
    copied = [r for r in more if r not in beyond]
    sentence = f"saved per input element, compiled against eager: {per_size}"
    if copied:
        sentence += ("; the CUDA graphs save "
                     + ", ".join(f"{_b(r.compiled_saved_per_element - r.eager_saved_per_element)} more at "  # type: ignore[operator]
                                 f"{size_label(r.size)}" for r in copied)
                     + f", within one static copy of the input ({_b(copied[0].input_copy_per_element)} per "
                     "element): CUDA graph trees copy an input that is not a parameter into the graph's static "
                     "buffer before each replay, and a graph that saves its input saves that copy, where eager "
                     "and inductor save the input itself (alive before the pass, so not counted)")
    if beyond:
        sentence += f"; more than that at {', '.join(size_label(r.size) for r in beyond)}"
    claim = ("The compiled grad forward saves at most what eager saves (under CUDA graphs, plus one static copy "
             "of the input).")
    return claim, FAILS if beyond else HOLDS, sentence


def _overhead(grad: CaseResult, plain: CaseResult | None) -> float | None:
    return None if plain is None else grad.compared_median / plain.compared_median


def compile_claims(benchmarks: Sequence[Record]) -> list[CompileClaim]:
    """Per compiled workload, device and dtype: what it saves against eager (judged), the overhead
    of grad over no_grad in both, where compiled beats eager, and what compiling cost."""
    rows = pair_rows(benchmarks)
    costs = _compile_costs(benchmarks)
    claims = []
    for key in dict.fromkeys((r.workload, r.device, r.dtype) for r in rows):
        own = [r for r in rows if (r.workload, r.device, r.dtype) == key]
        workload, device, dtype = key
        group = f"{workload} against {_base(workload)[0]} on {device} {dtype}"
        claims.append(CompileClaim(workload, group, *_saved_claim(own)))
        overheads = ", ".join(f"{_x(r.compiled_overhead)} against {_x(r.eager_overhead)} at {size_label(r.size)}"
                              for r in own)
        claims.append(CompileClaim(workload, group, "The per-call overhead of grad over no_grad (forward).", None,
                                   f"grad / no_grad, compiled against eager: {overheads}"))
        faster = [size_label(r.size) for r in own if r.compiled_faster]
        times = ", ".join(f"{_us(r.compiled_seconds)} against {_us(r.eager_seconds)} at {size_label(r.size)}"
                          for r in own)
        claims.append(CompileClaim(workload, group, "Where the compiled grad forward beats eager.", None,
                                   (f"beyond noise at {', '.join(faster)}" if faster else "at no measured size")
                                   + f" ({times}; separate time windows)"))
        claims.append(CompileClaim(workload, group, "What compiling cost (never part of the timed rounds).", None,
                                   costs.get(key, "no compile figures recorded")))
    return claims


def _compile_costs(benchmarks: Sequence[Record]) -> dict[tuple[str, str, str], str]:
    totals: dict[tuple[str, str, str], list[CaseResult]] = {}
    for case in map(CaseResult.of, benchmarks):
        if not case.is_scenario and case.compile_seconds is not None:
            totals.setdefault((case.workload, case.device, case.dtype), []).append(case)
    costs = {}
    for key, cases in totals.items():
        slowest = max(cases, key=lambda case: float(case.compile_seconds or 0.0))
        where = f"{slowest.mode} {slowest.pass_} at {size_label(slowest.size)}"
        costs[key] = (f"{len(cases)} cases, first calls {sum(float(c.compile_seconds or 0.0) for c in cases):.1f} s "
                      f"in all, the slowest {float(slowest.compile_seconds or 0.0):.1f} s ({where}); "
                      f"{sum(int(c.recompiles or 0) for c in cases)} graphs compiled, "
                      f"{sum(int(c.graph_breaks or 0) for c in cases)} graph breaks")
    return costs


def _b(value: float | None) -> str:
    return "?" if value is None else f"{value:.3g} B"


def _x(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}x"


def _us(value: float | None) -> str:
    return "?" if value is None else format_seconds(value)
