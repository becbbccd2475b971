"""What a cell hands back: the result, kept in ``-o NAME`` when asked, and a line when there
is no data to show."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from ..fetch.answer import Answer

__all__ = ["keep_result", "status_line"]


def keep_result(namespace: MutableMapping[str, Any], name: str | None, value: Any) -> Any:
    """``value``, also stored in the notebook variable ``name`` when one was given."""
    if name is not None:
        namespace[name] = value
    return value


def status_line(answer: Answer) -> str:
    """``"DELETE /data/1/features(...): 204 No Content"``: what an answer without data says."""
    empty = "" if answer.status == 204 else " (empty body)"
    return f"{answer.request.method} {answer.request.path}: {answer.status_line}{empty}".rstrip()
