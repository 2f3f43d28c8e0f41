"""The layers import one way: contract <- analysis <- scenarios <- {measure, report}; contract <- measure.

Every import in bench_lib is read from the source (TYPE_CHECKING and function-level ones too), so
a new module must be placed in a layer here, and a view cannot reach back into the pipeline. A
scenario module (bench_lib/scenarios/) is one unit with its torch code, its claim and its views:
it imports torch only inside its build function, and the measurement only through the Kit it is
handed there, so the report reads it without torch.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bench_lib"
SCENARIO_MODULES = {f"scenarios.{p.stem}" for p in (PACKAGE / "scenarios").glob("*.py") if p.stem != "__init__"}

# Each module of bench_lib, by layer. Third-party libraries a layer may not import at all:
LAYERS = {
    "contract": {"schema", "units", "cases", "scenario", "report.errors", "replicates"},
    "analysis": {"physics", "claims", "compiled", "throughput", "summary", "terminal", "report.stats"},
    "scenarios": {"scenarios", *SCENARIO_MODULES},
    "measure": {"runner", "pipeline", "memory", "devices", "contention", "environment", "modes", "workloads", "launch"},
    # compare reads load's tables (pandas).
    "report": {"report.compare", "report.load", "report.runs", "report.derive", "report.findings", "report.model",
               "report.build", "report.output", "report.page", "report.markdown", "report.tidy", "report.tables",
               "report.plots", "report.compile_plots", "report.throughput_plots", "report.scenario_tables",
               "report.scenario_plots",
               "report.variants", "report.style", "cli", "__main__"},
}
ALLOWED = {  # which layers a layer may import
    "contract": {"contract"},
    "analysis": {"contract", "analysis"},
    "scenarios": {"contract", "analysis", "scenarios"},
    "measure": {"contract", "analysis", "scenarios", "measure"},
    "report": {"contract", "analysis", "scenarios", "report"},
}
FORBIDDEN_LIBRARIES = {"contract": {"torch", "psutil", "pandas", "matplotlib"}, "analysis": {"torch", "psutil"},
                       "scenarios": {"psutil", "pandas", "matplotlib"}, "report": {"torch", "psutil"}}
# Libraries a layer may import inside functions only (loaded when a case is built, never on import).
LAZY_ONLY = {"scenarios": {"torch"}}
# The command line starts the measurement only as a separate process (python -m bench_lib bench).
EXCEPTIONS = {("cli", "cases"), ("cli", "launch")}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if name == "scenarios.__init__":  # the registry: a package with code of its own
            found["scenarios"] = path
        elif name != "__init__" and not name.endswith(".__init__"):  # docstrings only
            found[name] = path
    return found


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The modules ``path`` imports; with ``top_level_only``, those outside functions (what
    importing the module loads)."""
    tree = ast.parse(path.read_text())
    nodes = list(ast.walk(tree))
    if top_level_only:
        nested = {id(inner) for node in nodes if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for inner in ast.walk(node)}
        nodes = [node for node in nodes if id(node) not in nested]
    names = set()
    for node in nodes:
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
            if top == "bench_lib" and imported not in ("bench_lib", "bench_lib.report", "bench_lib.scenarios"):
                target = imported.removeprefix("bench_lib.")
                if (module, target) not in EXCEPTIONS and _layer(target) not in ALLOWED[layer]:
                    problems.append(f"{module} ({layer}) imports {target} ({_layer(target)})")
        for imported in _imports(path, top_level_only=True):
            if imported.split(".")[0] in LAZY_ONLY.get(layer, set()):
                problems.append(f"{module} ({layer}) imports {imported} on import, not inside a function")
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
