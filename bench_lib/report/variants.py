"""A scenario's groups in reading order, with their colours and labels, shared by the page, the
scenario plots and scenarios.csv (a scenario's variants are ordered by Scenario.ordered)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench_lib.contract.units import size_label
from bench_lib.report.style import VARIANT_COLORS, VARIANT_HATCHES

GroupKey = tuple[str, str, str, int]  # workload, device, dtype, size: a claim's group
Style = tuple[str, str]  # colour, hatch


def styles(keys: Iterable[str]) -> dict[str, Style]:
    """A colour and hatch per key (variant or group label), by position: pass the keys in order."""
    unique = list(dict.fromkeys(keys))
    return {key: (VARIANT_COLORS[i % len(VARIANT_COLORS)], VARIANT_HATCHES[i % len(VARIANT_HATCHES)])
            for i, key in enumerate(unique)}


def group_key(record: Mapping[str, Any]) -> GroupKey:
    return (str(record["workload"]), str(record["device"]), str(record["dtype"]), int(record["size"]))


def group_label(key: GroupKey) -> str:
    """As bench_lib.analysis.claims names a group in its sentences, e.g. "mlp n=2^18 cpu float32"."""
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
