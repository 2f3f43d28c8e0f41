"""A value made once per test session, such as a real run of the suite that several tests read,
even when pytest-xdist (make test) runs those tests in two worker processes: the first worker to
ask makes it under a file lock, and the others read what it saved. Without xdist it is made in
the one process, as a session-scoped fixture would make it."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable
from typing import Any

import pytest


def once(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str,
         make: Callable[[], Any]) -> Any:
    """``make()``'s value (JSON: lists come back for tuples), made once for this test session."""
    if not hasattr(request.config, "workerinput"):  # not an xdist worker
        return make()
    shared = tmp_path_factory.getbasetemp().parent  # this session's, shared by its workers only
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = shared / f"{name}.json"
        if saved.exists():
            return json.loads(saved.read_text())
        value = make()
        saved.write_text(json.dumps(value))
        return value
