"""CONTRIBUTING's layering rules, checked by reading every module's imports.

Imports inside functions count (a cycle hidden in a function is still a cycle); imports under
``if TYPE_CHECKING:`` do not, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "elfsquad_magic"
NAME = "elfsquad_magic"

# Modules that serve the notebook and may import IPython, ipywidgets or the magics' machinery.
NOTEBOOK_SIDE = {"magics", "completion", "login_flow", "login_form", "session", "progress"}
# What lies under the client: the data flow from request value to DataFrame.
BELOW_CLIENT = {
    "odata",
    "request",
    "cell",
    "literals",
    "errors",
    "auth",
    "credentials",
    "transport",
    "pages",
    "paging",
    "windows",
    "arrow_pages",
    "frames",
    "schema",
    "scim",
    "pace",
    "mirror",  # files only; the sync and SQL call the client they are handed
    "sync",
    "sql",
    "folders",
    "writes",  # what a write will do; the journal on disk
    "journal",
}
# The client and what it runs with itself: listings, journaled writes and their undo.
CLIENT_LEVEL = {"client", "explore", "journaled", "undo"}
NOTEBOOK_PACKAGES = ("IPython", "ipywidgets", "ipykernel", "traitlets")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str) -> list[str]:
    """Absolute names of what ``module`` imports at run time (relative imports resolved)."""
    found: list[str] = []
    package = module.rsplit(".", 1)[0] if module.count(".") else module
    if (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists():
        package = module

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    prefix = ".".join(base)
                    target = f"{prefix}.{child.module}" if child.module else prefix
                    # `from . import x` may import the submodule x
                    if not child.module:
                        found.extend(f"{prefix}.{alias.name}" for alias in child.names)
                    found.append(target)
                else:
                    found.append(child.module or "")
            visit(child)

    visit(tree)
    return found


def module_graph(root: Path = PACKAGE, name: str = NAME) -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (and outside names, prefixed ``!``)."""
    modules: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        for target in _imports(ast.parse(path.read_text(encoding="utf-8")), module):
            if target.startswith(name):
                while target and target not in modules:
                    target = target.rsplit(".", 1)[0] if "." in target else ""
                if target and target != module:
                    edges.add(target)
            else:
                edges.add("!" + target)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among the package's modules, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(t for t in graph.get(node, ()) if not t.startswith("!")):
            # A package's __init__ importing its own submodules lazily is not a cycle.
            if node != NAME and target == NAME:
                continue
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if state.get(target) is None:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every broken rule, as a sentence."""
    broken: list[str] = []
    cycle = find_cycle(graph)
    if cycle:
        broken.append("import cycle: " + " -> ".join(cycle))
    for module, targets in graph.items():
        short = module.removeprefix(NAME + ".")
        if f"{NAME}.magics" in targets and short not in ("", NAME):
            broken.append(f"{module} imports magics, which sits on top")
        if short.startswith("sandbox"):
            client_side = [t for t in targets if t.startswith(NAME) and ".sandbox" not in t]
            client_side = [t for t in client_side if t != NAME]
            if client_side:
                broken.append(f"{module} imports {sorted(client_side)}: the sandbox is separate")
        if short in BELOW_CLIENT:
            notebook = sorted(
                t[1:] for t in targets if t.startswith("!") and t[1:].startswith(NOTEBOOK_PACKAGES)
            )
            if notebook:
                broken.append(f"{module} imports {notebook}, but lies under the client")
            upward = sorted(
                t for t in targets if t.removeprefix(NAME + ".") in NOTEBOOK_SIDE | CLIENT_LEVEL
            )
            if upward:
                broken.append(f"{module} imports {upward}, which sit above it")
    return broken


def test_the_package_keeps_its_import_rules() -> None:
    assert violations(module_graph()) == []


def test_every_module_is_placed_in_a_layer() -> None:
    top_level = {m.removeprefix(NAME + ".") for m in module_graph() if m.count(".") == 1}
    top_level = {m for m in top_level if not m.startswith(("sandbox", "apispec"))}
    placed = NOTEBOOK_SIDE | BELOW_CLIENT | CLIENT_LEVEL
    assert top_level - placed == set(), "add new modules to a layer of this test"


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("pages", "from .paging import fetch_collection", "import cycle"),
        ("windows", "def f():\n    from .paging import walk_next_links\n", "import cycle"),
        ("frames", "from .magics import ElfsquadMagic", "sits on top"),
        ("sandbox.store", "from ..client import ElfsquadClient", "the sandbox is separate"),
        ("paging", "def bar():\n    from IPython.display import display\n", "under the client"),
        ("transport", "from .session import ElfsquadSession", "sit above it"),
    ],
)
def test_a_broken_rule_is_found(tmp_path: Path, module: str, source: str, expected: str) -> None:
    """The check can fail: a copy of the package with one rule broken is caught."""
    import shutil

    copy = tmp_path / NAME
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    target = copy / (module.replace(".", "/") + ".py")
    target.write_text(target.read_text(encoding="utf-8") + "\n" + source + "\n", encoding="utf-8")
    found = violations(module_graph(copy))
    assert any(expected in sentence for sentence in found), found


def test_type_checking_imports_do_not_count(tmp_path: Path) -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .client import X\n"
    tree = ast.parse(source)
    assert _imports(tree, f"{NAME}.pages") == ["typing"]
