"""Fault injection: hostile and broken inputs to the report and the comparison, built from a real
run file (tests/data/real_h200_cpu_elementwise.json: elementwise forward cases of an H200 host's
CPU run) mutated here. Nothing may end in a traceback, a lost or overwritten file, or a run that
passes for what it is not.

``python tests/test_faults.py`` prints the table of README.md's "Hostile input" section from
HOSTILE; a test keeps the two in step.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cli_process
import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real_h200_cpu_elementwise.json"

Doc = dict[str, Any]


def real() -> Doc:
    return json.loads(REAL.read_text())


def replicated(doc: Doc, replicates: int = 2) -> Doc:
    from bench_lib.analysis.replicates import merge

    docs = []
    for _ in range(replicates):
        one = copy.deepcopy(doc)
        one["gradbench"]["complete"] = True
        docs.append(one)
    return merge(docs, [{"started": "2026-11-27T10:00:00+00:00", "seconds": 1.0}] * replicates)


def case_info(index: int = 0, **changes: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["benchmarks"][index]["extra_info"].update(changes)
    return mutate


def stats(**changes: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["benchmarks"][0]["stats"].update(changes)
    return mutate


def section(**changes: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["gradbench"].update(changes)
    return mutate


def duplicate_first(doc: Doc) -> None:
    doc["benchmarks"].append(copy.deepcopy(doc["benchmarks"][0]))


def skip_reason(text: str) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["gradbench"]["skipped"][0]["reason"] = text
    return mutate


def invalid_error(text: str) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["gradbench"]["invalid"] = [{"scenario": "inplace", "variant": "relu_", "workload": "tanh_relu",
                                        "mode": "grad", "pass": "step", "size": 65536, "device": "cpu",
                                        "dtype": "float32", "error": text}]
    return mutate


def node(text: str) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["machine_info"]["node"] = text
    return mutate


def replicate_entry(**changes: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["benchmarks"][0]["extra_info"]["replicates"][0].update(changes)
    return mutate


@dataclass(frozen=True)
class Hostile:
    """One hostile input: what it is, how it is made, and what must happen."""

    input: str                       # as README's table names it
    exit: int
    message: str                     # in the one-line error (exit 2), or in the output (exit 0)
    mutate: Callable[[Doc], None] | None = None  # applied to the real run file
    raw: bytes | None = None         # the file's bytes instead of a mutated run
    replicated: bool = False         # mutate the run merged from two replicates
    command: str = "report"          # report RUN, or compare BASE RUN with BASE the real run merged


HOSTILE = [
    Hostile("empty file", 2, "empty file", raw=b""),
    Hostile("whitespace only", 2, "empty file", raw=b"  \n\t\n"),
    Hostile("truncated run file", 2, "the file ends early: truncated?", raw=REAL.read_bytes()[:5000]),
    Hostile("a PNG image", 2, "not JSON (not UTF-8 text)", raw=b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4),
    Hostile("NUL bytes", 2, "not valid JSON", raw=bytes(64)),
    Hostile("another tool's JSON", 2, "not a pytest-benchmark run file", raw=b'{"name": "eslint", "results": []}'),
    Hostile("a JSON array", 2, "not a pytest-benchmark run file", raw=b"[1, 2, 3]"),
    Hostile("JSON nested 100,000 deep", 2, "nested too deeply", raw=b"[" * 100_000 + b"]" * 100_000),
    Hostile("an integer of 5,000 digits", 2, "not a run file (Exceeds", raw=b'{"a": ' + b"9" * 5000 + b"}"),
    Hostile("no gradbench case in it", 2, "no gradbench cases",
            mutate=lambda d: (d["benchmarks"].clear(), d["gradbench"]["skipped"].clear())),
    Hostile("schema_version from the future (99)", 2, "is newer than this report reads",
            mutate=case_info(schema_version=99)),
    Hostile("schema_version \"x\"", 2, "schema_version must be a positive integer",
            mutate=case_info(schema_version="x")),
    Hostile("peak_tensor_bytes \"lots\"", 2, "peak_tensor_bytes must be an integer >= 0 or null",
            mutate=case_info(peak_tensor_bytes="lots")),
    Hostile("saved_bytes -4", 2, "saved_bytes must be an integer >= 0 or null", mutate=case_info(saved_bytes=-4)),
    Hostile("elements null", 2, "elements must be an integer >= 0", mutate=case_info(elements=None)),
    Hostile("interleaved_median \"x\"", 2, "interleaved_median must be a number of seconds",
            mutate=case_info(interleaved_median="x")),
    Hostile("interleaved_median 0", 2, "interleaved_median must be above 0", mutate=case_info(interleaved_median=0)),
    Hostile("background_cpu 5", 2, "background_cpu must be a share from 0 to 1", mutate=case_info(background_cpu=5)),
    Hostile("size 10**30", 2, "size must be an integer from 1 to 2^50", mutate=case_info(size=10**30)),
    Hostile("size -1", 2, "size must be an integer from 1 to 2^50", mutate=case_info(size=-1)),
    Hostile("size true", 2, "size must be an integer from 1 to 2^50", mutate=case_info(size=True)),
    Hostile("mode \"fast\"", 2, "mode must be one of grad, no_grad", mutate=case_info(mode="fast")),
    Hostile("workload \"$\\frac{$\" (bad mathtext)", 2, "workload must be a name",
            mutate=case_info(workload="$\\frac{$")),
    Hostile("workload \"<script>\"", 2, "workload must be a name", mutate=case_info(workload="<script>")),
    Hostile("workload with a terminal escape", 2, "workload must be a name", mutate=case_info(workload="a\x1b[2Jb")),
    Hostile("tensor_memory_method with HTML", 2, "tensor_memory_method must be a name",
            mutate=case_info(tensor_memory_method="<img src=x onerror=alert(1)>")),
    Hostile("stats median 0", 2, "stats median must be above 0", mutate=stats(median=0.0)),
    Hostile("stats median NaN", 2, "stats median must be a number of seconds", mutate=stats(median=float("nan"))),
    Hostile("stats median -1", 2, "stats median must be a number of seconds", mutate=stats(median=-1.0)),
    Hostile("stats median 1e9 s", 2, "stats median must be a number of seconds", mutate=stats(median=1e9)),
    Hostile("stats median 10**400", 2, "stats median must be a number of seconds", mutate=stats(median=10**400)),
    Hostile("elements 10**400", 2, "elements must be an integer >= 0", mutate=case_info(elements=10**400)),
    Hostile("stats data [10**400]", 2, "stats data must be a list of numbers", mutate=stats(data=[10**400])),
    Hostile("workload \"mlp\\n\" (a trailing newline)", 2, "workload must be a name",
            mutate=case_info(workload="mlp\n")),
    Hostile("stats data [\"a\"]", 2, "stats data must be a list of numbers", mutate=stats(data=["a"])),
    Hostile("stats rounds 0", 2, "stats rounds must be an integer >= 1", mutate=stats(rounds=0)),
    Hostile("the same case twice", 2, "appears twice", mutate=duplicate_first),
    Hostile("replicates []", 2, "extra_info replicates must be a non-empty list", replicated=True,
            mutate=case_info(replicates=[])),
    Hostile("a replicate's median \"x\"", 2, "replicate median must be a number >= 0", replicated=True,
            mutate=replicate_entry(median="x")),
    Hostile("a replicate's rounds true", 2, "replicate rounds must be an integer >= 1", replicated=True,
            mutate=replicate_entry(rounds=True)),
    Hostile("a replicate's pipelined_median 0", 2, "replicate pipelined_median must be a number of seconds above 0",
            replicated=True, mutate=replicate_entry(pipelined_median=0)),
    Hostile("gradbench complete \"yes\"", 2, "gradbench 'complete' must be true or false",
            mutate=section(complete="yes")),
    Hostile("gradbench replicates 0", 2, "gradbench 'replicates' must be an integer >= 1",
            mutate=section(replicates=0)),
    Hostile("a skip reason with <script>", 0, "&lt;script&gt;", mutate=skip_reason("<script>alert(1)</script>")),
    Hostile("a machine name with HTML and Markdown", 0, "&lt;b&gt;", mutate=node("<b>|x|</b>")),
    Hostile("PyTorch's error of a rejected case with <script>", 0, "&lt;script&gt;",
            mutate=invalid_error("<script>alert(1)</script>")),
    Hostile("compare: a run without replicates", 2, "has no replicates", command="compare"),
    Hostile("compare: an incomplete run", 2, "is incomplete", replicated=True, command="compare",
            mutate=section(complete=False)),
    Hostile("compare: a run that shares no case", 2, "shares no measured case", replicated=True, command="compare",
            mutate=lambda d: [b["extra_info"].update(workload="other") for b in d["benchmarks"]]),
    Hostile("compare: a changed saved-bytes count", 1, "exact count", replicated=True, command="compare",
            mutate=case_info(saved_bytes=123)),
]


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m bench_lib ARGS``, in the long-lived interpreter of tests/cli_process.py."""
    return cli_process.run(*args, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _run_fresh(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m bench_lib ARGS`` in a process of its own: for what must not hang a shared one."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bench_lib", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def _make(case: Hostile, path: Path) -> None:
    if case.raw is not None:
        path.write_bytes(case.raw)
        return
    doc = replicated(real()) if case.replicated else real()
    if case.mutate is not None:
        case.mutate(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("case", HOSTILE, ids=[case.input for case in HOSTILE])
def test_hostile_input(case: Hostile, tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    _make(case, path)
    before = path.read_bytes()
    if case.command == "compare":
        base = tmp_path / "base.json"
        base.write_text(json.dumps(replicated(real())))
        result = _run("compare", str(base), str(path))
    else:
        result = _run("report", str(path), "--out", str(tmp_path / "out" / "index.html"))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == case.exit, result.stdout + result.stderr
    assert path.read_bytes() == before  # the input is never touched
    if case.exit == 2:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("gradbench: error: "), result.stderr
        assert case.message in result.stderr, result.stderr
        assert not (tmp_path / "out").exists()  # nothing half-written
    elif case.command == "compare":
        assert case.message in result.stdout
    else:
        page = (tmp_path / "out" / "index.html").read_text()
        assert case.message in page and "<script>alert" not in page and "<b>|x|</b>" not in page
        markdown = (tmp_path / "out" / "summary.md").read_text()
        assert "<b>" not in markdown and "<script>" not in markdown


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_special_files_are_refused_without_reading(special: str, tmp_path: Path) -> None:
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "run.json"
        os.mkfifo(path)  # reading it would wait for a writer for ever
    result = _run_fresh("report", str(path), "--out", str(tmp_path / "index.html"))
    assert result.returncode == 2 and result.stderr == f"gradbench: error: {path}: not a regular file\n"


def test_a_spreadsheet_formula_in_a_skip_reason_is_made_inert(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    doc = real()
    skip_reason('=HYPERLINK("http://x","y")')(doc)
    path.write_text(json.dumps(doc))
    assert _run("report", str(path), "--out", str(tmp_path / "index.html")).returncode == 0
    text = (tmp_path / "summary.csv").read_text()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text and ',"=HYPERLINK' not in text


@pytest.mark.parametrize(("out", "message"), [
    ("{run}", "is not an .html page"),
    ("{tmp}/x.json/", "ends with / but is not a directory"),
    ("{storage}/Linux/index.html", "is inside the run storage"),
    ("{tmp}/summary.html", None),  # fine: nothing of the input's
])
def test_out_never_overwrites_an_input_or_a_saved_run(out: str, message: str | None, tmp_path: Path) -> None:
    storage = tmp_path / ".benchmarks"
    (storage / "Linux").mkdir(parents=True)
    run = storage / "Linux" / "0001_quick.json"
    run.write_text(REAL.read_text())
    (tmp_path / "x.json").write_text("precious")
    target = out.format(run=run, tmp=tmp_path, storage=storage)
    result = _run("report", str(run), "--out", target, "--storage", str(storage))
    assert run.read_text() == REAL.read_text() and (tmp_path / "x.json").read_text() == "precious"
    if message is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1


def test_an_html_out_next_to_its_own_input_is_refused(tmp_path: Path) -> None:
    # summary.csv beside the page would overwrite a run file named so.
    run = tmp_path / "summary.csv"
    run.write_text(REAL.read_text())
    result = _run("report", str(run), "--out", str(tmp_path / "index.html"))
    assert result.returncode == 2 and "would overwrite the run file" in result.stderr
    assert run.read_text() == REAL.read_text()


def test_the_report_files_are_replaced_as_one_set(tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    run.write_text(REAL.read_text())
    out = tmp_path / "report"
    assert _run("report", str(run), "--out", str(out / "index.html")).returncode == 0
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "summary.md").unlink()
    (out / "summary.md").mkdir()  # a directory in the way of the third file
    (out / "summary.md" / "keep").write_text("x")
    result = _run("report", str(run), "--out", str(out / "index.html"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"gradbench: error: {out / 'summary.md'}: cannot write the report")
    assert ".tmp" not in result.stderr
    for name in ("index.html", "summary.csv", "scenarios.csv"):
        assert (out / name).read_bytes() == old[name]  # all old: none of the new set landed
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "scenarios.csv", "summary.csv", "summary.md"]


def test_an_incomplete_run_is_never_the_default(tmp_path: Path) -> None:
    machine = tmp_path / ".benchmarks" / "Linux"
    machine.mkdir(parents=True)
    complete, partial = real(), real()
    complete["gradbench"]["complete"] = True
    partial["gradbench"]["complete"] = False
    (machine / "0001_quick.json").write_text(json.dumps(complete, indent=4))
    (machine / "0002_quick.json").write_text(json.dumps(partial, indent=4))
    result = _run("report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "0001_quick" in (tmp_path / "reports" / "index.html").read_text()
    named = _run("report", "0002", cwd=tmp_path)  # named, it is reported, marked as such
    assert named.returncode == 0 and "INCOMPLETE" in (tmp_path / "reports" / "index.html").read_text()


def test_a_crash_is_never_read_as_a_regression(tmp_path: Path) -> None:
    # An internal error exits 2 (could not compare), not 1 (a gate failed).
    code = ("import sys, runpy; import bench_lib.analysis.compare as c\n"
            "def boom(*a, **k): raise RuntimeError('bug')\n"
            "c.compare_runs = boom\n"
            "sys.argv = ['bench_lib', 'compare', sys.argv[1], sys.argv[1]]\n"
            "runpy.run_module('bench_lib', run_name='__main__')\n")
    base = tmp_path / "base.json"
    base.write_text(json.dumps(replicated(real())))
    result = subprocess.run([sys.executable, "-c", code, str(base)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.rstrip().endswith("gradbench: internal error (a bug in gradbench; the traceback is above)")


def markdown_table() -> str:
    rows = ["| input | what happens | exit |", "|---|---|---|"]
    for case in HOSTILE:
        what = f"one line: `{case.message}`" if case.exit == 2 else (
            "the gate fails, naming the case" if case.exit == 1 else f"shown escaped (`{case.message}`)")
        rows.append(f"| {case.input.replace('|', '/')} | {what} | {case.exit} |")
    return "\n".join(rows)


def test_readme_lists_every_hostile_input() -> None:
    assert markdown_table() in (ROOT / "README.md").read_text()


if __name__ == "__main__":
    print(markdown_table())
