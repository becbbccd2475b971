"""Modules and functions stay small enough to read whole.

No module over 600 lines (the sandbox's seed data aside), no function over 60 lines of code
(its docstring not counted): past that, a module holds two ideas and a function two steps.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "elfsquad_magic"
MODULE_LINES = 600
FUNCTION_LINES = 60
# Data tables, not logic: the synthetic tenant's names, prices and shapes.
EXEMPT_MODULES = ("sandbox/seed",)


def _exempt(path: Path) -> bool:
    return path.is_relative_to(PACKAGE) and path.relative_to(PACKAGE).as_posix().startswith(
        EXEMPT_MODULES
    )


def long_modules(root: Path = PACKAGE) -> list[str]:
    """Modules longer than the limit."""
    return [
        f"{path.relative_to(root)}: {count} lines"
        for path in sorted(root.rglob("*.py"))
        if not _exempt(path)
        and (count := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
    ]


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    length = (node.end_lineno or node.lineno) - node.lineno + 1
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        docstring = body[0]
        length -= (docstring.end_lineno or docstring.lineno) - docstring.lineno + 1
    return length


def long_functions(root: Path = PACKAGE) -> list[str]:
    """Functions (and methods) whose code is longer than the limit."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if _exempt(path):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = _code_lines(node)
                if lines > FUNCTION_LINES:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {lines}")
    return found


def test_no_module_is_too_long() -> None:
    assert long_modules() == []


def test_no_function_is_too_long() -> None:
    assert long_functions() == []


def test_a_long_function_is_found(tmp_path: Path) -> None:
    """The check can fail."""
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES + 1))
    (tmp_path / "long.py").write_text(f'def f():\n    """Doc."""\n{body}\n', encoding="utf-8")
    assert long_functions(tmp_path) == [f"long.py:1 f: {FUNCTION_LINES + 2}"]
    (tmp_path / "long.py").write_text("\n" * (MODULE_LINES + 1), encoding="utf-8")
    assert long_modules(tmp_path) == [f"long.py: {MODULE_LINES + 1} lines"]
