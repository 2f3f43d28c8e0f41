"""pytest glue for the gradbench cases: options, the case matrix, skips, and the run file."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from bench_lib import environment, summary
from bench_lib.cases import CaseSpec, Selection, SelectionError, parse_selection
from bench_lib.runner import static_skip_reason
from bench_lib.schema import SCHEMA_VERSION
from bench_lib.workloads import WORKLOADS

LIST_OPTIONS = ("workloads", "modes", "passes", "sizes", "devices", "dtypes")


@dataclass
class RunState:
    selection: Selection
    seed: int
    threads_before: int
    skipped: list[dict[str, object]] = field(default_factory=list)

    def record_skip(self, spec: CaseSpec, reason: str) -> None:
        self.skipped.append({**spec.as_dict(), "reason": reason})


STATE = pytest.StashKey[RunState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradbench", "gradbench case selection")
    group.addoption("--gb-preset", default="default", help="quick, default or full (default: default)")
    for name in LIST_OPTIONS:
        group.addoption(f"--gb-{name}", default=None, help=f"comma-separated {name} (default: the preset's)")
    group.addoption("--gb-threads", default=None, help="torch intra-op threads, fixed for the run (default: torch's)")
    group.addoption("--gb-seed", default="0", help="seed for weights and inputs (default: 0)")


def _positive_int(option: str, text: str, *, allow_zero: bool = False) -> int:
    value = int(text) if text.isdigit() else -1
    if value < 0 or (value == 0 and not allow_zero):
        rule = "a non-negative integer" if allow_zero else "a positive integer"
        raise SelectionError(f"{option} {text!r} is not {rule}")
    return value


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    try:
        selection = parse_selection(
            preset=config.getoption("gb_preset"),
            known_workloads=tuple(WORKLOADS),
            **{name: config.getoption(f"gb_{name}") for name in LIST_OPTIONS},
        )
        threads_text = config.getoption("gb_threads")
        threads = _positive_int("--gb-threads", threads_text) if threads_text else torch.get_num_threads()
        seed = _positive_int("--gb-seed", config.getoption("gb_seed"), allow_zero=True)
        if all(static_skip_reason(spec) for spec in selection.cases()):
            raise SelectionError(
                f"no case in the selection can run (modes {','.join(selection.modes)} "
                f"with passes {','.join(selection.passes)}); backward and step need mode grad or detach"
            )
    except SelectionError as error:
        raise pytest.UsageError(f"gradbench: {error}") from None
    config.stash[STATE] = RunState(selection=selection, seed=seed, threads_before=torch.get_num_threads())
    # A fixed thread count for the whole run: torch's CPU times depend on it.
    torch.set_num_threads(threads)


def pytest_unconfigure(config: pytest.Config) -> None:
    if STATE in config.stash:
        torch.set_num_threads(config.stash[STATE].threads_before)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[STATE]
    params = []
    for spec in state.selection.cases():
        reason = static_skip_reason(spec)
        marks = []
        if reason:
            state.record_skip(spec, reason)
            marks.append(pytest.mark.skip(reason=reason))
        params.append(pytest.param(spec, id=spec.case_id, marks=marks))
    metafunc.parametrize("case", params)


@pytest.fixture
def run_state(request: pytest.FixtureRequest) -> RunState:
    return request.config.stash[STATE]


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[STATE]
    settings = environment.allocator_settings()
    return [
        f"gradbench: preset {state.selection.preset}, {len(state.selection.cases())} cases, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}",
        f"gradbench allocator: {environment.allocator_note(settings)}",
    ]


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, object]) -> None:
    machine_info["gradbench"] = environment.collect(config.stash[STATE].seed)


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict[str, object]) -> None:
    state = config.stash[STATE]
    output_json["gradbench"] = {
        "schema_version": SCHEMA_VERSION,
        "selection": state.selection.as_dict(),
        "skipped": state.skipped,
    }


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    session = getattr(terminalreporter.config, "_benchmarksession", None)
    cases = [bench.as_dict(include_data=False) for bench in getattr(session, "benchmarks", [])]
    if cases:
        terminalreporter.write_line("")
        for line in summary.format_summary(cases):
            terminalreporter.write_line(line)
