"""The layers import one way, and each package of bench_lib is one layer:

    contract <- analysis <- scenarios <- report <- measure <- commands

A layer imports only itself and the layers to its left. Every import in every module is read
from the source (TYPE_CHECKING and function-level ones too), with no exception list, so a view
cannot reach back into the measurement and the run file's contract depends on nothing. A
scenario module (bench_lib/scenarios/) is one unit with its torch code, its claim and its views:
it imports torch only inside its build function, and the measurement only through the Kit it is
handed there, so the report reads it without torch. The pytest plugin is a measure module; the
benchmarks/ folder only declares the cases.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bench_lib"
ORDER = ("contract", "analysis", "scenarios", "report", "measure", "commands")
# Third-party libraries a layer may not import at all:
FORBIDDEN_LIBRARIES = {"contract": {"torch", "psutil", "pandas", "matplotlib", "numpy"},
                       "analysis": {"torch", "psutil", "matplotlib"},
                       "scenarios": {"psutil", "pandas", "matplotlib"}, "report": {"torch", "psutil"}}
# Libraries a layer may import inside functions only (loaded when a case is built, never on import).
LAZY_ONLY = {"scenarios": {"torch"}}


def _modules() -> dict[str, Path]:
    """Every module of bench_lib by dotted name (packages by their own name)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "bench_lib"] = path
    return found


def _layer(module: str) -> str | None:
    """The layer of a module: its package; ``python -m bench_lib`` is a command; the empty top-level
    package (a docstring and __version__) has none, and any layer may import it."""
    top = module.split(".")[0]
    return "commands" if top == "__main__" else top if top in ORDER else None


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The bench_lib modules and libraries ``path`` imports; with ``top_level_only``, those outside
    functions (what importing the module loads)."""
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
            names |= {f"{node.module}.{alias.name}" for alias in node.names if node.module.startswith("bench_lib")}
    return names


def test_every_module_is_in_a_layer() -> None:
    unplaced = [module for module in _modules() if _layer(module) is None and module != "bench_lib"]
    assert unplaced == []
    # ``import bench_lib`` runs inside the timed process: it loads nothing.
    assert _imports(PACKAGE / "__init__.py") == set()


def test_layers_import_one_way() -> None:
    modules = _modules()
    problems = []
    for module, path in modules.items():
        layer = _layer(module)
        if layer is None:
            continue
        for imported in _imports(path):
            top = imported.split(".")[0]
            if top in FORBIDDEN_LIBRARIES.get(layer, set()):
                problems.append(f"{module} ({layer}) imports {imported}")
            target = imported.removeprefix("bench_lib.")
            # The top-level package holds a docstring and __version__ and imports nothing (checked
            # above): any layer may read the version from it.
            if top == "bench_lib" and target in modules and target != "bench_lib":
                target_layer = _layer(target)
                if target_layer is None or ORDER.index(target_layer) > ORDER.index(layer):
                    problems.append(f"{module} ({layer}) imports {target} ({target_layer})")
        for imported in _imports(path, top_level_only=True):
            if imported.split(".")[0] in LAZY_ONLY.get(layer, set()):
                problems.append(f"{module} ({layer}) imports {imported} on import, not inside a function")
    assert problems == []


def test_the_rule_catches_an_import_against_the_layers(tmp_path: Path) -> None:
    # The check itself: a contract module importing the report, and analysis importing torch.
    bad = tmp_path / "bad.py"
    bad.write_text("from bench_lib.report import page\ndef f():\n    import torch\n")
    assert "bench_lib.report.page" in _imports(bad)
    assert "torch" in _imports(bad) and "torch" not in _imports(bad, top_level_only=True)
    assert ORDER.index(_layer("report.page")) > ORDER.index(_layer("contract.schema"))  # type: ignore[arg-type]


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


def _extra_info_reads(tree: ast.AST) -> list[int]:
    """Lines that read or write a benchmark's extra_info by key: ``b["extra_info"]``,
    ``b.get("extra_info")``, ``benchmark.extra_info[...]`` or ``benchmark.extra_info.update(...)``."""
    def names_extra_info(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "extra_info") or (
            isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == "extra_info")

    lines = []
    for node in ast.walk(tree):
        if names_extra_info(node) and isinstance(node, ast.Subscript):
            lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and names_extra_info(node.value):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if names_extra_info(node.func.value) or (
                    node.func.attr == "get" and node.args and isinstance(node.args[0], ast.Constant)
                    and node.args[0].value == "extra_info"):
                lines.append(node.lineno)
    return sorted(set(lines))


def test_only_the_result_module_reads_extra_info_by_key() -> None:
    owner = PACKAGE / "contract" / "result.py"
    paths = [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "benchmarks").glob("*.py")]
    found = {str(path.relative_to(PACKAGE.parent)): lines for path in paths if path != owner
             and (lines := _extra_info_reads(ast.parse(path.read_text())))}
    assert found == {}
    # The rule sees each form it forbids, and the owner does read it.
    sample = 'a = b["extra_info"]["x"]\nc = b.get("extra_info")\nbenchmark.extra_info.update(y)\nz = benchmark.extra_info["k"]\n'
    assert _extra_info_reads(ast.parse(sample)) == [1, 2, 3, 4]
    assert _extra_info_reads(ast.parse(owner.read_text()))
