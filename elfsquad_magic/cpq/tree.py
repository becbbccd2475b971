"""A ``model`` frame shown as a tree: collapsible HTML in a notebook, a text tree elsewhere.

The frame is in tree order with a ``depth`` per row (what :func:`.model.model_tree` returns),
so a row's parent is the nearest row above it one level up. The HTML is plain ``<details>``
elements, nothing to install and nothing that needs a kernel to open; only the first levels
start open, so a model of 300 nodes shows as a few lines until one is opened.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator

import pandas as pd

__all__ = ["ModelTree", "node_label"]

_INDENT = "1.4em"


def node_label(row: pd.Series) -> str:
    """The node's name on one line, else its article code, else ``(unnamed)``."""
    for column in ("name", "articleCode"):
        value = row.get(column)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return "(unnamed)"


def _price(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        return f"{float(value):,.2f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def _present(value: object) -> bool:
    return isinstance(value, str) and bool(value)


class ModelTree:
    """The tree of a ``model`` view's frame: ``_repr_html_`` in a notebook, text in a
    terminal (``print(tree)``); ``open_depth`` levels start open in the HTML."""

    def __init__(self, frame: pd.DataFrame, open_depth: int = 1) -> None:
        self.frame = frame.reset_index(drop=True)
        self.open_depth = open_depth
        self.children: dict[int, list[int]] = {}
        self.parent: dict[int, int] = {}
        self.roots: list[int] = []
        stack: list[int] = []
        for index, depth in enumerate(self.frame["depth"].tolist()):
            del stack[int(depth) :]
            if stack:
                self.parent[index] = stack[-1]
                self.children.setdefault(stack[-1], []).append(index)
            else:
                self.roots.append(index)
            stack.append(index)

    def details(self, index: int) -> str:
        """What follows a node's name: edge type, price, linked model, constraints."""
        row = self.frame.iloc[index]
        parts = []
        if _present(row.get("edgeType")):
            parts.append(str(row["edgeType"]))
        price = _price(row.get("price"))
        if bool(row.get("isPhantom")):
            parts.append("phantom")  # a grouping node: no price, no quotation line
        elif price:
            parts.append(price)
        parent = self.parent.get(index)
        if bool(row.get("linked")) and (
            parent is None or not bool(self.frame.at[parent, "linked"])
        ):
            parts.append("linked model")
        if _present(row.get("constraints")):
            parts.append(f"[{row['constraints']}]")
        return "  ".join(parts)

    # -- text ------------------------------------------------------------------------------

    def text(self) -> str:
        """The tree drawn with ``├──`` and ``└──``, one node a line."""
        if self.frame.empty:
            return "(no nodes)"
        return "\n".join(self._text_lines())

    def _text_lines(self) -> Iterator[str]:
        pending = [(index, "", "") for index in reversed(self.roots)]
        while pending:
            index, lead, branch = pending.pop()
            label = node_label(self.frame.iloc[index])
            extra = self.details(index)
            yield f"{lead}{branch}{label}" + (f"  ({extra})" if extra else "")
            kids = self.children.get(index, [])
            below = lead + ("" if not branch else ("    " if branch == "└── " else "│   "))
            for position, kid in reversed(list(enumerate(kids))):
                last = position == len(kids) - 1
                pending.append((kid, below, "└── " if last else "├── "))

    def __repr__(self) -> str:
        return self.text()

    # -- HTML ------------------------------------------------------------------------------

    def html(self) -> str:
        """Nested ``<details>``: a node with children opens to show them."""
        if self.frame.empty:
            return "<p>(no nodes)</p>"
        body = "".join(self._html_node(index) for index in self.roots)
        count = len(self.frame)
        return (
            f'<div class="elfsquad-tree" style="font-size: 0.9em; line-height: 1.5">'
            f"<div><small>{count} node{'s' * (count != 1)}</small></div>{body}</div>"
        )

    def _html_node(self, index: int) -> str:
        row = self.frame.iloc[index]
        label = html.escape(node_label(row))
        extra = self.details(index)
        meta = f' <small style="opacity: 0.65">{html.escape(extra)}</small>' if extra else ""
        kids = self.children.get(index, [])
        if not kids:
            return f'<div style="margin-left: {_INDENT}">{label}{meta}</div>'
        opened = " open" if int(row["depth"]) < self.open_depth else ""
        inner = "".join(self._html_node(kid) for kid in kids)
        margin = f"margin-left: {_INDENT}" if int(row["depth"]) > 0 else ""
        return (
            f'<details{opened} style="{margin}"><summary><b>{label}</b>{meta} '
            f'<small style="opacity: 0.65">({len(kids)})</small></summary>{inner}</details>'
        )

    def _repr_html_(self) -> str:
        return self.html()

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict:
        return {"text/plain": self.text(), "text/html": self.html()}
