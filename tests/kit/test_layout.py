"""The layout's promises: the kit never imports the user's package, and its modules import one
another without cycles (lazy imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

SRC = REPO / "src"
KIT = SRC / "trainkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str] = frozenset()) -> set[str]:
    """Every module `path` imports, at the top or inside a function, absolute names.

    `from pkg import sub` counts as importing pkg.sub when that is one of `modules`.
    """
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            subs = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= (subs & modules) or {node.module}
    return found


def kit_graph() -> dict[str, set[str]]:
    """{kit module: the kit modules it imports}."""
    modules = {module_name(p): p for p in KIT.rglob("*.py")}
    return {
        name: {m for m in imports_of(path, set(modules)) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_the_kit_never_imports_the_users_package():
    own = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    others = own - {"trainkit"}
    assert others, "the user's package is missing from src/"
    for path in KIT.rglob("*.py"):
        bad = {m for m in imports_of(path) if m.split(".")[0] in others}
        assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


def test_the_kit_has_no_import_cycles():
    edges = kit_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_the_kit_root_is_grouped_by_concern():
    """A handful of modules at the root; everything else lives in a package per concern."""
    root_modules = sorted(p.name for p in KIT.glob("*.py"))
    assert root_modules == ["__init__.py", "errors.py"], root_modules
