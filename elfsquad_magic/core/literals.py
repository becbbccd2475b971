"""Python values -> OData v4 literals and plain JSON: the one encoder of notebook values.

A value put into a ``$filter`` becomes a literal that cannot break out of it; a value sent as a
body (a dict, a DataFrame, a datetime) becomes JSON. Both start from :func:`_plain`, which
unwraps what pandas and NumPy wrap (``np.int64``, ``pd.NA``, ``np.datetime64``) and enums.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import math
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ..errors import InterpolationError

__all__ = ["to_odata_literal", "to_json_compatible", "quote_string"]

_SUPPORTED = (
    "str, int, float, Decimal, bool, None, datetime, date, time, timedelta, UUID, bytes, "
    "pandas Timestamp, or a list/tuple/set of these"
)


def quote_string(text: str) -> str:
    """``text`` as an OData string literal: in single quotes, each ``'`` doubled."""
    return "'" + text.replace("'", "''") + "'"


def to_odata_literal(value: object) -> str:
    """Write ``value`` as an OData v4 literal (``'O''Brien'``, ``2024-01-01T00:00:00Z``, ``null``).

    Raises :class:`InterpolationError` for types that have no OData literal.
    """
    return _literal(value, nested=False)


def _plain(value: Any) -> Any:
    """``value`` without the wrappers of enums, pandas and NumPy (``pd.NA`` -> ``None``)."""
    while isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, str):
        return value
    value = _unwrap_numpy(value)
    return None if _is_missing(value) else value


def _literal(value: Any, *, nested: bool) -> str:
    # Order matters: bool is an int, datetime is a date, pandas Timestamp is a datetime.
    value = _plain(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_literal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InterpolationError(
                f"The decimal {value} has no OData literal.",
                "Use a finite number, or None for null.",
            )
        # Fixed-point notation: OData's decimal literal has no exponent.
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return _datetime_literal(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, dt.timedelta):
        return _duration_literal(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "binary'" + base64.urlsafe_b64encode(bytes(value)).decode("ascii") + "'"
    if _is_collection(value):
        if nested:
            raise InterpolationError(
                "A nested list has no OData literal.", "Use a flat list of values for `in`."
            )
        items = _ordered(value)
        if not items:
            raise InterpolationError(
                "An empty list has no OData literal (`x in ()` is not valid OData).",
                "Skip the filter, or test for an empty list before the query.",
            )
        return "(" + ",".join(_literal(item, nested=True) for item in items) + ")"
    raise InterpolationError(
        f"A value of type {type(value).__name__} has no OData literal.",
        f"Use one of: {_SUPPORTED}.",
    )


def _is_missing(value: Any) -> bool:
    # pandas.NA and NaT stand for "no value": write null rather than fail.
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        return False
    return value is pd.NA or value is pd.NaT


def _unwrap_numpy(value: Any) -> Any:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with pandas
        return value
    if isinstance(value, np.generic) and not isinstance(value, np.datetime64):
        return value.item()
    if isinstance(value, np.datetime64):
        import pandas as pd

        return pd.Timestamp(value)
    return value


def _float_literal(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return repr(value)


def _datetime_literal(value: dt.datetime) -> str:
    # Naive datetimes are taken as UTC: Elfsquad stores and compares in UTC.
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(dt.timezone.utc)
    value = value.replace(tzinfo=None)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text + "Z"


def _duration_literal(value: dt.timedelta) -> str:
    total = value.total_seconds()
    sign = "-" if total < 0 else ""
    micros = abs(value.days * 86_400_000_000 + value.seconds * 1_000_000 + value.microseconds)
    days, rest = divmod(micros, 86_400_000_000)
    hours, rest = divmod(rest, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, micro = divmod(rest, 1_000_000)
    secs = f"{seconds}.{micro:06d}".rstrip("0").rstrip(".") if micro else str(seconds)
    return f"duration'{sign}P{days}DT{hours}H{minutes}M{secs}S'"


def _is_collection(value: Any) -> bool:
    if isinstance(value, (list, tuple, set, frozenset)):
        return True
    # pandas Series/Index and numpy arrays: iterable, but not mappings or text.
    return (
        isinstance(value, Iterable)
        and hasattr(value, "dtype")
        and hasattr(value, "__len__")
        and not isinstance(value, dict)
    )


def _ordered(value: Iterable[Any]) -> list[Any]:
    items = list(value)
    if isinstance(value, (set, frozenset)):
        # Sets have no order; sort when possible so the same set gives the same query text.
        try:
            items.sort()
        except TypeError:
            items.sort(key=repr)
    return items


def to_json_compatible(value: Any) -> Any:
    """A Python value as plain JSON data: DataFrame -> records, NaN -> null, datetimes -> ISO.

    Raises :class:`InterpolationError` for types that have no JSON form.
    """
    value = _plain(value)
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Mapping):
        return {str(k): to_json_compatible(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_compatible(v) for v in value]
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        # A pandas Timestamp keeps nanoseconds; the service's stamps have 100 ns steps.
        ticks = getattr(value, "nanosecond", 0) // 100
        text = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value:%H:%M:%S}"
        if value.microsecond or ticks:
            text += f".{value.microsecond:06d}" + (str(ticks) if ticks else "")
        return text + "Z"
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        frame = value.astype(object).where(value.notna(), None)
        return [to_json_compatible(row) for row in frame.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return to_json_compatible(value.astype(object).where(value.notna(), None).to_dict())
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # NumPy arrays, pandas Index
        return [to_json_compatible(v) for v in value.tolist()]
    raise InterpolationError(
        f"A value of type {type(value).__name__} cannot be sent as JSON.",
        "Use dicts, lists, strings, numbers, booleans, None, datetimes or a DataFrame.",
    )
