"""pytest-benchmark's own conventions under ``python -m bench_lib bench --``: its options given after
``--`` do what its documentation says (or are refused with one line, exit 2, before anything runs),
GC is off in every replicate, a run number is looked up in this machine's folder first, "the
latest run" is never a file being written, and saved files get the user's umask.

The end-to-end runs use the tiny selection of tests/test_suite_end_to_end.py (one workload, one
size, two modes) with one replicate each.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bench_lib.commands import launch
from bench_lib.commands.launch import benchmark_options, pytest_command, save_run, write_json
from bench_lib.contract import runs
from bench_lib.contract.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--gb-sizes=1024", "--gb-workloads=elementwise", "--gb-modes=grad,no_grad", "--gb-passes=forward",
        "--gb-threads=1", "--gb-devices=cpu", "--gb-scenarios=none"]


def bench(cwd: Path, *options: str, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    """``python -m bench_lib bench --preset=quick OPTIONS`` in ``cwd``, under ``umask``."""
    command = [sys.executable, "-m", "bench_lib", "bench", "--preset=quick", *options]
    return subprocess.run(command, check=False, cwd=cwd, capture_output=True, text=True, timeout=300, umask=umask)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def case_options(run: dict) -> list[dict]:
    return [case["options"] for case in run["benchmarks"]]


# --- the options the launcher honours itself, end to end ------------------------------------------

def test_json_save_storage_and_disable_gc_apply_to_the_merged_run(tmp_path):
    (tmp_path / "out").mkdir()
    # Relative paths are the user's (the launcher's current folder), as under pytest.
    result = bench(tmp_path, "--repeat=1", "--", *TINY, "--benchmark-json", "out/merged.json",
                   "--benchmark-save=mine", "--benchmark-storage=file://store", "--benchmark-disable-gc",
                   umask=0o027)
    assert result.returncode == 0, result.stdout + result.stderr
    folder = tmp_path / "store" / runs.machine_id()
    assert {p.name for p in (tmp_path / "store").rglob("*")} == {runs.machine_id(), "0001_mine.json"}
    saved = json.loads((folder / "0001_mine.json").read_text())
    assert saved["gradbench"]["replicates"] == 1 and len(saved["benchmarks"]) == 2
    # --benchmark-json: the merged run, as saved (every round's data included, as pytest-benchmark's JSON has).
    copy = tmp_path / "out" / "merged.json"
    assert json.loads(copy.read_text()) == saved
    assert all(case["stats"]["data"] for case in saved["benchmarks"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["merged.json"]  # no temporary file left
    assert f"gradbench: wrote {Path('out/merged.json')} (--benchmark-json)" in result.stdout
    assert all(options["disable_gc"] is True for options in case_options(saved))
    # The user's umask (027), not mkstemp's 0600.
    assert (mode(folder / "0001_mine.json"), mode(copy), mode(folder)) == (0o640, 0o640, 0o750)


def test_gc_off_by_default_autosave_run_ids_and_the_latest_run(tmp_path):
    storage = tmp_path / "storage"
    first = bench(ROOT, "--repeat=1", f"--storage={storage}", "--", *TINY)
    assert first.returncode == 0, first.stdout + first.stderr
    folder = storage / runs.machine_id()
    run = json.loads((folder / "0001_quick.json").read_text())
    # GC is off without --benchmark-disable-gc, as under `make bench`.
    assert all(options["disable_gc"] is True for options in case_options(run))
    assert mode(folder / "0001_quick.json") == 0o644  # umask 022
    # --benchmark-autosave: pytest-benchmark's tag (commit, time) names the run; --storage and
    # --benchmark-storage may both be given when they name one folder.
    second = bench(ROOT, "--repeat=1", f"--storage={storage}", "--", *TINY, "--benchmark-autosave",
                   f"--benchmark-storage={storage}")
    assert second.returncode == 0, second.stdout + second.stderr
    [autosaved] = folder.glob("0002_*.json")
    commit = json.loads(autosaved.read_text())["commit_info"]["id"]
    assert autosaved.name.startswith(f"0002_{commit}_20"), autosaved.name

    # Run numbers: this machine's folder first; elsewhere, ambiguous only when several machines have it.
    doc = (folder / "0001_quick.json").read_text()
    for other in ("Other-A/0001_ci.json", "Other-B/0001_ci.json", "Other-A/0003_ci.json", "Other-B/0003_ci.json",
                  "Other-B/0004_ci.json"):
        (storage / other).parent.mkdir(exist_ok=True)
        (storage / other).write_text(doc)
    assert runs.resolve_one("0001", storage) == folder / "0001_quick.json"
    assert runs.resolve_one("0004", storage) == storage / "Other-B" / "0004_ci.json"
    with pytest.raises(InputError, match="names 2 runs"):
        runs.resolve_one("0003", storage)

    # A run being written (hidden .saving-*) or a reserved number (empty) is never the latest run.
    (folder / ".saving-0123.json").write_text("{")
    (folder / "0005_quick.json").touch()
    for name in (".saving-0123.json", "0005_quick.json"):
        os.utime(folder / name, (4_000_000_000, 4_000_000_000))
    for other in storage.glob("Other-*/*.json"):
        os.utime(other, (1_000_000_000, 1_000_000_000))
    assert runs.latest(storage) == autosaved


@pytest.mark.parametrize(("options", "message"), [
    (["--benchmark-disable"], "--benchmark-disable: not taken by bench: it runs each case once, untimed"),
    (["--benchmark-skip"], "--benchmark-skip: not taken by bench: it skips every case"),
    (["--benchmark-compare=0001"], "--benchmark-compare: not taken by bench"),
    (["--benchmark-compare-fail", "min:5%"], "--benchmark-compare-fail: not taken by bench"),
    (["--benchmark-histogram"], "--benchmark-histogram: not taken by bench"),
    (["--benchmark-sort=name"], "--benchmark-sort: not taken by bench: it shapes pytest-benchmark's table"),
    (["--benchmark-save=a/b"], "--benchmark-save: 'a/b': Must not contain any of these characters"),
    (["--benchmark-json=missing/run.json"], "--benchmark-json: 'missing/run.json': there is no folder 'missing'"),
    (["--benchmark-storage=elsewhere"], "--benchmark-storage: 'elsewhere' is not --storage's"),
    (["--benchmark-storage=elasticsearch+http://localhost:9200/"],
     "--benchmark-storage: 'elasticsearch+http://localhost:9200/': bench saves run files"),
])
def test_options_that_cannot_hold_are_one_line_before_anything_runs(tmp_path, options, message):
    result = bench(tmp_path, f"--storage={tmp_path / 'storage'}", "--", *TINY, *options)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"gradbench: error: {message}") and result.stderr.count("\n") == 1, result.stderr
    assert "replicate" not in result.stdout and not list(tmp_path.rglob("*.json"))


# --- the pieces, without running the suite --------------------------------------------------------

def test_options_are_read_as_pytest_reads_them(tmp_path):
    options = benchmark_options(["--gb-sizes", "1024", "--benchmark-json", str(tmp_path / "a.json"),
                                 "--benchmark-save=one", "--benchmark-save", "two", "--benchmark-disable-gc",
                                 "--benchmark-save-data", "--benchmark-timer=time.process_time",
                                 "--benchmark-skip", "--benchmark-only", "--", "--benchmark-save=x"])
    # The last --benchmark-save holds; what the launcher does not take reaches every replicate as given.
    assert (options.name, options.json, options.storage) == ("two", tmp_path / "a.json", Path(".benchmarks"))
    assert options.pytest_args == ["--gb-sizes", "1024", "--benchmark-timer=time.process_time", "--benchmark-skip",
                                   "--benchmark-only", "--", "--benchmark-save=x"]
    assert benchmark_options([], Path("s")).storage == Path("s")
    assert benchmark_options(["--benchmark-storage", "file:///abs/runs"]).storage == Path("/abs/runs")
    assert benchmark_options(["--benchmark-storage=s"], Path("s")).storage == Path("s")
    with pytest.raises(InputError, match="needs a value"):
        benchmark_options(["--benchmark-json"])
    # --benchmark-save wins over --benchmark-autosave, as in pytest-benchmark.
    assert benchmark_options(["--benchmark-autosave", "--benchmark-save=mine"]).name == "mine"


def test_every_replicate_runs_with_gc_off_and_its_own_json_last():
    command = pytest_command(["--benchmark-json=elsewhere.json"], Path("replicate.json"))
    assert "--benchmark-disable-gc" in command and command[-1] == "--benchmark-json=replicate.json"


def test_only_the_runs_first_replicate_prints_the_skip_summary(tmp_path, monkeypatch):
    # Every replicate skips the same cases: the ci preset printed its 7-line summary once per replicate.
    commands: list[list[str]] = []

    def fake_call(command: list[str], **_: object) -> int:
        commands.append(command)
        Path(command[-1].removeprefix("--benchmark-json=")).write_text(json.dumps({"benchmarks": []}))
        return 0

    monkeypatch.setattr(launch.subprocess, "call", fake_call)
    launch.run_replicates(["--gb-sizes=1024"], 3, tmp_path)
    assert [launch.SKIP_SUMMARY in command for command in commands] == [True, False, False]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_files_get_the_users_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        path = save_run({"benchmarks": []}, tmp_path, "quick")
        write_json({"benchmarks": []}, tmp_path / "copy.json")
    finally:
        os.umask(previous)
    assert mode(path) == mode(tmp_path / "copy.json") == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # the .saving- file is gone

