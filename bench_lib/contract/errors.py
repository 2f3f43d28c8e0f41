"""The one error type the report raises for bad input."""

from __future__ import annotations


class InputError(Exception):
    """Bad user input: a run file or argument the report cannot use.

    The CLI prints it as one line, ``gradbench: error: <source>: <problem>``, and exits 2, so
    a person sees which file (or argument) is wrong and why, without a traceback.
    """

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem
