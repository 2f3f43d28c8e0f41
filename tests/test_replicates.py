"""bench_lib.analysis.replicates.merge on small run documents: what the merged run says of itself."""

from __future__ import annotations

from typing import Any

import pytest
import report_fixtures

from bench_lib.analysis.replicates import merge

TIMES = {"started": "2026-01-01T10:00:00+00:00", "seconds": 1.0}


def replicate(complete: Any, samples: tuple[float, ...] = (1e-3, 1.1e-3, 1.2e-3)) -> dict[str, Any]:
    """One replicate process's run document; ``complete`` as its gradbench section says (or absent)."""
    doc = report_fixtures.run_doc([report_fixtures.case("pointwise", "grad", "forward", 1024, list(samples),
                                                        saved_bytes=4096, saved_tensor_count=1, graph_nodes=5)])
    if complete is not None:
        doc["gradbench"]["complete"] = complete
    return doc


@pytest.mark.parametrize(("flags", "complete"), [
    ((True,), True),
    ((True, True, True), True),
    ((True, False), False),  # one interrupted replicate makes the run incomplete
    ((False, True, True), False),
    ((True, None), False),  # a replicate that does not say is not taken for complete
    ((True, "yes"), False),
])
def test_a_merged_run_is_complete_only_when_every_replicate_is(flags, complete):
    merged = merge([replicate(flag) for flag in flags], [TIMES] * len(flags))
    assert merged["gradbench"]["complete"] is complete
    assert merged["gradbench"]["replicates"] == len(flags)


def test_the_merged_case_pools_every_replicates_rounds():
    merged = merge([replicate(True, (1.0, 2.0)), replicate(False, (3.0,))], [TIMES, TIMES])
    [case] = merged["benchmarks"]
    assert case["stats"]["data"] == [1.0, 2.0, 3.0] and case["stats"]["rounds"] == 3
    assert [entry["rounds"] for entry in case["extra_info"]["replicates"]] == [2, 1]
