"""A small real pytest-benchmark run of the suite, the replicate launcher, and their errors.

Every run here pins --gb-devices=cpu: the same counts and figures must hold on a machine with a GPU.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import session_cache

from bench_lib.contract.cases import CaseSpec
from bench_lib.contract.result import CASE_KEYS, REPLICATE_KEYS
from bench_lib.contract.schema import ENVIRONMENT_KEYS, SCHEMA_VERSION
from bench_lib.measure.runner import machine_skip_reason

ROOT = Path(__file__).resolve().parents[1]


def run_suite(*options, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", *options],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="session")
def saved_run(request, tmp_path_factory):
    """One real run for the tests below, made once a session (session_cache: under make test's two
    workers too): storage, run file, its contents, pytest's output."""

    def make():
        storage = tmp_path_factory.mktemp("storage")
        # The ci preset's short rounds (0.04 s a case, at least 5): what is checked here is what the
        # run file holds, not how steady its times are.
        result = run_suite(
            "--gb-preset=ci", "--gb-sizes=1024,4096", "--gb-workloads=elementwise,mlp", "--gb-threads=1",
            "--gb-devices=cpu", "--gb-scenarios=none",  # the scenarios have their own run in test_scenarios.py
            "--benchmark-save=e2e", "--benchmark-save-data", "--benchmark-disable-gc",
            f"--benchmark-storage={storage}",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        [path] = storage.rglob("0001_e2e.json")
        return str(storage), str(path), json.loads(path.read_text()), result.stdout

    storage, path, run, stdout = session_cache.once(request, tmp_path_factory, "suite_end_to_end_saved_run", make)
    return Path(storage), Path(path), run, stdout


def test_every_measured_case_has_every_metric_and_raw_samples(saved_run):
    _, _, run, _ = saved_run
    cases = run["benchmarks"]
    # elementwise: grad x 3 passes + 3 forward-only modes; mlp: grad and detach x 3 + 2; per size.
    assert len(cases) == 2 * (6 + 8)
    for case in cases:
        info = case["extra_info"]
        assert set(info) == set(CASE_KEYS)
        assert info["schema_version"] == SCHEMA_VERSION
        assert len(case["stats"]["data"]) == case["stats"]["rounds"] >= 5
        # RSS moves in whole pages, and a pass of at most 4096 elements grows it by far less than the
        # process holds (torch alone is hundreds of MiB): a figure not taken from the pass's start shows.
        assert isinstance(info["peak_rss_bytes"], int) and info["peak_rss_bytes"] % 4096 == 0
        assert info["peak_rss_bytes"] < 64 * 2**20, case["name"]
        if info["pass"] != "backward":  # saved tensors are made in the forward, and live until backward
            assert info["peak_tensor_bytes"] >= info["saved_bytes"], case["name"]
        if (info["workload"], info["pass"]) == ("elementwise", "forward"):
            # relu(x * 2 + 1): x * 2 is alive while + 1 makes its result, in every mode
            assert info["peak_tensor_bytes"] == 2 * 4 * info["size"], case["name"]
        assert case["group"] == f"{info['workload']} {info['pass']} n={info['size']} cpu float32"
        interleaved = [info[key] for key in CASE_KEYS if key.startswith("interleaved_")]
        if info["pass"] == "forward":
            assert info["interleaved_rounds"] == len(info["interleaved_data"]) >= 5
            assert info["interleaved_q1"] <= info["interleaved_median"] <= info["interleaved_q3"]
        else:
            assert all(value is None for value in interleaved)


def test_saved_bytes_and_graphs_are_exact_in_the_run(saved_run):
    _, _, run, _ = saved_run
    for case in run["benchmarks"]:
        info = case["extra_info"]
        relus = {"elementwise": 1, "mlp": 2}[info["workload"]]
        tracked = info["mode"] == "grad" or (info["mode"] == "detach" and info["workload"] == "mlp")
        assert info["saved_bytes"] == (relus * info["size"] * 4 if tracked else 0), case["name"]
        assert (info["graph_nodes"] > 0) == tracked, case["name"]


def test_environment_and_skips_are_recorded(saved_run):
    _, _, run, _ = saved_run
    environment = run["machine_info"]["gradbench"]
    assert set(environment) == set(ENVIRONMENT_KEYS)
    assert environment["threads"] == 1 and environment["seed"] == 0
    gradbench = run["gradbench"]
    assert gradbench["selection"]["sizes"] == [1024, 4096]
    reasons = {(s["workload"], s["mode"], s["pass"], s["device"]): s["reason"] for s in gradbench["skipped"]}
    assert "nothing to run backward on" in reasons[("mlp", "no_grad", "backward", "cpu")]
    assert "no parameters" in reasons[("elementwise", "detach", "step", "cpu")]
    assert gradbench["complete"] is True


def test_a_cuda_case_without_a_gpu_is_skipped_with_the_reason():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: its CUDA cases run")
    reason = machine_skip_reason(CaseSpec("mlp", "grad", "forward", 1024, "cuda", "float32"))
    assert reason is not None and "CUDA is not available" in reason


def test_live_summary_is_printed(saved_run):
    _, _, _, stdout = saved_run
    assert "mlp forward on cpu float32 (median, µs)" in stdout
    assert "saved (grad)        8.0 KiB   32.0 KiB" in stdout
    assert "physics check:" in stdout


def test_pytest_benchmark_compare_lists_the_run(saved_run):
    storage, _, _, _ = saved_run
    result = subprocess.run(
        [Path(sys.executable).parent / "pytest-benchmark", f"--storage={storage}", "compare", "--group-by=group",
         "0001"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "mlp-forward-grad-1024-cpu-float32" in result.stdout


@pytest.mark.parametrize(
    "option,message",
    [
        ("--gb-modes=fast", "gradbench: unknown mode 'fast'; allowed: grad, no_grad, inference_mode, detach"),
        ("--gb-sizes=0,1024", "gradbench: size '0' is not an integer from 1 to 2^50"),
        ("--gb-workloads=", "gradbench: empty workload selection"),
        ("--gb-preset=huge", "gradbench: unknown preset 'huge'"),
        ("--gb-threads=two", "gradbench: --gb-threads 'two' is not a whole number from 1 to 1024"),
        ("--gb-devices=tpu", "gradbench: unknown device 'tpu'; allowed: cpu, cuda"),
        ("--gb-ops=relux", "gradbench: unknown op 'relux'; allowed: add, mul,"),
        ("--gb-ops=all,relu", "gradbench: op selection 'all,relu' mixes all/none with names"),
        ("--gb-workloads=none", "gradbench: nothing selected: no workload, op or scenario"),
    ],
)
def test_bad_options_fail_before_any_case_with_one_line(option, message):
    result = run_suite(option)
    assert result.returncode == 4  # pytest's usage-error exit code
    lines = result.stderr.strip().splitlines()
    assert lines == [f"ERROR: {lines[0][len('ERROR: '):]}"] and message in lines[0]
    assert "Traceback" not in result.stdout + result.stderr and "passed" not in result.stdout


def test_a_selection_with_nothing_runnable_is_an_error():
    result = run_suite("--gb-modes=no_grad,inference_mode", "--gb-passes=backward,step")
    assert result.returncode == 4
    assert "no case in the selection can run" in result.stderr


# --- python -m bench_lib bench: replicates ------------------------------------------------------

TINY = ["--gb-sizes=1024", "--gb-workloads=elementwise", "--gb-modes=grad,no_grad", "--gb-passes=forward",
        "--gb-threads=1", "--gb-devices=cpu", "--gb-scenarios=none"]


def launch(storage, *options, **popen):
    command = [sys.executable, "-m", "bench_lib", "bench", "--preset=quick", f"--storage={storage}", *options]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, **popen)


def test_replicates_are_merged_into_one_run(tmp_path):
    result = launch(tmp_path, "--repeat=2", "--", *TINY)
    assert result.returncode == 0, result.stdout + result.stderr
    [path] = tmp_path.rglob("*.json")
    assert path.name == "0001_quick.json"
    run = json.loads(path.read_text())
    assert run["gradbench"]["replicates"] == 2 and run["gradbench"]["complete"] is True
    assert len(run["gradbench"]["replicate_times"]) == 2
    assert len(run["benchmarks"]) == 2
    for case in run["benchmarks"]:
        replicates = case["extra_info"]["replicates"]
        assert len(replicates) == 2 and all(set(entry) == set(REPLICATE_KEYS) for entry in replicates)
        # The pooled stats hold every replicate's rounds, so pytest-benchmark compare reads them.
        assert len(case["stats"]["data"]) == case["stats"]["rounds"] == sum(e["rounds"] for e in replicates)
        assert case["extra_info"]["interleaved_rounds"] == sum(e["interleaved_rounds"] for e in replicates)
    assert "replicate 2/2 done" in result.stdout and "elementwise forward on cpu float32" in result.stdout
    # Progress names the case and the time left, instead of pytest's dots.
    assert "gradbench: 2/2 cases, " in result.stdout and "s left (elementwise-forward-" in result.stdout
    assert ".." not in result.stdout.replace("...", "")
    listed = subprocess.run([Path(sys.executable).parent / "pytest-benchmark", f"--storage={tmp_path}", "compare",
                             "0001"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "elementwise-forward-grad-1024-cpu-float32" in listed.stdout, listed.stderr
    second = launch(tmp_path, "--repeat=1", "--", *TINY)  # a second run takes the next number
    assert second.returncode == 0, second.stderr
    assert sorted(p.name for p in path.parent.iterdir()) == ["0001_quick.json", "0002_quick.json"]


def test_a_failed_replicate_saves_nothing(tmp_path):
    result = launch(tmp_path, "--repeat=2", "--", *TINY, "--gb-modes=fast")
    assert result.returncode == 4  # pytest's usage error, passed on
    assert "gradbench: error: replicate 1/2 ended with pytest exit status 4; nothing saved under" in result.stderr
    assert not list(tmp_path.rglob("*.json"))


def test_an_interrupted_run_saves_nothing(tmp_path):
    # Many replicates: a tiny one takes about a second, and a test process that reads the line late on a
    # busy machine must still find the run going (with 3 it once found the run finished, exit 0).
    command = [sys.executable, "-m", "bench_lib", "bench", "--preset=quick", f"--storage={tmp_path}", "--repeat=50",
               "--", *TINY]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "replicate 2/50 started" not in (process.stdout.readline() or "x"):
        pass
    os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C does: the whole process group
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "gradbench: interrupted; nothing saved under" in stderr
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.parametrize("repeat", ["0", "two", "101", "²"])
def test_bad_repeat_is_one_line(tmp_path, repeat):
    result = launch(tmp_path, f"--repeat={repeat}", "--", *TINY)
    assert result.returncode == 2
    assert result.stderr == f"gradbench: error: REPEAT: {repeat!r} is not a whole number of replicates from 1 to 100\n"


def test_a_run_that_measures_nothing_fails_with_the_reasons(tmp_path):
    # 2^49 elements fit on no machine: every case is skipped, with its reason.
    result = launch(tmp_path, "--repeat=2", "--", *TINY, "--gb-sizes=2^49")
    assert result.returncode == 5, result.stdout + result.stderr  # its own code: Exit.NOTHING_MEASURED
    assert "gradbench: error: replicate 1/2 measured no case (see the skip reasons above)" in result.stderr
    assert "size 562949953421312 needs about" in result.stdout  # pytest's -rs lines
    assert not list(tmp_path.rglob("*.json"))


def test_a_run_interrupted_by_hand_is_saved_as_incomplete(tmp_path):
    # pytest benchmarks --benchmark-save, without the launcher: pytest-benchmark saves what it has.
    result = run_suite(*TINY, "--benchmark-save=partial", f"--benchmark-storage={tmp_path}",
                       "-p", "tests.plugins.interrupt_after_first_case")
    assert result.returncode == 2, result.stdout + result.stderr  # pytest's "interrupted"
    [path] = tmp_path.rglob("*.json")
    assert json.loads(path.read_text())["gradbench"]["complete"] is False


def test_make_passes_values_with_spaces_whole():
    result = subprocess.run(["make", "-n", "bench", "SIZES=2^10, 2^12", "WORKLOADS=mlp"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--gb-sizes='2^10, 2^12'" in result.stdout and "--gb-workloads='mlp'" in result.stdout


def test_naming_workloads_or_sizes_turns_the_scenarios_off_without_a_stray_skip(tmp_path):
    # As `make bench WORKLOADS=elementwise SIZES=1024`: only those cases, no scenario module at all.
    result = run_suite("--gb-workloads=elementwise", "--gb-sizes=1024", "--gb-modes=grad", "--gb-passes=forward",
                       "--gb-devices=cpu", "--collect-only", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert collected == ["benchmarks/test_gradbench.py::test_gradbench[elementwise-forward-grad-1024-cpu-float32]"]
    asked = run_suite("--gb-workloads=elementwise", "--gb-sizes=1024", "--gb-scenarios=zero_grad",
                      "--gb-devices=cpu", "--collect-only", "-q")
    assert any("test_scenarios.py::" in line and "zero_grad" in line for line in asked.stdout.splitlines())


def test_the_commands_can_be_found():
    help_text = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0
    for word in ("make bench", "make test", "PRESET", "REPEAT", "SIZES", "SCENARIOS", "ALLOC_ENV"):
        assert word in help_text.stdout
    script = Path(sys.executable).parent / "gradbench"
    if not script.exists():
        pytest.skip("the gradbench console script is installed by `pip install -e .` (make install)")
    cli_help = subprocess.run([script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert cli_help.returncode == 0 and "pytest benchmarks --help" in cli_help.stdout


def test_a_workload_from_the_users_own_module(tmp_path):
    # make bench PLUGINS=my_workloads: a module outside the project, loaded with -p, registers it.
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "my_workloads.py").write_text(
        "import math\nimport torch\nfrom torch import nn\nfrom bench_lib.measure.workloads import Workload, register\n\n\n"
        "class Tanh(nn.Module):\n    def forward(self, x):\n        return torch.tanh(x)\n\n\n"
        "register(Workload(name='my_tanh', description='tanh', input_shape=lambda size: (size,),\n"
        "                  make_model=lambda shape: Tanh(), saved_bytes=lambda shape, b: math.prod(shape) * b))\n")
    dry = subprocess.run(["make", "-n", "bench", "PLUGINS=my_workloads,other"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert "-p 'my_workloads' -p 'other'" in dry.stdout
    storage = tmp_path / "storage"
    result = launch(storage, "--", "-p", "my_workloads", "--gb-workloads=my_tanh", "--gb-sizes=1024",
                    "--gb-modes=grad", "--gb-passes=forward", "--gb-devices=cpu",
                    env={**os.environ, "PYTHONPATH": f"{tmp_path / 'plugin'}{os.pathsep}{ROOT}"})
    assert result.returncode == 0, result.stdout + result.stderr
    [path] = storage.rglob("*.json")
    [case] = json.loads(path.read_text())["benchmarks"]
    assert case["extra_info"]["workload"] == "my_tanh" and case["extra_info"]["saved_bytes"] == 4096


def _clone(tmp_path: Path) -> Path:
    """A clone of this repository's HEAD, to give it commits of its own."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    return clone


def _git(clone: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=gradbench", "-c", "user.email=tests@gradbench", *args], cwd=clone,
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


def _launch_in(clone: Path, storage: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bench_lib", "bench", "--preset=quick", f"--storage={storage}", *options]
    return subprocess.run(command, cwd=clone, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(clone)})


def test_a_run_against_a_git_ref_measures_its_code_alternating_with_this_checkout(tmp_path):
    clone = _clone(tmp_path)
    # REF ("marked") records one more environment key: the proof that its processes ran its code.
    _git(clone, "checkout", "-qb", "marked")
    environment = clone / "bench_lib" / "measure" / "environment.py"
    environment.write_text(environment.read_text().replace('"seed": seed,', '"seed": seed, "marker": "ref",'))
    _git(clone, "commit", "-qam", "marked")
    _git(clone, "checkout", "-q", "-")
    storage = tmp_path / "storage"
    result = _launch_in(clone, storage, "--repeat=2", "--against=marked", "--", *TINY)
    assert result.returncode == 0, result.stdout + result.stderr
    folder = next(storage.iterdir())
    assert sorted(p.name for p in folder.iterdir()) == ["0001_quick-marked.json", "0002_quick.json"]
    base, new = (json.loads((folder / name).read_text()) for name in ("0001_quick-marked.json", "0002_quick.json"))
    assert base["machine_info"]["gradbench"]["marker"] == "ref" and "marker" not in new["machine_info"]["gradbench"]
    # Then the time-matched A/B: every case of both runs holds its blocks, under one pairing.
    pairings = [doc["gradbench"]["pairing"] for doc in (base, new)]
    assert pairings[0]["id"] == pairings[1]["id"] and [p["side"] for p in pairings] == ["base", "new"]
    assert all(len(b["extra_info"]["paired_data"]) == pairings[0]["pairs"] for doc in (base, new)
               for b in doc["benchmarks"])
    # base 1, new 1, then new 2, base 2: both runs sample the same stretches of drift.
    started = re.findall(r"gradbench: (replicate \d/2 of [\w ]+) started", result.stdout)
    assert started == ["replicate 1/2 of marked", "replicate 1/2 of this checkout",
                       "replicate 2/2 of this checkout", "replicate 2/2 of marked"]
    # The hint names a command that runs as printed: the venv's script unless gradbench is on PATH.
    [hint] = re.findall(r"compare them with: (\S+) compare 0001 0002 --storage=(\S+)", result.stdout)
    assert hint[1] == str(storage) and (hint[0] == "gradbench" or Path(hint[0]).is_file())
    assert len(_git(clone, "worktree", "list").splitlines()) == 1  # REF's worktree is gone


def test_a_ref_without_the_suite_saves_nothing_and_leaves_no_worktree(tmp_path):
    clone = _clone(tmp_path)
    branch = _git(clone, "rev-parse", "--abbrev-ref", "HEAD").strip()
    _git(clone, "checkout", "-q", "--orphan", "bare")
    _git(clone, "rm", "-rqf", ".")
    _git(clone, "commit", "-q", "--allow-empty", "-m", "bare")
    _git(clone, "checkout", "-q", "-f", branch)
    result = _launch_in(clone, tmp_path / "storage", "--repeat=2", "--against=bare", "--", *TINY)
    assert result.returncode == 1
    assert "gradbench: error: 'bare' has no gradbench suite (benchmarks/ and bench_lib/) to measure" in result.stderr
    assert len(_git(clone, "worktree", "list").splitlines()) == 1
    assert not list((tmp_path / "storage").rglob("*.json"))


@pytest.mark.parametrize(("options", "message"), [
    (["--against=no-such-ref-here"], "--against: 'no-such-ref-here' is not a commit of the git repository"),
    (["--against=HEAD", "--", "--gb-profile=mlp-*"], "--against: profiling (--gb-profile) takes one checkout"),
    (["--repeat=1", "--against=HEAD"], "REPEAT: 1 replicate cannot compare times with --against"),
])
def test_bad_against_is_one_line(tmp_path, options, message):
    result = launch(tmp_path, *options)
    assert result.returncode == 2 and result.stderr.startswith(f"gradbench: error: {message}"), result.stderr
    assert len(result.stderr.splitlines()) == 1 and not list(tmp_path.rglob("*.json"))
