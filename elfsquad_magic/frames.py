"""Pages of OData records -> one pandas DataFrame with real dtypes.

Dtypes come from the Edm types of ``$metadata`` when known, otherwise they are inferred.
A frame is built per page (flattening nested objects only where there are some) and the
frames are concatenated once; dtypes are then converted column by column, vectorised.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

__all__ = ["to_frame", "page_frame", "combine", "empty_frame", "DTYPE_BACKENDS"]

DTYPE_BACKENDS = (None, "numpy_nullable", "pyarrow")

_DATETIME_TYPES = frozenset({"Edm.DateTimeOffset", "Edm.DateTime"})
_FLOAT_TYPES = frozenset({"Edm.Decimal", "Edm.Double", "Edm.Single"})
_INT_TYPES = frozenset({"Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte", "Edm.SByte"})
_TEXT_TYPES = frozenset({"Edm.String", "Edm.Guid", "Edm.TimeOfDay", "Edm.Duration"})
# An ISO 8601 date-time at the start of a string: 2024-01-01T00:00 (seconds, fraction optional).
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
# .NET's DateTime.MinValue stands for "no date" in Elfsquad data.
_EMPTY_DATE_PREFIX = "0001-01-01"
# Annotations about the response rather than the row.
_DROP_COLUMNS = ("@odata.context", "@odata.metadataEtag")


def to_frame(
    records: Iterable[Any],
    edm_types: Mapping[str, str] | None = None,
    dtype_backend: str | None = None,
) -> pd.DataFrame:
    """Records (a list of dicts) or an iterable of pages (lists of dicts, or DataFrames) -> frame.

    ``edm_types`` maps column names (``category.name`` for expanded properties) to Edm types.
    ``dtype_backend`` is ``None``, ``"numpy_nullable"`` or ``"pyarrow"`` as in pandas.
    """
    _check_backend(dtype_backend)
    if isinstance(records, pd.DataFrame):
        frames = [records]
    elif isinstance(records, list) and (not records or isinstance(records[0], dict)):
        frames = [page_frame(records)]
    else:
        frames = [p if isinstance(p, pd.DataFrame) else page_frame(p) for p in records]
    return combine(frames, edm_types, dtype_backend)


def page_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One page's records as a raw frame; nested objects flattened to ``parent.child`` columns."""
    if not records:
        return pd.DataFrame()
    if not all(type(record) is dict for record in records):
        # A collection of primitives (e.g. a property that holds a list of guids).
        return pd.DataFrame({"value": records})
    # One pass over the values finds expanded objects; flat pages skip json_normalize.
    nested = {key for record in records for key, value in record.items() if type(value) is dict}
    frame = pd.DataFrame(records)
    return _flatten(frame, nested) if nested else frame


def combine(
    frames: list[pd.DataFrame],
    edm_types: Mapping[str, str] | None = None,
    dtype_backend: str | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Concatenate raw page frames once and give the columns their dtypes.

    ``columns`` names the columns of an empty result (no rows, so nothing to read them from).
    """
    _check_backend(dtype_backend)
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return empty_frame(columns or [], edm_types, dtype_backend)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    frame = frame.drop(columns=[c for c in _DROP_COLUMNS if c in frame.columns])
    edm_types = edm_types or {}
    converted = {}
    for name in frame.columns:
        converted[name] = _convert(frame[name], edm_types.get(name), dtype_backend)
    result = pd.DataFrame(converted, index=pd.RangeIndex(len(frame)))
    result.columns = frame.columns
    return result


def empty_frame(
    columns: list[str],
    edm_types: Mapping[str, str] | None = None,
    dtype_backend: str | None = None,
) -> pd.DataFrame:
    """A frame without rows whose columns carry the dtypes their Edm types give."""
    edm_types = edm_types or {}
    data = {}
    for name in columns:
        edm_type = edm_types.get(name)
        empty = pd.Series([], dtype=object)
        data[name] = _convert(empty, edm_type, dtype_backend) if edm_type else empty
    return pd.DataFrame(data, index=pd.RangeIndex(0))


def _check_backend(dtype_backend: str | None) -> None:
    if dtype_backend not in DTYPE_BACKENDS:
        from .errors import UsageError

        raise UsageError(
            f"Unknown dtype backend {dtype_backend!r}.",
            "Use None, 'numpy_nullable' or 'pyarrow' (as in pandas).",
        )


def _flatten(frame: pd.DataFrame, nested: set[str]) -> pd.DataFrame:
    parts = []
    for name in frame.columns:
        if name not in nested:
            parts.append(frame[[name]])
            continue
        values = [v if isinstance(v, dict) else {} for v in frame[name].values]
        expanded = pd.json_normalize(values)
        expanded.columns = [f"{name}.{c}" for c in expanded.columns]
        expanded.index = frame.index
        parts.append(expanded)
    return pd.concat(parts, axis=1)


def _convert(column: pd.Series, edm_type: str | None, backend: str | None) -> pd.Series:
    if edm_type is None:
        edm_type = _infer_edm_type(column)
    if edm_type is None or edm_type.startswith("Collection("):
        return column
    if edm_type in _DATETIME_TYPES:
        return _to_datetime(column, backend, utc=True)
    if edm_type == "Edm.Date":
        return _to_datetime(column, backend, utc=False)
    if edm_type in _FLOAT_TYPES:
        return _to_float(column, backend)
    if edm_type in _INT_TYPES:
        return _to_int(column, backend)
    if edm_type == "Edm.Boolean":
        return _to_bool(column, backend)
    if edm_type in _TEXT_TYPES or not edm_type.startswith("Edm."):
        # Enum types (Elfskot.*.QuotationStatus...) arrive as strings, like guids.
        return _to_text(column, backend)
    return column


def _infer_edm_type(column: pd.Series) -> str | None:
    """An Edm type guessed from the values, for columns the schema does not describe."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "Edm.Boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "Edm.Int64"
    if pd.api.types.is_float_dtype(dtype):
        return None  # already float64; ints with nulls stay float when the schema is unknown
    if not (pd.api.types.is_string_dtype(dtype) or dtype is object or str(dtype) == "object"):
        return None
    values = column.dropna()
    if values.empty:
        return None
    sample = values.iloc[0]
    if isinstance(sample, bool):
        return "Edm.Boolean" if all(isinstance(v, bool) for v in values.values) else None
    if isinstance(sample, str):
        if not all(isinstance(v, str) for v in values.values):
            return None
        text = values.astype(str)
        if text.str.match(_ISO_DATETIME).all():
            return "Edm.DateTimeOffset"
        return "Edm.String"
    return None


def _to_datetime(column: pd.Series, backend: str | None, *, utc: bool) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        parsed = column if not utc or column.dt.tz is not None else column.dt.tz_localize("UTC")
    else:
        text = column.astype(object).where(column.notna(), None)
        empty = text.map(lambda v: isinstance(v, str) and v.startswith(_EMPTY_DATE_PREFIX))
        if empty.any():
            text = text.where(~empty, None)
        # Offsets may be missing (taken as UTC) or differ per value; bad values become NaT.
        parsed = pd.to_datetime(text, utc=utc, format="ISO8601", errors="coerce")
    target = "datetime64[ns, UTC]" if utc else "datetime64[ns]"
    if backend == "pyarrow":
        import pyarrow as pa

        return parsed.astype(target).astype(
            pd.ArrowDtype(pa.timestamp("ns", "UTC" if utc else None))
        )
    return parsed.astype(target)


def _to_float(column: pd.Series, backend: str | None) -> pd.Series:
    numbers = pd.to_numeric(column, errors="coerce")
    if backend == "numpy_nullable":
        return numbers.astype("Float64")
    if backend == "pyarrow":
        return numbers.astype("double[pyarrow]")
    return numbers.astype("float64")


def _to_int(column: pd.Series, backend: str | None) -> pd.Series:
    numbers = pd.to_numeric(column, errors="coerce")
    if backend == "pyarrow":
        return numbers.astype("int64[pyarrow]")
    if backend == "numpy_nullable" or numbers.isna().any():
        return numbers.astype("Int64")
    return numbers.astype("int64")


def _to_bool(column: pd.Series, backend: str | None) -> pd.Series:
    if backend == "pyarrow":
        return column.astype("bool[pyarrow]")
    if backend == "numpy_nullable" or column.isna().any():
        return column.astype("boolean")
    return column.astype(bool)


def _to_text(column: pd.Series, backend: str | None) -> pd.Series:
    if backend == "numpy_nullable":
        return column.astype("string")
    if backend == "pyarrow":
        return column.astype("string[pyarrow]")
    if column.dtype == object and _infer_string() and column.map(_is_text_or_na).all():
        # pandas 3 gives text columns the "str" dtype; all-null ones should match.
        return column.astype("str")
    return column


@functools.lru_cache(maxsize=1)
def _infer_string() -> bool:
    # pandas 3 (or 2.x with future.infer_string) gives text the "str" dtype.
    return str(pd.Series(["a"]).dtype) == "str"


def _is_text_or_na(value: Any) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, float) and value != value)
