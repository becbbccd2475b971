"""The pipeline as a picture: quotations per month, stacked by status (matplotlib).

matplotlib is imported only when a chart is asked for; without it the error names the extra
to install. The chart reads a ``quotations`` frame: the number of quotations by default, or
their value (``measure="value"``), which needs one currency (``--currency EUR``, or a frame
whose quotations share one).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import UsageError

__all__ = ["MEASURES", "pipeline_chart", "pipeline_table", "require_pyplot"]

MEASURES = ("count", "value")


def require_pyplot() -> Any:
    """``matplotlib.pyplot``, or a :class:`UsageError` naming the extra to install."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "The pipeline chart needs matplotlib, which is not installed.",
            "Install the extra: pip install 'elfsquad-magic[lab]' (or pip install matplotlib), "
            "then restart the kernel.",
        ) from None
    return plt


def _value_column(frame: pd.DataFrame) -> tuple[str, str]:
    """The column holding the quotations' value in one currency, and that currency."""
    converted = [c for c in frame.columns if c.startswith("totalPrice") and c[10:].isupper()]
    if converted:
        return converted[0], converted[0][len("totalPrice") :]
    currencies = frame["currencyIso"].dropna().unique()
    if len(currencies) == 1:
        return "totalPrice", str(currencies[0])
    raise UsageError(
        f"The quotations are in {len(currencies)} currencies: their values do not add up.",
        "Convert them first: %elfsquad_view quotations --currency EUR --chart value",
    )


def pipeline_table(frame: pd.DataFrame, measure: str = "count") -> tuple[pd.DataFrame, str]:
    """Months by status: the number (or value) of the quotations created in each month, and
    the measure's label. Months without quotations are rows of zeros."""
    if measure not in MEASURES:
        raise UsageError(f"The chart measures {' or '.join(MEASURES)}, not {measure!r}.")
    created = frame["createdDate"]
    if getattr(created.dt, "tz", None) is not None:
        created = created.dt.tz_convert("UTC").dt.tz_localize(None)
    month = created.dt.to_period("M").dt.to_timestamp()
    if measure == "count":
        values, label = pd.Series(1, index=frame.index), "quotations"
    else:
        column, currency = _value_column(frame)
        values, label = frame[column], f"value ({currency}, excl. VAT)"
    data = pd.DataFrame({"month": month, "status": frame["status"].fillna("(none)"), "v": values})
    table = data.pivot_table(
        index="month", columns="status", values="v", aggfunc="sum", fill_value=0
    )
    if len(table):
        every = pd.date_range(table.index.min(), table.index.max(), freq="MS")
        table = table.reindex(every, fill_value=0)
    order = table.sum().sort_values(ascending=False).index
    return table[order], label


def pipeline_chart(frame: pd.DataFrame, *, measure: str = "count", ax: Any = None) -> Any:
    """A stacked bar chart of ``frame`` (a ``quotations`` view) by month and status; returns
    the matplotlib Axes."""
    table, label = pipeline_table(frame, measure)
    plt = require_pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.6))
    bottom = pd.Series(0.0, index=table.index)
    for status in table.columns:
        ax.bar(table.index, table[status], width=25, bottom=bottom, label=str(status))
        bottom = bottom + table[status]
    ax.set_title(f"Pipeline by status and month: {label}")
    ax.set_ylabel(label)
    if measure == "value":
        ax.yaxis.set_major_formatter(lambda v, _: f"{v / 1000:,.0f}k")
    # Beside the bars, so the legend hides none of them.
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
    ax.figure.tight_layout()
    return ax
