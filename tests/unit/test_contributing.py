"""CONTRIBUTING's list of modules is the tree: a module added or removed without saying so
there fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "elfsquad_magic"


def listed_modules(text: str) -> set[str]:
    """The modules named in CONTRIBUTING's layout block, as paths under the package."""
    block = text.split("Every module, by folder", 1)[1].split("```", 2)[1]
    listed, folder = set(), ""
    for line in block.splitlines():
        if match := re.match(r"^  (\w+)/\s", line):
            folder = match.group(1) + "/"
        elif match := re.match(r"^    (\w+\.py)\s", line):
            listed.add(folder + match.group(1))
        elif match := re.match(r"^  (\w+\.py)\s", line):
            listed.add(match.group(1))
    return listed


def modules_in_tree(root: Path = PACKAGE) -> set[str]:
    """Every Python module of the package but the folders' ``__init__.py``."""
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if path.name != "__init__.py" or path.parent == root
    }


def test_contributing_lists_every_module_of_the_tree() -> None:
    listed = listed_modules((ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8"))
    tree = modules_in_tree()
    assert sorted(tree - listed) == [], "add these to CONTRIBUTING's layout"
    assert sorted(listed - tree) == [], "these are listed but no longer exist"


def test_a_missing_module_is_found() -> None:
    text = "Every module, by folder:\n\n```\nelfsquad_magic/\n  core/   x\n    odata.py   y\n```\n"
    assert listed_modules(text) == {"core/odata.py"}
