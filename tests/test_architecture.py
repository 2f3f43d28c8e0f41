"""The layers import one way: contract <- measurement; contract <- analysis <- report.

Every import in bench_lib is read from the source (TYPE_CHECKING and function-level ones too), so
a new module must be placed in a layer here, and a view cannot reach back into the pipeline.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bench_lib"

# Each module of bench_lib, by layer. Third-party libraries a layer may not import at all:
LAYERS = {
    "contract": {"schema", "units", "cases", "report.errors", "replicates"},
    "measure": {"runner", "memory", "devices", "contention", "environment", "modes", "workloads", "scenarios",
                "launch"},
    "analysis": {"physics", "claims", "summary", "terminal", "report.stats"},
    # compare reads load's tables (pandas); it joins analysis once a typed result lives in the contract.
    "report": {"report.compare", "report.load", "report.runs", "report.derive", "report.findings", "report.model", "report.build",
               "report.output", "report.page", "report.markdown", "report.tidy", "report.tables", "report.plots",
               "report.scenario_tables", "report.scenario_plots", "report.variants", "report.style", "cli",
               "__main__"},
}
ALLOWED = {  # which layers a layer may import
    "contract": {"contract"},
    "measure": {"contract", "measure", "analysis"},
    "analysis": {"contract", "analysis"},
    "report": {"contract", "analysis", "report"},
}
FORBIDDEN_LIBRARIES = {"contract": {"torch", "psutil", "pandas", "matplotlib"}, "analysis": {"torch", "psutil"},
                       "report": {"torch", "psutil"}}
# The command line starts the measurement only as a separate process (python -m bench_lib bench).
EXCEPTIONS = {("cli", "cases"), ("cli", "launch")}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if name != "__init__" and not name.endswith(".__init__"):
            found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module in ("bench_lib", "bench_lib.report"):
                names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _layer(module: str) -> str:
    return next(layer for layer, members in LAYERS.items() if module in members)


def test_every_module_has_a_layer() -> None:
    placed = set().union(*LAYERS.values())
    assert set(_modules()) == placed


def test_layers_import_one_way() -> None:
    problems = []
    for module, path in _modules().items():
        layer = _layer(module)
        for imported in _imports(path):
            top = imported.split(".")[0]
            if top in FORBIDDEN_LIBRARIES.get(layer, set()):
                problems.append(f"{module} ({layer}) imports {imported}")
            if top == "bench_lib" and imported not in ("bench_lib", "bench_lib.report"):
                target = imported.removeprefix("bench_lib.")
                if (module, target) not in EXCEPTIONS and _layer(target) not in ALLOWED[layer]:
                    problems.append(f"{module} ({layer}) imports {target} ({_layer(target)})")
    assert problems == []


def test_the_import_graph_has_no_circle() -> None:
    modules = _modules()
    graph = {m: {i.removeprefix("bench_lib.") for i in _imports(p) if i.startswith("bench_lib.")} & set(modules)
             for m, p in modules.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != 1, " -> ".join([*trail, node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
