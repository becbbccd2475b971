"""The progress of a multi-page fetch: a tqdm bar, or a callable.

The fetch (:mod:`.collection`) only calls ``start``/``update``/``close`` on what it is given;
this module is the one that knows tqdm. The bar itself comes from a :data:`BarFactory`: the
default one draws tqdm's bar on a terminal (or tqdm's own widget in a notebook); the notebook
layer hands the client a better one (``notebook.progress_bar``) that leaves nothing behind in a
saved notebook.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "BarFactory",
    "ProgressSpec",
    "RowProgress",
    "bar_options",
    "is_terminal",
    "terminal_bar",
]

ProgressSpec = bool | Callable[[int, int | None], None]
"""True/False for a tqdm bar, or a callable given (rows so far, expected total or None)."""

BarFactory = Callable[[int | None, int], Any]
"""Makes a bar for (expected total or None, rows already there): an object with tqdm's
``update``, ``reset`` and ``close``, or ``None`` when there is nowhere to show one."""


class RowProgress:
    """Rows so far, shown as a bar (from the second page on) or passed to a callable."""

    def __init__(self, how: ProgressSpec, bar_factory: BarFactory | None = None) -> None:
        self.how = how
        self.bar_factory = bar_factory or terminal_bar
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
            self.bar = self.bar_factory(self.total, self.rows - rows)
            if self.bar is None:
                self.how = False  # nowhere to show one: no bar for this fetch
                return
        self.bar.update(rows)

    def close(self) -> None:
        """Close the bar, if one is shown."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def bar_options(total: int | None, initial: int) -> dict[str, Any]:
    """The tqdm options every bar of a fetch shares."""
    return {"total": total, "initial": initial, "unit": "rows", "desc": "elfsquad"}


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (a bar there redraws in place)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def terminal_bar(total: int | None, initial: int) -> Any:
    """tqdm's bar: on a terminal's stderr, or tqdm's own widget in a notebook; ``None`` for a
    log file or a pipe, which would fill with the bar's ``\\r`` frames."""
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    if issubclass(tqdm, notebook_tqdm):
        return tqdm(leave=False, **bar_options(total, initial))
    if not is_terminal(sys.stderr):
        return None
    return tqdm(leave=False, file=sys.stderr, **bar_options(total, initial))
