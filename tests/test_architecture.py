"""Structural rules of the code base (issue "Architecture"), checked on the source text:

* no function longer than 60 lines outside tests;
* no import circle between our modules (a package ``__init__`` re-exporting its own modules is not
  an edge back: imports are resolved to the module that defines the imported name);
* PySpice imported by exactly one module (the ngspice adapter);
* no module-level mutable state: no ``global`` statement, no lower-case module-level list/dict/set.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bdpe", "campaigns", "circuits", "rram_models", "characterize", "system_model")
MAX_LINES = 60


def _sources(extra=("scripts", "benchmarks")):
    for folder in PACKAGES + tuple(extra):
        yield from sorted((ROOT / folder).glob("*.py"))


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def test_no_long_functions():
    long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "functions over 60 lines:\n" + "\n".join(long)


def _import_graph() -> dict[str, set[str]]:
    from characterize.procedures import _deps  # the same resolution the cache keys use

    graph = {}
    for path in _sources(extra=()):
        name = _module_name(path)
        use, _passed = _deps(name, PACKAGES)  # every package of ours, not only the procedures' three
        graph[name] = {m for m in use if m != name}
    return graph


def test_no_import_circles():
    graph = _import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_pyspice_in_exactly_one_module():
    users = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] == "PySpice" for n in names):
                users.append(str(path.relative_to(ROOT)))
    assert sorted(set(users)) == ["characterize/runtime.py"], users


def test_no_module_level_mutable_state():
    found = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} global {', '.join(node.names)}")
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                mutable = isinstance(node.value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp,
                                                  ast.SetComp))
                for t in targets:
                    if isinstance(t, ast.Name) and mutable and t.id != "__all__" and not t.id.isupper():
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {t.id}")
    assert not found, "module-level mutable state:\n" + "\n".join(found)
