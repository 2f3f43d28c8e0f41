"""Units and number formatting: one unit per table or axis, chosen from the data."""

from __future__ import annotations

import math
from collections.abc import Iterable

_TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))
_BYTE_UNITS = ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"), (1, "B"))


def time_unit(seconds: Iterable[float]) -> tuple[float, str]:
    """The largest unit in which the smallest positive value is at least 1 (ns at the bottom)."""
    positive = [s for s in seconds if s > 0 and math.isfinite(s)]
    smallest = min(positive, default=1.0)
    return next(((scale, name) for scale, name in _TIME_UNITS if smallest >= scale), _TIME_UNITS[-1])


def byte_unit(counts: Iterable[float]) -> tuple[float, str]:
    """The largest unit in which the largest value is at least 1, so big numbers stay short."""
    largest = max((abs(c) for c in counts if math.isfinite(c)), default=0.0)
    return next(((scale, name) for scale, name in _BYTE_UNITS if largest >= scale), _BYTE_UNITS[-1])


def format_bytes(count: float) -> str:
    scale, name = byte_unit([count])
    return f"{count / scale:.1f} {name}" if scale > 1 else f"{count:.0f} B"


def format_seconds(seconds: float) -> str:
    scale, name = time_unit([seconds])
    return f"{number(seconds / scale)} {name}"


def number(value: float) -> str:
    """Three significant digits without exponents: 1234 -> "1234", 12.34 -> "12.3", 0.1234 -> "0.123"."""
    if not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}"


def size_label(size: int) -> str:
    """2^k for powers of two, else the number itself."""
    size = int(size)
    exponent = size.bit_length() - 1
    return f"2^{exponent}" if size == 1 << exponent else str(size)
