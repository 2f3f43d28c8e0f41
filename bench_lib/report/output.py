"""Writing the report's files as one set: all new or all old, never half-written."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path


class OutputError(Exception):
    """Writing ``path`` failed; the set of files is as it was before."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def write_set(texts: Mapping[Path, str]) -> None:
    """Write every file, or none: a reader sees the old set or the new one, not a mix.

    Every text is first written to a temporary file beside its target; only then are they renamed
    over the targets (os.replace: atomic per file). If one rename fails (a directory in the way,
    a full disk), the files already replaced are put back from hard-linked copies of the old ones.
    Errors name the output, never a temporary file.
    """
    staged: dict[Path, str] = {}
    backups: dict[Path, str] = {}
    replaced: list[Path] = []
    try:
        for path, text in texts.items():
            staged[path] = _stage(path, text)
        for path in texts:
            if path.is_file():
                backups[path] = _backup(path)
        for path, tmp in staged.items():
            _replace(tmp, path)
            replaced.append(path)
    except BaseException:
        for path in replaced:  # back to the old set
            if path in backups:
                os.replace(backups.pop(path), path)
            else:
                path.unlink(missing_ok=True)
        raise
    finally:
        for leftover in [*staged.values(), *backups.values()]:
            Path(leftover).unlink(missing_ok=True)


def _stage(path: Path, text: str) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocked = next((p for p in path.parents if p.exists() and not p.is_dir()), path.parent)
        raise OutputError(blocked, "is not a directory" if blocked.exists() else exc.strerror) from None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(path, exc.strerror) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the report is meant to be shared
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(path, exc.strerror) from None
    return tmp


def _replace(tmp: str, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(path, exc.strerror) from None


def _backup(path: Path) -> str:
    """A copy of the old file beside it: a hard link where the file system has them, else a copy."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old")
    os.close(fd)
    os.unlink(name)  # only the unique name is wanted
    try:
        os.link(path, name)
    except OSError:
        try:
            shutil.copy2(path, name)
        except OSError as exc:
            raise OutputError(path, f"cannot keep a copy of the old file ({exc.strerror})") from None
    return name
