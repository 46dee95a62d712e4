"""The package's shape: one-way imports, small modules, anyio in the library, one public table."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import claude_force_trio
from claude_force_trio._public import PACKAGE, PUBLIC

SRC = Path(claude_force_trio.__file__).parent
DOCS = SRC.parents[1] / "docs" / "api.md"
#: Where trio may be imported: the CLI's own loop, and the simulator's thread runner.
TRIO_ALLOWED = ("cli/", "simulator/_thread.py")
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports (type-checking imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != name}


def test_no_import_circles() -> None:
    """No module imports itself back through others (type-checking imports count too)."""
    mods = modules()
    known = set(mods)
    graph = {name: imports_of(name, path, known) for name, path in mods.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_no_module_is_too_long() -> None:
    """Every module has one job, and under ~400 lines."""
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_library_is_written_on_anyio() -> None:
    """Only the CLI and the simulator's thread runner import trio; the library runs on any loop."""
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(TRIO_ALLOWED[0]) or rel == TRIO_ALLOWED[1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            if any(n == "trio" or n.startswith("trio.") for n in names):
                offenders.append(rel)
    assert offenders == []


def test_the_public_table_is_the_surface() -> None:
    """__all__, the type-checking imports of __init__ and docs/api.md all list the table."""
    assert claude_force_trio.__all__ == sorted(PUBLIC)
    tree = ast.parse((SRC / "__init__.py").read_text())
    typed = {
        alias.asname or alias.name: "." * node.level + (node.module or "")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module != "_public" and node.level
        for alias in node.names
    }
    assert typed == PUBLIC
    documented = set(re.findall(r"^### `(\w+)`", DOCS.read_text(), re.M))
    assert documented == set(PUBLIC)


def test_public_objects_say_they_are_public() -> None:
    """Each public class and function shows claude_force_trio.X (tracebacks, reprs)."""
    wrong = []
    for name, where in PUBLIC.items():
        obj = getattr(importlib.import_module(where, PACKAGE), name)
        if (isinstance(obj, type) or callable(obj)) and obj.__module__ != PACKAGE:
            wrong.append(name)
        assert getattr(claude_force_trio, name) is obj
    assert wrong == []
