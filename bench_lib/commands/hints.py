"""How a printed hint spells a command, so that it runs as printed in a fresh clone where the
environment was never activated: a bare ``gradbench`` or ``pytest`` would be 'command not found'."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# The module each of the environment's scripts runs, for an environment without the script.
_MODULES = {"gradbench": "bench_lib", "pytest": "pytest", "pytest-benchmark": "pytest_benchmark"}


def script(name: str) -> str:
    """The environment's script ``name`` (gradbench, pytest, pytest-benchmark) as a hint should
    print it: the bare name where PATH finds this environment's own, else its path (relative to the
    current folder when it lies inside it, as .venv/bin/gradbench), else ``python -m``."""
    path = Path(sys.executable).with_name(name)
    if shutil.which(name) == str(path):
        return name
    if not path.exists():
        return f"{sys.executable} -m {_MODULES[name]}"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
