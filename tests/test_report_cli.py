"""The command line: one-line errors with exit status 2, the CI gate, atomic output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cli_process
import pytest

from bench_lib.commands import cli
from bench_lib.report import model

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m bench_lib ARGS``, in the long-lived interpreter of tests/cli_process.py."""
    return cli_process.run(*args, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


BAD_INPUTS = [
    (["report", "tests/data/no_such_run.json"], "tests/data/no_such_run.json: no such file"),
    (["report", "tests/data/bad_empty.json"], "tests/data/bad_empty.json: empty file"),
    (["report", "tests/data/bad_truncated.json"], "tests/data/bad_truncated.json: not valid JSON ("),
    (["report", "tests/data/bad_other_tool.json"], "tests/data/bad_other_tool.json: not a pytest-benchmark run file"),
    (["report", "tests/data/bad_no_cases.json"], "tests/data/bad_no_cases.json: no gradbench cases"),
    (["report", "0042", "--storage", "tests/data"], f"0042: no run numbered 0042 under {ROOT}/tests/data/*/"),
    (["report", "tests/data/report_small.json", "--base", "missing.json"], "missing.json: no such file"),
    (["compare", "tests/data/report_base.json", "tests/data/report_new.json", "--fail-above", "ten"],
     "--fail-above: expected a percentage above 0 such as 10% or 2.5%, or off, got 'ten'"),
    (["compare", "tests/data/report_base.json", "tests/data/report_new.json", "--fail-above", "abc"],
     "--fail-above: expected a percentage above 0"),
    (["compare", "tests/data/report_base.json", "tests/data/report_new.json", "--fail-above", "10"],
     "--fail-above: expected a percentage above 0"),
    (["compare", "tests/data/report_base.json", "tests/data/report_new.json", "--fail-above=-5%"],
     "--fail-above: expected a percentage above 0"),
    (["compare", "tests/data/report_base.json", "tests/data/report_new.json", "--fail-above", "-5%"],
     "command line: argument --fail-above: expected one argument"),
    (["compare", "tests/data/report_base.json", "tests/data/report_new.json", "--fail-peak-above", "0%"],
     "--fail-peak-above: expected a percentage above 0"),
    (["compare", "tests/data/report_base.json", "tests/data/report_new.json", "--fail-ratio-above", "x"],
     "--fail-ratio-above: expected a percentage above 0"),
    (["compare", "0007", "tests/data/report_new.json", "--storage", "tests/data"],
     f"0007: no run numbered 0007 under {ROOT}/tests/data/*/"),
    (["compare", "tests/data/report_small.json", "tests/data/report_new.json"],
     "tests/data/report_small.json: has no replicates (written by pytest directly or before schema 4)"),
    (["compare", "tests/data/report_base.json"], "command line: the following arguments are required: NEW"),
    (["frobnicate"], "command line: argument command: invalid choice"),
    (["report", "tests/data/report_single_mode.json", "--out", "tests/data/report_small.json/index.html"],
     "tests/data/report_small.json: cannot write the report (is not a directory)"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[" ".join(a)[:50] for a, _ in BAD_INPUTS])
def test_bad_input_gives_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"gradbench: error: {message}"), lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_truncated_file_is_called_truncated() -> None:
    assert "the file ends early: truncated?" in _run("report", "tests/data/bad_truncated.json").stderr


COMPARE = ("compare", "tests/data/report_base.json", "tests/data/report_new.json")
OTHER_GATES_OFF = ("--fail-ratio-above", "off", "--fail-peak-above", "off", "--no-fail-on-count-change",
                   "--fail-instructions-above", "off")


def test_compare_gates_on_significant_slowdowns_above_the_threshold() -> None:
    # report_new (5 replicates) is 20 % slower in grad 2^10 and 15 % faster in no_grad 2^18.
    failing = _run(*COMPARE, "--fail-above", "10%", *OTHER_GATES_OFF)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "times: 1 slower, 1 faster, 4 unchanged, 0 likely slower, 0 likely faster, 0 inconclusive" in failing.stdout
    assert failing.stdout.splitlines()[-2:] == [
        "FAIL: 1 case significantly slower by more than 10%: pointwise grad forward 2^10 cpu float32",
        "REGRESSION: 1 gate failed (the FAIL lines above); judged 6 of 6 cases; none left unjudged [exit 1]"]
    passing = _run(*COMPARE, "--fail-above", "25%", *OTHER_GATES_OFF)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert passing.stdout.splitlines()[-1] == ("OK: every gate holds and every gated case was judged: 6 of 6 cases "
                                               "(gates: times and pipelined times 25%, overhead ratios off, peak "
                                               "memory off, counts off, instructions off) [exit 0]")


@pytest.mark.parametrize(("gate", "failure"), [
    (("--fail-ratio-above", "10%"), "FAIL: 2 overhead ratios grad/mode significantly larger by more than 10%: "
                                    "pointwise grad/no_grad forward 2^10 cpu float32, "
                                    "pointwise grad/no_grad forward 2^18 cpu float32"),
    (("--fail-on-count-change",), "FAIL: 1 exact count changed: pointwise grad forward 2^14 cpu float32 saved_bytes"),
    (("--fail-peak-above", "5%"), "FAIL: 1 peak tensor memory larger by more than 5%: "
                                  "pointwise grad forward 2^14 cpu float32"),
])
def test_each_gate_fails_on_its_own(gate: tuple[str, ...], failure: str) -> None:
    others = ["--fail-ratio-above", "off", "--fail-peak-above", "off", "--no-fail-on-count-change"]
    option = others.index(gate[0]) if gate[0] in others else others.index("--no-fail-on-count-change")
    del others[option:option + (2 if gate[0] != "--fail-on-count-change" else 1)]
    result = _run(*COMPARE, "--fail-above", "off", *others, *gate)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[-2] == failure
    assert result.stdout.splitlines()[-1].startswith("REGRESSION: 1 gate failed")


def test_compare_refuses_vacuous_or_meaningless_comparisons(tmp_path: Path) -> None:
    from report_fixtures import case, replicated

    single = replicated(lambda: [case("pointwise", "grad", "forward", 1024, [1e-5] * 5)], replicates=1)
    other = replicated(lambda: [case("other", "grad", "forward", 1024, [1e-5] * 5)], replicates=2)
    incomplete = replicated(lambda: [case("pointwise", "grad", "forward", 1024, [1e-5] * 5)], replicates=2)
    incomplete["gradbench"]["complete"] = False
    for name, doc in (("single", single), ("other", other), ("incomplete", incomplete)):
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    expected = {
        "single": "has 1 replicate: a gate on times or overhead ratios needs >= 2 per run",
        "other": "shares no measured case with tests/data/report_base.json: nothing to compare",
        "incomplete": "is incomplete (interrupted, or a case failed): compare complete runs",
    }
    for name, message in expected.items():
        result = _run("compare", "tests/data/report_base.json", str(tmp_path / f"{name}.json"))
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.startswith(f"gradbench: error: {tmp_path / name}.json: {message}"), result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
    # The ratio gate alone is as vacuous with a single replicate.
    ratio_only = _run("compare", "tests/data/report_base.json", str(tmp_path / "single.json"), "--fail-above", "off")
    assert ratio_only.returncode == 2 and "a gate on times or overhead ratios needs >= 2" in ratio_only.stderr
    # Without the gates on times and ratios, a single replicate still compares counts and memory.
    result = _run("compare", "tests/data/report_base.json", str(tmp_path / "single.json"), "--fail-above", "off",
                  "--fail-ratio-above", "off", "--no-fail-on-count-change")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the new run has 1 replicate: its noise between processes is unknown" in result.stdout


def test_report_of_the_latest_run_and_by_number(tmp_path: Path) -> None:
    machine = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    machine.mkdir(parents=True)
    shutil.copy(DATA / "report_base.json", machine / "0001_quick.json")
    shutil.copy(DATA / "report_new.json", machine / "0002_quick.json")
    os.utime(machine / "0001_quick.json", (1_000_000_000, 1_000_000_000))
    result = _run("report", "--base", "0001", cwd=tmp_path)  # default: the latest run, 0002
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"wrote {Path('reports') / name}" for name in
                                          ("summary.csv", "scenarios.csv", "summary.md", "index.html")]
    page = (tmp_path / "reports" / "index.html").read_text()
    assert "0002_quick (5 replicates) against base 0001_quick (5 replicates)" in page
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["index.html", "scenarios.csv", "summary.csv",
                                                                        "summary.md"]


def test_failures_leave_the_previous_report_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "index.html"
    out.write_text("previous page")
    assert cli.main(["report", str(DATA / "bad_truncated.json"), "--out", str(out)]) == 2
    assert out.read_text() == "previous page"

    def broken_render(report: model.Report) -> str:
        raise RuntimeError("renderer failed half-way")

    monkeypatch.setattr("bench_lib.report.page.render", broken_render)
    with pytest.raises(RuntimeError):
        cli.main(["report", str(DATA / "report_single_mode.json"), "--out", str(out)])
    assert out.read_text() == "previous page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html"]  # no temporary file left


def test_write_set_removes_its_temporary_files_on_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench_lib.report import output

    target = tmp_path / "summary.md"
    target.write_text("old")

    def fail_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "replace", fail_replace)
    with pytest.raises(output.OutputError, match="summary.md: No space left on device"):
        output.write_set({target: "new", tmp_path / "index.html": "page"})
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.md"]


def test_import_bench_lib_stays_light() -> None:
    code = "import sys, bench_lib, bench_lib.commands.cli; print(sorted({'pandas', 'matplotlib', 'torch'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert json.loads(result.stdout.replace("'", '"')) == []


BLOCK_TORCH_AND_PSUTIL = """
import sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'psutil'):
            raise ImportError(f'{name} is not installed here')
sys.meta_path.insert(0, Absent())
from bench_lib.commands.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("args", [
    ["report", "tests/data/report_scenarios.json", "--base", "tests/data/report_base.json"],
    ["compare", "tests/data/report_base.json", "tests/data/report_new.json", "--fail-above", "25%",
     "--fail-ratio-above", "off", "--fail-peak-above", "off", "--no-fail-on-count-change"],
])
def test_report_and_compare_need_neither_torch_nor_psutil(args: list[str], tmp_path: Path) -> None:
    if args[0] == "report":
        args = [*args, "--out", str(tmp_path / "index.html")]
    result = subprocess.run([sys.executable, "-c", BLOCK_TORCH_AND_PSUTIL, *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
