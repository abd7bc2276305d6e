"""The package's shape: small modules, no import loops between packages, benchmarks apart from the runtime.

Read from the source with ``ast``, so nothing is imported.  An import under
``if TYPE_CHECKING:`` is for the type checker only and makes no loop at run time.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "appliance"
MAX_LINES = 450
# The command line dispatches `appliance bench` to the benchmark package; nothing else may reach it.
BENCH_IMPORTERS = {"appliance.__main__"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those inside ``if TYPE_CHECKING:`` blocks."""
    nodes, stack = [], [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
            else:
                stack.append(child)
    return nodes


def _owner(module: str) -> str:
    """The module a dotted name refers to: itself, or the nearest enclosing module."""
    while module not in MODULES:
        module = module.rpartition(".")[0]
    return module


def imports_of(module: str) -> set[str]:
    """The appliance modules that ``module`` imports at run time."""
    tree = ast.parse(MODULES[module].read_text())
    found = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{module}: relative import at line {node.lineno}; the tree uses absolute imports")
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "appliance":
            found |= {_owner(f"{node.module}.{alias.name}") for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {_owner(a.name) for a in node.names if a.name.split(".")[0] == "appliance"}
    found.discard(module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def package_of(module: str) -> str:
    """The package a module belongs to; a top-level module is a node of its own."""
    if MODULES[module].name == "__init__.py" or module.count(".") == 1:
        return module
    return module.rpartition(".")[0]


def package_graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        for target in targets:
            src, dst = package_of(module), package_of(target)
            # a package may use its own subpackages; the reverse is a loop like any other
            if src != dst and not dst.startswith(src + "."):
                edges[src].add(dst)
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_is_over_the_line_limit() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by stage (limit {MAX_LINES} lines): {long}"


def test_no_import_loop_between_packages() -> None:
    cycle = _cycle(package_graph())
    assert cycle is None, "import loop: " + " -> ".join(cycle or [])


def test_the_runtime_imports_no_benchmark() -> None:
    offenders = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if not module.startswith("appliance.bench") and module not in BENCH_IMPORTERS
        for target in targets
        if target.startswith("appliance.bench")
    )
    assert not offenders, offenders


def test_the_top_level_holds_only_the_entry_points() -> None:
    top = sorted(m for m in MODULES if m.count(".") == 1 and MODULES[m].name != "__init__.py")
    assert top == ["appliance.__main__"], top


def test_the_loop_check_finds_a_loop() -> None:
    """The checker itself: a loop of three packages is reported, a chain is not."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None
