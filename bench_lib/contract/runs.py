"""Turn run ids, as ``pytest-benchmark compare`` takes them, into run-file paths."""

from __future__ import annotations

import glob
import itertools
import re
from pathlib import Path

from bench_lib.contract.errors import InputError

# pytest-benchmark saves runs as <storage>/<machine-id>/NNNN_<name>.json.
_RUN_NUMBER = re.compile(r"^\d{4}$")
_RUN_FILE = re.compile(r"^\d{4,}_.*\.json$")
_GLOB_CHARS = re.compile(r"[*?\[]")
# "latest" is the newest complete run, "latest~1" the one before it, as git counts commits back:
# ids that work whatever numbers the saved runs have (compare latest~1 latest).
_LATEST = re.compile(r"^latest(?:~(\d{1,4}))?$")


def machine_id() -> str:
    """This machine's folder under the storage, as pytest-benchmark names it when it saves a run
    (e.g. Linux-CPython-3.11-64bit): the OS, the Python implementation and version, the word size."""
    from pytest_benchmark.utils import get_machine_id

    return get_machine_id()


def resolve(run_id: str, storage: Path, machine: str | None = None) -> list[Path]:
    """The run files one id names, sorted by path.

    An id is a 4-digit run number, ``latest`` or ``latest~N`` (the newest complete run, or the Nth
    before it), a glob, or a path. Messages name the absolute folder or path they looked in. Run
    numbers restart in each machine folder:
    a number is looked up in this machine's folder (``machine``, default machine_id()) first, as
    pytest-benchmark does when it compares, and only when that has none in every other machine
    folder under ``storage``, where it can name one run per machine.
    """
    if _RUN_NUMBER.match(run_id):
        here = sorted((storage / (machine or machine_id())).glob(f"{run_id}_*.json"))
        matches = here or sorted(storage.glob(f"*/{run_id}_*.json"))
        if not matches:
            raise InputError(run_id, f"no run numbered {run_id} under {storage.absolute()}/*/")
        return matches
    if latest_id := _LATEST.match(run_id):
        back = int(latest_id.group(1) or 0)
        complete = _complete_runs(storage, back + 1)
        if back >= len(complete):
            raise InputError(run_id, f"{len(complete)} complete saved run{'s' if len(complete) != 1 else ''} under "
                                     f"{storage.absolute()}/*/, so none is {back} before the latest")
        return [complete[back]]
    if _GLOB_CHARS.search(run_id):
        matches = sorted(Path(p) for p in glob.glob(run_id, recursive=True) if Path(p).is_file())
        if not matches:
            raise InputError(run_id, f"the glob matches no file (from {Path.cwd()})")
        return matches
    path = Path(run_id)
    if path.is_dir():
        raise InputError(run_id, "is a directory, not a run file")
    if not path.exists():
        raise InputError(run_id, f"no such file: {path.absolute()} (and not a 4-digit run number, nor latest)")
    return [path]


def resolve_all(run_ids: list[str], storage: Path) -> list[Path]:
    """The files of several ids, each once, in the order first named; the latest run if none."""
    if not run_ids:
        return [latest(storage)]
    paths: list[Path] = []
    for run_id in run_ids:
        for path in resolve(run_id, storage):
            if path.resolve() not in {p.resolve() for p in paths}:
                paths.append(path)
    return paths


def resolve_one(run_id: str, storage: Path, machine: str | None = None) -> Path:
    """Exactly one run file, for arguments that name a single run (a comparison baseline): a run
    number is ambiguous only when this machine's folder has none and several others have one."""
    paths = resolve(run_id, storage, machine)
    if len(paths) > 1:
        names = ", ".join(str(p.absolute()) for p in paths[:3])
        raise InputError(run_id, f"names {len(paths)} runs ({names}{', ...' if len(paths) > 3 else ''}); name one")
    return paths[0]


def saved(storage: Path) -> list[Path]:
    """Every saved run under ``storage``, complete or not, by machine folder and number."""
    paths = sorted(p for p in storage.glob("*/*.json") if _RUN_FILE.match(p.name) and _saved(p))
    if not paths:
        raise InputError(str(storage.absolute()), "no saved runs (expected <machine>/NNNN_<name>.json); run "
                                                  "`make bench` first")
    return paths


def latest(storage: Path) -> Path:
    """The most recently written complete run under ``storage`` (see _complete_runs)."""
    return _complete_runs(storage, 1)[0]


def _complete_runs(storage: Path, count: int) -> list[Path]:
    """The ``count`` newest complete runs under ``storage`` (fewer if there are not as many; at
    least one, else InputError), newest first; run numbers restart per machine folder,
    so only the modification time orders runs across machines. A run saved as incomplete
    (interrupted, or a case failed) is passed over: it is reported only when named. So are hidden
    files (``.saving-*.json``, a run being written) and empty ones (a run number reserved while its
    file is being renamed into place)."""
    candidates = sorted((p for p in storage.glob("*/*.json") if _saved(p)),
                        key=lambda p: (p.stat().st_mtime_ns, str(p)), reverse=True)
    folder = str(storage.absolute())
    if not candidates:
        raise InputError(folder, "no saved runs (expected <machine>/NNNN_<name>.json); run `make bench` first")
    # Read only as far as needed: a run file can be tens of MB.
    complete = list(itertools.islice((path for path in candidates if not _marked_incomplete(path)), count))
    if not complete:
        raise InputError(folder, f"every saved run is incomplete (newest: {candidates[0].absolute()}); name one to "
                                 "report it")
    return complete


def _saved(path: Path) -> bool:
    """Whether ``path`` is a saved run file, not one being written."""
    try:
        return not path.name.startswith(".") and path.is_file() and path.stat().st_size > 0
    except OSError:  # renamed or removed since it was listed
        return False


_INCOMPLETE = re.compile(rb'"complete":\s*false')


def _marked_incomplete(path: Path) -> bool:
    """Whether the run file says "complete": false; read as text, since choosing the default run
    must not parse every saved run (a malformed one is reported when it is read for real)."""
    try:
        with path.open("rb") as handle:
            return _INCOMPLETE.search(handle.read(64 * 2**20)) is not None
    except OSError:
        return False
