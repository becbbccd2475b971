"""A typed Arrow table (a mirror file, an Arrow result) -> the pandas frame a fetch of the
same rows gives.

Columns that pyarrow's own ``to_pandas()`` types just as a fetch does (floats, integers and
booleans without nulls, time stamps) are converted together on pyarrow's threads; text stays
in its Arrow chunks; the rest goes column by column through :func:`.frames.arrow_column`,
as an Arrow page's columns do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from ..core.odata import EDM_DATE, EDM_DATETIMES, EDM_FLOATS, EDM_INTEGERS
from .frames import arrow_column, check_backend, convert_column

__all__ = ["arrow_table_frame"]


def arrow_table_frame(
    table: pa.Table,
    edm_types: Mapping[str, str],
    dtype_backend: str | None = None,
    decoded: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """``table``'s typed columns as the frame a fetch of the same rows gives. ``decoded``
    holds columns already converted: pandas columns, or Python values (collections read back
    from JSON, lists)."""
    check_backend(dtype_backend)
    decoded = decoded or {}
    plain = _plain_columns(table, edm_types, dtype_backend, decoded)
    data = {}
    for name in table.column_names:
        ready = plain.get(name, decoded.get(name))
        if ready is not None:
            data[name] = ready if isinstance(ready, pd.Series) else pd.Series(ready, dtype=object)
            continue
        edm_type = edm_types.get(name)
        array = table.column(name)
        if not _plain_text(array.type, edm_type):
            array = array.combine_chunks()
        # Text stays in its chunks (one per row group of a mirror file): pandas takes them
        # as they are, where combining would copy every string once more.
        if edm_type is None:
            data[name] = convert_column(pd.Series(array.to_pandas()), None, dtype_backend)
        else:
            data[name] = arrow_column(array, edm_type, dtype_backend)
    return pd.DataFrame(data, index=pd.RangeIndex(table.num_rows), copy=False)


def _plain_columns(
    table: pa.Table,
    edm_types: Mapping[str, str],
    dtype_backend: str | None,
    decoded: Mapping[str, Any],
) -> dict[str, pd.Series]:
    """The columns pyarrow's ``to_pandas()`` gives as a fetch types them, converted together."""
    if dtype_backend is not None:
        return {}
    names = [
        name
        for name in table.column_names
        if name not in decoded and _plain(table.column(name), edm_types.get(name))
    ]
    if not names:
        return {}
    # Consolidated blocks: pandas' own, writable copies (split blocks can be read-only views).
    frame = table.select(names).to_pandas(split_blocks=False)
    return {name: frame[name] for name in names}


def _plain(column: Any, edm_type: str | None) -> bool:
    kind = column.type
    if edm_type in EDM_FLOATS:
        return pa.types.is_float64(kind)
    if edm_type in EDM_INTEGERS or edm_type == "Edm.Boolean":
        wanted = pa.types.is_int64 if edm_type in EDM_INTEGERS else pa.types.is_boolean
        return wanted(kind) and column.null_count == 0
    if edm_type in EDM_DATETIMES:
        return kind == pa.timestamp("ns", "UTC")
    return edm_type == EDM_DATE and kind == pa.timestamp("ns")


def _plain_text(kind: Any, edm_type: str | None) -> bool:
    is_text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    return is_text and edm_type is not None and edm_type not in (*EDM_DATETIMES, EDM_DATE)
