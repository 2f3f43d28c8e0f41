"""The exit codes of the ``gradbench`` command (``python -m bench_lib``): one table for every
subcommand, which README's "Exit codes" table repeats word for word (a test compares them).

Kept free of everything else: the command line reads it before it loads anything heavy, and the
comparison's summary (bench_lib.analysis.compare) names the code it leads to.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    REGRESSION = 1
    FAILED = 1  # the same code for ``bench``: a replicate failed (an alias, not a second code)
    USAGE = 2
    NOT_JUDGED = 3
    BAD_SELECTION = 4
    NOTHING_MEASURED = 5
    INTERRUPTED = 130


# A replicate's pytest exit status -> bench's code: every code bench exits with is one of this table's.
# pytest's 5 (no test collected) is a run that measured nothing, as is one whose every case was skipped.
FROM_PYTEST: dict[int, Exit] = {1: Exit.FAILED, 2: Exit.INTERRUPTED, 3: Exit.USAGE, 4: Exit.BAD_SELECTION,
                                5: Exit.NOTHING_MEASURED}


def from_pytest(status: int) -> Exit:
    """bench's code for a replicate that ended with pytest exit ``status`` (a signal's negative one: failed)."""
    return FROM_PYTEST.get(status, Exit.FAILED)


# code -> what it means, for every subcommand. README's table is this one.
MEANING: dict[int, str] = {
    Exit.OK: "success: `compare` found no regression and judged every gated case; `bench` saved the run; "
             "`report` wrote its files",
    Exit.REGRESSION: "`compare`: a gate failed, a regression (a case significantly slower beyond its threshold, "
                     "a changed exact count, a larger peak); `bench`: a replicate or an A/B worker failed (a case raised, "
                     "a process was killed), or the run could not be merged, saved or copied",
    Exit.USAGE: "usage error or bad input: a bad option or value, an unreadable or foreign run file, runs that "
                "cannot be compared (one line, `gradbench: error: <source>: <problem>`), or an internal error "
                "(with its traceback, or pytest's internal error in a replicate), so CI never reads a broken run as "
                "a regression",
    Exit.NOT_JUDGED: "`compare`: no gate failed, but some gated cases (or the run-level shift) could not be "
                     "judged: too few replicates, too much noise, or a likely change that the test could not "
                     "confirm; the last line says how many and why",
    Exit.BAD_SELECTION: "`bench`: a bad case selection (a `--gb-*` value, or one in which nothing can run): "
                        "pytest's usage error, passed on",
    Exit.NOTHING_MEASURED: "`bench`: the run measured nothing (every case skipped, the reasons listed above it, or "
                           "none collected); nothing saved",
    Exit.INTERRUPTED: "`bench`: interrupted (Ctrl-C, in the launcher or a replicate); nothing saved",
}


def name(code: int) -> str:
    """"regression", "not judged", ...: a code's short name, for the JSON summary."""
    return Exit(code).name.lower().replace("_", " ")
