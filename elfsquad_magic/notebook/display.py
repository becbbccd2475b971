"""How a result reads in a notebook: guids on one line, time stamps to the second.

The HTML of a DataFrame that came from Elfsquad (``df.attrs["elfsquad"]``) is pandas' own,
with two changes: guid and time-stamp columns do not wrap, and time stamps show to the second
(Elfsquad sends 100 ns; the frame keeps every digit). The user's pandas options and the frame's
values are left as they are; any other DataFrame shows as pandas shows it.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import pandas as pd

__all__ = ["frame_html", "install_display", "uninstall_display"]

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _is_guid_column(column: pd.Series) -> bool:
    if column.dtype != object and not pd.api.types.is_string_dtype(column.dtype):
        return False
    sample = column.dropna().head(20)
    return len(sample) > 0 and all(isinstance(v, str) and _GUID.match(v) for v in sample)


def _stamp_text(value: Any) -> str:
    if value is None or pd.isna(value):
        return "NaT"
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}Z" if getattr(value, "tzinfo", None) is not None else text


def frame_html(frame: pd.DataFrame) -> str | None:
    """The HTML a notebook shows for ``frame``."""
    if "elfsquad" not in frame.attrs or not isinstance(frame.columns, pd.Index):
        return frame._repr_html_()
    formatters: dict[Any, Any] = {}
    nowrap: list[int] = []
    for position, name in enumerate(frame.columns):
        column = frame.iloc[:, position]
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            formatters[name] = _stamp_text
            nowrap.append(position)
        elif _is_guid_column(column):
            nowrap.append(position)
    if frame.columns.has_duplicates:
        formatters = {}  # by-name formatters need unique names; the stamps keep every digit
    # Unique across kernels too: the outputs of a saved notebook share one page in Lab.
    table_id = f"elfsquad-{secrets.token_hex(6)}"
    whole = any(name in frame.columns for name in frame.attrs["elfsquad"].get("whole_text") or ())
    try:
        # A frame that asks for its text whole (the journal's paths) is shown without "...";
        # the option holds for this rendering only.
        width = None if whole else pd.get_option("display.max_colwidth")
        with pd.option_context("display.max_colwidth", width):
            html = _pandas_html(frame, formatters or None, table_id)
    except Exception:  # a pandas whose formatter differs: its own HTML, unchanged
        return frame._repr_html_()
    children = [_shown_child(frame, k) for k in nowrap]
    rules = " ".join(
        f"#{table_id} td:nth-child({c}), #{table_id} th:nth-child({c}) {{white-space: nowrap;}}"
        for c in children
        if c is not None
    )
    return f"<style>{rules}</style>{html}" if rules else html


def _pandas_html(frame: pd.DataFrame, formatters: dict[Any, Any] | None, table_id: str) -> str:
    """What ``DataFrame._repr_html_`` makes, with ``formatters`` and an id on the table."""
    from pandas.io.formats import format as fmt

    formatter = fmt.DataFrameFormatter(
        frame,
        formatters=formatters,
        float_format=pd.get_option("display.float_format"),
        max_rows=pd.get_option("display.max_rows"),
        min_rows=pd.get_option("display.min_rows"),
        max_cols=pd.get_option("display.max_columns"),
        show_dimensions=pd.get_option("display.show_dimensions"),
        bold_rows=True,
    )
    return fmt.DataFrameRenderer(formatter).to_html(notebook=True, table_id=table_id)


def _shown_child(frame: pd.DataFrame, position: int) -> int | None:
    """The cell (1-based, index cells first) column ``position`` takes in a row of the HTML
    table, or ``None`` when the column is left out of a wide frame."""
    columns = len(frame.columns)
    limit = pd.get_option("display.max_columns")
    shown = position
    if limit and columns > limit:
        half = limit // 2
        if half <= position < columns - half:
            return None
        if position >= columns - half:
            shown = half + 1 + position - (columns - half)  # after the "..." column
    return frame.index.nlevels + shown + 1


def install_display(shell: Any) -> Any:
    """Show DataFrames through :func:`frame_html` in ``shell``; returns what to restore."""
    formatter = shell.display_formatter.formatters["text/html"]
    previous = formatter.for_type(pd.DataFrame, frame_html)
    return previous


def uninstall_display(shell: Any, previous: Any) -> None:
    """Undo :func:`install_display`."""
    formatter = shell.display_formatter.formatters["text/html"]
    if previous is None:
        formatter.pop(pd.DataFrame, None)
    else:
        formatter.for_type(pd.DataFrame, previous)
