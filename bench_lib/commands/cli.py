"""``python -m bench_lib bench|report|compare``: measure, report, compare.

Exit status: 0 success; 1 a comparison's gate failed; 2 it could not compare: bad input (one
line, ``gradbench: error: <file or argument>: <problem>``), nothing in common, or a crash (with
its traceback), so CI never reads a broken run as a regression. ``bench`` passes on a failing
replicate's pytest status, and exits 130 when interrupted, saving nothing in either case.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from bench_lib.analysis.gates import Gates
from bench_lib.contract.errors import InputError

if TYPE_CHECKING:
    from bench_lib.analysis.compare import Comparison
    from bench_lib.contract.result import Run

EXIT_REGRESSION, EXIT_INPUT = 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print the usage too; one line is easier to act on in CI logs.
        raise InputError("command line", f"{message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gradbench", description="Measure gradbench runs, report on them, compare them.",
                     epilog="The case selection (workloads, modes, sizes, devices, scenarios, ...) is passed to "
                            "pytest after `bench --`: `pytest benchmarks --help` lists those options under "
                            "'gradbench case selection', and `make help` lists them as Make variables.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    storage = dict(type=Path, default=Path(".benchmarks"), help="where runs are saved (default: .benchmarks)")

    bench = commands.add_parser("bench", help="run the suite as independent replicate processes; save one run")
    bench.add_argument("--preset", default="default", help="quick, default, full or ci (default: default)")
    bench.add_argument("--repeat", metavar="N",
                       help="replicate processes (default: the preset's: quick 1, default 1, full 3, ci 5)")
    bench.add_argument("--storage", **storage)
    bench.add_argument("--against", metavar="REF",
                       help="also measure git REF (a branch, tag or commit) from a worktree, its replicates "
                            "alternating with this checkout's; saves REF's run, then this one's")
    bench.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST_ARGS",
                       help="passed to every replicate's pytest (case selection: --gb-* options)")

    report = commands.add_parser("report", help="build reports/index.html, summary.csv and summary.md")
    report.add_argument("runs", nargs="*", metavar="RUN",
                        help="run number (0001), path or glob; several runs show side by side "
                             "(default: the latest run)")
    report.add_argument("--base", metavar="RUN", help="a run to compare the newest given run with")
    report.add_argument("--out", default="reports/index.html",
                        help="the page; summary.csv and summary.md go beside it (default: reports/index.html)")
    report.add_argument("--storage", **storage)

    comp = commands.add_parser("compare", help="compare two runs case by case; exit 1 when a gate fails",
                                description="Verdicts come from the variance between replicate processes "
                                            "(make bench PRESET=ci records 5). Each gate takes a percentage, "
                                            "or off to report without failing.")
    comp.add_argument("base", metavar="BASE", help="the baseline run")
    comp.add_argument("new", metavar="NEW", help="the run to check")
    defaults = {name: f"{getattr(Gates(), name):.0%}" for name in ("time", "ratio", "peak")}
    comp.add_argument("--fail-above", default=defaults["time"], metavar="PCT",
                      help=f"fail when a case's time is significantly slower by more than this "
                           f"(default: {defaults['time']}%)")
    comp.add_argument("--fail-ratio-above", default=defaults["ratio"], metavar="PCT",
                      help=f"fail when an interleaved overhead ratio grad/mode is significantly larger by more "
                           f"than this (default: {defaults['ratio']}%)")
    comp.add_argument("--fail-peak-above", default=defaults["peak"], metavar="PCT",
                      help=f"fail when a case's peak tensor memory is larger by more than this "
                           f"(default: {defaults['peak']}%)")
    comp.add_argument("--fail-on-count-change", default=True, action=argparse.BooleanOptionalAction,
                      help="fail when a saved-bytes, saved-tensor or graph-node count changed (default: yes)")
    comp.add_argument("--show", default=10, type=int, metavar="N",
                      help="cases listed per verdict (default: 10)")
    comp.add_argument("--storage", **storage)
    return parser


def run() -> NoReturn:
    """The ``gradbench`` console script and ``python -m bench_lib``."""
    try:
        sys.exit(main())
    except Exception:  # a bug, not bad input: keep the traceback, but never exit 1 ("a gate failed")
        traceback.print_exc()
        print("gradbench: internal error (a bug in gradbench; the traceback is above)", file=sys.stderr)
        sys.exit(EXIT_INPUT)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "bench":
            return _bench(args)
        if args.command == "report":
            return _report(args)
        return _compare(args)
    except InputError as exc:
        print(f"gradbench: error: {exc}", file=sys.stderr)
        return EXIT_INPUT


def _bench(args: argparse.Namespace) -> int:
    from bench_lib.commands.launch import bench
    from bench_lib.contract.cases import PRESETS

    if args.preset not in PRESETS:
        raise InputError("--preset", f"unknown preset {args.preset!r}; allowed: {', '.join(PRESETS)}")
    repeat = PRESETS[args.preset].replicates
    if args.repeat is not None:
        if not args.repeat.isascii() or not args.repeat.isdigit() or not 1 <= int(args.repeat) <= 100:
            raise InputError("REPEAT", f"{args.repeat!r} is not a whole number of replicates from 1 to 100")
        repeat = int(args.repeat)
        if args.against is not None and repeat < 2:
            raise InputError("REPEAT", f"{repeat} replicate cannot compare times with --against: compare needs 2 "
                                       "or more per run (PRESET=ci runs 5)")
    elif args.against is not None and repeat < 2:
        repeat = 2  # compare needs two replicates per run; the preset's one would leave nothing to compare
        print(f"gradbench: --against: 2 replicates per run (the {args.preset} preset's 1 cannot be compared)")
    pytest_args = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    if args.against is not None:
        if not args.against.strip() or args.against.startswith("-"):
            raise InputError("--against", f"{args.against!r} is not a git ref (a branch, tag or commit)")
        if any(arg.startswith("--gb-profile") for arg in pytest_args):
            raise InputError("--against", "profiling (--gb-profile) takes one checkout; run it without --against")
        _check_ref(args.against)
    return bench([f"--gb-preset={args.preset}", *pytest_args], repeat, args.preset, args.storage, args.against)


def _check_ref(ref: str) -> None:
    """REF names a commit of the git repository this gradbench runs from."""
    import subprocess

    from bench_lib.commands.launch import THIS

    def git(*args: str) -> int:
        try:
            return subprocess.run(["git", "-C", str(THIS.root), *args], capture_output=True, text=True).returncode
        except FileNotFoundError:
            raise InputError("--against", "needs git, and there is no git command here") from None

    if git("rev-parse", "--git-dir") != 0:
        raise InputError("--against", f"needs a git checkout of gradbench; {THIS.root} is not one")
    if git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") != 0:
        raise InputError("--against", f"{ref!r} is not a commit of the git repository at {THIS.root} (in a shallow "
                                      "clone, git fetch it first)")


def _report(args: argparse.Namespace) -> int:
    from bench_lib.contract import runs
    from bench_lib.report.build import analyse, write_report
    from bench_lib.report.output import OutputError

    paths = runs.resolve_all(args.runs, args.storage)
    base = runs.resolve_one(args.base, args.storage) if args.base else None
    out = _output_page(args.out, [*paths, *([base] if base else [])], args.storage)
    report = analyse(paths, base)
    try:
        written = write_report(report, out)
    except OutputError as exc:
        raise InputError(str(exc.path), f"cannot write the report ({exc.reason}); the previous files are as they "
                                        "were") from None
    for path in written:
        print(f"wrote {path}")
    return 0


def _output_page(text: str, inputs: Sequence[Path], storage: Path) -> Path:
    """--out as the page's path, refusing anything that could overwrite an input or a saved run."""
    given = Path(text)
    if text.endswith("/") and not given.is_dir():
        raise InputError("--out", f"{text!r} ends with / but is not a directory")
    page = given / "index.html" if given.is_dir() else given
    if page.suffix.lower() not in (".html", ".htm"):
        raise InputError("--out", f"{text!r} is not an .html page (summary.csv, scenarios.csv and summary.md go "
                                  "beside it)")
    outputs = [page.resolve(), *(page.with_name(name).resolve() for name in ("summary.csv", "scenarios.csv",
                                                                              "summary.md"))]
    for path in inputs:
        if path.resolve() in outputs:
            raise InputError("--out", f"{text!r} would overwrite the run file {path}")
    if storage.resolve() in page.resolve().parents:
        raise InputError("--out", f"{text!r} is inside the run storage {storage}; write the report elsewhere")
    return page


def _compare(args: argparse.Namespace) -> int:
    from bench_lib.analysis import compare
    from bench_lib.contract import runs
    from bench_lib.report.load import load_runs

    gates = Gates(
        time=compare.parse_threshold(args.fail_above, "--fail-above", allow_off=True),
        ratio=compare.parse_threshold(args.fail_ratio_above, "--fail-ratio-above", allow_off=True),
        peak=compare.parse_threshold(args.fail_peak_above, "--fail-peak-above", allow_off=True),
        counts=args.fail_on_count_change,
    )
    loaded = [load_runs([runs.resolve_one(run_id, args.storage)]) for run_id in (args.base, args.new)]
    for run_id, one in zip((args.base, args.new), loaded, strict=True):
        _check_comparable(run_id, one.runs[0], gates)
    (base, new) = loaded
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases, gates=gates)
    if result.times.empty:
        raise InputError(args.new, f"shares no measured case with {args.base}: nothing to compare")
    for line in _comparison_lines(result, args.show):
        print(line)
    failed = compare.failures(result, gates)
    for line in failed:
        print(f"FAIL: {line}")
    if failed:
        return EXIT_REGRESSION
    print(f"OK: every gate holds ({_gate_summary(gates)})")
    return 0


def _check_comparable(run_id: str, run: Run, gates: Gates) -> None:
    if run.replicates is None:
        raise InputError(run_id, "has no replicates (written by pytest directly or before schema 4); "
                                 "make bench records them")
    if run.complete is False:
        raise InputError(run_id, "is incomplete (interrupted, or a case failed): compare complete runs")
    if (gates.time is not None or gates.ratio is not None) and run.replicates < 2:
        raise InputError(run_id, f"has {run.replicates} replicate: a gate on times or overhead ratios needs >= 2 "
                                 "per run (make bench PRESET=ci, or REPEAT=5); --fail-above off --fail-ratio-above "
                                 "off compares the exact counts and memory")


def _gate_summary(gates: Gates) -> str:
    def pct(value: float | None) -> str:
        return "off" if value is None else f"{value:.0%}"

    return (f"times and pipelined times {pct(gates.time)}, overhead ratios {pct(gates.ratio)}, "
            f"peak memory {pct(gates.peak)}, "
            f"counts {'exact' if gates.counts else 'off'}")


def _comparison_lines(result: Comparison, show: int) -> list[str]:
    from bench_lib.analysis import compare

    lines = [f"{result.new.label} ({result.new.replicates} replicates) vs base {result.base.label} "
             f"({result.base.replicates} replicates): {len(result.times)} cases in both, {result.only_base} only in "
             f"base, {result.only_new} only in new"]
    families = [("times", "times", "case"), ("pipelined times (CUDA)", "pipelined", "case"),
                ("overhead ratios grad/mode", "ratios", "ratio")]
    for title, name, unit in families:
        table = getattr(result, name)
        if name == "pipelined" and table.empty:
            continue  # no CUDA case with pipelined figures in both runs
        counts = ", ".join(f"{result.count(v, name)} {v}" for v in compare.VERDICTS)
        lines.append(f"{title}: {counts} ({len(table)} {unit}s; significance after Benjamini-Hochberg at "
                     f"{compare.FDR:g})")
        for verdict in (compare.SLOWER, compare.FASTER, compare.INCONCLUSIVE):
            chosen = table[table["verdict"] == verdict]
            chosen = chosen.sort_values("ratio", ascending=verdict == compare.FASTER)
            for row in chosen.head(show).to_dict("records"):
                known = row["ci_low"] == row["ci_low"]  # NaN without replicates
                interval = f" (95% CI {row['ci_low']:.3f}-{row['ci_high']:.3f})" if known else ""
                case = compare.case_name(row, ratio=name == "ratios")
                lines.append(f"  {verdict:<12} {row['ratio']:6.3f}x{interval}  {case}: {row['reason']}")
            if len(chosen) > show:
                lines.append(f"  ... and {len(chosen) - show} more {verdict} (--show N lists more)")
    lines.append(f"exact counts: {len(result.counts)} changed")
    for row in result.counts.head(show).to_dict("records"):
        lines.append(f"  changed {row['base']} -> {row['new']}  {compare.case_name(row)}")
    moved = result.peaks[result.peaks["verdict"] != compare.UNCHANGED]
    lines.append(f"peak tensor memory: {len(moved)} of {len(result.peaks)} cases beyond ±{result.peak_tolerance:.0%}")
    for row in moved.head(show).to_dict("records"):
        lines.append(f"  {row['verdict']:<8} {row['base']:.0f} -> {row['new']:.0f} bytes  {compare.case_name(row)}")
    return lines
