"""The pytest plugin that runs gradbench's cases: its options, the case matrix, each case's life
(skips, measurement, interleaved rounds), progress lines, and what it adds to the run file.

benchmarks/conftest.py loads it; benchmarks/ itself only declares the cases.
"""

from __future__ import annotations

import fnmatch
import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
import torch

from bench_lib.contract.cases import (
    ScenarioSelection,
    Selection,
    SelectionError,
    parse_count,
    parse_scenario_selection,
    parse_selection,
)
from bench_lib.contract.result import INTERLEAVED_KEYS, PAIRED_KEYS, record
from bench_lib.contract.scenario import ScenarioSpec
from bench_lib.contract.schema import SCHEMA_VERSION
from bench_lib.measure import counts as instruction_counts
from bench_lib.measure import devices, environment, ops
from bench_lib.measure.runner import (
    PassCase,
    Spec,
    autograd_rejection,
    benchmark_case,
    build,
    interleaved_stats,
    machine_skip_reason,
    profile_case,
    static_skip_reason,
    unrunnable_reason,
)
from bench_lib.measure.workloads import WORKLOADS
from bench_lib.report.terminal import run_summary
from bench_lib.scenarios import SCENARIOS, scenario_specs

LIST_OPTIONS = ("workloads", "modes", "passes", "sizes", "devices", "dtypes")
MAX_THREADS = 1024


@dataclass
class Progress:
    """A line every tenth of the cases: the case, how many are done, the time spent and left.

    The time left is estimated from the cases that ran, over those still to run: a skipped case
    (no such device here) takes no time, and the instruction counts, done before the first case,
    are not part of the rate (created after them)."""

    total: int
    will_run: frozenset[str]  # node ids of the cases expected to be measured, not skipped
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    ran: int = 0

    def step(self, nodeid: str) -> str | None:
        self.done += 1
        self.ran += nodeid in self.will_run
        if self.done != self.total and self.done * 10 // self.total == (self.done - 1) * 10 // self.total:
            return None
        elapsed = time.monotonic() - self.started
        to_run = len(self.will_run) - self.ran
        left = f"about {elapsed / self.ran * to_run:.0f} s left" if self.ran else "time left not known yet"
        case = nodeid.rsplit("[", 1)[-1].rstrip("]")
        return (f"gradbench: {self.done:>{len(str(self.total))}}/{self.total} cases, {elapsed:.0f} s elapsed, "
                f"{left} ({case})")


@dataclass
class RunState:
    selection: Selection
    seed: int
    threads_before: int
    scenarios: ScenarioSelection | None = None
    skipped: list[dict[str, object]] = field(default_factory=list)
    invalid: list[dict[str, object]] = field(default_factory=list)  # schema.INVALID_KEYS
    # Per group (forward modes, or a scenario's variants): each member's interleaved_* figures,
    # measured once, at the group's first case.
    interleaved: dict[str, dict[Spec, dict[str, object]]] = field(default_factory=dict)
    # pytest's exit status, known before pytest-benchmark writes the run file: a run that was
    # interrupted or had a failing case is saved with "complete": false, never as a whole run.
    exit_status: int | None = None
    progress: Progress | None = None
    profile: str | None = None  # --gb-profile's pattern of case ids
    profile_dir: Path = Path("reports/profiles")
    profiled: list[Path] = field(default_factory=list)  # the files --gb-profile wrote
    # --gb-counts: the instruction counts of the selected cases, counted before any case is timed
    # (None: not asked for); counts_error: why counting failed (every countable case then fails).
    counts: instruction_counts.Counts | None = None
    counts_error: str | None = None

    def specs(self) -> list[Spec]:
        """Every case of the run: the mode matrix, then the scenarios' variants."""
        scenario_cases = scenario_specs(self.scenarios, self.selection.devices, self.selection.dtypes) \
            if self.scenarios else []
        return [*self.selection.cases(), *scenario_cases]

    def measure(self, benchmark: Any, spec: Spec) -> None:
        """One case's life, the same for the mode matrix and the scenarios: skipped with its reason
        where it cannot run here, recorded as invalid where autograd rejects it, else measured."""
        reason = machine_skip_reason(spec)
        if reason:
            self.skip(spec, reason)
        benchmark.group = spec.group
        try:
            case: PassCase | None = build(spec, self.seed)
            # Its first run is where autograd rejects an invalid variant.
            benchmark_case(benchmark, case, self.selection.settings)  # type: ignore[arg-type]
            if self.profile and fnmatch.fnmatchcase(spec.case_id, self.profile):
                self.profiled += profile_case(case, self.profile_dir, spec.case_id)  # type: ignore[arg-type]
            case = None  # one case's tensors at a time
            # A compiled group is not interleaved: its members share one Dynamo cache, and alternating
            # calls would each pay a guard miss (+3 us for grad, +6 us for no_grad at 2^10, measured).
            interleaves = spec.compile == "eager" and (isinstance(spec, ScenarioSpec) or spec.pass_ == "forward")
            record(benchmark.extra_info, self.interleaved_for(spec) if interleaves else dict.fromkeys(INTERLEAVED_KEYS))
            record(benchmark.extra_info, dict.fromkeys(PAIRED_KEYS))  # a time-matched A/B fills them in
            record(benchmark.extra_info, self.count_figures(spec))
            return
        except (RuntimeError, NotImplementedError) as error:
            rejection = autograd_rejection(error) if isinstance(spec, ScenarioSpec) else None
            reason = None if rejection else unrunnable_reason(spec, error)
            if rejection is None and reason is None:
                raise
        # Out of the except block: the traceback no longer pins the case's tensors.
        case = None
        devices.release_memory(torch.device(spec.device))
        if rejection is not None:
            self.invalid.append({**spec.labels(), **spec.as_dict(), "error": rejection})  # type: ignore[union-attr]
            pytest.skip(f"invalid in {spec.mode}: {rejection}")
        self.skip(spec, reason)  # type: ignore[arg-type]

    def count_figures(self, spec: Spec) -> dict[str, object]:
        """The case's instruction counts (COUNT_KEYS): null without --gb-counts; a failed count fails
        the case (after its times are taken), since the run would lack what it was asked for."""
        if self.counts_error is not None and instruction_counts.case_reason(spec) is None:
            pytest.fail(self.counts_error, pytrace=False)
        return self.counts.for_spec(spec) if self.counts is not None else instruction_counts.null_figures()

    def interleaved_for(self, spec: Spec) -> dict[str, object]:
        """The interleaved figures of ``spec``'s group, timed at the group's first case: its members
        that can run here and that autograd accepts."""
        if spec.group not in self.interleaved:
            cases: dict[Spec, PassCase] = {}
            for member in self.specs():
                if member.group != spec.group or static_skip_reason(member) or machine_skip_reason(member):
                    continue
                case = build(member, self.seed)
                try:
                    case.run_once()
                except RuntimeError as error:
                    if autograd_rejection(error) is None:
                        raise
                    continue  # recorded as invalid by its own case
                cases[member] = case
            self.interleaved[spec.group] = interleaved_stats(cases, self.selection.settings)
        return self.interleaved[spec.group][spec]

    def record_skip(self, spec: Spec, reason: str) -> None:
        self.skipped.append({**spec.as_dict(), **spec.labels(), "reason": reason})

    def skip(self, spec: Spec, reason: str) -> NoReturn:
        """Skip the running case, keeping its reason for the run file."""
        self.record_skip(spec, reason)
        pytest.skip(reason)


STATE = pytest.StashKey[RunState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradbench", "gradbench case selection")
    group.addoption("--gb-preset", default="default", help="quick, default, full, ci or ops (default: default)")
    for name in LIST_OPTIONS:
        group.addoption(f"--gb-{name}", default=None, help=f"comma-separated {name} (default: the preset's)")
    group.addoption("--gb-ops", default=None,
                    help="ops of the catalogue to run: names, groups (elementwise, reduction, norm, linalg, "
                         "indexing, views, random, attention, inplace), all or none (default: none; all for the "
                         "ops preset)")
    group.addoption("--gb-compile", default=None,
                    help="comma-separated: eager, inductor (torch.compile), reduce-overhead (CUDA graphs) "
                         "(default: eager); a compiled case's workload reads mlp:inductor")
    group.addoption("--gb-profile", default=None,
                    help="hand the cases whose id matches this pattern (fnmatch, e.g. 'mlp-forward-grad-*-cpu-*') "
                         "to torch.profiler (and, on CUDA, a memory snapshot) after they are measured")
    group.addoption("--gb-profile-dir", default="reports/profiles",
                    help="where --gb-profile writes its files (python -m bench_lib bench moves them next to the run)")
    group.addoption("--gb-threads", default=None, help="torch intra-op threads, fixed for the run (default: torch's)")
    group.addoption("--gb-seed", default="0", help="seed for weights and inputs (default: 0)")
    group.addoption(
        "--gb-scenarios", default=None,
        help=f"scenarios to run: {', '.join(SCENARIOS)}, all or none (default: all; none "
             "for the ci preset, or when --gb-workloads or --gb-sizes is given)",
    )
    group.addoption(
        "--gb-microbatches", default=None,
        help="micro-batch counts of accumulation; 1 is always added (default: 1,2,4,8)",
    )
    group.addoption("--gb-scenario-sizes", default=None, help="sizes of the scenario cases (default: the preset's)")
    group.addoption("--gb-counts", action="store_true", default=False,
                    help="also count each eager CPU case's instructions per call under valgrind's callgrind, in "
                         "one process before the cases are timed (about a minute of start-up); without valgrind "
                         "the counts are skipped with the reason")
    group.addoption("--gb-progress", default="dots", choices=("dots", "lines"),
                    help="pytest's dots, or a line every tenth of the cases with the time left "
                         "(python -m bench_lib bench uses lines)")
    group.addoption("--gb-summary", default="yes", choices=("yes", "no"),
                    help="print gradbench's summary and claims at the end (default: yes; "
                         "python -m bench_lib bench prints one for all replicates instead)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    try:
        selection = parse_selection(
            preset=config.getoption("gb_preset"),
            known_workloads=tuple(WORKLOADS),
            **{name: config.getoption(f"gb_{name}") for name in LIST_OPTIONS},
            compiles=config.getoption("gb_compile"),
            ops=config.getoption("gb_ops"), known_ops=ops.groups(),
        )
        threads_text = config.getoption("gb_threads")
        threads = parse_count("--gb-threads", threads_text, low=1, high=MAX_THREADS) if threads_text \
            else torch.get_num_threads()
        # torch.manual_seed takes at most 2^64 - 1; numpy's generators less: 2^63 - 1 suits both.
        seed = parse_count("--gb-seed", config.getoption("gb_seed"), low=0, high=2**63 - 1)
        scenarios = parse_scenario_selection(
            known={name: scenario.sizes for name, scenario in SCENARIOS.items()},
            preset=config.getoption("gb_preset"),
            scenarios=config.getoption("gb_scenarios"),
            microbatches=config.getoption("gb_microbatches"),
            sizes=config.getoption("gb_scenario_sizes"),
            narrowed=any(config.getoption(f"gb_{name}") is not None for name in ("workloads", "sizes")),
            compiles=selection.compiles,
        )
        if not selection.cases() and not scenarios.scenarios:
            raise SelectionError("nothing selected: no workload, op or scenario (with WORKLOADS=none, name some "
                                 "with OPS= or SCENARIOS=)")
        if selection.cases() and all(static_skip_reason(spec) for spec in selection.cases()):
            raise SelectionError(
                f"no case in the selection can run (modes {','.join(selection.modes)} "
                f"with passes {','.join(selection.passes)}); backward and step need mode grad or detach"
            )
    except SelectionError as error:
        raise pytest.UsageError(f"gradbench: {error}") from None
    config.stash[STATE] = RunState(
        selection=selection, seed=seed, threads_before=torch.get_num_threads(), scenarios=scenarios,
        profile=config.getoption("gb_profile"), profile_dir=Path(config.getoption("gb_profile_dir")),
    )
    # A fixed thread count for the whole run: torch's CPU times depend on it.
    torch.set_num_threads(threads)


def pytest_unconfigure(config: pytest.Config) -> None:
    if STATE in config.stash:
        torch.set_num_threads(config.stash[STATE].threads_before)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = metafunc.config.stash[STATE]
    if "case" in metafunc.fixturenames:
        _parametrize(metafunc, "case", state, state.selection.cases())
    if "scenario_case" in metafunc.fixturenames:
        assert state.scenarios is not None
        _parametrize(metafunc, "scenario_case", state,
                     scenario_specs(state.scenarios, state.selection.devices, state.selection.dtypes))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # No scenario selected: no scenario module, rather than pytest's "got empty parameter set" skip.
    state = config.stash.get(STATE, None)
    if collection_path.name == "test_scenarios.py" and state is not None and state.scenarios is not None:
        return True if not state.scenarios.scenarios else None
    # No workload and no op (WORKLOADS=none): no mode-matrix module either.
    if collection_path.name == "test_gradbench.py" and state is not None and not state.selection.cases():
        return True
    return None


def _parametrize(metafunc: pytest.Metafunc, name: str, state: RunState, specs: Sequence[Spec]) -> None:
    """One pytest case per spec; one that cannot exist anywhere is skipped, and recorded, with its reason."""
    params = []
    for spec in specs:
        reason = static_skip_reason(spec)
        marks = []
        if reason:
            state.record_skip(spec, reason)
            marks.append(pytest.mark.skip(reason=reason))
        params.append(pytest.param(spec, id=spec.case_id, marks=marks))
    metafunc.parametrize(name, params)


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


def pytest_collection_finish(session: pytest.Session) -> None:
    # Every module is imported now: move their objects out of the collector's sight. The RSS probe's
    # gc.collect() before each case then scans only what the cases make: 88 ms a case with torch's
    # objects in view, 5 us without (PRESET=ops here: 92 s of wall time, then 43 s).
    gc.collect()
    gc.freeze()
    if STATE in session.config.stash and session.config.getoption("gb_counts"):
        _count_instructions(session)
    if STATE in session.config.stash and session.config.getoption("gb_progress") == "lines":
        session.config.stash[STATE].progress = Progress(total=len(session.items), will_run=_cases_to_run(session))


def _cases_to_run(session: pytest.Session) -> frozenset[str]:
    """The node ids of the cases that no static or machine reason will skip."""
    return frozenset(item.nodeid for item in session.items
                     if not (hasattr(item, "callspec") and "case" in item.callspec.params
                             and (static_skip_reason(spec := item.callspec.params["case"])
                                  or machine_skip_reason(spec))))


def _count_instructions(session: pytest.Session) -> None:
    """--gb-counts: every selected case's instruction counts, in one callgrind process, before any
    case is timed (the process would load a CPU the timed rounds share)."""
    state = session.config.stash[STATE]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)

    specs = [item.callspec.params["case"] for item in session.items
             if hasattr(item, "callspec") and "case" in item.callspec.params]
    # The user's workload modules (-p MODULE) are imported by the counting process too.
    plugins = [name for name in (session.config.option.plugins or []) if not name.startswith("no:")]
    try:
        state.counts = instruction_counts.measure(specs, state.seed, plugins, progress=say)
    except instruction_counts.CountsError as error:
        state.counts_error = str(error)
        say(f"gradbench: {error}")
        return
    if state.counts.reason is not None:
        say(f"gradbench: instruction counts skipped: {state.counts.reason}")
    else:
        say(f"gradbench: counted {state.counts.record['cases']} cases in {state.counts.record['seconds']:.0f} s")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    yield
    state = item.config.stash.get(STATE, None)
    line = state.progress.step(item.nodeid) if state and state.progress else None
    if line:
        item.config.pluginmanager.get_plugin("terminalreporter").write_line(line)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    # With progress lines, pytest's dots (one per case, 254 in a quick run) say nothing more.
    if config.getoption("gb_progress") == "lines" and report.outcome in ("passed", "skipped"):
        if report.when == "call" or (report.when == "setup" and report.skipped):
            return report.outcome, "", report.outcome.upper()
    return None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Any:
    # Outermost wrapper: runs before pytest-benchmark's, which writes the run file.
    if STATE in session.config.stash:
        session.config.stash[STATE].exit_status = int(exitstatus)
    yield


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, object]) -> None:
    machine_info["gradbench"] = environment.collect(config.stash[STATE].seed)


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict[str, object]) -> None:
    state = config.stash[STATE]
    output_json["gradbench"] = {
        "schema_version": SCHEMA_VERSION,
        "selection": state.selection.as_dict(),
        "skipped": state.skipped,
        "scenario_selection": state.scenarios.as_dict() if state.scenarios else None,
        "invalid": state.invalid,
        "complete": state.exit_status == 0,
        "counts": state.counts.record if state.counts is not None else None,
    }


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    state = terminalreporter.config.stash.get(STATE, None)
    for path in state.profiled if state else []:
        terminalreporter.write_line(f"gradbench: profile written: {path}")
    if state and state.profile and not state.profiled:
        terminalreporter.write_line(f"gradbench: --gb-profile={state.profile} matched no measured case")
    if terminalreporter.config.getoption("gb_summary") == "no":
        return
    session = getattr(terminalreporter.config, "_benchmarksession", None)
    cases = [bench.as_dict(include_data=False) for bench in getattr(session, "benchmarks", [])]
    for line in run_summary(cases, state.invalid if state else [], SCENARIOS):
        terminalreporter.write_line(line)
