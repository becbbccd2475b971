"""Answers that are documents rather than rows.

A JSON document of the Quotation or Configurator API becomes a table where one is natural: the
list inside it (a configuration model list's ``features``, a configuration's tree of nodes),
a tree flattened with ``depth`` and ``parentId``; the document's own scalar members stay beside
the table (``df.attrs["elfsquad"]["document"]``). A binary answer (a PDF) is a
:class:`Document`: bytes that show a one-line summary instead of themselves.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["Document", "natural_table"]

# The lists that make the table when a document holds several, in order of preference.
_PREFERRED = ("features", "items", "lines", "nodes", "configurations")


class Document(bytes):
    """A binary answer (a PDF, an image): the bytes, with their content type; shown as a
    one-line summary, never as the bytes; ``save(path)`` writes them."""

    content_type: str
    source: str

    def __new__(cls, content: bytes, content_type: str = "", source: str = "") -> Document:
        document = super().__new__(cls, content)
        document.content_type = content_type.split(";")[0].strip().lower()
        document.source = source
        return document

    @property
    def extension(self) -> str:
        """The file extension its content type suggests (``.pdf``), or ``.bin``."""
        if self.content_type == "application/pdf" or self[:5] == b"%PDF-":
            return ".pdf"
        return mimetypes.guess_extension(self.content_type) or ".bin"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bytes to ``path`` (a folder gets a file named after the request)."""
        target = Path(path).expanduser()
        if target.is_dir():
            target = target / f"document{self.extension}"
        target.write_bytes(bytes(self))
        return target

    def __repr__(self) -> str:
        kind = self.extension.lstrip(".").upper()
        where = f" from {self.source}" if self.source else ""
        return (
            f"<{kind} document of {len(self):,} bytes{where}: save it with -o FILE{self.extension} "
            "or .save(path)>"
        )

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def natural_table(payload: Any) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """(rows, the document's scalar members) when ``payload`` is a JSON object with a natural
    table inside, else ``None`` (it is then one row of its own)."""
    if not isinstance(payload, dict):
        return None
    scalars = {k: v for k, v in payload.items() if not isinstance(v, (dict, list))}
    root = payload.get("root")
    if isinstance(root, dict) and isinstance(root.get("features"), list):
        # A configuration: its selected nodes, the root first; the whole tree is in --raw.
        rows = [row for row in _flatten([root], "features") if row.get("isSelected", True)]
        return rows, scalars
    lists = {
        key: value
        for key, value in payload.items()
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
    }
    if not lists:
        return None
    chosen = next((key for key in _PREFERRED if key in lists), None)
    if chosen is None:
        if len(lists) > 1:
            return None  # several lists and none stands out: the document is one row
        chosen = next(iter(lists))
    return list(_flatten(lists[chosen], _child_key(lists[chosen], chosen))), scalars


def _child_key(items: list[dict[str, Any]], key: str) -> str | None:
    """The member under which items hold items like themselves (a tree), if any."""
    for name in (key, "features", "subcategories", "children"):
        if any(isinstance(item.get(name), list) for item in items):
            return name
    return None


def _flatten(
    items: list[dict[str, Any]],
    child_key: str | None,
    depth: int = 0,
    parent: Any = None,
) -> Iterator[dict[str, Any]]:
    """Each item, then its children (depth-first), with ``depth`` and ``parentId``."""
    for item in items:
        row = {k: v for k, v in item.items() if k != child_key}
        row["depth"] = depth
        row.setdefault("parentId", parent)
        if row["parentId"] is None and depth:
            row["parentId"] = parent
        yield row
        children = item.get(child_key) if child_key else None
        if isinstance(children, list):
            kids = [child for child in children if isinstance(child, dict)]
            yield from _flatten(kids, child_key, depth + 1, item.get("id"))
