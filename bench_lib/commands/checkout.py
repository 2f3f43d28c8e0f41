"""The gradbench checkouts a run measures: this one, and for ``--against REF`` a git worktree of
REF beside it, whose bench_lib its processes import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# This checkout: the package's parent folder (pip install -e .), whatever the current folder.
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Checkout:
    """A gradbench checkout whose suite replicates run: this one, or a worktree of another commit
    (``ref``), whose bench_lib its processes import."""

    root: Path
    ref: str | None = None  # None: this checkout

    @property
    def label(self) -> str:
        return self.ref or "this checkout"

    def environment(self) -> dict[str, str] | None:
        if self.ref is None:
            return None
        path = os.environ.get("PYTHONPATH")
        return {**os.environ, "PYTHONPATH": str(self.root) + (os.pathsep + path if path else "")}


THIS = Checkout(ROOT)


def worktree(ref: str, workdir: Path) -> Checkout:
    """REF checked out (detached) in ``workdir/base`` as a git worktree of this checkout; ValueError,
    with git's own words, where that fails (the worktree removed again)."""
    checkout = Checkout(workdir / "base", ref)
    done = _git("worktree", "add", "--detach", str(checkout.root), ref)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"git exit status {done.returncode}"
        raise ValueError(f"cannot check out {ref!r} beside this checkout: {reason}")
    if not (checkout.root / "benchmarks").is_dir() or not (checkout.root / "bench_lib").is_dir():
        remove_worktree(checkout)
        raise ValueError(f"{ref!r} has no gradbench suite (benchmarks/ and bench_lib/) to measure")
    return checkout


def remove_worktree(checkout: Checkout) -> None:
    """Remove REF's worktree and git's record of it; a warning, never an error, where that fails."""
    done = _git("worktree", "remove", "--force", str(checkout.root))
    if done.returncode != 0:
        shutil.rmtree(checkout.root, ignore_errors=True)
        _git("worktree", "prune")
        print(f"gradbench: warning: git could not remove the worktree of {checkout.ref} at {checkout.root} "
              f"({done.stderr.strip()}); its files are deleted and git's record pruned", file=sys.stderr)


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    # Its own session: a Ctrl-C meant for the replicates must not cut a worktree's clean-up short.
    return subprocess.run(["git", "-C", str(THIS.root), *args], capture_output=True, text=True,
                          start_new_session=True)


