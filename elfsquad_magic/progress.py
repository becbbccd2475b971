"""The progress of a multi-page fetch: a tqdm bar in a terminal or notebook, or a callable.

The fetch engine (:mod:`.paging`) only calls ``start``/``update``/``close`` on what it is given;
this module is the one that knows tqdm and, in a notebook, IPython's display.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["ProgressSpec", "RowProgress"]

ProgressSpec = bool | Callable[[int, int | None], None]
"""True/False for a tqdm bar, or a callable given (rows so far, expected total or None)."""


class RowProgress:
    """Rows so far, shown as a tqdm bar (from the second page on) or passed to a callable."""

    def __init__(self, how: ProgressSpec) -> None:
        self.how = how
        self.total: int | None = None
        self.rows = 0
        self.bar: Any = None

    def start(self, total: int | None) -> None:
        """Count from zero towards ``total`` rows (again, for a fetch that starts over)."""
        self.total = total
        self.rows = 0
        if self.bar is not None:
            self.bar.reset(total=total)

    def update(self, rows: int) -> None:
        """``rows`` more rows arrived."""
        self.rows += rows
        if callable(self.how):
            self.how(self.rows, self.total)
            return
        if not self.how:
            return
        if self.bar is None:
            if self.rows == rows:
                return  # the first page: no bar for an answer that may be one page
            self.bar = _progress_bar(total=self.total, initial=self.rows - rows)
            if self.bar is None:
                self.how = False  # nowhere to show one: no bar for this fetch
                return
        self.bar.update(rows)

    def close(self) -> None:
        """Close the bar, if one is shown."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _progress_bar(total: int | None, initial: int) -> Any:
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    options = {"total": total, "initial": initial, "unit": "rows", "desc": "elfsquad"}
    if not issubclass(tqdm, notebook_tqdm):
        if not _is_terminal(sys.stderr):
            return None  # a log file or a pipe would fill with "\r" frames of the bar
        return tqdm(leave=False, file=sys.stderr, **options)
    # In a notebook the bar is shown through a display handle, so that closing it can blank
    # the output: otherwise a saved notebook keeps the bar's first state ("9% 500/5767") as
    # its plain-text fallback, which reads as an unfinished fetch where widgets don't render.
    from IPython.display import display

    bar = tqdm(display=False, leave=False, **options)
    handle = display(bar.container, display_id=True)
    close = bar.close

    def close_and_blank() -> None:
        close()
        if handle is not None:
            # Empty in every form: no "<IPython.core.display.HTML object>" text is left behind.
            handle.update({"text/plain": "", "text/html": ""}, raw=True)

    bar.close = close_and_blank
    return bar
