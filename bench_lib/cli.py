"""``python -m bench_lib bench|report|compare``: measure, report, compare.

Bad input ends with one line, ``gradbench: error: <file or argument>: <problem>``, and exit
status 2; a comparison whose gates fail exits 1; ``bench`` exits 1 when a replicate fails and
130 when interrupted, saving nothing in either case.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from bench_lib.report.errors import InputError

EXIT_REGRESSION, EXIT_INPUT = 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print the usage too; one line is easier to act on in CI logs.
        raise InputError("command line", f"{message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bench_lib", description="Measure gradbench runs, report on them, compare them.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    storage = dict(type=Path, default=Path(".benchmarks"), help="where runs are saved (default: .benchmarks)")

    bench = commands.add_parser("bench", help="run the suite as independent replicate processes; save one run")
    bench.add_argument("--preset", default="default", help="quick, default, full or ci (default: default)")
    bench.add_argument("--repeat", metavar="N",
                       help="replicate processes (default: the preset's: quick 1, default 1, full 3, ci 5)")
    bench.add_argument("--storage", **storage)
    bench.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST_ARGS",
                       help="passed to every replicate's pytest (case selection: --gb-* options)")

    report = commands.add_parser("report", help="build reports/index.html, summary.csv and summary.md")
    report.add_argument("runs", nargs="*", metavar="RUN",
                        help="run number (0001), path or glob; several runs show side by side "
                             "(default: the latest run)")
    report.add_argument("--base", metavar="RUN", help="a run to compare the newest given run with")
    report.add_argument("--out", type=Path, default=Path("reports/index.html"),
                        help="the page; summary.csv and summary.md go beside it (default: reports/index.html)")
    report.add_argument("--storage", **storage)

    comp = commands.add_parser("compare", help="compare two runs case by case; exit 1 on a significant slowdown")
    comp.add_argument("base", metavar="BASE", help="the baseline run")
    comp.add_argument("new", metavar="NEW", help="the run to check")
    comp.add_argument("--fail-above", default="10%", metavar="PCT",
                      help="fail when a case is significantly slower by more than this (default: 10%%)")
    comp.add_argument("--storage", **storage)
    return parser


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
    from bench_lib.cases import PRESETS
    from bench_lib.launch import bench

    if args.preset not in PRESETS:
        raise InputError("--preset", f"unknown preset {args.preset!r}; allowed: {', '.join(PRESETS)}")
    repeat = PRESETS[args.preset].replicates
    if args.repeat is not None:
        if not args.repeat.isascii() or not args.repeat.isdigit() or not 1 <= int(args.repeat) <= 100:
            raise InputError("REPEAT", f"{args.repeat!r} is not a whole number of replicates from 1 to 100")
        repeat = int(args.repeat)
    pytest_args = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    return bench([f"--gb-preset={args.preset}", *pytest_args], repeat, args.preset, args.storage)


def _report(args: argparse.Namespace) -> int:
    from bench_lib.report import runs
    from bench_lib.report.build import analyse, write_report

    paths = runs.resolve_all(args.runs, args.storage)
    base = runs.resolve_one(args.base, args.storage) if args.base else None
    out = args.out / "index.html" if args.out.is_dir() else args.out
    report = analyse(paths, base)
    try:
        written = write_report(report, out)
    except OSError as exc:
        raise InputError(str(exc.filename or out), f"cannot write the report ({exc.strerror})") from None
    for path in written:
        print(f"wrote {path}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from bench_lib.report import compare, runs
    from bench_lib.report.load import load_runs
    from bench_lib.report.units import size_label

    threshold = compare.parse_threshold(args.fail_above)
    base = load_runs([runs.resolve_one(args.base, args.storage)])
    new = load_runs([runs.resolve_one(args.new, args.storage)])
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases)
    print(f"{result.new.label} vs base {result.base.label}: {len(result.table)} cases in both, "
          f"{result.count(compare.SLOWER)} significantly slower, {result.count(compare.FASTER)} significantly faster, "
          f"{result.count(compare.SAME)} unchanged, {result.count(compare.UNTESTED)} with too few samples; "
          f"{result.only_base} only in base, {result.only_new} only in new")
    changed = result.table[result.table["verdict"].isin([compare.SLOWER, compare.FASTER])]
    for r in changed.sort_values("ratio", ascending=False).to_dict("records"):
        interval = f"95% CI {r['ci_low']:.3f}-{r['ci_high']:.3f}, p={r['p_value']:.2g}"
        print(f"  {r['verdict']:<7} {r['ratio']:6.3f}x  ({interval})  "
              f"{r['workload']} {r['mode']} {r['pass']} {size_label(r['size'])} {r['device']} {r['dtype']}")
    failing = compare.regressions(result.table, threshold)
    if len(failing):
        print(f"FAIL: {len(failing)} case{'s' if len(failing) != 1 else ''} significantly slower by more than "
              f"{threshold * 100:g}%")
        return EXIT_REGRESSION
    print(f"OK: no case significantly slower by more than {threshold * 100:g}%")
    return 0
