"""The terminal summary printed at the end of a benchmark run: one table per workload x pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bench_lib import physics
from bench_lib.schema import MODES

_TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns"))


def time_unit(seconds: float) -> tuple[float, str]:
    """The largest unit in which ``seconds`` is at least 1 (ns at the bottom)."""
    for scale, name in _TIME_UNITS:
        if seconds >= scale:
            return scale, name
    return _TIME_UNITS[-1]


def size_label(size: int) -> str:
    exponent = size.bit_length() - 1
    return f"2^{exponent}" if size == 1 << exponent else str(size)


def format_bytes(count: float) -> str:
    for scale, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(count) >= scale:
            return f"{count / scale:.1f} {name}"
    return f"{count:.0f} B"


def format_summary(cases: Sequence[Mapping[str, object]]) -> list[str]:
    """Median time per mode (rows) and size (columns), one unit per table; then the physics check."""
    tables: dict[tuple[object, ...], dict[tuple[str, int], Mapping[str, object]]] = {}
    for case in cases:
        info = case["extra_info"]
        assert isinstance(info, Mapping)
        key = (info["workload"], info["pass"], info["device"], info["dtype"])
        tables.setdefault(key, {})[(str(info["mode"]), int(info["size"]))] = case  # type: ignore[arg-type]
    lines = [
        "gradbench summary: median time per pass; saved = bytes kept for backward; "
        "* = ratio from interleaved rounds of the modes"
    ]
    for (workload, pass_, device, dtype), cells in sorted(tables.items(), key=str):
        sizes = sorted({size for _, size in cells})
        modes = [mode for mode in MODES if any(m == mode for m, _ in cells)]
        medians = [c["stats"]["median"] for c in cells.values()]  # type: ignore[index]
        scale, unit = time_unit(min(medians))
        lines.append("")
        lines.append(f"{workload} {pass_} on {device} {dtype} (median, {unit})")
        lines.append(f"  {'mode':<16}" + "".join(f"{size_label(s):>11}" for s in sizes))
        for mode in modes:
            row = "".join(
                f"{cells[(mode, s)]['stats']['median'] / scale:>11.4g}" if (mode, s) in cells else f"{'-':>11}"  # type: ignore[index]
                for s in sizes
            )
            lines.append(f"  {mode:<16}{row}")
        if pass_ == "forward" and all(("grad", s) in cells and ("no_grad", s) in cells for s in sizes):
            ratios, sources = "", set()
            for s in sizes:
                source, grad, no_grad = physics.comparable_times(cells[("grad", s)], cells[("no_grad", s)])
                ratios += f"{grad['median'] / no_grad['median']:>10.2f}x"
                sources.add(source)
            label = "grad / no_grad" + ("*" if sources == {"interleaved"} else "")
            lines.append(f"  {label:<16}{ratios}")
        if any(("grad", s) in cells for s in sizes):
            saved = "".join(
                f"{format_bytes(cells[('grad', s)]['extra_info']['saved_bytes']):>11}"  # type: ignore[index]
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
    return lines
