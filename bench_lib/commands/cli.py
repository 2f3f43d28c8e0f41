"""``python -m bench_lib bench|report|compare|runs``: measure, report, compare, name the runs.

Exit status: one table for every subcommand, bench_lib.contract.exits (README: "Exit codes"):
0 success; 1 a comparison's gate failed (a regression); 2 usage error or bad input (one line,
``gradbench: error: <file or argument>: <problem>``), nothing in common, or a crash (with its
traceback), so CI never reads a broken run as a regression; 3 a comparison found no regression
but could not judge every gated case; ``bench``: 4 a bad case selection, 5 nothing measured,
130 interrupted, saving nothing in each case.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from bench_lib import __version__
from bench_lib.commands.hints import script
from bench_lib.analysis.gates import CONFIRMING_REPLICATES, Gates
from bench_lib.contract.errors import InputError
from bench_lib.contract.exits import Exit

if TYPE_CHECKING:
    from bench_lib.analysis.compare import Comparison, Outcome
    from bench_lib.analysis.gates import CaseRules
    from bench_lib.contract.result import Run

EXIT_REGRESSION, EXIT_INPUT, EXIT_NOT_JUDGED = Exit.REGRESSION, Exit.USAGE, Exit.NOT_JUDGED


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print the usage too; one line is easier to act on in CI logs.
        raise InputError("command line", f"{message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gradbench", description="Measure gradbench runs, report on them, compare them.",
                     epilog="The case selection (workloads, modes, sizes, devices, scenarios, ...) is passed to "
                            f"pytest after `bench --`: `{script('pytest')} benchmarks --help` lists those options under "
                            "'gradbench case selection', and `make help` lists them as Make variables.")
    parser.add_argument("--version", action="version", version=f"gradbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    storage = dict(type=Path, default=Path(".benchmarks"), help="where runs are saved (default: .benchmarks)")

    bench = commands.add_parser("bench", help="run the suite as independent replicate processes; save one run")
    bench.add_argument("--preset", default="default", help="quick, default, full, ci or ops (default: default)")
    bench.add_argument("--repeat", metavar="N",
                       help="replicate processes (default: the preset's: quick 1, default 1, full 3, ci 5)")
    bench.add_argument("--storage", type=Path, default=None,
                       help="where the run is saved (default: .benchmarks, or --benchmark-storage given after --)")
    bench.add_argument("--against", metavar="REF",
                       help="also measure git REF (a branch, tag or commit) from a worktree, case by case in "
                            "time-matched pairs of blocks with this checkout (a time-matched A/B); saves REF's "
                            "run, then this one's")
    bench.add_argument("--compare", action="store_true",
                       help="with --against: then compare the two runs and exit with compare's code "
                            "(0 pass, 1 regression, 3 not judged)")
    bench.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST_ARGS",
                       help="passed to every replicate's pytest (case selection: --gb-* options); "
                            "--benchmark-json PATH, --benchmark-save NAME, --benchmark-autosave and "
                            "--benchmark-storage apply to the merged run; GC is always off "
                            "(--benchmark-disable-gc)")

    report = commands.add_parser("report", help="build reports/index.html, summary.csv and summary.md")
    report.add_argument("runs", nargs="*", metavar="RUN",
                        help="run number (0001), path or glob; several runs show side by side "
                             "(default: the latest run)")
    report.add_argument("--base", metavar="RUN", help="a run to compare the newest given run with")
    report.add_argument("--out", default="reports/index.html",
                        help="the page; summary.csv and summary.md go beside it (default: reports/index.html)")
    report.add_argument("--storage", **storage)

    listing = commands.add_parser("runs", help="print the run file each RUN names, one absolute path a line "
                                               "(default: every saved run); exit 2 naming one that names none",
                                  description="Run ids: a number (0003), latest, latest~N (the Nth complete run "
                                              "before the latest), a path or a glob.")
    listing.add_argument("runs", nargs="*", metavar="RUN")
    listing.add_argument("--storage", **storage)

    comp = commands.add_parser("compare", help="compare two runs case by case; exit 1 when a gate fails, 3 when "
                                                "cases could not be judged",
                                description="Verdicts come from the variance between replicate processes "
                                            "(make bench PRESET=ci records 5). Each gate takes a percentage, "
                                            "or off to report without failing. Exit 0: every gate holds and every "
                                            "gated case was judged; 1: a gate failed; 2: bad input; 3: no gate "
                                            "failed, but some cases could not be judged. Per-case thresholds and "
                                            "controls also come from pyproject.toml's [tool.gradbench.compare].")
    comp.add_argument("base", metavar="BASE", help="the baseline run")
    comp.add_argument("new", metavar="NEW", help="the run to check")
    defaults = {name: f"{getattr(Gates(), name):.0%}" for name in ("time", "ratio", "peak")}
    comp.add_argument("--fail-above", default=defaults["time"], metavar="PCT",
                      help=f"fail when a case's time is significantly slower by more than this "
                           f"(default: {defaults['time']}%)")
    comp.add_argument("--fail-ratio-above", default=None, metavar="PCT",
                      help=f"fail when an interleaved overhead ratio grad/mode is significantly larger by more "
                           f"than this (default: {defaults['ratio']}%; off in a time-matched A/B with fewer than "
                           f"{CONFIRMING_REPLICATES} replicates per side, which cannot confirm a ratio)")
    comp.add_argument("--fail-peak-above", default=defaults["peak"], metavar="PCT",
                      help=f"fail when a case's peak tensor memory is larger by more than this "
                           f"(default: {defaults['peak']}%)")
    comp.add_argument("--fail-instructions-above", default=_percent_text(Gates().instructions), metavar="PCT",
                      help=f"fail when a case's instructions per call (runs made with COUNTS=1, --gb-counts) grew by "
                           f"more than this (default: {(Gates().instructions or 0) * 100:g}%%; off reports without "
                           "failing); counts from different builds or machines are reported, not judged")
    comp.add_argument("--fail-on-count-change", default=True, action=argparse.BooleanOptionalAction,
                      help="fail when a saved-bytes, saved-tensor or graph-node count changed (default: yes)")
    comp.add_argument("--threshold", action="append", default=[], metavar="GLOB=PCT",
                      help="the threshold of the cases whose name matches GLOB (fnmatch on 'workload mode pass "
                           "size device dtype', e.g. 'attention*=20%%' or 'mlp * backward *=off'); repeatable, "
                           "the last match wins, after pyproject.toml's")
    comp.add_argument("--control", action="append", default=[], metavar="GLOB",
                      help="cases expected not to change (fnmatch on the case name): the run-level shift of runs "
                           "made at different times is estimated from them; repeatable")
    comp.add_argument("--json", metavar="PATH",
                      help="also write every verdict and the summary as JSON to PATH; - writes only the JSON, to "
                           "standard output")
    comp.add_argument("--show", default=10, type=int, metavar="N",
                      help="cases listed per verdict (default: 10)")
    comp.add_argument("--storage", **storage)
    return parser


def _percent_text(value: float | None) -> str:
    return "off" if value is None else f"{value * 100:g}%"


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
        if args.command == "runs":
            return _runs(args)
        return _compare(args)
    except InputError as exc:
        print(f"gradbench: error: {exc}", file=sys.stderr)
        return EXIT_INPUT


# Replicates per side of a --against run unless REPEAT says otherwise: one gives the counts and the memory;
# the times come from the time-matched pairs (REPEAT=4 also lets compare confirm the mode ratios).
AGAINST_REPLICATES = 1


def _bench(args: argparse.Namespace) -> int:
    from bench_lib.commands.launch import bench, benchmark_options
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
    elif args.against is not None:
        # The times are judged on the time-matched pairs (commands.ab); the replicates give the figures
        # drift cannot touch and the interleaved mode ratios, whose comparison needs two per run.
        repeat = AGAINST_REPLICATES
        print(f"gradbench: --against: {repeat} replicate per run for the counts and memory; the times from "
              "time-matched pairs of blocks")
    pytest_args = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    options = benchmark_options(pytest_args, args.storage)  # pytest-benchmark's own: --benchmark-json, ...
    pytest_args = options.pytest_args
    if args.against is not None:
        if not args.against.strip() or args.against.startswith("-"):
            raise InputError("--against", f"{args.against!r} is not a git ref (a branch, tag or commit)")
        if any(arg.startswith("--gb-profile") for arg in pytest_args):
            raise InputError("--against", "profiling (--gb-profile) takes one checkout; run it without --against")
        _check_ref(args.against)
        if "--gb-counts" in pytest_args:
            _check_ref_counts(args.against)
    if args.compare and args.against is None:
        raise InputError("--compare", "compares the two runs of --against REF; give --against")
    return bench([f"--gb-preset={args.preset}", *pytest_args], repeat, options.name or args.preset, options.storage,
                 args.against, json_copy=options.json,
                 then_compare=(lambda base, new: main(["compare", str(base), str(new)])) if args.compare else None)


def _check_ref_counts(ref: str) -> None:
    """REF's suite can count instructions (--gb-counts, each checkout's first replicate counts)."""
    import subprocess

    from bench_lib.commands.launch import THIS

    found = subprocess.run(["git", "-C", str(THIS.root), "cat-file", "-e", f"{ref}:bench_lib/measure/counts.py"],
                           capture_output=True).returncode == 0
    if not found:
        raise InputError("--gb-counts", f"{ref!r} predates instruction counts (no bench_lib/measure/counts.py): "
                                        "run --against without COUNTS, and count this checkout on its own")


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


def _runs(args: argparse.Namespace) -> int:
    from bench_lib.contract import runs

    paths = runs.resolve_all(args.runs, args.storage) if args.runs else runs.saved(args.storage)
    for path in paths:
        print(path.absolute())
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
            if not _is_run_file(path):  # e.g. `report reports/summary.csv`: the report's own file, named as input
                raise InputError(str(path), "not a run file (it is one the report writes; a run is "
                                            "<storage>/<machine>/NNNN_<name>.json)")
            raise InputError("--out", f"{text!r} would overwrite the run file {path}")
    if storage.resolve() in page.resolve().parents:
        raise InputError("--out", f"{text!r} is inside the run storage {storage}; write the report elsewhere")
    return page


def _is_run_file(path: Path) -> bool:
    """Whether ``path`` holds a pytest-benchmark run (a JSON object with a 'benchmarks' list)."""
    from bench_lib.report.load import read_json

    try:
        doc = read_json(path)
    except InputError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list)


def _compare(args: argparse.Namespace) -> int:
    import json

    from bench_lib.analysis import compare
    from bench_lib.analysis.gates import CaseRules, combined, parse_glob, parse_rule
    from bench_lib.contract import runs
    from bench_lib.report.load import load_runs

    gates = Gates(
        time=compare.parse_threshold(args.fail_above, "--fail-above", allow_off=True),
        ratio=compare.parse_threshold(args.fail_ratio_above or f"{Gates().ratio:.0%}", "--fail-ratio-above",
                                      allow_off=True),
        peak=compare.parse_threshold(args.fail_peak_above, "--fail-peak-above", allow_off=True),
        counts=args.fail_on_count_change,
        instructions=compare.parse_threshold(args.fail_instructions_above, "--fail-instructions-above",
                                             allow_off=True),
    )
    command_line = CaseRules(tuple(parse_rule(text) for text in args.threshold),
                             tuple(parse_glob(text, "--control") for text in args.control))
    rules = combined(_config_rules(Path.cwd()), command_line)
    paths = [runs.resolve_one(run_id, args.storage) for run_id in (args.base, args.new)]
    out = _json_path(args.json, paths) if args.json is not None else None
    loaded = [load_runs([path]) for path in paths]
    one_session = compare.windows(loaded[0].runs[0], loaded[1].runs[0]) == compare.ONE_SESSION
    fewest = min(one.runs[0].replicates or 0 for one in loaded)
    if one_session and args.fail_ratio_above is None and fewest < CONFIRMING_REPLICATES:
        # The times are judged on the pairs; the mode ratios only on replicates, too few to confirm one.
        gates = replace(gates, ratio=None)
        if args.json != "-":
            print(f"overhead ratios: reported, not gated: {fewest} replicate(s) per side cannot confirm a change "
                  f"(REPEAT={CONFIRMING_REPLICATES} can; --fail-ratio-above turns the gate on)")
    for run_id, one in zip((args.base, args.new), loaded, strict=True):
        _check_comparable(run_id, one.runs[0], gates, one_session)
    (base, new) = loaded
    result = compare.compare_runs(base.runs[0], base.cases, new.runs[0], new.cases, gates=gates, rules=rules)
    if result.times.empty:
        raise InputError(args.new, f"shares no measured case with {args.base}: nothing to compare")
    ending = compare.outcome(result, gates)
    if out is not None:
        text = json.dumps(compare.to_json(result, gates, ending, __version__), indent=1, allow_nan=False) + "\n"
        if out == "-":
            sys.stdout.write(text)
            return ending.code
        _write_json(out, text)
    for line in _comparison_lines(result, args.show, ending):
        print(line)
    if out is not None:
        print(f"wrote {out}")
    return ending.code


def _config_rules(folder: Path) -> CaseRules:
    """The per-case rules of the nearest pyproject.toml at or above ``folder`` (its
    ``[tool.gradbench.compare]`` table); none without one."""
    from bench_lib.analysis.gates import CONFIG_TABLE, CaseRules, rules_from_config

    path = next((f / "pyproject.toml" for f in (folder, *folder.parents) if (f / "pyproject.toml").is_file()), None)
    if path is None:
        return CaseRules()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot be read ({exc})") from None
    if "gradbench" not in text:
        return CaseRules()  # nothing of ours: no need to parse it (nor a TOML reader, on Python 3.10)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise InputError(str(path), f"reading {CONFIG_TABLE} needs Python 3.11 or later (tomllib), or the tomli "
                                        "package") from None
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(path), f"not valid TOML ({exc})") from None
    table = config.get("tool", {}).get("gradbench", {}).get("compare") if isinstance(config.get("tool"), dict) \
        and isinstance(config["tool"].get("gradbench"), dict) else None
    return CaseRules() if table is None else rules_from_config(table, str(path))


def _json_path(text: str, inputs: Sequence[Path]) -> Path | str:
    """--json's target: "-" (standard output) or a file that is not one of the runs compared."""
    if text == "-":
        return text
    path = Path(text)
    if not text.strip() or text.endswith("/") or path.is_dir():
        raise InputError("--json", f"{text!r} is not a file path (or - for standard output)")
    if any(path.resolve() == run.resolve() for run in inputs):
        raise InputError("--json", f"{text!r} would overwrite the run file it compares")
    return path


def _write_json(path: Path | str, text: str) -> None:
    from bench_lib.report.output import OutputError, write_set

    try:
        write_set({Path(path): text})
    except OutputError as exc:
        raise InputError(str(exc.path), f"cannot write the JSON ({exc.reason})") from None


def _check_comparable(run_id: str, run: Run, gates: Gates, one_session: bool = False) -> None:
    """Refuse what cannot be gated honestly. In one session (a time-matched A/B) the times are
    judged on their pairs, so only the overhead ratios need replicates."""
    if run.replicates is None:
        raise InputError(run_id, "has no replicates (written by pytest directly or before schema 4); "
                                 "make bench records them")
    if run.complete is False:
        raise InputError(run_id, "is incomplete (interrupted, or a case failed): compare complete runs")
    if ((gates.time is not None and not one_session) or gates.ratio is not None) and run.replicates < 2:
        raise InputError(run_id, f"has {run.replicates} replicate: a gate on times or overhead ratios needs >= 2 "
                                 "per run (make bench PRESET=ci, or REPEAT=5); --fail-above off --fail-ratio-above "
                                 "off compares the exact counts and memory")


def _comparison_lines(result: Comparison, show: int, ending: Outcome | None = None) -> list[str]:
    """What ``compare`` prints: the header (the runs, their time windows, each run-level shift),
    each family's verdicts with the cases that need a look, the FAIL lines and the summary line."""
    from bench_lib.analysis import compare

    lines = [f"{result.new.label} ({result.new.replicates} replicates) vs base {result.base.label} "
             f"({result.base.replicates} replicates), {result.windows}: {len(result.times)} cases in both, "
             f"{result.only_base} only in base, {result.only_new} only in new"]
    names = [compare.case_name(row, ratio=family.ratio_names) for family in compare.FAMILIES
             for row in result.table(family).to_dict("records")]
    for glob in result.rules.unmatched(names):
        lines.append(f"note: no case of this comparison matches {glob!r} (--threshold, --control or pyproject.toml)")
    lines += _drift_lines(result)
    lines += _instruction_lines(result)
    for family in compare.FAMILIES:
        table = result.table(family)
        if family.optional and table.empty:
            continue  # e.g. no CUDA case with pipelined figures in both runs
        counts = ", ".join(f"{int((table['verdict'] == v).sum())} {v}" for v in compare.VERDICTS)
        basis = (f"significance after Benjamini-Hochberg at {compare.FDR:g}" if family.statistics
                 else "a count is exact: a change beyond the gate is a change")
        lines.append(f"{family.title}: {counts} ({len(table)} {family.unit}s; {basis})")
        for verdict in (compare.SLOWER, compare.FASTER, compare.LIKELY_SLOWER, compare.LIKELY_FASTER,
                        compare.INCONCLUSIVE):
            chosen = table[table["verdict"] == verdict]
            chosen = chosen.sort_values("ratio", ascending=verdict in (compare.FASTER, compare.LIKELY_FASTER))
            for row in chosen.head(show).to_dict("records"):
                known = row["ci_low"] == row["ci_low"]  # NaN without replicates
                interval = f" (95% CI {row['ci_low']:.3f}-{row['ci_high']:.3f})" if known else ""
                ratio = f"{row['ratio']:6.3f}x" if row["ratio"] == row["ratio"] else "     -"
                case = compare.case_name(row, ratio=family.ratio_names)
                lines.append(f"  {verdict:<13} {ratio}{interval}  {case}: {row['reason']}")
            if len(chosen) > show:
                lines.append(f"  ... and {len(chosen) - show} more {verdict} (--show N lists more)")
    lines.append(f"exact counts: {len(result.counts)} changed")
    for row in result.counts.head(show).to_dict("records"):
        lines.append(f"  changed {row['base']} -> {row['new']}  {compare.case_name(row)}")
    moved = result.peaks[result.peaks["verdict"] != compare.UNCHANGED]
    lines.append(f"peak tensor memory: {len(moved)} of {len(result.peaks)} cases beyond ±{result.peak_tolerance:.0%}")
    for row in moved.head(show).to_dict("records"):
        lines.append(f"  {row['verdict']:<8} {row['base']:.0f} -> {row['new']:.0f} bytes  {compare.case_name(row)}")
    if ending is not None:
        lines += [f"FAIL: {line}" for line in ending.failures]
        lines.append(ending.line)
    return lines


def _instruction_lines(result: Comparison) -> list[str]:
    """Whether the runs' instruction counts can be compared: only one run counted, or their builds
    differ (then each counted case reads not judged)."""
    from bench_lib.analysis import counts

    counted = [counts.has_counts(run) for run in (result.base, result.new)]
    if counted == [True, True] and result.build_differences:
        return [f"instruction counts: the runs' builds differ ({'; '.join(result.build_differences)}): counts from "
                "different builds, machines or counting settings are not compared, so every counted case is not "
                "judged (--fail-instructions-above off reports them without gating)"]
    if counted[0] != counted[1]:
        which = "base" if counted[0] else "new"
        return [f"instruction counts: only the {which} run has them (make bench COUNTS=1 counts both): not compared"]
    return []


def _drift_lines(result: Comparison) -> list[str]:
    """Each time family's run-level shift, and what was done with it."""
    from bench_lib.analysis import compare

    lines = []
    titles = {f.name: f.title.removesuffix(" (CUDA)") for f in compare.FAMILIES}
    for drift in result.drift:
        if not drift.cases:
            continue
        spread = f"; their quartiles {drift.q1:.3f}x-{drift.q3:.3f}x" if drift.cases > 1 else ""
        head = (f"run-level shift of {titles[drift.family]}: {drift.shift:.3f}x, the median new/base over "
                f"{drift.cases} {'control' if drift.source == compare.CONTROLS else 'case'}"
                f"{'s' if drift.cases != 1 else ''}{spread}")
        if not drift.discounted:
            lines.append(f"{head}; both runs were measured in one session, so each case is judged on its own ratio")
        elif drift.source == compare.CONTROLS:
            lines.append(f"{head}; the controls do not change, so this is the machine's drift, and each case is "
                         "judged relative to it")
        elif drift.beyond:
            lines.append(f"{head}; beyond ±{compare.percent(drift.threshold)}: in separate time windows a shift of "
                         "the whole run cannot be told from the machine's drift, so it is not judged, and each case "
                         "is judged relative to it (mark cases that do not change with --control GLOB, or measure "
                         "both runs in one session: make bench AGAINST=REF)")
        else:
            lines.append(f"{head}; each case is judged relative to it (separate time windows; --control GLOB marks "
                         "the cases to estimate it from)")
    return lines
