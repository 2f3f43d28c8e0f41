"""A newcomer's edges (issue 22, items 3, 4 and 7): one table of exit codes, bench's included and
make's documented; printed commands that run as printed; a non-run file named as such; replicate
folders named only when they hold something; run messages that name the absolute folder they looked
in; run ids that work whatever numbers exist (latest, latest~N); make compare failing on a missing
id; make and bench from another folder; README's figures against the code."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import cli_process
import pytest

from bench_lib.commands import hints, launch
from bench_lib.contract.errors import InputError
from bench_lib.contract.exits import FROM_PYTEST, MEANING, Exit, from_pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RUN = ROOT / "tests" / "data" / "report_base.json"
# make in the environment running the tests, without its install step: the tests never install.
VENV = Path(sys.executable).parent.parent
MAKE = ["make", f"VENV={VENV}", "-o", f"{VENV}/.installed"]


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return cli_process.run(*args, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


# -- item 3: exit codes ------------------------------------------------------------------------------

def test_every_code_bench_exits_with_is_in_the_table() -> None:
    codes = {*FROM_PYTEST.values(), launch.EXIT_FAILED, launch.EXIT_INTERRUPTED, launch.EXIT_NOTHING_MEASURED}
    assert codes <= set(MEANING)
    # A run that measured nothing is not a failed gate nor a failed replicate.
    assert len({Exit.NOTHING_MEASURED, Exit.REGRESSION, Exit.USAGE, Exit.BAD_SELECTION}) == 4
    assert from_pytest(5) == Exit.NOTHING_MEASURED and from_pytest(2) == Exit.INTERRUPTED
    assert from_pytest(-9) == Exit.FAILED  # killed by a signal


def _fake_replicates(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, statuses: list[int],
                     writes: list[bool]) -> Path:
    """subprocess.call answering each replicate with the next status, writing its JSON when told;
    the temporary folders go under the returned folder."""
    answers = iter(zip(statuses, writes, strict=True))

    def call(command: list[str], **_: object) -> int:
        status, write = next(answers)
        if write:
            Path(command[-1].removeprefix("--benchmark-json=")).write_text('{"benchmarks": []}')
        return status

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(launch.subprocess, "call", call)
    monkeypatch.setattr(launch.tempfile, "tempdir", str(temporary))
    return temporary


def test_a_run_that_measured_nothing_exits_5_and_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    temporary = _fake_replicates(monkeypatch, tmp_path, [0], [False])  # pytest ends 0, every case skipped
    code = launch.bench(["--gb-preset=quick"], 1, "quick", tmp_path / "storage")
    err = capsys.readouterr().err
    assert code == Exit.NOTHING_MEASURED == 5
    assert err == (f"gradbench: error: replicate 1/1 measured no case (see the skip reasons above); nothing saved "
                   f"under {tmp_path / 'storage'}\n")
    assert list(temporary.iterdir()) == []


def test_a_failed_replicate_names_the_folder_that_holds_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    temporary = _fake_replicates(monkeypatch, tmp_path, [0, 4], [True, False])
    code = launch.bench(["--gb-preset=quick"], 2, "quick", tmp_path / "storage")
    err = capsys.readouterr().err
    [folder] = temporary.iterdir()
    assert code == Exit.BAD_SELECTION
    assert err.endswith(f"(the replicate files written so far are in {folder})\n")
    assert [p.name for p in folder.iterdir()] == ["replicate-1.json"]


def test_make_exits_2_naming_the_table_code(tmp_path: Path) -> None:
    # README ("Exit codes"): through make, any failure is make's 2; its last line names gradbench's code.
    result = subprocess.run([*MAKE, "bench", "PRESET=quick", "WORKLOADS=foo"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "gradbench: error: replicate 1/1 ended with pytest exit status 4" in result.stderr
    # make[1] where the tests themselves run under make (make test).
    assert re.search(r"make(\[\d+\])?: \*\*\* \[[^]]*\bbench\] Error 4$", result.stderr.strip())
    assert list(tmp_path.iterdir()) == []  # the replicates' folder held nothing: removed


@pytest.mark.parametrize("name", ["gradbench", "pytest", "pytest-benchmark"])
def test_printed_commands_run_without_activating_anything(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # a fresh shell: the environment's bin not on PATH
    monkeypatch.chdir(ROOT)
    command = hints.script(name)
    result = subprocess.run([*shlex.split(command), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, (command, result.stderr)


def test_a_refusal_spells_its_commands_as_they_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(ROOT)
    with pytest.raises(InputError) as refused:
        launch.benchmark_options(["--benchmark-histogram"])
    assert f"{hints.script('pytest-benchmark')} compare --histogram RUN" in str(refused.value)
    assert hints.script("pytest-benchmark") != "pytest-benchmark"


# -- item 4: the edges -------------------------------------------------------------------------------

def test_the_reports_own_file_is_not_a_run_file(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "summary.csv").write_text("run,workload\n")
    result = _run("report", "reports/summary.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("gradbench: error: reports/summary.csv: not a run file (it is one the report writes; a "
                             "run is <storage>/<machine>/NNNN_<name>.json)\n")


def test_a_file_that_is_not_json_is_not_a_run_file(tmp_path: Path) -> None:
    result = _run("report", str(ROOT / "README.md"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"gradbench: error: {ROOT / 'README.md'}: not a run file: not valid JSON (")


@pytest.mark.parametrize(("args", "message"), [
    (["report", "0003"], "0003: no run numbered 0003 under {tmp}/.benchmarks/*/"),
    (["report"], "{tmp}/.benchmarks: no saved runs"),
    (["compare", "0001", "0002"], "0001: no run numbered 0001 under {tmp}/.benchmarks/*/"),
    (["runs", "latest"], "{tmp}/.benchmarks: no saved runs"),
    (["report", "missing.json"], "missing.json: no such file: {tmp}/missing.json"),
    (["report", "runs/*.json"], "runs/*.json: the glob matches no file (from {tmp})"),
])
def test_run_messages_name_the_absolute_folder(tmp_path: Path, args: list[str], message: str) -> None:
    result = _run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("gradbench: error: " + message.format(tmp=tmp_path)), result.stderr
    assert result.stderr.count("\n") == 1


def _saved_runs(storage: Path) -> list[Path]:
    """Three runs of one machine, 0001 oldest; 0003, the newest, marked incomplete."""
    folder = storage / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    doc = json.loads(RUN.read_text())
    paths = []
    for number in (1, 2, 3):
        path = folder / f"{number:04d}_ci.json"
        doc.setdefault("gradbench", {})["complete"] = number != 3
        path.write_text(json.dumps(doc))
        os.utime(path, ns=(number * 10**18, number * 10**18))
        paths.append(path)
    return paths


def test_latest_ids_name_runs_whatever_their_numbers(tmp_path: Path) -> None:
    first, second, incomplete = _saved_runs(tmp_path / ".benchmarks")
    result = _run("runs", "latest~1", "latest", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(first), str(second)]  # the incomplete run is passed over
    assert _run("runs", cwd=tmp_path).stdout.splitlines() == [str(first), str(second), str(incomplete)]
    result = _run("runs", "latest~2", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (f"gradbench: error: latest~2: 2 complete saved runs under {tmp_path}/.benchmarks/*/, "
                             "so none is 2 before the latest\n")


def test_make_compare_fails_on_a_run_id_that_names_no_run() -> None:
    result = subprocess.run([*MAKE, "compare", f"RUNS={RUN} 9999"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert f"gradbench: error: 9999: no run numbered 9999 under {ROOT}/.benchmarks/*/" in result.stderr
    shown = subprocess.run([*MAKE, "compare", f"RUNS={RUN} {RUN.with_name('report_new.json')}"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "(a/report_base)" in shown.stdout and "(a/report_new)" in shown.stdout


def test_make_from_another_folder_runs_in_the_projects(tmp_path: Path) -> None:
    result = subprocess.run(["make", "-n", "-f", str(ROOT / "Makefile"), "report", "RUNS=0003"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"running make in {ROOT}, the Makefile's folder" in result.stdout
    assert re.search(r"^\S*python -m bench_lib report 0003", result.stdout, re.MULTILINE), result.stdout


def test_bench_elsewhere_says_where_it_saves(tmp_path: Path) -> None:
    work, temporary = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    temporary.mkdir()
    result = _run("bench", "--preset=quick", "--", "--gb-modes=fast", cwd=work, env={"TMPDIR": str(temporary)})
    assert result.returncode == Exit.BAD_SELECTION, result.stdout + result.stderr
    assert result.stdout.startswith(f"gradbench: saving under {work}/.benchmarks, the current folder's; this "
                                    f"checkout's runs are in {ROOT}/.benchmarks (--storage chooses)\n")
    assert f"nothing saved under {work}/.benchmarks\n" in result.stderr
    assert list(temporary.iterdir()) == []


# -- item 7: README against the code -----------------------------------------------------------------

def _collected(preset: str) -> int:
    result = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "--collect-only", "-q",
                             f"--gb-preset={preset}", "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    return int(re.search(r"^(\d+) tests? collected", result.stdout, re.MULTILINE).group(1))


def test_readme_case_counts_are_the_codes() -> None:
    section = README.split("\n## Measured here\n", 1)[1].split("\n## ", 1)[0]
    documented = {match.group(1) or "default": int(match.group(2)) for match in
                  re.finditer(r"^\| `make bench(?: PRESET=(\w+))?` \((?:default: )?(\d+) cases", section, re.MULTILINE)}
    assert set(documented) == {"quick", "ci", "default"}
    assert documented == {preset: _collected(preset) for preset in documented}


def test_readme_gives_each_time_once() -> None:
    # How long make test and the presets take: in "Measured here" only, not restated elsewhere.
    elsewhere = README.split("\n## Measured here\n", 1)[0]
    assert not re.search(r"make test\b[^\n]*\d+(\.\d+)? ?min", elsewhere)
    assert not re.search(r"PRESET=(quick|ci)\b[^\n]*about \d+ s", elsewhere)
    # The quick start works whatever runs exist: no run number in it.
    quick_start = README.split("Quick start:", 1)[1].split("```", 2)[1]
    assert not re.search(r"\b\d{4}\b", quick_start) and "compare latest~1 latest" in quick_start


def test_paths_in_run_messages_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench_lib.contract import runs

    monkeypatch.chdir(tmp_path)
    for machine in ("m1", "m2"):
        (tmp_path / ".benchmarks" / machine).mkdir(parents=True)
        (tmp_path / ".benchmarks" / machine / "0001_ci.json").write_text('{"gradbench": {"complete": false}}')
    with pytest.raises(InputError) as ambiguous:
        runs.resolve_one("0001", Path(".benchmarks"), machine="elsewhere")
    assert f"({tmp_path}/.benchmarks/m1/0001_ci.json, {tmp_path}/.benchmarks/m2/0001_ci.json)" in str(ambiguous.value)
    with pytest.raises(InputError) as incomplete:
        runs.latest(Path(".benchmarks"))
    assert incomplete.value.source == str(tmp_path / ".benchmarks")
    assert f"(newest: {tmp_path}/.benchmarks/" in incomplete.value.problem
