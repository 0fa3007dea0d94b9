"""The package's import graph has no circle: read from the code (every import, at the top of a module or
inside a function), so a newcomer can change one flow without pulling the rest in a loop.

Run alone: ``.venv/bin/pytest tests/test_import_graph.py -q``; on failure it prints the circle.
``.venv/bin/python -m tests.test_import_graph`` prints the layers: each part of the package and the parts it
imports (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "plugins" / "crosswalk"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and t != "crosswalk":
                    graph[name].add(t)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_circle():
    graph = import_graph()
    assert len(graph) > 50 and graph["crosswalk.orchestration.factory"]  # the graph was read
    assert circles(graph) == []


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def layers(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between the package's parts (``crosswalk.<part>``): which parts each part imports."""

    def part(module: str) -> str:
        return ".".join(module.split(".")[:2])

    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        out.setdefault(part(module), set()).update(part(t) for t in targets if part(t) != part(module))
    return out


def test_the_layers_keep_the_library_below_the_glue():
    """Library → hook → task: no library part imports the Airflow glue (orchestration) or the command line."""
    above = {"crosswalk.orchestration", "crosswalk.cli", "crosswalk.demo"}
    for part, imports in layers(import_graph()).items():
        if part not in above:
            assert not imports & above, f"{part} imports {sorted(imports & above)}"


if __name__ == "__main__":
    by_part = layers(import_graph())
    depth: dict[str, int] = {}

    def level(part: str) -> int:
        if part not in depth:
            depth[part] = 0  # no circle (the test above), so this never recurses forever
            depth[part] = 1 + max((level(p) for p in by_part.get(part, ())), default=-1)
        return depth[part]

    for part in sorted(by_part, key=lambda p: (level(p), p)):
        imports = ", ".join(sorted(p.removeprefix("crosswalk.") for p in by_part[part])) or "-"
        print(f"{level(part):>2}  {part.removeprefix('crosswalk.'):<14} imports {imports}")
