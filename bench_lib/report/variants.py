"""A scenario's variants and groups in reading order, with their colours, shared by the page,
the scenario plots and scenarios.csv."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from bench_lib.report.style import VARIANT_COLORS, VARIANT_HATCHES
from bench_lib.schema import FREEZING_VARIANTS, INPLACE_VARIANTS, ZERO_GRAD_VARIANTS
from bench_lib.units import size_label

KNOWN_VARIANTS = {"zero_grad": ZERO_GRAD_VARIANTS, "freezing": FREEZING_VARIANTS, "inplace": INPLACE_VARIANTS}
# The variant each scenario's ratios are taken against (accumulation: the full batch).
REFERENCE = {"accumulation": "k=1", "zero_grad": "zero_", "freezing": "all_trainable", "inplace": "relu"}
_K = re.compile(r"^k=(\d+)$")
UNKNOWN = 10**9

GroupKey = tuple[str, str, str, int]  # workload, device, dtype, size: a claim's group
Style = tuple[str, str]  # colour, hatch


def variant_rank(scenario: str, variant: str) -> int:
    """Accumulation's variants by k ("k=2" before "k=16"); the others as schema lists them;
    a variant this report does not know comes last."""
    if scenario == "accumulation":
        match = _K.match(variant)
        return int(match.group(1)) if match else UNKNOWN
    known = KNOWN_VARIANTS.get(scenario, ())
    return known.index(variant) if variant in known else UNKNOWN


def ordered_variants(scenario: str, variants: Iterable[str]) -> list[str]:
    return sorted(set(variants), key=lambda variant: (variant_rank(scenario, variant), variant))


def styles(keys: Iterable[str]) -> dict[str, Style]:
    """A colour and hatch per key (variant or group label), by position: pass the keys in order."""
    unique = list(dict.fromkeys(keys))
    return {key: (VARIANT_COLORS[i % len(VARIANT_COLORS)], VARIANT_HATCHES[i % len(VARIANT_HATCHES)])
            for i, key in enumerate(unique)}


def group_key(record: Mapping[str, Any]) -> GroupKey:
    return (str(record["workload"]), str(record["device"]), str(record["dtype"]), int(record["size"]))


def group_label(key: GroupKey) -> str:
    """As bench_lib.claims names a group in its sentences, e.g. "mlp n=2^18 cpu float32"."""
    workload, device, dtype, size = key
    return f"{workload} n={size_label(size)} {device} {dtype}"


def short_labels(groups: Iterable[GroupKey]) -> tuple[str, dict[GroupKey, str]]:
    """What the groups share (for a title) and what tells each apart (for ticks and legends):
    "mlp cpu float32" and {key: "n=2^18", ...} when only the size differs."""
    keys = sorted(set(groups))
    varies = [len({key[i] for key in keys}) > 1 for i in range(4)]
    if len(keys) <= 1:
        return (group_label(keys[0]) if keys else ""), {key: group_label(key) for key in keys}

    def parts(key: GroupKey, varying: bool) -> str:
        workload, device, dtype, size = key
        named = [(workload, varies[0]), (f"n={size_label(size)}", varies[3]), (device, varies[1]), (dtype, varies[2])]
        return " ".join(text for text, differs in named if differs == varying)

    return parts(keys[0], False), {key: parts(key, True) for key in keys}
