"""``python -m bench_lib ARGS`` for the tests, answered by one long-lived Python process.

A fresh interpreter spends about 2 s importing pandas, scipy and matplotlib before it reads its
first byte; the fault-injection and command-line tests run some sixty commands. Here one child
process (per pytest process, started at the first command) runs each command as ``python -m
bench_lib`` does: ``bench_lib/__main__.py`` run as ``__main__``, in the command's working
directory, with its own sys.argv, stdout and stderr, its exit status taken from SystemExit, and
warnings shown as a fresh process shows them. The answer is a subprocess.CompletedProcess, as
subprocess.run gives. A command that does not answer within its timeout kills the child and
raises subprocess.TimeoutExpired; the next command starts a new one.

What a single interpreter cannot show, fresh processes still test: that the report and compare
need neither torch nor psutil, that importing bench_lib stays light, and that a crash exits 2
(tests/test_report_cli.py, tests/test_faults.py).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs in the child: one JSON request per line on stdin, one JSON answer per line on fd ANSWERS.
DRIVER = r"""
import contextlib, io, json, os, runpy, sys, traceback, warnings

answers = os.fdopen(int(sys.argv[1]), "w")
for line in sys.stdin:
    request = json.loads(line)
    os.chdir(request["cwd"])
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["-m", *request["args"]]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        # catch_warnings forgets which warnings were shown: each command shows its own, once, as
        # a fresh process would.
        try:
            runpy.run_module("bench_lib", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exit:
            code = exit.code
            if code is None:
                code = 0
            elif not isinstance(code, int):
                print(code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    answers.write(json.dumps({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}) + "\n")
    answers.flush()
"""


class CliProcess:
    """One child interpreter that runs ``python -m bench_lib`` commands in turn."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self._child: subprocess.Popen[str] | None = None
        self._answers = None

    def _start(self) -> None:
        read, write = os.pipe()
        self._child = subprocess.Popen([sys.executable, "-c", DRIVER, str(write)], cwd=ROOT, env=self.env,
                                       stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       pass_fds=(write,), text=True)
        os.close(write)
        self._answers = os.fdopen(read, "r")

    def close(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child.wait()
            self._answers.close()
            self._child = self._answers = None

    def run(self, *args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        if self._child is None or self._child.poll() is not None:
            self.close()
            self._start()
        command = [sys.executable, "-m", "bench_lib", *args]
        self._child.stdin.write(json.dumps({"cwd": str(cwd), "args": list(args)}) + "\n")
        self._child.stdin.flush()
        ready, _, _ = select.select([self._answers], [], [], timeout)
        line = self._answers.readline() if ready else ""
        if not line:  # timed out, or the child died: it answers nothing more
            died = self._child.poll()
            self.close()
            if died is None:
                raise subprocess.TimeoutExpired(command, timeout)
            raise RuntimeError(f"the bench_lib child process ended (status {died}) running {command}")
        answer = json.loads(line)
        return subprocess.CompletedProcess(command, answer["code"], answer["stdout"], answer["stderr"])


_PROCESSES: dict[tuple[tuple[str, str], ...], CliProcess] = {}


def run(*args: str, cwd: Path = ROOT, env: Mapping[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m bench_lib ARGS`` in ``cwd`` with ``env`` (default: this process's), as subprocess.run
    with capture_output=True and text=True would run it."""
    env = dict(os.environ if env is None else env)
    key = tuple(sorted(env.items()))
    if key not in _PROCESSES:
        _PROCESSES[key] = CliProcess(env)
    return _PROCESSES[key].run(*args, cwd=cwd, timeout=timeout)


@atexit.register
def _close_all() -> None:
    for process in _PROCESSES.values():
        process.close()
