"""No module reads or writes another module's private names, tests included.

A private name is one the package defines with a leading underscore: a module-level function,
class or constant, a method, a class attribute, or an attribute set on ``self``. Touching one
from another module (``client._send``, ``from .sync import _merge``) ties the two together
behind the interface; the owner could not change it without breaking the other.
"""

from __future__ import annotations

import ast
import shutil
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "elfsquad_magic"
TESTS = ROOT / "tests"


def _is_private(name: str) -> bool:
    # `_name_` (IPython's `_render_traceback_`, `_repr_html_`) is a protocol, not a secret.
    return name.startswith("_") and not name.endswith("_")


def defined_private_names(root: Path) -> dict[str, set[Path]]:
    """Private name -> the files of the package that define it."""
    owners: dict[str, set[Path]] = defaultdict(set)
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.append(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for leaf in ast.walk(target):
                        if isinstance(leaf, ast.Name) and leaf is target:
                            names.append(leaf.id)
                        elif _on_self(leaf):
                            names.append(leaf.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                continue
            if isinstance(node, ast.ClassDef):
                names += [s.value for s in _slots(node)]
            for name in names:
                if _is_private(name):
                    owners[name].add(path)
    return owners


def _on_self(node: ast.AST) -> bool:
    """``self.x``/``cls.x``: an attribute an object sets on itself (not ``response._content``,
    which sets another library's private attribute)."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in ("self", "cls")
    )


def _slots(node: ast.ClassDef) -> list[ast.Constant]:
    for item in node.body:
        if isinstance(item, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__slots__" for t in item.targets
        ):
            return [c for c in ast.walk(item.value) if isinstance(c, ast.Constant)]
    return []


def foreign_uses(files: list[Path], owners: dict[str, set[Path]], package: str) -> list[str]:
    """Every use of a private name of the package outside the files that define it."""
    found = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Attribute) and _is_private(node.attr):
                name = node.attr
            elif isinstance(node, ast.ImportFrom) and (
                node.level or (node.module or "").startswith(package)
            ):
                for alias in node.names:
                    if _is_private(alias.name):
                        name = alias.name
            if name is not None and name in owners and path not in owners[name]:
                where = f"{path.parent.name}/{path.name}:{node.lineno}"
                found.append(f"{where} uses {name} of {_names(owners[name])}")
    return found


def _names(paths: set[Path]) -> str:
    return ", ".join(sorted(p.name for p in paths))


def _python_files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*.py"))


def test_no_module_touches_another_modules_private_names() -> None:
    files = _python_files(PACKAGE, TESTS)
    owners = defined_private_names(PACKAGE)
    own = defined_private_names(TESTS)  # a test's helper class may have privates of its own
    for name, paths in own.items():
        if name in owners:
            owners[name] |= paths
    assert foreign_uses(files, owners, "elfsquad_magic") == []


def test_a_foreign_private_use_is_found(tmp_path: Path) -> None:
    """The check can fail: a copy of the package where the magic reaches into the client."""
    copy = tmp_path / "elfsquad_magic"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    magics = copy / "notebook" / "magics.py"
    magics.write_text(
        magics.read_text(encoding="utf-8") + "\n\ndef peek(client):\n    return client._engine\n",
        encoding="utf-8",
    )
    test = tmp_path / "test_x.py"
    test.write_text("from elfsquad_magic.store.sync import _SetSync\n", encoding="utf-8")
    found = foreign_uses(
        _python_files(copy) + [test], defined_private_names(copy), "elfsquad_magic"
    )
    assert any("magics.py" in f and "_engine" in f for f in found), found
    assert any("test_x.py" in f and "_SetSync" in f for f in found), found
