"""The terminal summary printed at the end of a benchmark run: one table per workload x pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bench_lib.analysis import physics
from bench_lib.contract.result import CaseResult
from bench_lib.contract.schema import MODES
from bench_lib.contract.units import format_bytes, number, size_label, time_unit


def format_summary(cases: Sequence[Mapping[str, object]]) -> list[str]:
    """Median time per mode (rows) and size (columns), one unit per table; then the physics check."""
    tables: dict[tuple[object, ...], dict[tuple[str, int], CaseResult]] = {}
    for case in map(CaseResult.of, cases):
        tables.setdefault((case.workload, case.pass_, case.device, case.dtype), {})[(case.mode, case.size)] = case
    lines = [
        "gradbench summary: median time per pass (forward: of the interleaved rounds of the modes, as the "
        "ratios); saved = bytes kept for backward; * = ratio from interleaved rounds"
    ]
    for (workload, pass_, device, dtype), cells in sorted(tables.items(), key=str):
        sizes = sorted({size for _, size in cells})
        modes = [mode for mode in MODES if any(m == mode for m, _ in cells)]
        medians = [c.compared_median for c in cells.values()]
        scale, unit = time_unit(medians)
        lines.append("")
        lines.append(f"{workload} {pass_} on {device} {dtype} (median, {unit})")
        lines.append(f"  {'mode':<16}" + "".join(f"{size_label(s):>11}" for s in sizes))
        for mode in modes:
            row = "".join(
                f"{number(cells[(mode, s)].compared_median / scale):>11}"
                if (mode, s) in cells else f"{'-':>11}"
                for s in sizes
            )
            lines.append(f"  {mode:<16}{row}")
        if pass_ == "forward" and all(("grad", s) in cells and ("no_grad", s) in cells for s in sizes):
            ratios, sources = "", set()
            for s in sizes:
                source, grad, no_grad = physics.comparable_times(cells[("grad", s)], cells[("no_grad", s)])
                ratios += f"{grad.median / no_grad.median:>10.2f}x"
                sources.add(source)
            label = "grad / no_grad" + ("*" if sources == {"interleaved"} else "")
            lines.append(f"  {label:<16}{ratios}")
        if any(("grad", s) in cells for s in sizes):
            saved = "".join(
                f"{format_bytes(cells[('grad', s)].saved_bytes or 0):>11}"
                if ("grad", s) in cells
                else f"{'-':>11}"
                for s in sizes
            )
            lines.append(f"  {'saved (grad)':<16}{saved}")
    problems = physics.violations(cases)
    lines.append("")
    busy = physics.contended(cases)
    if busy:
        worst = ", ".join(f"{name} {share:.0%}" for name, share in busy[:3])
        lines.append(
            f"contention: {len(busy)} case(s) were timed while other processes used more than "
            f"{physics.CONTENDED_FRACTION:.0%} of the CPUs; their times are suspect (worst: {worst})"
        )
    if problems:
        lines.append(f"physics check: {len(problems)} violation(s) -- these numbers are artifacts, not findings:")
        lines.extend(f"  {problem}" for problem in problems)
    else:
        lines.append("physics check: ok (grad forward never faster than no_grad/inference_mode beyond noise; "
                     "nothing saved outside grad)")
    lines.extend(f"  note: {note}" for note in physics.notes(cases))
    return lines
