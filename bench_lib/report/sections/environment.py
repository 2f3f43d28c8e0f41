"""Environment: one column per run, one row per recorded fact of its machine and software."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bench_lib.report.sections.layout import escape, section

if TYPE_CHECKING:
    from bench_lib.contract.result import Run
    from bench_lib.report.model import Report


def render(report: Report) -> str:
    runs = report.loaded.runs
    head = "".join(f"<th>{escape(run.label)}</th>" for run in runs)
    body = "".join(f"<tr><th>{escape(name)}</th>" + "".join(f"<td>{escape(get(run))}</td>" for run in runs) + "</tr>"
                   for name, get in FIELDS)
    missing = [run.label for run in runs if not run.environment]
    note = f'<p class="note">No gradbench environment recorded in: {escape(", ".join(missing))}.</p>' if missing else ""
    return section("environment", "Environment",
                   note + f'<div class="scroll"><table class="env"><thead><tr><th></th>{head}</tr></thead>'
                   f"<tbody>{body}</tbody></table></div>")


def _env(run: Run, key: str, default: str = "?") -> str:
    value = run.environment.get(key)
    return default if value is None else str(value)


def _commit(info: Mapping[str, Any]) -> str:
    if not info:
        return "not recorded"
    text = f"{str(info.get('id', '?'))[:12]} on {info.get('branch', '?')}"
    return text + (" (uncommitted changes)" if info.get("dirty") else "")


def _mapping(value: Any) -> str:
    if not isinstance(value, Mapping) or not value:
        return "not recorded" if value is None else str(value)
    return "; ".join(f"{k}={'unset' if v is None else v}" for k, v in value.items())


def _cases(run: Run) -> str:
    scenarios = (f"; scenarios: {len(run.scenario_benchmarks)} measured, {len(run.scenario_skipped)} skipped, "
                 f"{len(run.invalid)} rejected by autograd" if run.scenario_cases else "")
    ignored = f", {run.ignored_benchmarks} other benchmarks ignored" if run.ignored_benchmarks else ""
    return f"{len(run.benchmarks)} measured, {len(run.skipped)} skipped{scenarios}{ignored}"


# (row name, its text for a run); every text is escaped on its way into the table.
FIELDS: list[tuple[str, Callable[[Run], str]]] = [
    ("run file", lambda r: str(r.path)),
    ("date", lambda r: r.datetime),
    ("machine", lambda r: f"{r.machine_info.get('node', '?')} ({r.machine_id})"),
    ("commit", lambda r: _commit(r.commit_info)),
    ("torch", lambda r: _env(r, "torch_version") + (" (debug build)" if r.environment.get("torch_debug") else "")),
    ("torch git", lambda r: _env(r, "torch_git_version")),
    ("CUDA", lambda r: _env(r, "cuda_version", "none (CPU build)")),
    ("cuDNN", lambda r: _env(r, "cudnn_version", "none")),
    ("GPU", lambda r: ", ".join(r.environment.get("gpu_names") or []) or "none"),
    ("CPU", lambda r: f"{_env(r, 'cpu_model')}; "
                      f"{_env(r, 'logical_cpus')} logical, {_env(r, 'physical_cpus')} physical"),
    ("threads", lambda r: f"{_env(r, 'threads')} intra-op, {_env(r, 'interop_threads')} inter-op"),
    ("allocator", lambda r: _mapping(r.environment.get("allocator"))),
    ("allocator note", lambda r: _env(r, "allocator_note")),
    ("seed", lambda r: _env(r, "seed")),
    ("Python", lambda r: _env(r, "python_version", str(r.machine_info.get("python_version", "?")))),
    ("platform", lambda r: _env(r, "platform")),
    ("pytest-benchmark", lambda r: r.pytest_benchmark_version),
    ("selection", lambda r: json.dumps(r.selection, sort_keys=True) if r.selection is not None else "not recorded"),
    ("cases", _cases),
]
