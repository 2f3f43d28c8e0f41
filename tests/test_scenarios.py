"""The scenarios as a whole: the registry, selection, the keys of every case, and a tiny real run
of the suite with the invalid in-place case recorded (not raised) and every claim printed.

Each scenario's own figures are tested in tests/test_scenario_<name>.py. No test here depends on
timing.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import session_cache
from scenario_helpers import measured, spec

from bench_lib.analysis import claims
from bench_lib.contract.cases import PRESETS, SelectionError, parse_scenario_selection
from bench_lib.contract.result import AFTER_ROUNDS_KEYS, CASE_KEYS, SCENARIO_KEYS
from bench_lib.contract.schema import INVALID_KEYS
from bench_lib.measure import runner
from bench_lib.measure.runner import static_skip_reason
from bench_lib.scenarios import SCENARIOS, scenario_specs

ROOT = Path(__file__).resolve().parents[1]
NAMES = tuple(SCENARIOS)
# The tiny real run: the four scenarios the suite started with (the others have their own runs).
RUN = ("accumulation", "zero_grad", "freezing", "inplace")


README = ROOT / "README.md"


def select(**options):
    return parse_scenario_selection(known={name: s.sizes for name, s in SCENARIOS.items()}, **options)


def test_a_scenario_that_compiles_runs_its_variants_in_each_compile_mode():
    selection = select(scenarios="dynamic_graph,zero_grad", compiles=("eager", "inductor"))
    specs = scenario_specs(selection, ("cpu",), ("float32",))
    modes = {(s.scenario, s.compile) for s in specs}
    assert modes == {("dynamic_graph", "eager"), ("dynamic_graph", "inductor"), ("zero_grad", "eager")}
    compiled = [s for s in specs if s.compile == "inductor"]
    assert all(s.group.startswith("scenario dynamic_graph shared_block:inductor ") for s in compiled)
    assert compiled[0].as_dict()["workload"] == "shared_block:inductor"


def test_every_scenario_is_one_module_named_as_it_is():
    package = ROOT / "bench_lib" / "scenarios"
    modules = sorted(p.stem for p in package.glob("*.py") if p.stem != "__init__")
    assert sorted(NAMES) == modules
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name and scenario.claim.endswith(".")
        assert scenario.reference in scenario.variants or scenario.rank(scenario.reference)[0] == 1
        assert {panel.kind for panel in scenario.plot.panels} <= {"time", "bytes", "count"}
        assert {column.kind for column in scenario.columns} <= {"time", "bytes", "count", "ratio", "fraction", "text"}
    assert [s.order for s in SCENARIOS.values()] == sorted(s.order for s in SCENARIOS.values())


def test_scenario_selection_defaults_and_options():
    default = select()
    assert default.scenarios == NAMES and default.microbatches == (1, 2, 4, 8)
    assert default.sizes == {name: SCENARIOS[name].sizes["default"] for name in NAMES}
    assert default.sizes["accumulation"] == (2**16, 2**20)
    assert select(scenarios="none").scenarios == ()
    assert select(scenarios="none").sizes == {}
    assert select(scenarios="all").scenarios == NAMES
    chosen = select(scenarios="inplace, freezing,inplace", microbatches="8,2", sizes="2^12")
    assert chosen.scenarios == ("inplace", "freezing")
    assert chosen.microbatches == (1, 2, 8)  # the full batch is always the baseline
    assert chosen.sizes == {"inplace": (4096,), "freezing": (4096,)}


@pytest.mark.parametrize(
    "options,message",
    [
        ({"scenarios": "dropout"}, f"unknown scenario 'dropout'; allowed: {', '.join(NAMES)}, all, none"),
        ({"scenarios": "none,freezing"}, "mixes all/none with names"),
        ({"microbatches": "2,0"}, "microbatches '0' is not a whole number from 1 to 4096"),
        ({"microbatches": ""}, "empty microbatches selection"),
        ({"sizes": "2^"}, "size '2^' is not an integer from 1 to 2^50"),
        ({"preset": "huge"}, "unknown preset 'huge'"),
    ],
)
def test_bad_scenario_selections_give_one_line(options, message):
    with pytest.raises(SelectionError) as error:
        select(**options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_every_preset_keeps_every_scenario_with_unique_ids_and_one_group_per_scenario():
    for preset in PRESETS:
        specs = scenario_specs(select(preset=preset, scenarios="all"), ("cpu",), ("float32",))
        assert {s.scenario for s in specs} == set(NAMES)
        assert len({s.case_id for s in specs}) == len(specs)
        for s in specs:
            assert s.group == f"scenario {s.scenario} {s.workload} n={s.size} cpu float32"
            # preset sizes divide into every k; only save_on_cpu, for CUDA, skips on a CPU
            assert static_skip_reason(s) is None or s.scenario == "save_on_cpu"
        assert all(preset in SCENARIOS[name].sizes for name in NAMES)
    assert select(preset="ci").scenarios == ()  # ci gates the mode matrix only
    assert select(preset="quick", narrowed=True).scenarios == ()  # WORKLOADS= or SIZES= named
    assert select(preset="quick", narrowed=True, scenarios="inplace").scenarios == ("inplace",)
    quick = scenario_specs(select(preset="quick"), ("cpu",), ("float32",))
    assert len(quick) == sum(len(SCENARIOS[n].specs(SCENARIOS[n].sizes["quick"][0], "cpu", "float32",
                                                    select(preset="quick"))) for n in NAMES)




def test_case_info_holds_case_and_scenario_keys():
    case, memory = measured(spec("accumulation", "k=2", 2**12))
    info = runner.case_info(case, memory, rounds=7)
    # measured during or after the timed rounds, added by the benchmark
    late = set(AFTER_ROUNDS_KEYS)  # background_cpu, interleaved_*, paired_*: filled after the timed rounds
    assert {"background_cpu", "interleaved_median", "paired_data"} <= late
    assert set(info) == (set(CASE_KEYS) - late) | set(SCENARIO_KEYS)
    assert info["mode"] == "grad" and info["pass"] == "step" and info["variant"] == "k=2"
    assert info["microbatches"] == 2 and info["parameter_tensors"] == 6 and info["shape"] == "32x128"


# --- a tiny real run ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def scenario_run(request, tmp_path_factory):
    """One real run for the tests below, made once a session (session_cache: under make test's two
    workers too): the run file's contents and pytest's output."""

    def make():
        storage = tmp_path_factory.mktemp("storage")
        # The ci preset's short rounds (0.04 s a case, at least 5): the checks are of what the run holds.
        result = subprocess.run(
            [
                sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", "-rs",
                "--gb-preset=ci", "--gb-workloads=elementwise", "--gb-modes=grad", "--gb-passes=forward",
                "--gb-sizes=1024", "--gb-devices=cpu", f"--gb-scenarios={','.join(RUN)}", "--gb-scenario-sizes=4096",
                "--gb-microbatches=2",
                "--gb-threads=1", "--benchmark-save=scen", "--benchmark-save-data", "--benchmark-disable-gc",
                f"--benchmark-storage={storage}",
            ],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        [path] = storage.rglob("0001_scen.json")
        return json.loads(path.read_text()), result.stdout

    return tuple(session_cache.once(request, tmp_path_factory, "scenarios_run", make))


def test_the_run_file_holds_every_key_of_every_scenario_case(scenario_run):
    run, _ = scenario_run
    scenario_cases = [b for b in run["benchmarks"] if "scenario" in b["extra_info"]]
    matrix = [b for b in run["benchmarks"] if "scenario" not in b["extra_info"]]
    assert len(matrix) == 1 and set(matrix[0]["extra_info"]) == set(CASE_KEYS)
    # k=1,2 + 3 resets + 3 freezing + (3 variants x 3 modes - 2 rejected)
    assert len(scenario_cases) == 2 + 3 + 3 + 7
    for bench in scenario_cases:
        info = bench["extra_info"]
        assert set(info) == set(CASE_KEYS) | set(SCENARIO_KEYS) and len(info) == len(CASE_KEYS) + len(SCENARIO_KEYS)
        assert 0 <= info["background_cpu"] <= 1
        assert bench["group"] == f"scenario {info['scenario']} {info['workload']} n=4096 cpu float32"
        assert len(bench["stats"]["data"]) == bench["stats"]["rounds"] >= 5
    infos = [b["extra_info"] for b in scenario_cases]
    freezing = {info["variant"]: info for info in infos if info["scenario"] == "freezing"}
    variants = ("all_trainable", "first_half_frozen", "last_layer_only")
    assert [freezing[v]["graph_nodes"] for v in variants] == [80, 40, 5]
    gradbench = run["gradbench"]
    assert gradbench["scenario_selection"] == {
        "scenarios": list(RUN), "microbatches": [1, 2], "sizes": {s: [4096] for s in RUN}, "compiles": ["eager"]
    }
    assert not any("scenario" in entry for entry in gradbench["skipped"])  # cpu only: nothing else skipped


def test_the_rejected_cases_are_recorded_not_raised(scenario_run):
    run, stdout = scenario_run
    invalid = run["gradbench"]["invalid"]
    assert sorted(entry["variant"] for entry in invalid) == ["detach_then_modify", "relu_"]
    for entry in invalid:
        assert list(entry) == list(INVALID_KEYS)
        assert (entry["scenario"], entry["mode"], entry["pass"], entry["size"]) == ("inplace", "grad", "step", 4096)
        assert entry["error"].startswith("one of the variables needed for gradient computation has been modified")
    # -rs folds equal reasons into one line: "SKIPPED [2] ...: invalid in grad: one of the variables ..."
    [line] = [line for line in stdout.splitlines() if "invalid in grad: " in line]
    assert line.startswith("SKIPPED [2] ") and "invalid in grad: one of the variables needed for gradient" in line
    assert stdout.strip().splitlines()[-1].split(" in ")[0].strip("= ") == "16 passed, 2 skipped"


def test_the_claims_are_checked_and_printed(scenario_run):
    run, stdout = scenario_run
    checked = claims.check_run(run, SCENARIOS)
    assert list(checked) == list(SCENARIOS)
    for claim in (checked[name] for name in RUN):
        assert claim.verdict in (claims.HOLDS, claims.FAILS), claim  # every scenario was measured
        assert f"\n  {claim.scenario}: {claim.verdict.upper()}\n" in stdout  # the verdict on its own line
    assert 'under grad relu_ is rejected ("one of the variables' in checked["inplace"].sentence
    assert "elementwise forward on cpu float32 (median, µs)" in stdout  # the mode matrix's summary, alone


# --- the README's worked example of adding a scenario, run as written --------------------------


def test_the_readme_example_is_found_measured_checked_and_reported(tmp_path):
    code = re.search(r"```python\n(.*?)```", README.read_text().split("## Adding a scenario", 1)[1], re.S).group(1)
    # A copy of the package with the example added as one more file, imported in a fresh process.
    shutil.copytree(ROOT / "bench_lib", tmp_path / "bench_lib", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "bench_lib" / "scenarios" / "weight_decay.py").write_text(code)
    script = """
from bench_lib.measure import devices
from bench_lib.measure import runner
from bench_lib.scenarios import SCENARIOS
from bench_lib.contract.scenario import Group
scenario = SCENARIOS["weight_decay"]
benches = []
for variant in ("plain", "decayed"):
    spec = [s for s in scenario.specs(2**12, "cpu", "float32", None) if s.variant == variant][0]
    case = runner.build(spec, seed=0)
    case.run_once()
    info = runner.case_info(case, runner.measure_memory(case, lambda: devices.tensor_probe(case.device)), 5)
    benches.append({"extra_info": info, "stats": {"median": 1e-3, "q1": 1e-3, "q3": 1e-3}})
verdict, sentence = scenario.check(Group(benches))
print(list(SCENARIOS)[-2:], verdict, sentence)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['weight_decay', 'save_on_cpu'] holds both save 32768 bytes"
