"""The layering rules of CONTRIBUTING's picture, checked by reading every module's imports.

Every import counts: at module level, inside functions, and under ``if TYPE_CHECKING:`` (a
type-only import still ties two modules together, and a cycle of them still says the layers
are wrong).
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "elfsquad_magic"
NAME = "elfsquad_magic"

# The layers in data-flow order: a module may import its own layer and the ones before it.
LAYERS = ("errors", "core", "fetch", "store", "cpq", "client", "notebook")
# Outside the order: the shipped API descriptions (data), and the sandbox, which stands apart.
DATA = ("apispec",)
SANDBOX = "sandbox"
NOTEBOOK_PACKAGES = ("IPython", "ipywidgets", "ipykernel", "traitlets")


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Absolute names of everything ``module`` imports (relative imports resolved)."""
    found: list[str] = []
    package = module if is_package else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            if node.module:
                found.append(target)
            # `from . import x` and `from .pkg import mod` may import submodules; a name that
            # is no module stands for the package it comes from (see module_graph).
            found.extend(f"{target}.{alias.name}" for alias in node.names)
    return found


def modules_of(root: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def module_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports (and outside names, prefixed ``!``)."""
    modules = modules_of(root)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges: set[str] = set()
        for target in _imports(tree, module, path.name == "__init__.py"):
            if target.startswith(NAME):
                if target not in modules:
                    # `from .x import name`: x is counted already; `from . import name`: the
                    # package it comes from.
                    target = target.rsplit(".", 1)[0]
                if target in modules and target != module:
                    edges.add(target)
            else:
                edges.add("!" + target)
        graph[module] = edges
    return graph


def layer_of(module: str) -> str:
    """The layer (or ``apispec``/``sandbox``/``""`` for the package itself) of ``module``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among the package's modules, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(t for t in graph.get(node, ()) if not t.startswith("!")):
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
    for module, targets in sorted(graph.items()):
        layer = layer_of(module)
        inside = sorted(t for t in targets if not t.startswith("!"))
        outside = sorted(t[1:] for t in targets if t.startswith("!"))
        if layer == SANDBOX:
            client_side = [t for t in inside if layer_of(t) not in (SANDBOX, *DATA)]
            if client_side:
                broken.append(f"{module} imports {client_side}: the sandbox stands apart")
            continue
        sandbox_users = [t for t in inside if layer_of(t) == SANDBOX]
        if sandbox_users and layer not in ("notebook", ""):
            broken.append(f"{module} imports the sandbox, which only the notebook layer starts")
        notebook = [t for t in outside if t.startswith(NOTEBOOK_PACKAGES)]
        if notebook and layer != "notebook":
            broken.append(f"{module} imports {notebook}: only notebook/ imports IPython")
        if layer in ("", *DATA):
            continue  # the package's __init__ sits on top; apispec is data
        if layer not in LAYERS:
            broken.append(f"{module} lies in no layer: add its folder to LAYERS")
            continue
        rank = LAYERS.index(layer)
        upward = [
            t
            for t in inside
            if layer_of(t) == "" or (layer_of(t) in LAYERS and LAYERS.index(layer_of(t)) > rank)
        ]
        if upward:
            broken.append(f"{module} imports {upward}, which sit above its layer ({layer})")
    return broken


def test_the_package_keeps_its_import_rules() -> None:
    assert violations(module_graph()) == []


def test_every_module_lies_in_a_layer_folder() -> None:
    modules = [m for m in modules_of() if m != NAME]
    loose = [m for m in modules if layer_of(m) not in (*LAYERS, *DATA, SANDBOX)]
    assert loose == []
    top_level_files = sorted(m for m in modules if m.count(".") == 1 and not m.endswith("__"))
    # Only the public front and the errors stand beside the folders.
    assert [m for m in top_level_files if not (PACKAGE / m.split(".")[1]).is_dir()] == [
        f"{NAME}.client",
        f"{NAME}.errors",
    ]


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("fetch.page", "from .collection import fetch_collection", "import cycle"),
        ("fetch.windows", "def f():\n    from .collection import walk_next_links\n", "cycle"),
        (
            "store.sync",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..client import X\n",
            "above its layer",
        ),
        ("core.request", "from ..fetch.frames import FrameBuilder", "above its layer"),
        ("fetch.frames", "from ..notebook.magics import ElfsquadMagic", "above its layer"),
        ("sandbox.store", "from ..client import ElfsquadClient", "the sandbox stands apart"),
        ("fetch.collection", "def bar():\n    from IPython.display import display\n", "IPython"),
        ("store.mirror", "from ..sandbox import Sandbox", "only the notebook layer starts"),
        ("core.schema", "from .. import ElfsquadClient", "above its layer"),
    ],
)
def test_a_broken_rule_is_found(tmp_path: Path, module: str, source: str, expected: str) -> None:
    """The check can fail: a copy of the package with one rule broken is caught."""
    copy = tmp_path / NAME
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    target = copy / (module.replace(".", "/") + ".py")
    target.write_text(target.read_text(encoding="utf-8") + "\n" + source + "\n", encoding="utf-8")
    found = violations(module_graph(copy))
    assert any(expected in sentence for sentence in found), found


def test_type_checking_imports_count() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..client import X\n"
    found = _imports(ast.parse(source), f"{NAME}.store.sync", is_package=False)
    assert f"{NAME}.client" in found
