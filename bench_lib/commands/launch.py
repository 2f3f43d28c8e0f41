"""``python -m bench_lib bench``: the suite as independent replicate processes, saved as one run.

Each replicate is a fresh ``pytest benchmarks`` process writing its own JSON to a private folder.
Only when every replicate has ended with exit status 0 are they merged (bench_lib.analysis.replicates)
and saved, atomically and under a new number, as ``<storage>/<machine>/NNNN_<name>.json``: the
name pytest-benchmark's own ``--benchmark-save`` would give, so ``pytest-benchmark compare`` and
the run ids (0001) work as before. An interrupted or failed run saves nothing under the
storage, and says where the replicate files it did write were left.

``--against REF`` measures a second checkout too: REF's suite, from a git worktree, in
replicates that alternate with this checkout's (base, new, then new, base, ...), so that both
runs sample the same stretches of the machine's drift. Two runs are saved, REF's first.

pytest-benchmark's own options given after ``bench --`` keep their documented meaning
(benchmark_options): ``--benchmark-json PATH`` writes the merged run to PATH too,
``--benchmark-save NAME`` (or ``--benchmark-autosave``) names the saved run, ``--benchmark-storage``
is ``--storage``, and GC is off in every replicate (``--benchmark-disable-gc``, always passed). An
option the replicates cannot honour one by one is refused with one line, before anything runs.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench_lib.analysis.replicates import merge
from bench_lib.commands import ab
from bench_lib.commands.ab import ABError
from bench_lib.commands.checkout import THIS, Checkout, remove_worktree, worktree
from bench_lib.contract.errors import InputError
from bench_lib.commands.hints import script
from bench_lib.contract.exits import Exit, from_pytest
from bench_lib.contract.result import with_pairs

EXIT_FAILED, EXIT_INTERRUPTED = Exit.FAILED, Exit.INTERRUPTED  # the one table: contract/exits.py
EXIT_NOTHING_MEASURED = Exit.NOTHING_MEASURED
_RUN_FILE = re.compile(r"^(\d{4,})_")
# The suite itself: beside the package in a checkout (pip install -e .), whatever the current folder.
BENCHMARKS = THIS.root / "benchmarks"


class ReplicateFailed(Exception):
    """A replicate process did not end cleanly; the message is one line, the exit code attached."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def pytest_command(pytest_args: Sequence[str], json_path: Path, checkout: Checkout = THIS) -> list[str]:
    # -q and --benchmark-quiet: the launcher prints one summary of the merged run instead of N.
    # --benchmark-disable-gc: GC off in timed rounds, always (pytest-benchmark has no option to turn
    # it back on); the replicate's --benchmark-json last, so that nothing given before overrides it.
    return [sys.executable, "-m", "pytest", str(checkout.root / "benchmarks"), "-q", "--benchmark-quiet",
            "--gb-summary=no", "--gb-progress=lines", "--benchmark-disable-gc", *pytest_args,
            f"--benchmark-json={json_path}"]


DEFAULT_STORAGE = Path(".benchmarks")
# pytest-benchmark's options that each replicate would honour alone, with what to do instead.
# {pytest}, {gradbench} and {pytest_benchmark}: the commands as hints.script spells them, so that they run as printed.
_TABLE = ("shapes pytest-benchmark's table, which bench does not print (it prints one summary of the merged run); "
          "show the saved run with {pytest_benchmark} compare {option}=... RUN")
_REFUSED = {
    "--benchmark-disable": "runs each case once, untimed, and records nothing, so bench would save no run; "
                           "check that the cases run with {pytest} benchmarks --benchmark-disable",
    "--benchmark-skip": "skips every case, so bench would measure nothing (with --benchmark-only, which overrides "
                        "it, it is accepted)",
    "--benchmark-compare": "makes each replicate compare itself alone with a run of its own folder, in a table bench "
                           "does not print; compare saved runs with {gradbench} compare BASE NEW (or "
                           "{pytest_benchmark} compare)",
    "--benchmark-compare-fail": "makes each replicate judge itself alone; {gradbench} compare BASE NEW judges the "
                                "replicates together (--fail-above PCT)",
    "--benchmark-histogram": "makes each replicate write its own histogram over the one before; make it from the "
                             "saved run: {pytest_benchmark} compare --histogram RUN",
    "--benchmark-csv": "makes each replicate write its own CSV over the one before; make it from the saved run: "
                       "{pytest_benchmark} compare --csv RUN",
    **{option: _TABLE.replace("{option}", option.replace("benchmark-", ""))
       for option in ("--benchmark-sort", "--benchmark-group-by", "--benchmark-columns", "--benchmark-name",
                      "--benchmark-time-unit")},
}
_TAKEN_WITH_VALUE = ("--benchmark-json", "--benchmark-save", "--benchmark-storage")
_TAKEN_FLAGS = ("--benchmark-autosave", "--benchmark-save-data", "--benchmark-disable-gc")


@dataclass(frozen=True)
class BenchmarkOptions:
    """What pytest-benchmark's own options, given after ``bench --``, ask of the launcher."""

    pytest_args: list[str]  # for every replicate: the rest, as given
    storage: Path  # --storage, or --benchmark-storage's folder
    name: str | None  # --benchmark-save's NAME, or --benchmark-autosave's tag; None: the preset's name
    json: Path | None  # --benchmark-json's PATH: the merged run is written there too


def benchmark_options(pytest_args: Sequence[str], storage: Path | None = None) -> BenchmarkOptions:
    """Take the pytest-benchmark options the launcher honours itself out of ``pytest_args``, and
    refuse (InputError, one line) those the replicates cannot honour one by one. The others (the
    timer, --benchmark-only, --benchmark-verbose, ...) go to every replicate as given.
    ``storage``: bench's own --storage, None when not given."""
    args, rest = list(pytest_args), []
    values: dict[str, str] = {}
    flags: set[str] = set()
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":  # pytest's own end of options: the rest are paths
            rest += args[index:]
            break
        option, equals, value = arg.partition("=")
        if option in _REFUSED and not (option == "--benchmark-skip" and "--benchmark-only" in args):
            why = _REFUSED[option].format(pytest=script("pytest"), gradbench=script("gradbench"),
                                          pytest_benchmark=script("pytest-benchmark"))
            raise InputError(option, f"not taken by bench: it {why}")
        if option in _TAKEN_WITH_VALUE:
            if not equals:
                if index + 1 == len(args):
                    raise InputError(option, "needs a value")
                index += 1
                value = args[index]
            values[option] = value  # given twice, the last one holds, as in pytest
        elif option in _TAKEN_FLAGS and not equals:
            flags.add(option)
        else:
            rest.append(arg)
        index += 1
    return BenchmarkOptions(rest, _storage(values.get("--benchmark-storage"), storage),
                            _run_name(values.get("--benchmark-save"), "--benchmark-autosave" in flags),
                            _json_path(values["--benchmark-json"]) if "--benchmark-json" in values else None)


def _storage(uri: str | None, storage: Path | None) -> Path:
    """--benchmark-storage URI as pytest-benchmark reads it (file://PATH, or a bare PATH), checked
    against --storage."""
    if uri is None:
        return DEFAULT_STORAGE if storage is None else storage
    if "://" in uri and not uri.startswith("file://"):
        raise InputError("--benchmark-storage", f"{uri!r}: bench saves run files; give a folder (PATH or "
                                                "file://PATH)")
    folder = Path(uri.removeprefix("file://"))
    if not str(folder).strip():
        raise InputError("--benchmark-storage", "needs a folder")
    if storage is not None and storage.resolve() != folder.resolve():
        raise InputError("--benchmark-storage", f"{uri!r} is not --storage's {str(storage)!r}; give one of them")
    return folder


def _run_name(save: str | None, autosave: bool) -> str | None:
    """The saved run's name (NNNN_<name>.json), as pytest-benchmark checks and makes it:
    --benchmark-save wins over --benchmark-autosave, whose name is the commit and time."""
    import argparse

    from pytest_benchmark.utils import get_tag, parse_save

    if save is not None:
        try:
            return parse_save(save)
        except argparse.ArgumentTypeError as error:
            raise InputError("--benchmark-save", f"{save!r}: {error}") from None
    if not autosave:
        return None
    here = Path.cwd()
    os.chdir(THIS.root)  # get_tag asks git about the current folder: the checkout measured, as under pytest
    try:
        return get_tag()
    finally:
        os.chdir(here)


def _json_path(text: str) -> Path:
    """--benchmark-json's PATH, checked before anything is measured."""
    path = Path(text)
    if not text.strip() or path.is_dir():
        raise InputError("--benchmark-json", f"{text!r} is not a file path")
    if not path.parent.is_dir():
        raise InputError("--benchmark-json", f"{text!r}: there is no folder {str(path.parent)!r} to write it in")
    return path


def profile_args(pytest_args: Sequence[str], workdir: Path) -> list[str]:
    """Where --gb-profile's files go: the replicates' folder, moved next to the run once it is
    saved, unless the user named a folder of their own."""
    profiling = any(a.startswith("--gb-profile") and not a.startswith("--gb-profile-dir") for a in pytest_args)
    own_folder = any(a.startswith("--gb-profile-dir") for a in pytest_args)
    return [f"--gb-profile-dir={workdir / 'profiles'}"] if profiling and not own_folder else []


# pytest's skip summary (one line per reason): every replicate skips the same cases, so only the run's
# first replicate prints it.
SKIP_SUMMARY = "-rs"
# Instruction counts do not vary between processes: only each checkout's first replicate counts.
COUNTS_OPTION = "--gb-counts"


def split_counts(pytest_args: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the arguments every replicate gets, those only the first gets): --gb-counts, which counts
    once per run (README: "Instruction counts"), not once per replicate."""
    rest = [arg for arg in pytest_args if arg != COUNTS_OPTION]
    return rest, [COUNTS_OPTION] if len(rest) != len(pytest_args) else []


def run_replicates(pytest_args: Sequence[str], repeat: int, workdir: Path,
                   checkouts: Sequence[Checkout] = (THIS,),
                   first: Sequence[str] = ()) -> list[tuple[list[dict], list[dict]]]:
    """Run ``repeat`` replicate processes of each checkout, one after the other, the checkouts'
    order reversed every other time (A B, B A, ...); their documents and times, per checkout.
    ``first``: arguments for each checkout's first replicate only (split_counts)."""
    results: list[tuple[list[dict], list[dict]]] = [([], []) for _ in checkouts]
    pytest_args = [*pytest_args, *profile_args(pytest_args, workdir)]
    several, done = len(checkouts) > 1, 0
    for index in range(1, repeat + 1):
        order = list(enumerate(checkouts))
        for number, checkout in order if index % 2 else reversed(order):
            which = f"replicate {index}/{repeat}" + (f" of {checkout.label}" if several else "")
            json_path = workdir / (f"{number}-replicate-{index}.json" if several else f"replicate-{index}.json")
            started = datetime.datetime.now(datetime.timezone.utc)
            print(f"gradbench: {which} started {started:%H:%M:%S}", flush=True)
            clock = time.perf_counter()
            args = [*pytest_args, *first] if index == 1 else list(pytest_args)
            if done == 0:
                args.insert(0, SKIP_SUMMARY)
            code = subprocess.call(pytest_command(args, json_path, checkout), cwd=checkout.root,
                                   env=checkout.environment())
            seconds = time.perf_counter() - clock
            if code != 0:
                raise ReplicateFailed(f"{which} ended with pytest exit status {code}", from_pytest(code))
            # Some pytest-benchmark versions create the file when parsing options and leave it empty.
            if not json_path.is_file() or json_path.stat().st_size == 0:
                raise ReplicateFailed(f"{which} measured no case (see the skip reasons above)", EXIT_NOTHING_MEASURED)
            docs, times = results[number]
            docs.append(json.loads(json_path.read_text()))
            times.append({"started": started.isoformat(timespec="seconds"), "seconds": round(seconds, 2)})
            done += 1
            left = seconds * (repeat * len(checkouts) - done)
            print(f"gradbench: {which} done in {seconds:.0f} s"
                  + (f", about {left:.0f} s left" if left > 0 else ""), flush=True)
    return results


def save_run(doc: dict, storage: Path, name: str) -> Path:
    """Write ``doc`` as the next NNNN_<name>.json of this machine's folder, never over a file."""
    from pytest_benchmark.utils import get_machine_id

    folder = storage / get_machine_id()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = _written_beside(folder, doc)
    try:
        while True:
            numbers = [int(m.group(1)) for p in folder.iterdir() if (m := _RUN_FILE.match(p.name))]
            target = folder / f"{max(numbers, default=0) + 1:04d}_{name}.json"
            try:
                # Reserve the number (another run may be saving beside this one), then fill it in one rename.
                os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            except FileExistsError:
                continue
            os.replace(tmp, target)
            return target
    finally:
        tmp.unlink(missing_ok=True)


def write_json(doc: dict, path: Path) -> None:
    """``doc`` at ``path`` (--benchmark-json), replacing what was there in one rename."""
    tmp = _written_beside(path.parent, doc)
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _written_beside(folder: Path, doc: dict) -> Path:
    """``doc`` as JSON in a new hidden ``.saving-*.json`` of ``folder`` (which "the latest run"
    never picks), with the permissions open() gives a new file: 0666 less the user's umask
    (tempfile.mkstemp's 0600 would hide a saved run from the user's group)."""
    tmp = folder / f".saving-{uuid.uuid4().hex}.json"
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(doc, handle, indent=4)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def bench(pytest_args: Sequence[str], repeat: int, name: str, storage: Path, against: str | None = None,
          json_copy: Path | None = None, then_compare: Callable[[Path, Path], int] | None = None) -> int:
    """``json_copy``: --benchmark-json's PATH, where this checkout's merged run is written too;
    ``then_compare``: with ``against``, compare the two runs saved and exit with compare's code."""
    if not BENCHMARKS.is_dir():
        print(f"gradbench: error: {BENCHMARKS}: no benchmarks folder; run from a checkout of gradbench installed "
              "with pip install -e .", file=sys.stderr)
        return EXIT_FAILED
    storage = storage.absolute()  # every message names the folder itself, wherever it was run from
    if Path.cwd() != THIS.root and storage == Path.cwd() / DEFAULT_STORAGE:
        print(f"gradbench: saving under {storage}, the current folder's; this checkout's runs are in "
              f"{THIS.root / DEFAULT_STORAGE} (--storage chooses)")
    workdir = Path(tempfile.mkdtemp(prefix="gradbench-replicates-"))
    checkouts = [THIS]
    try:
        try:
            if against is not None:
                checkouts.insert(0, worktree(against, workdir))
                ab.check(checkouts[0], pytest_args)
            pytest_args, first = split_counts(pytest_args)
            results = run_replicates(pytest_args, repeat, workdir, checkouts, first)
            docs = [merge(docs, times) for docs, times in results]
            if against is not None:
                docs = paired_runs(docs, checkouts[0], pytest_args, against)
            # REF's run first: compare reads the older number as the base.
            paths = save_runs(docs, storage,
                              [name if c.ref is None else f"{name}-{_file_part(c.ref)}" for c in checkouts])
        finally:  # before the message below, which names the replicates' folder only if it holds something
            for checkout in checkouts:
                if checkout.ref is not None:
                    remove_worktree(checkout)
    except (ValueError, OSError) as error:  # a replicate file that is not JSON, counts that disagree, a full disk
        return _nothing_saved(f"error: {error}", storage, workdir, EXIT_FAILED)
    except ReplicateFailed as error:
        return _nothing_saved(f"error: {error}", storage, workdir, error.exit_code)
    except ABError as error:
        return _nothing_saved(f"error: {error}", storage, workdir, EXIT_FAILED)
    except KeyboardInterrupt:
        return _nothing_saved("interrupted", storage, workdir, EXIT_INTERRUPTED, lead="\n")
    except BaseException:  # a bug, whose traceback follows: the replicates' folder stays only if it holds a file
        if not _holds_files(workdir):
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    path, doc = paths[-1], docs[-1]
    profiles = workdir / "profiles"
    if profiles.is_dir():  # the last replicate's files, named by case
        try:
            shutil.move(profiles, path.with_suffix(".profiles"))
            print(f"gradbench: profiles saved in {path.with_suffix('.profiles')}")
        except OSError as error:
            print(f"gradbench: the run is saved, but its profiles stay in {profiles}: {error}", file=sys.stderr)
            return EXIT_FAILED
    shutil.rmtree(workdir, ignore_errors=True)
    print_summary(doc)
    total = sum(t["seconds"] for _, times in results for t in times)
    print(f"gradbench: saved {path} ({repeat} replicate{'s' if repeat != 1 else ''}, {total:.0f} s of measuring)")
    if json_copy is not None:
        try:
            write_json(doc, json_copy)
        except OSError as error:
            print(f"gradbench: error: --benchmark-json: {error}; the run is saved as {path}", file=sys.stderr)
            return EXIT_FAILED
        print(f"gradbench: wrote {json_copy} (--benchmark-json)")
    if against is not None:
        base, new = (_RUN_FILE.match(p.name).group(1) for p in paths)  # type: ignore[union-attr]
        where = "" if storage == Path.cwd() / DEFAULT_STORAGE else f" --storage={storage}"
        print(f"gradbench: saved {paths[0]}, the run of {against}, measured case by case with this checkout's; "
              f"compare them with: {script('gradbench')} compare {base} {new}{where}")
        if then_compare is not None:
            return then_compare(paths[0], paths[1])
    return 0


def paired_runs(docs: Sequence[dict], base: Checkout, pytest_args: Sequence[str], against: str) -> list[dict]:
    """The base and new run documents with the cases' time-matched blocks (commands.ab) and the
    pairing that ties them together."""
    pairs = ab.measure(base, THIS, pytest_args)
    pairing = {"id": uuid.uuid4().hex, "against": against, "pairs": ab.PAIRS, "block_seconds": ab.BLOCK_SECONDS,
               "order": "base new, new base, ...", "generations": ab.GENERATIONS,
               "worker_environment": ab.WORKER_ENVIRONMENT}
    return [with_pairs(doc, {spec: (getattr(paired, side), paired.rounds) for spec, paired in pairs.items()},
                       {**pairing, "side": side}) for doc, side in zip(docs, ("base", "new"), strict=True)]


def save_runs(docs: Sequence[dict], storage: Path, names: Sequence[str]) -> list[Path]:
    """save_run for each, in order: all of them, or (on an error or Ctrl-C) none."""
    paths: list[Path] = []
    try:
        for doc, name in zip(docs, names, strict=True):
            paths.append(save_run(doc, storage, name))
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        raise
    return paths


def _file_part(ref: str) -> str:
    """A git ref as part of a file name: letters, digits, . and - (origin/main -> origin-main)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", ref).strip("-.")[:40] or "base"


def _nothing_saved(what: str, storage: Path, workdir: Path, code: int, lead: str = "") -> int:
    """Say that nothing was saved; name the replicates' folder only if it holds a file, else remove it."""
    kept = _holds_files(workdir)
    if not kept:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{lead}gradbench: {what}; nothing saved under {storage}"
          + (f" (the replicate files written so far are in {workdir})" if kept else ""), file=sys.stderr)
    return code


def _holds_files(folder: Path) -> bool:
    """Whether ``folder`` holds a file with something in it (an empty JSON that pytest-benchmark
    created while parsing its options is nothing)."""
    return any(path.is_file() and path.stat().st_size > 0 for path in folder.rglob("*"))


def print_summary(doc: dict) -> None:
    """The terminal summary and the scenario claims, once, for the merged run."""
    from bench_lib.report.terminal import run_summary
    from bench_lib.scenarios import SCENARIOS

    print("\n".join(run_summary(doc["benchmarks"], doc.get("gradbench", {}).get("invalid") or [], SCENARIOS)))
