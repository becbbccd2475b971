"""What a cell hands back: the result, kept in ``-o NAME`` when asked, and a line when there
is no data to show."""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..fetch.answer import Answer
from ..fetch.documents import Document

__all__ = ["is_file_target", "keep_result", "status_line"]


def is_file_target(name: str) -> bool:
    """Whether ``-o`` names a file (``offer.pdf``, ``out/offer.pdf``) rather than a variable."""
    return not name.isidentifier() and ("." in name or "/" in name or "\\" in name)


def keep_result(namespace: MutableMapping[str, Any], name: str | None, value: Any) -> Any:
    """``value``, also stored in the notebook variable ``name`` when one was given; a document
    (a PDF) given a file name is written there instead, and a line says so."""
    if name is None:
        return value
    if not is_file_target(name):
        namespace[name] = value
        return value
    if isinstance(value, Document):
        saved = value.save(name)
    elif isinstance(value, str):
        saved = Path(name).expanduser()
        saved.write_text(value, encoding="utf-8")
    else:
        raise UsageError(
            f"-o {name} writes a document (a PDF, a text), but this answer is "
            f"{'a DataFrame' if hasattr(value, 'columns') else type(value).__name__}.",
            "Give a variable name instead (-o result), or --raw for the answer as it came.",
        )
    print(f"Saved {saved.stat().st_size:,} bytes to {saved}.")
    return None


def status_line(answer: Answer) -> str:
    """``"DELETE /data/1/features(...): 204 No Content"``: what an answer without data says."""
    empty = "" if answer.status == 204 else " (empty body)"
    return f"{answer.request.method} {answer.request.path}: {answer.status_line}{empty}".rstrip()
