"""`gradbench compare` end to end: exit codes (one table, README's), verdicts that are not judged,
the run-level shift, per-case thresholds and controls (command line and pyproject.toml), the
JSON output against README's schema, and --version."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from report_fixtures import case, replicated

from bench_lib import __version__
from bench_lib.analysis import compare
from bench_lib.commands import cli
from bench_lib.contract.exits import MEANING, Exit

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
WORKLOADS = ("alpha", "beta", "gamma")
SIZES = (2**10, 2**14, 2**18)


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bench_lib", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def write_run(path: Path, *, seed: int, replicates: int, scale: dict[str, float] | None = None,
              spread: float = 0.02, saved_bytes: dict[str, int] | None = None) -> Path:
    """18 cases (3 workloads, grad and no_grad, 3 sizes); the same ``seed`` gives the same
    numbers, so a run with ``scale`` is its base's times multiplied by that factor per workload."""
    rng = np.random.default_rng(seed)

    def build() -> list[dict[str, Any]]:
        process = math.exp(spread * rng.standard_normal())
        out = []
        for workload in WORKLOADS:
            for mode in ("grad", "no_grad"):
                for size in SIZES:
                    t = (20e-6 + 1e-9 * size) * process * math.exp(0.3 * spread * rng.standard_normal())
                    t *= (scale or {}).get(workload, 1.0)
                    samples = [round(float(v), 15) for v in t * (1 + 0.005 * rng.standard_normal(9))]
                    out.append(case(workload, mode, "forward", size, samples,
                                    saved_bytes=(saved_bytes or {}).get(workload, 0)))
        return out

    path.write_text(json.dumps(replicated(build, replicates=replicates)))
    return path


EVERY = {"alpha": 1.5, "beta": 1.5, "gamma": 1.5}


# --- exit codes --------------------------------------------------------------------------------

def _readme_exit_table() -> list[tuple[int, str]]:
    section = README.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    return [(int(code), meaning) for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)]


def test_readme_lists_the_exit_codes_of_the_code_table() -> None:
    assert _readme_exit_table() == [(int(code), meaning) for code, meaning in MEANING.items()]
    # The command line's codes are the table's.
    assert {cli.EXIT_REGRESSION, cli.EXIT_INPUT, cli.EXIT_NOT_JUDGED} <= set(MEANING)
    assert (Exit.OK, Exit.REGRESSION, Exit.USAGE, Exit.NOT_JUDGED) == (0, 1, 2, 3)


def test_two_runs_of_two_replicates_every_time_1_5x_are_not_ok(tmp_path: Path) -> None:
    # Once read "inconclusive" on every case and "OK: every gate holds", exit 0.
    base = write_run(tmp_path / "base.json", seed=1, replicates=2)
    new = write_run(tmp_path / "new.json", seed=1, replicates=2, scale=EVERY)
    result = _run("compare", str(base), str(new), "--show", "2")
    assert result.returncode == Exit.NOT_JUDGED, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "separate time windows" in lines[0]
    assert lines[1].startswith("run-level shift of times: 1.500x, the median new/base over 18 cases")
    assert lines[-1].startswith("NOT JUDGED: no gate failed")
    assert "the run-level shift of times, 1.500x over 18 cases, lies beyond ±10%" in lines[-1]
    assert re.search(r"judged (\d+) of 18 cases; (\d+) not judged", lines[-1]) or "none left unjudged" in lines[-1]
    assert not any(line.startswith("OK") for line in lines)


def test_one_workload_1_5x_with_two_replicates_reads_likely_slower_and_is_counted(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base.json", seed=3, replicates=2, spread=0.005)
    new = write_run(tmp_path / "new.json", seed=4, replicates=2, spread=0.005, scale={"beta": 1.5})
    result = _run("compare", str(base), str(new))
    assert result.returncode == Exit.NOT_JUDGED, result.stdout + result.stderr
    likely = [line for line in result.stdout.splitlines() if line.startswith("  likely slower")]
    assert len(likely) == 6 and all(" beta " in line for line in likely)
    assert all("not enough replicates to confirm: with 2 and 2 replicates the exact permutation test cannot go "
               "below p = 0.333" in line for line in likely)
    last = result.stdout.splitlines()[-1]
    assert last.startswith("NOT JUDGED") and "6 likely slower" in last and last.endswith("[exit 3]")


def test_judged_and_clean_exits_0_and_says_so(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base.json", seed=5, replicates=5, spread=0.005)
    new = write_run(tmp_path / "new.json", seed=6, replicates=5, spread=0.005)
    result = _run("compare", str(base), str(new))
    assert result.returncode == Exit.OK, result.stdout
    assert result.stdout.splitlines()[-1].startswith("OK: every gate holds and every gated case was judged: "
                                                     "18 of 18 cases (gates: ")


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0 and result.stdout == f"gradbench {__version__}\n"


# --- per-case thresholds and controls ----------------------------------------------------------

def test_thresholds_and_controls_from_the_command_line_and_pyproject(tmp_path: Path) -> None:
    # beta 1.3x slower and the whole new run 1.2x slower: alpha is the control.
    base = write_run(tmp_path / "base.json", seed=7, replicates=5, spread=0.005)
    new = write_run(tmp_path / "new.json", seed=8, replicates=5, spread=0.005,
                    scale={"alpha": 1.2, "beta": 1.56, "gamma": 1.2})
    fails = _run("compare", str(base), str(new), "--control", "alpha *", cwd=tmp_path)
    assert fails.returncode == Exit.REGRESSION, fails.stdout + fails.stderr
    assert "the median new/base over 6 controls" in fails.stdout
    assert "FAIL: 6 cases significantly slower by more than 10%: beta grad forward 2^10" in fails.stdout
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n\n[tool.gradbench.compare]\n'
                                             'thresholds = {"beta*" = "40%"}\ncontrols = ["alpha *"]\n')
    loose = _run("compare", str(base), str(new), "--json", "-", cwd=tmp_path)
    assert loose.returncode == Exit.OK, loose.stdout + loose.stderr
    doc = json.loads(loose.stdout)
    assert doc["thresholds"] == [{"glob": "beta*", "threshold": 0.4, "source": str(tmp_path / "pyproject.toml")}]
    assert doc["controls"] == ["alpha *"] and doc["summary"]["drift"][0]["source"] == "controls"
    beta = [v for v in doc["verdicts"] if v["family"] == "time" and v["spec"]["workload"] == "beta"]
    assert {v["verdict"] for v in beta} == {"slower"} and {v["threshold"] for v in beta} == {0.4}
    assert not any(v["fails"] for v in beta)
    # The command line comes after pyproject.toml: its rule wins; from a subfolder, the same file.
    (tmp_path / "sub").mkdir()
    strict = _run("compare", str(base), str(new), "--threshold", "beta * 2^10 *=15%", "--threshold", "nothing*=5%",
                  cwd=tmp_path / "sub")
    assert strict.returncode == Exit.REGRESSION, strict.stdout + strict.stderr
    assert "FAIL: 2 cases significantly slower by more than 15%: beta grad forward 2^10 cpu float32, " \
           "beta no_grad forward 2^10 cpu float32" in strict.stdout
    assert "note: no case of this comparison matches 'nothing*'" in strict.stdout


BAD_RULES = [
    (["--threshold", "attention*"], "--threshold: expected GLOB=PCT such as 'attention*=20%' or 'mlp*=off', "
                                    "got 'attention*'"),
    (["--threshold", "=20%"], "--threshold: expected GLOB=PCT"),
    (["--threshold", "attention*=20"], "--threshold attention*: expected a percentage above 0 such as 10% or 2.5%, "
                                       "or off, got '20'"),
    (["--threshold", "attention*=-1%"], "--threshold attention*: expected a percentage above 0"),
    (["--control", ""], "--control: expected a glob of case names"),
]


@pytest.mark.parametrize(("args", "message"), BAD_RULES, ids=[" ".join(a) for a, _ in BAD_RULES])
def test_bad_rules_on_the_command_line_give_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = _run("compare", "tests/data/report_base.json", "tests/data/report_new.json", *args)
    assert result.returncode == Exit.USAGE and result.stdout == "", result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"gradbench: error: {message}"), result.stderr


BAD_CONFIG = [
    ('thresholds = {"a*" = "20"}', "[tool.gradbench.compare] thresholds 'a*': expected a percentage above 0 "
                                   "such as 10% or 2.5%, or off, got '20'"),
    ('thresholds = {"a*" = 20}', "[tool.gradbench.compare] thresholds 'a*': expected a percentage above 0"),
    ('thresholds = ["a*"]', "[tool.gradbench.compare] thresholds: must be a table of GLOB = \"PCT\""),
    ('controls = "mlp*"', "[tool.gradbench.compare] controls: must be a list of globs such as [\"mlp*\"], "
                          "got 'mlp*'"),
    ('controls = [""]', "[tool.gradbench.compare] controls: expected a glob of case names"),
    ('threshold = {"a*" = "20%"}', "[tool.gradbench.compare]: unknown key 'threshold'; allowed: thresholds, "
                                   "controls"),
    ('thresholds = {"a*" = "20%"', "not valid TOML ("),
]


@pytest.mark.parametrize(("line", "message"), BAD_CONFIG, ids=[line for line, _ in BAD_CONFIG])
def test_bad_pyproject_settings_give_one_line_and_exit_2(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.gradbench.compare]\n{line}\n")
    result = _run("compare", str(ROOT / "tests/data/report_base.json"), str(ROOT / "tests/data/report_new.json"),
                  cwd=tmp_path)
    assert result.returncode == Exit.USAGE and result.stdout == "", result.stdout + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"gradbench: error: {tmp_path / 'pyproject.toml'}"), result.stderr
    assert message in result.stderr, result.stderr


# --- JSON ---------------------------------------------------------------------------------------

def readme_schema() -> dict[str, str]:
    """README's JSON table: key path -> type."""
    section = README.split("### Machine-readable output: `--json`", 1)[1].split("\n### ", 1)[0]
    schema = {}
    for keys, kind in re.findall(r"^\| ((?:`[^`]+`(?:, )?)+) \| ([a-z ]+) \|", section, re.M):
        for key in re.findall(r"`([^`]+)`", keys):
            schema[key] = kind
    return schema


TYPES = {"string": lambda v: isinstance(v, str), "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
         "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
         "boolean": lambda v: isinstance(v, bool), "object": lambda v: isinstance(v, dict),
         "array": lambda v: isinstance(v, list)}


def check_schema(doc: Any, schema: dict[str, str], seen: set[str], path: str = "") -> list[str]:
    """Every value's path documented with its type, and nothing undocumented; ``seen`` collects
    the paths met. An object's keys are placeholders (``<family>``) where the schema says so."""
    problems = []
    if path:
        kind = schema.get(path)
        if kind is None and path.endswith("[]") and any(k.startswith(f"{path}.") for k in schema):
            kind = "object"  # an array's objects: their keys are documented
        if kind is None:
            return [f"{path}: not in README's table"]
        seen.add(path)
        allowed = kind.removesuffix(" or null")
        if not (TYPES[allowed](doc) or (kind.endswith(" or null") and doc is None)):
            problems.append(f"{path}: {doc!r} is not {kind}")
        if path.endswith(".pairing"):
            return problems  # the run file's pairing, as recorded: any keys
    if isinstance(doc, dict):
        placeholder = next((k for k in schema if k.startswith(f"{path}.<") and k.count(".") == path.count(".") + 1),
                           None)
        for key, value in doc.items():
            child = placeholder if placeholder else f"{path}.{key}" if path else key
            problems += check_schema(value, schema, seen, child)
    elif isinstance(doc, list):
        for value in doc:
            problems += check_schema(value, schema, seen, f"{path}[]")
    return problems


def test_the_json_follows_readmes_schema(tmp_path: Path) -> None:
    schema = readme_schema()
    assert len(schema) > 60 and schema["verdicts[].p_min"] == "number or null"
    base = write_run(tmp_path / "base.json", seed=11, replicates=3)
    new = write_run(tmp_path / "new.json", seed=12, replicates=3, scale={"beta": 1.5}, saved_bytes={"gamma": 64})
    out = tmp_path / "verdicts.json"
    result = _run("compare", str(base), str(new), "--json", str(out), "--threshold", "alpha*=20%",
                  "--threshold", "gamma * 2^18 *=off", "--control", "alpha *")
    assert result.returncode in (Exit.REGRESSION, Exit.NOT_JUDGED), result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"wrote {out}"
    doc = json.loads(out.read_text())
    seen: set[str] = set()
    assert check_schema(doc, schema, seen) == []
    paired_only = {"base.pairing", "new.pairing"}  # objects only in a time-matched A/B
    assert set(schema) - seen - paired_only == set()
    summary = doc["summary"]
    assert summary["exit_code"] == result.returncode and summary["exit"] == {1: "regression", 3: "not judged"}[
        result.returncode]
    assert summary["line"] == result.stdout.splitlines()[-2]
    assert set(summary["families"]) <= {f.name for f in compare.FAMILIES} | {"count", "peak"}
    assert doc["format"] == "gradbench-compare" and doc["version"] == 1 and doc["gradbench"] == __version__
    assert doc["windows"] == "separate time windows"
    families = {v["family"] for v in doc["verdicts"]}
    assert families == {"time", "count", "peak"}
    times = [v for v in doc["verdicts"] if v["family"] == "time"]
    assert len(times) == 18 and {v["test"] for v in times} == {"welch+permutation"}
    assert all(v["p_min"] == pytest.approx(0.1) and v["pairs"] is None for v in times)
    gamma = [v for v in times if v["case"].startswith("gamma") and "2^18" in v["case"]]
    assert gamma and not any(v["gated"] for v in gamma)
    assert {v["threshold"] for v in times if v["case"].startswith("alpha")} == {0.2}
    assert summary["families"]["time"]["verdicts"]["likely slower"] == 6
    # Standard output: the JSON alone, the same document.
    alone = _run("compare", str(base), str(new), "--json", "-", "--threshold", "alpha*=20%",
                 "--threshold", "gamma * 2^18 *=off", "--control", "alpha *")
    assert alone.returncode == result.returncode and json.loads(alone.stdout) == doc


def test_json_never_overwrites_a_run_it_compares(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base.json", seed=1, replicates=2)
    new = write_run(tmp_path / "new.json", seed=2, replicates=2)
    before = new.read_bytes()
    result = _run("compare", str(base), str(new), "--json", str(new))
    assert result.returncode == Exit.USAGE and "would overwrite the run file it compares" in result.stderr
    assert new.read_bytes() == before
