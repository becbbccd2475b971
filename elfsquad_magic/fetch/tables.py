"""Pages of OData records -> one ``pyarrow.Table`` typed from the schema, and the other
output types: a polars frame, or (for a pandas result) the frame itself.

:class:`TableBuilder` takes a collection's pages in order, as :class:`FrameBuilder` does, and
gives the columns a pandas result has, with the types it has, in Arrow: text as
``large_string`` (the Arrow buffers as read, not copied), ``Edm.DateTimeOffset`` as
``timestamp[ns, UTC]`` (Elfsquad sends 100 ns; dates outside what nanoseconds hold, such as
``0001-01-01``, are null as in pandas), ``Edm.Date`` as ``timestamp[ns]``, numbers as
``float64`` / ``int64`` with nulls (no float detour for integers), booleans, and collections as
lists. Pages read by the Arrow page reader (:mod:`.arrow_reader`) never pass through pandas;
each batch of about 8,000 rows is typed once, so the raw text of the time stamps does not
outlive its batch. A set the reader cannot read (``$expand``, ``Edm.Untyped`` values, no
``$metadata``) is built as the pandas frame and converted, so it too has the same columns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson
import pandas as pd
import pyarrow as pa

from ..core.odata import EDM_DATE, EDM_DATETIMES, EDM_FLOATS, EDM_INTEGERS, EDM_TEXTS
from ..core.settings import OUTPUTS, require_polars
from .arrow_reader import ArrowPage, PageReader
from .frames import BATCH_ROWS, FrameBuilder, arrow_table_frame

__all__ = [
    "BatchSink",
    "INFO_KEY",
    "TableBuilder",
    "arrow_type",
    "attach_info",
    "frame_table",
    "info_of",
    "objects_array",
    "to_output",
    "typed_array",
]

INFO_KEY = b"elfsquad"
"""The schema metadata key of an Arrow result: ``df.attrs["elfsquad"]`` as JSON."""
# datetime64[ns] holds 1677-09-21 .. 2262-04-11 (as in frames.py: outside is null).
_NS_MIN = pd.Timestamp("1677-09-22", tz="UTC")
_NS_MAX = pd.Timestamp("2262-04-11", tz="UTC")
_DROP_COLUMNS = ("@odata.context", "@odata.metadataEtag")


class BatchSink(Protocol):
    """Whoever wants the typed batches as they are built (the mirror writes them to its
    Parquet file while the fetch goes on)."""

    def write(self, batch: pa.Table) -> None:
        """One more typed batch, in order."""

    def reset(self) -> None:
        """Forget every batch so far (the fetch starts over)."""


def arrow_type(edm_type: str | None) -> Any:
    """The Arrow type a column of ``edm_type`` has in a result (``None``: not known)."""
    if edm_type is None:
        return None
    if edm_type.startswith("Collection(") and edm_type.endswith(")"):
        inner = arrow_type(edm_type[len("Collection(") : -1])
        return pa.list_(inner if inner is not None else pa.large_string())
    if edm_type in EDM_DATETIMES:
        return pa.timestamp("ns", "UTC")
    if edm_type == EDM_DATE:
        return pa.timestamp("ns")
    if edm_type in EDM_FLOATS:
        return pa.float64()
    if edm_type in EDM_INTEGERS:
        return pa.int64()
    if edm_type == "Edm.Boolean":
        return pa.bool_()
    if edm_type in EDM_TEXTS or not edm_type.startswith("Edm."):
        return pa.large_string()  # enum types arrive as their member names
    return None


def typed_array(array: Any, edm_type: str | None) -> Any:
    """One column of Arrow pages (as the reader typed it) in the type of a result: time
    stamps parsed (each distinct text once), strings as ``large_string``; the rest as it is,
    without a copy."""
    kind = array.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return array
    if edm_type in EDM_DATETIMES or edm_type == EDM_DATE:
        return _stamps(array, utc=edm_type != EDM_DATE)
    return array if pa.types.is_large_string(kind) else array.cast(pa.large_string())


def _stamps(array: Any, *, utc: bool) -> Any:
    """ISO 8601 texts -> timestamps at nanoseconds, parsed as the pandas result parses them
    (offsets to UTC, a missing offset taken as UTC, a bad or out-of-range value null)."""
    encoded = array.dictionary_encode()
    texts = encoded.dictionary.to_numpy(zero_copy_only=False)
    parsed = pd.to_datetime(
        pd.Index(texts, dtype=object), utc=utc, format="ISO8601", errors="coerce"
    )
    if parsed.unit != "ns":
        low, high = (
            (_NS_MIN, _NS_MAX) if utc else (_NS_MIN.tz_localize(None), _NS_MAX.tz_localize(None))
        )
        if utc and parsed.tz is None:
            parsed = parsed.tz_localize("UTC")
        parsed = parsed.where((parsed >= low) & (parsed <= high))
    parsed = parsed.astype("datetime64[ns, UTC]" if utc else "datetime64[ns]")
    once = pa.array(parsed, type=pa.timestamp("ns", "UTC" if utc else None), from_pandas=True)
    return once.take(encoded.indices)


class TableBuilder:
    """Collects a collection's pages in order and builds one typed Arrow table (the columns
    and types of the pandas result; see the module docstring).

    ``reader`` (the Arrow page reader of the fetch, if any) also reads the pages that arrive
    decoded (the first one); ``sink`` is given every typed batch as it is built.
    """

    def __init__(
        self,
        edm_types: Mapping[str, str] | None = None,
        columns: list[str] | None = None,
        *,
        reader: PageReader | None = None,
        sink: BatchSink | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.edm_types = dict(edm_types or {})
        self.columns = columns
        self.reader = reader
        self.sink = sink
        self.batch_rows = batch_rows
        self.reset()

    def reset(self) -> None:
        """Forget every page added so far (a fetch that starts over)."""
        self._pages: list[ArrowPage] = []
        self._page_rows = 0
        self._batches: list[pa.Table] = []
        self._frames = FrameBuilder(self.edm_types, None, columns=self.columns)
        self.rows = 0
        if self.sink is not None:
            self.sink.reset()

    def add(self, records: list[Any] | pd.DataFrame | ArrowPage) -> int:
        """Add one page (records, a raw frame or an Arrow page); returns its number of rows."""
        if self.reader is None:
            added = self._frames.add(records)  # nothing is read as Arrow: the pandas way
            self.rows += added
            return added
        page = records
        if not isinstance(page, ArrowPage) and isinstance(records, list) and records:
            page = self.reader.read(orjson.dumps({"value": records})) or records
        if not isinstance(page, ArrowPage):
            return self._add_decoded(page)
        if not len(page):
            return 0
        self._pages.append(page)
        self._page_rows += len(page)
        self.rows += len(page)
        if self._page_rows >= self.batch_rows:
            self._flush()
        return len(page)

    def _add_decoded(self, records: list[Any] | pd.DataFrame) -> int:
        """A page the reader did not take (a property it did not expect, a value of another
        type): typed the pandas way, alone, in its place among the batches."""
        builder = FrameBuilder(self.edm_types, None)
        added = builder.add(records)
        if added:
            self._flush()
            self._keep(frame_table(builder.frame(), self.edm_types))
            self.rows += added
        return added

    def _flush(self) -> None:
        if not self._pages:
            return
        pages, self._pages, self._page_rows = self._pages, [], 0
        # The previous batch's page buffers go back to the system (see frames.py).
        pa.default_memory_pool().release_unused()
        rows = pages[0].rows if len(pages) == 1 else pa.concat_arrays([p.rows for p in pages])
        del pages
        names = [field.name for field in rows.type]
        arrays = [
            typed_array(array, self.edm_types.get(name))
            for name, array in zip(names, rows.flatten(), strict=True)
        ]
        del rows
        self._keep(pa.table(arrays, names=names))

    def _keep(self, batch: pa.Table) -> None:
        self._batches.append(batch)
        if self.sink is not None:
            self.sink.write(batch)

    def table(self) -> pa.Table:
        """The typed table of every page added, in order (one chunk per batch: not copied)."""
        if self.reader is None:
            return frame_table(self._frames.frame(), self.edm_types)
        self._flush()
        batches, self._batches = self._batches, []
        if not batches:
            return _empty_table(self.columns or [], self.edm_types)
        if len(batches) == 1:
            return batches[0]
        return pa.concat_tables(batches, promote_options="permissive")


def _empty_table(columns: Sequence[str], edm_types: Mapping[str, str]) -> pa.Table:
    fields = [pa.field(name, arrow_type(edm_types.get(name)) or pa.null()) for name in columns]
    return pa.schema(fields).empty_table()


def frame_table(frame: pd.DataFrame, edm_types: Mapping[str, str] | None = None) -> pa.Table:
    """A typed pandas result as the Arrow table of the same result: each column in the type
    :func:`arrow_type` gives its Edm type (nulls for NaN and NaT), lists as lists; a column
    of values Arrow cannot type alike (mixed objects) as their JSON text."""
    edm_types = edm_types or {}
    arrays, names = [], []
    for name in frame.columns:
        if name in _DROP_COLUMNS:
            continue
        column = frame[name]
        wanted = arrow_type(edm_types.get(name))
        if column.dtype == object:
            values = [None if _missing(value) else value for value in column.to_numpy()]
            array = objects_array(values, wanted)
        else:
            array = pa.array(column, from_pandas=True)  # Arrow-backed text: not copied
            if pa.types.is_string(array.type):
                array = array.cast(pa.large_string())
            if pa.types.is_timestamp(array.type) and array.type.unit != "ns":
                array = array.cast(pa.timestamp("ns", array.type.tz))
        arrays.append(array)
        names.append(str(name))
    if not names:
        return pa.table({})
    return pa.table(arrays, names=names)


def objects_array(values: list[Any], wanted: Any = None) -> Any:
    """Python values (a column of objects) as one Arrow array, of the ``wanted`` type when
    they fit it."""
    if wanted is not None:
        try:
            return pa.array(values, type=wanted)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        text = [None if v is None else orjson.dumps(v, default=str).decode() for v in values]
        return pa.array(text, type=pa.large_string())
    return array.cast(pa.large_string()) if pa.types.is_string(array.type) else array


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (list, dict, tuple, str)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def to_output(
    value: Any,
    output: str,
    edm_types: Mapping[str, str] | None = None,
    dtype_backend: str | None = None,
) -> Any:
    """A pandas frame or an Arrow table as the ``output`` type (``pandas``, ``polars`` or
    ``arrow``); anything else (raw JSON, a document, ``None``) as it is. ``edm_types`` type
    the columns of a pandas frame made from a table as a fetch types them."""
    if output not in OUTPUTS:
        raise ValueError(output)
    if isinstance(value, pd.DataFrame):
        if output == "pandas":
            return value
        value = frame_table(value, edm_types)
    if not isinstance(value, pa.Table):
        return value
    if output == "arrow":
        return value
    if output == "polars":
        polars = require_polars()
        # rechunk=False: the batches stay as they are; text and numbers are not copied.
        return polars.from_arrow(value.replace_schema_metadata(None), rechunk=False)
    lists = {
        name: value.column(name).to_pylist()
        for name in value.column_names
        if _is_list(value.schema.field(name).type)
    }
    return arrow_table_frame(value, edm_types or {}, dtype_backend, lists)


def _is_list(kind: Any) -> bool:
    return any(
        check(kind)
        for check in (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)
    )


def attach_info(value: Any, info: dict[str, Any]) -> Any:
    """``value`` carrying ``info`` (``df.attrs["elfsquad"]``): a pandas frame in its
    ``attrs``, an Arrow table in its schema metadata (``INFO_KEY``, JSON); a polars frame has
    nowhere to keep it (the client's ``last_info`` holds it)."""
    if isinstance(value, pd.DataFrame):
        value.attrs["elfsquad"] = info
    elif isinstance(value, pa.Table):
        metadata = dict(value.schema.metadata or {})
        metadata[INFO_KEY] = json.dumps(info, default=str).encode()
        value = value.replace_schema_metadata(metadata)
    return value


def info_of(value: Any) -> dict[str, Any] | None:
    """What :func:`attach_info` put on ``value`` (``None`` when nothing, or a polars frame)."""
    if isinstance(value, pd.DataFrame):
        return value.attrs.get("elfsquad")
    if isinstance(value, pa.Table):
        raw = (value.schema.metadata or {}).get(INFO_KEY)
        return json.loads(raw) if raw else None
    return None
