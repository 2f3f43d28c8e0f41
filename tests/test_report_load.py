"""Reading run files: the tidy table, run ids, and validation at the edge."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import report_fixtures

from bench_lib.contract import runs
from bench_lib.contract.errors import InputError
from bench_lib.contract.result import CASE_KEYS, SPEC_KEYS
from bench_lib.contract.schema import SCHEMA_VERSION
from bench_lib.report.build import analyse, write_report
from bench_lib.report.load import SCENARIO_COLUMNS, load_runs
from bench_lib.scenarios import SCENARIOS

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def test_small_run_loads_one_row_per_case() -> None:
    loaded = load_runs([DATA / "report_small.json"])
    assert len(loaded.cases) == 52 and len(loaded.skipped) == 5
    assert not loaded.cases.duplicated(list(SPEC_KEYS)).any()
    assert set(loaded.cases["run"]) == {"report_small"}
    assert all(len(s) == 15 for s in loaded.cases["samples"])
    assert loaded.runs[0].environment["threads"] == 2
    assert set(loaded.skipped["reason"]) == {"CUDA is not available on this machine",
                                             "needs 1.2 GiB, more than the 1.0 GiB memory cap"}


def test_primary_run_is_the_newest(tmp_path: Path) -> None:
    loaded = load_runs([DATA / "report_cuda_single_size.json", DATA / "report_small.json"])
    assert loaded.primary.label == "report_cuda_single_size"  # 2026-01-06, the small run is 2026-01-05


def _write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    doc = json.loads((DATA / "report_single_mode.json").read_text())
    root = tmp_path / ".benchmarks"
    _write(root / "Linux-A" / "0001_quick.json", doc)
    _write(root / "Linux-B" / "0001_quick.json", doc)
    newest = _write(root / "Linux-A" / "0002_default.json", doc)
    os.utime(newest, (2_000_000_000, 2_000_000_000))
    return root


def test_run_number_names_one_run_per_machine(storage: Path) -> None:
    assert [p.parent.name for p in runs.resolve("0001", storage)] == ["Linux-A", "Linux-B"]
    assert runs.resolve("0002", storage) == [storage / "Linux-A" / "0002_default.json"]


def test_glob_path_and_latest(storage: Path) -> None:
    assert len(runs.resolve(str(storage / "*" / "*.json"), storage)) == 3
    path = storage / "Linux-B" / "0001_quick.json"
    assert runs.resolve(str(path), storage) == [path]
    assert runs.resolve_all([], storage) == [storage / "Linux-A" / "0002_default.json"]
    assert len(runs.resolve_all(["0001", str(path)], storage)) == 2  # named twice, kept once


def test_same_stem_on_two_machines_gets_the_machine_in_its_label(storage: Path) -> None:
    loaded = load_runs(runs.resolve("0001", storage))
    assert [run.label for run in loaded.runs] == ["Linux-A/0001_quick", "Linux-B/0001_quick"]


@pytest.mark.parametrize(("run_id", "problem"), [
    ("0042", "no run numbered 0042"),
    ("nothing-*.json", "the glob matches no file"),
    ("missing.json", "no such file"),
])
def test_unknown_run_ids(storage: Path, run_id: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as info:
        runs.resolve(run_id, storage)
    assert info.value.source == run_id


def test_a_baseline_must_name_one_run(storage: Path) -> None:
    with pytest.raises(InputError, match="names 2 runs"):
        runs.resolve_one("0001", storage)


def test_no_saved_runs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no saved runs"):
        runs.resolve_all([], tmp_path / ".benchmarks")


def _broken(tmp_path: Path, change: Any) -> Path:
    doc = json.loads((DATA / "report_single_mode.json").read_text())
    change(doc)
    return _write(tmp_path / "broken.json", doc)


def _first_info(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["benchmarks"][0]["extra_info"]


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: _first_info(d).pop("saved_bytes"), "extra_info lacks saved_bytes"),
    (lambda d: _first_info(d).update(mode="eval"), "mode must be one of grad, no_grad, inference_mode, detach"),
    (lambda d: _first_info(d).update(size=-3), r"size must be an integer from 1 to 2\^50"),
    (lambda d: _first_info(d).update(schema_version=99), "schema_version 99 is newer"),
    (lambda d: d["gradbench"].update(schema_version=SCHEMA_VERSION + 1),
     f"schema_version {SCHEMA_VERSION + 1} is newer"),
    (lambda d: d["benchmarks"].append(copy.deepcopy(d["benchmarks"][0])), "appears twice"),
    (lambda d: d["benchmarks"][0]["stats"].update(median="fast"), "stats median must be a number"),
    (lambda d: d["benchmarks"][0]["stats"].update(data=[1e-5, "x"]), "stats data must be a list of numbers"),
    (lambda d: d["gradbench"].update(skipped=[{"workload": "w"}]), "skipped entry"),
    (lambda d: _first_info(d).update(pipelined_median=0), "pipelined_median must be above 0"),
    (lambda d: _first_info(d).update(gpu_q1=-1e-6), "gpu_q1 must be a number of seconds"),
    (lambda d: _first_info(d).update(pipelined_data=[1e-5, "x"]), "pipelined_data must be a list of seconds"),
    (lambda d: _first_info(d).update(gpu_data=[1e-5, 2e-5], gpu_rounds=3), "gpu_rounds must equal the 2 samples"),
    (lambda d: _first_info(d).update(interleaved_data=[1e-5, 2e-5], interleaved_rounds=5),
     "interleaved_rounds must equal the 2 samples"),
    (lambda d: _first_info(d).update(pipelined_batch=2.5), "pipelined_batch must be an integer"),
    (lambda d: d.update(benchmarks={}), "not a pytest-benchmark run file"),
])
def test_validation_names_the_rule(tmp_path: Path, change: Any, problem: str) -> None:
    path = _broken(tmp_path, change)
    with pytest.raises(InputError, match=problem) as info:
        load_runs([path])
    assert info.value.source == str(path)


def test_benchmarks_without_gradbench_extra_info_are_ignored_and_counted(tmp_path: Path) -> None:
    def add_plain(doc: dict[str, Any]) -> None:
        doc["benchmarks"].append({**copy.deepcopy(doc["benchmarks"][0]), "extra_info": {}})
    loaded = load_runs([_broken(tmp_path, add_plain)])
    assert len(loaded.cases) == 6 and loaded.runs[0].ignored_benchmarks == 1


def test_scenario_cases_get_their_own_tables(tmp_path: Path) -> None:
    # Scenario variants share their SPEC_KEYS, so they must not reach the mode-matrix table.
    def add_scenarios(doc: dict[str, Any]) -> None:
        for variant in ("zero_", "set_to_none"):
            bench = copy.deepcopy(doc["benchmarks"][0])
            bench["extra_info"].update(scenario="zero_grad", variant=variant, microbatches=None, parameter_tensors=32,
                                       trainable_parameter_tensors=32, trainable_parameter_bytes=1056768)
            doc["benchmarks"].append(bench)
        doc["gradbench"]["skipped"].append({**report_fixtures.skip("mlp", "grad", "step", 1024, "no GPU"),
                                            "scenario": "zero_grad", "variant": "zero_"})
    loaded = load_runs([_broken(tmp_path, add_scenarios)])
    assert len(loaded.cases) == 6 and loaded.skipped.empty
    assert loaded.runs[0].scenario_cases == 3
    assert list(loaded.scenarios["variant"]) == ["zero_", "set_to_none"]
    assert list(loaded.scenario_skipped["reason"]) == ["no GPU"] and loaded.invalid.empty


def test_the_scenario_run_loads_every_kind_of_scenario_case() -> None:
    loaded = load_runs([DATA / "report_scenarios.json"])
    assert len(loaded.cases) == 15  # the mode matrix: pointwise at 3 sizes, 4 forward modes and a backward
    assert len(loaded.scenarios) == 4 + 3 + 3 + 7
    assert list(loaded.scenarios.columns) == list(SCENARIO_COLUMNS)
    assert len(loaded.scenario_skipped) == 3 and set(loaded.scenario_skipped["device"]) == {"cuda"}
    assert list(loaded.invalid["variant"]) == ["relu_", "detach_then_modify"]
    assert loaded.invalid["error"].str.startswith("one of the variables needed for gradient computation").all()
    accumulation = loaded.scenarios[loaded.scenarios["scenario"] == "accumulation"]
    assert list(accumulation["microbatches"]) == [1, 2, 4, 8]


def _scenario_info(doc: dict[str, Any]) -> dict[str, Any]:
    return next(b["extra_info"] for b in doc["benchmarks"] if b["extra_info"].get("scenario") == "accumulation")


def _broken_scenarios(tmp_path: Path, change: Any) -> Path:
    doc = json.loads((DATA / "report_scenarios.json").read_text())
    change(doc)
    return _write(tmp_path / "broken.json", doc)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: _scenario_info(d).pop("variant"), "extra_info of a scenario case lacks variant"),
    (lambda d: _scenario_info(d).update(scenario="dropout"),
     f"scenario must be one of {', '.join(SCENARIOS)}, got 'dropout'"),
    (lambda d: _scenario_info(d).update(variant=""), "variant must be a name"),
    (lambda d: _scenario_info(d).update(microbatches=0),
     "microbatches of an accumulation case must be an integer >= 1"),
    (lambda d: _scenario_info(d).update(parameter_tensors="six"), "parameter_tensors must be an integer >= 0 or null"),
    (lambda d: _scenario_info(d).update(peak_tensor_bytes=None),
     r"peak_tensor_bytes must be an integer >= 0 in a scenario case \(its claim is checked from it\), got None"),
    (lambda d: d["benchmarks"].append(copy.deepcopy(d["benchmarks"][-1])), "appears twice"),
    (lambda d: d["gradbench"].update(invalid={"relu_": "error"}), "gradbench 'invalid' must be a list"),
    (lambda d: d["gradbench"]["invalid"][0].pop("error"), "invalid entry .* must hold scenario, variant"),
    (lambda d: d["gradbench"]["invalid"][0].update(mode="train"), "mode must be one of"),
    (lambda d: d["gradbench"]["invalid"][0].update(error=None), "error must be a string"),
    (lambda d: d["gradbench"]["invalid"].append(dict(d["gradbench"]["invalid"][0])), "invalid entry .* appears twice"),
    (lambda d: d["gradbench"]["skipped"][0].update(scenario="dropout"), "skipped entry 'deep_mlp': scenario must be"),
])
def test_scenario_validation_names_the_rule(tmp_path: Path, change: Any, problem: str) -> None:
    path = _broken_scenarios(tmp_path, change)
    with pytest.raises(InputError, match=problem) as info:
        load_runs([path])
    assert info.value.source == str(path)


def test_a_run_with_only_skipped_cases_still_loads(tmp_path: Path) -> None:
    def skip_all(doc: dict[str, Any]) -> None:
        doc["benchmarks"] = []
        doc["gradbench"]["skipped"] = [report_fixtures.skip("pointwise", "grad", "forward", 1024, "no CUDA", "cuda")]
    loaded = load_runs([_broken(tmp_path, skip_all)])
    assert loaded.cases.empty and len(loaded.skipped) == 1


def _real_runs() -> list[Path]:
    return sorted(DATA.glob("real_*.json")) + sorted(ROOT.glob(".benchmarks/*/*.json"))


@pytest.mark.skipif(not _real_runs(), reason="no real run saved (tests/data/real_*.json or .benchmarks/*/*.json)")
def test_real_runs_load_and_the_first_renders(tmp_path: Path) -> None:
    paths = _real_runs()
    for path in paths:
        assert len(load_runs([path]).cases) > 0, path
    written = write_report(analyse(paths[:1]), tmp_path / "index.html")
    assert all(p.stat().st_size > 0 for p in written)


def test_real_run_files_from_an_h200_read_cleanly() -> None:
    # Trimmed from real runs (CPU: elementwise forward; CUDA: mlp at 2^18, where backward's net
    # retained bytes are negative: it frees the saved tensors it consumed).
    loaded = load_runs([DATA / "real_h200_cpu_elementwise.json", DATA / "real_h200_cuda_mlp.json"])
    assert len(loaded.cases) == 12 + 8
    cuda = loaded.cases[loaded.cases["device"] == "cuda"]
    assert (cuda["retained_tensor_bytes"] < 0).any()
    assert set(cuda["tensor_memory_method"]) == {"cuda-allocator"}


def test_a_bookkeeping_cost_that_noise_explains_reads_not_resolved(tmp_path: Path) -> None:
    # grad and no_grad with the same fixed cost: the fitted difference is noise, its interval spans zero.
    rng = np.random.default_rng(4)
    cases = [report_fixtures.case("pointwise", mode, "forward", n,
                                  report_fixtures.noisy(rng, 20e-6 + 0.5e-9 * n, 15, spread=0.2))
             for mode in ("grad", "no_grad") for n in (2**10, 2**14, 2**18)]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(report_fixtures.run_doc(cases)))
    texts = [item.text for item in analyse([path]).summaries[0].findings.items]
    [overhead] = [text for text in texts if text.startswith("Overhead model")]
    assert "autograd's bookkeeping per call is not resolved on this machine: a(grad) − a(no_grad) = " in overhead
    assert "95% CI -" in overhead  # the interval reaches below zero


def test_a_run_timed_on_a_busy_machine_says_so_beside_the_physics_box(tmp_path: Path) -> None:
    doc = json.loads((DATA / "report_small.json").read_text())
    for bench in doc["benchmarks"]:
        bench["extra_info"]["background_cpu"] = 0.5
    path = tmp_path / "busy.json"
    path.write_text(json.dumps(doc))
    write_report(analyse([path]), tmp_path / "index.html")
    page = (tmp_path / "index.html").read_text()
    # The check passed, and is shown so (not in a red box); the busy machine in a box of its own.
    assert '<div class="box ok"><b>Physics check passed:</b>' in page and '<div class="box warn">' not in page
    busy = page[page.index('<div class="box busy">'):]
    assert busy.startswith(f'<div class="box busy"><b>Busy machine:</b> {len(doc["benchmarks"])} of '
                           f'{len(doc["benchmarks"])} cases were timed while other processes')


def test_the_h200_cuda_runs_unstable_cases_are_explained_by_their_rounds() -> None:
    """The real H200 run (elementwise and mlp, forward and step): which unstable cases drifted while
    timed, which have a tail of slow rounds. Its interleaved rounds have stretches in which every
    mode's rounds doubled at once, for tens of rounds: drift, common to the group."""
    from bench_lib.analysis.derive import add_derived

    cases = add_derived(load_runs([DATA / "real_h200_cuda_quick_subset.json"]).cases)
    unstable = cases[cases["unstable"]]
    assert len(cases) == 40
    assert unstable["instability"].value_counts().to_dict() == {"spread": 14, "drift": 13, "tail": 6}
    at = cases.set_index(["workload", "mode", "pass", "size"])
    assert {at.loc[("mlp", mode, "forward", 2**18), "instability"]
            for mode in ("grad", "no_grad", "inference_mode")} == {"drift"}


def test_unstable_cases_without_raw_rounds_say_so(tmp_path: Path) -> None:
    """A run saved by pytest --benchmark-save without --benchmark-save-data has no rounds to tell
    why a case is unstable: the stability finding counts it as such, never "Of these, ."."""
    from bench_lib.report.build import analyse

    def without_rounds(doc: dict[str, Any]) -> None:
        for bench in doc["benchmarks"]:
            bench["stats"].pop("data")
            bench["extra_info"]["interleaved_data"] = None
        stats = doc["benchmarks"][0]["stats"]
        stats.update(q1=stats["median"] * 0.8, q3=stats["median"] * 1.3, iqr=stats["median"] * 0.5)

    path = _broken(tmp_path, without_rounds)
    [stability] = [item.text for item in analyse([path]).summaries[0].findings.items
                   if item.text.startswith("Stability")]
    assert "By their rounds: 1 without raw rounds to tell why." in stability, stability


def test_a_merged_run_from_before_schema_6_loads_with_per_replicate_rounds(tmp_path: Path) -> None:
    """Replicate records written before schema 6 lack pipelined_median (read as null); each
    replicate's share of the pooled rounds is known, for telling drift within a process from
    differences between processes."""
    def build() -> list[dict[str, Any]]:
        return [report_fixtures.case("mlp", "grad", "step", 1024, [1e-4 + 1e-6 * i for i in range(7)])]

    doc = report_fixtures.replicated(build, replicates=3)
    for entry in doc["benchmarks"][0]["extra_info"]["replicates"]:
        del entry["pipelined_median"]
    row = load_runs([_write(tmp_path / "old.json", doc)]).cases.iloc[0]
    assert np.isnan(row["rep_pipelined"]).all() and len(row["rep_pipelined"]) == 3
    assert row["rep_rounds"] == [7, 7, 7] and len(row["cmp_samples"]) == 21


def test_saved_bytes_per_element_is_derived_from_the_saved_bytes_and_the_elements():
    cases = load_runs([DATA / "report_small.json"]).cases
    known = cases[cases["saved_bytes"].notna() & (cases["elements"] > 0)]
    assert len(known) > 0 and (known["saved_bytes"] > 0).any()
    expected = known["saved_bytes"].astype(float) / known["elements"].astype(float)
    assert (known["saved_bytes_per_element"].astype(float) - expected).abs().max() == 0
    assert "saved_bytes_per_element" not in CASE_KEYS  # derived when read, never saved
