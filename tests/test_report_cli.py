"""The command line: one-line errors with exit status 2, the CI gate, atomic output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench_lib import cli
from bench_lib.report import build

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bench_lib", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


BAD_INPUTS = [
    (["report", "tests/data/no_such_run.json"], "tests/data/no_such_run.json: no such file"),
    (["report", "tests/data/bad_empty.json"], "tests/data/bad_empty.json: empty file"),
    (["report", "tests/data/bad_truncated.json"], "tests/data/bad_truncated.json: not valid JSON ("),
    (["report", "tests/data/bad_other_tool.json"], "tests/data/bad_other_tool.json: not a pytest-benchmark run file"),
    (["report", "tests/data/bad_no_cases.json"], "tests/data/bad_no_cases.json: no gradbench cases"),
    (["report", "0042", "--storage", "tests/data"], "0042: no run numbered 0042 under tests/data/*/"),
    (["report", "tests/data/report_small.json", "--base", "missing.json"], "missing.json: no such file"),
    (["compare", "tests/data/report_base.json", "tests/data/report_new.json", "--fail-above", "ten"],
     "--fail-above: expected a percentage such as 10%"),
    (["compare", "tests/data/report_base.json", "tests/data/report_new.json", "--fail-above", "10"],
     "--fail-above: expected a percentage such as 10%"),
    (["compare", "tests/data/report_base.json"], "command line: the following arguments are required: NEW"),
    (["frobnicate"], "command line: argument command: invalid choice"),
    (["report", "tests/data/report_single_mode.json", "--out", "tests/data/report_small.json/index.html"],
     "tests/data/report_small.json: cannot write the report"),
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


def test_compare_gates_on_significant_slowdowns_above_the_threshold() -> None:
    # report_new is 20 % slower (significantly) in one case and 15 % faster in another.
    failing = _run("compare", "tests/data/report_base.json", "tests/data/report_new.json", "--fail-above", "10%")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "1 significantly slower, 1 significantly faster" in failing.stdout
    assert failing.stdout.splitlines()[-1] == "FAIL: 1 case significantly slower by more than 10%"
    passing = _run("compare", "tests/data/report_base.json", "tests/data/report_new.json", "--fail-above", "25%")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert passing.stdout.splitlines()[-1] == "OK: no case significantly slower by more than 25%"


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
    assert "0002_quick against base 0001_quick" in page
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["index.html", "scenarios.csv", "summary.csv",
                                                                        "summary.md"]


def test_failures_leave_the_previous_report_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "index.html"
    out.write_text("previous page")
    assert cli.main(["report", str(DATA / "bad_truncated.json"), "--out", str(out)]) == 2
    assert out.read_text() == "previous page"

    def broken_render(report: build.Report) -> str:
        raise RuntimeError("renderer failed half-way")

    monkeypatch.setattr("bench_lib.report.page.render", broken_render)
    with pytest.raises(RuntimeError):
        cli.main(["report", str(DATA / "report_single_mode.json"), "--out", str(out)])
    assert out.read_text() == "previous page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html"]  # no temporary file left


def test_write_atomic_removes_its_temporary_file_on_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench_lib.report import output

    target = tmp_path / "summary.md"
    target.write_text("old")

    def fail_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(output.os, "replace", fail_replace)
    with pytest.raises(OSError):
        output.write_atomic(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.md"]


def test_import_bench_lib_stays_light() -> None:
    code = "import sys, bench_lib, bench_lib.cli; print(sorted({'pandas', 'matplotlib', 'torch'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert json.loads(result.stdout.replace("'", '"')) == []
