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
import pyarrow.compute as pc

from ..core.odata import EDM_DATE, EDM_DATETIMES, EDM_FLOATS, EDM_INTEGERS, EDM_TEXTS, ETAG
from ..core.settings import OUTPUTS, require_polars
from .arrow_frames import arrow_table_frame
from .arrow_reader import ArrowPage, PageReader
from .frames import BATCH_ROWS, FrameBuilder

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
# A result's buffers come from the system allocator, the pages' and other passing buffers from
# pyarrow's default pool: pages come and go batch after batch and the pool hands their memory
# back whole (``release_unused``), where result buffers placed among them would pin its pages.
# Measured on a million rows: peak 1.47x -> 1.36x the table, no slower (bench_arrow.py).
_RESULT_POOL = pa.system_memory_pool()


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


def typed_array(array: Any, edm_type: str | None, pool: Any = None) -> Any:
    """One column of Arrow pages (as the reader typed it) in the type of a result: time
    stamps parsed (each distinct text once), strings as ``large_string``; the rest as it is,
    without a copy. New buffers come from ``pool`` (``None``: pyarrow's default)."""
    kind = array.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return array
    if _is_stamp(edm_type):
        return _stamps(array, utc=edm_type != EDM_DATE, pool=pool)
    if pa.types.is_large_string(kind):
        return array
    return pc.cast(array, pa.large_string(), memory_pool=pool)  # the text itself is shared


def _is_stamp(edm_type: str | None) -> bool:
    return edm_type in EDM_DATETIMES or edm_type == EDM_DATE


def _stamps(array: Any, *, utc: bool, pool: Any = None) -> Any:
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
    return pc.take(once, encoded.indices, memory_pool=pool)


class TableBuilder:
    """Collects a collection's pages in order and builds one typed Arrow table (the columns
    and types of the pandas result; see the module docstring).

    ``reader`` (the Arrow page reader of the fetch, if any) also reads the pages that arrive
    decoded (the first one); ``sink`` is given every typed batch as it is built. With
    ``polars`` each batch becomes polars as soon as it is built (see :meth:`polars_frame`);
    ``keys`` are then kept next to the ETags.
    """

    def __init__(
        self,
        edm_types: Mapping[str, str] | None = None,
        columns: list[str] | None = None,
        *,
        reader: PageReader | None = None,
        sink: BatchSink | None = None,
        batch_rows: int = BATCH_ROWS,
        polars: bool = False,
        keys: Sequence[str] = (),
    ) -> None:
        self.edm_types = dict(edm_types or {})
        self.columns = columns
        self.reader = reader
        self.sink = sink
        self.batch_rows = batch_rows
        self.polars = require_polars() if polars else None
        self.keys = tuple(keys)
        self.reset()

    def reset(self) -> None:
        """Forget every page added so far (a fetch that starts over)."""
        self._pages: list[ArrowPage] = []
        self._page_rows = 0
        self._batches: list[Any] = []  # Arrow tables, or polars frames
        self._etags: list[pa.Table] = []
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
        names = pages[0].columns
        pieces = [page.rows.flatten() for page in pages]
        del pages
        arrays = []
        for index, name in enumerate(names):
            edm_type = self.edm_types.get(name)
            # Time stamp texts only pass through (parsed into new buffers): not in the result.
            pool = None if _is_stamp(edm_type) else _RESULT_POOL
            column = pa.concat_arrays([piece[index] for piece in pieces], memory_pool=pool)
            for piece in pieces:
                piece[index] = None  # this column of the pages is freed as soon as it is copied
            arrays.append(typed_array(column, edm_type, _RESULT_POOL))
        self._keep(pa.table(arrays, names=names))

    def _keep(self, batch: pa.Table) -> None:
        if self.sink is not None:
            self.sink.write(batch)
        if self.polars is None:
            self._batches.append(batch)
        else:
            # Made polars now, the batch's Arrow memory is reused by the next one: a million
            # rows never exist twice, as a whole Arrow table and as the polars frame made of it.
            self._batches.append(self._polars_batch(batch))

    def _polars_batch(self, batch: pa.Table) -> Any:
        """``batch`` as a polars frame; its ETags (with the keys) kept apart as Arrow."""
        assert self.polars is not None
        if ETAG in batch.column_names:
            kept = [name for name in (*self.keys, ETAG) if name in batch.column_names]
            self._etags.append(batch.select(kept))
            batch = batch.drop_columns([ETAG])
        # Text as Arrow string views, polars' own layout, made here in the result's pool:
        # polars takes them as they are (made by polars, they measured 1.39x the result at
        # the peak of a million-row fetch instead of 1.15x).
        columns = [
            pc.cast(column, pa.string_view(), memory_pool=_RESULT_POOL)
            if pa.types.is_large_string(column.type)
            else column
            for column in batch.columns
        ]
        batch = pa.table(columns, names=batch.column_names)
        return self.polars.from_arrow(batch, rechunk=False)

    def polars_frame(self) -> tuple[Any, pa.Table | None]:
        """The polars frame of every page added, in order (built with ``polars``), and the
        ETags apart, next to the ``keys``, as an Arrow table (``None`` without ETags)."""
        assert self.polars is not None, "built without polars"
        if self.reader is None:  # built the pandas way: one batch
            self._batches = [self._polars_batch(self.table())]
        self._flush()
        if not self._batches:
            self._batches = [self._polars_batch(_empty_table(self.columns or [], self.edm_types))]
        frames, self._batches = self._batches, []
        etags, self._etags = self._etags, []
        frame = (
            frames[0]
            if len(frames) == 1
            else self.polars.concat(frames, how="diagonal_relaxed", rechunk=False)
        )
        if not etags:
            return frame, None
        return frame, pa.concat_tables(etags, promote_options="permissive")

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
