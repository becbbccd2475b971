"""Pages of OData records -> one pandas DataFrame with real dtypes.

Dtypes come from the Edm types of ``$metadata`` when known, otherwise they are inferred.
:class:`FrameBuilder` takes pages in order, as decoded records or as Arrow pages (see
:mod:`.arrow_pages`). Decoded pages become 2-D object blocks (nested objects flattened only where
there are some); Arrow pages stay Arrow columns. A batch of pages of one kind is converted column
by column in vectorised form, and the typed batches are concatenated once at the end. So only
one batch of pages is alive at a time, not the whole result.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Mapping
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from ..core.odata import EDM_DATETIMES, EDM_FLOATS, EDM_INTEGERS, EDM_TEXTS
from ..core.settings import DTYPE_BACKENDS
from .arrow_reader import ArrowPage

__all__ = [
    "FrameBuilder",
    "to_frame",
    "page_frame",
    "combine",
    "document_frame",
    "empty_frame",
    "arrow_column",
    "check_backend",
    "convert_column",
]


# An ISO 8601 date-time at the start of a string: 2024-01-01T00:00 (seconds, fraction optional).
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
# Annotations about the response rather than the row.
_DROP_COLUMNS = ("@odata.context", "@odata.metadataEtag")
# Rows converted together: large enough that per-column call overhead vanishes, small enough
# that the batch's Python objects (about 2.5 kB per Elfsquad row) stay a few tens of MB.
BATCH_ROWS = 8192
# datetime64[ns] holds 1677-09-21 .. 2262-04-11; .NET's MinValue (0001-01-01, Elfsquad's
# "no date") and MaxValue fall outside and become NaT.
_NS_MIN = pd.Timestamp("1677-09-22", tz="UTC")
_NS_MAX = pd.Timestamp("2262-04-11", tz="UTC")


class _Block:
    """One page as a rows x columns object array (the values exactly as JSON decoded them)."""

    __slots__ = ("columns", "values")

    def __init__(self, columns: tuple[str, ...], values: np.ndarray) -> None:
        self.columns = columns
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.values, columns=list(self.columns), dtype=object, copy=False)


class FrameBuilder:
    """Collects a collection's pages in order and builds one typed DataFrame.

    ``edm_types`` maps column names (``category.name`` for expanded properties) to Edm types;
    ``columns`` names the columns of an empty result (no rows to read them from).
    """

    def __init__(
        self,
        edm_types: Mapping[str, str] | None = None,
        dtype_backend: str | None = None,
        columns: list[str] | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        check_backend(dtype_backend)
        self.edm_types = dict(edm_types or {})
        self.dtype_backend = dtype_backend
        self.columns = columns
        self.batch_rows = batch_rows
        # Columns the schema types as primitives or collections: no expanded object in them.
        self._plain = frozenset(
            name
            for name, edm in self.edm_types.items()
            if edm != "Edm.Untyped" and edm.startswith(("Edm.", "Collection("))
        )
        self.reset()

    def reset(self) -> None:
        """Forget every page added so far (a fetch that starts over)."""
        self._raw: list[_Block | pd.DataFrame | ArrowPage] = []
        self._raw_rows = 0
        self._typed: list[pd.DataFrame] = []
        self._inferred: set[str] = set()
        self.rows = 0

    def add(self, records: list[Any] | pd.DataFrame | ArrowPage) -> int:
        """Add one page (records, a raw frame or an Arrow page); returns its number of rows."""
        if isinstance(records, (pd.DataFrame, ArrowPage)):
            piece = records
        else:
            piece = _raw_piece(records, self._plain)
        if piece is None or not len(piece.columns) or not len(piece):
            return 0
        if self._raw and isinstance(self._raw[-1], ArrowPage) != isinstance(piece, ArrowPage):
            self._flush()  # Arrow pages and decoded ones are converted in separate batches
        self._raw.append(piece)
        self._raw_rows += len(piece)
        self.rows += len(piece)
        if self._raw_rows >= self.batch_rows:
            self._flush()
        return len(piece)

    def frame(self) -> pd.DataFrame:
        """The typed DataFrame of every page added, in order, with a fresh RangeIndex."""
        self._flush()
        typed, self._typed = self._typed, []
        if not typed:
            return empty_frame(self.columns or [], self.edm_types, self.dtype_backend)
        frame = typed[0] if len(typed) == 1 else pd.concat(typed, ignore_index=True)
        del typed
        for name in self._inferred:
            column = frame[name]
            if column.dtype == object:
                column = column.infer_objects()
            frame[name] = convert_column(column, None, self.dtype_backend)
        return frame

    def _flush(self) -> None:
        if not self._raw:
            return
        raw, self._raw, self._raw_rows = self._raw, [], 0
        rows = sum(len(piece) for piece in raw)
        if isinstance(raw[0], ArrowPage):
            self._typed.append(self._arrow_batch(raw, rows))
            return
        columns: dict[str, np.ndarray]
        if all(isinstance(p, _Block) and p.columns == raw[0].columns for p in raw):
            names = raw[0].columns
            values = raw[0].values if len(raw) == 1 else np.concatenate([p.values for p in raw])
            del raw
            columns = {name: values[:, j] for j, name in enumerate(names)}
            del values
        else:
            frames = [p.frame() if isinstance(p, _Block) else p for p in raw]
            del raw
            merged = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            del frames
            columns = {name: merged[name].to_numpy(dtype=object) for name in merged.columns}
        typed = {}
        for name, values in columns.items():
            if name in _DROP_COLUMNS:
                continue
            column = pd.Series(values, dtype=object, copy=False)
            edm_type = self.edm_types.get(name)
            if edm_type is None:
                # Numbers, booleans and text get compact dtypes now; the final type is inferred
                # once from the whole column (see frame()).
                self._inferred.add(name)
                typed[name] = column.infer_objects()
            else:
                typed[name] = convert_column(column, edm_type, self.dtype_backend)
            if typed[name].dtype == object:
                # A column kept as objects is still a view of the batch's block: copy it, or
                # the block (every Python object of the batch) would live as long as the frame.
                typed[name] = typed[name].copy(deep=True)
        columns.clear()
        frame = pd.DataFrame(typed, index=pd.RangeIndex(rows), copy=False)
        self._typed.append(frame)

    def _arrow_batch(self, pages: list[Any], rows: int) -> pd.DataFrame:
        import pyarrow as pa

        # Hand the previous batch's page buffers back to the system: pyarrow's default pool
        # (mimalloc) would keep them, about a fifth of the peak memory of a large fetch; the
        # time it takes did not show in the benchmark.
        pa.default_memory_pool().release_unused()
        struct = pages[0].rows if len(pages) == 1 else pa.concat_arrays([p.rows for p in pages])
        names = pages[0].columns
        typed = {
            name: arrow_column(array, self.edm_types[name], self.dtype_backend)
            for name, array in zip(names, struct.flatten(), strict=True)
        }
        return pd.DataFrame(typed, index=pd.RangeIndex(rows), copy=False)


def _raw_piece(
    records: list[Any], plain: frozenset[str] = frozenset()
) -> _Block | pd.DataFrame | None:
    """One page's records as an object block; nested objects flattened to ``parent.child``."""
    if not records:
        return None
    if set(map(type, records)) != {dict}:
        # A collection of primitives (e.g. a property that holds a list of guids).
        return pd.DataFrame({"value": records}, dtype=object)
    names = tuple(records[0])
    n, m = len(records), len(names)
    values: list[Any] | None = None
    # The service writes every record with the same properties: pick them positionally.
    # Every record must have all of them and no others (sum of lengths == n * m).
    if m and sum(map(len, records)) == n * m:
        getter = itemgetter(*names)
        try:
            values = (
                list(map(getter, records))
                if m == 1
                else list(chain.from_iterable(map(getter, records)))
            )
        except KeyError:
            values = None
    if values is None:
        frame = pd.DataFrame(records, dtype=object)
        nested = {k for record in records for k, v in record.items() if type(v) is dict}
        return _flatten(frame, nested) if nested else frame
    block = np.fromiter(values, dtype=object, count=n * m).reshape(n, m)
    unsure = [j for j, name in enumerate(names) if name not in plain]
    if len(unsure) == m:
        nested_at = [] if dict not in set(map(type, values)) else unsure
    else:
        nested_at = unsure
    nested = {names[j] for j in nested_at if dict in set(map(type, block[:, j]))}
    if nested:
        return _flatten(_Block(names, block).frame(), nested)
    return _Block(names, block)


def to_frame(
    records: Iterable[Any],
    edm_types: Mapping[str, str] | None = None,
    dtype_backend: str | None = None,
) -> pd.DataFrame:
    """Records (a list of dicts) or an iterable of pages (lists of dicts, or DataFrames) -> frame.

    ``edm_types`` maps column names (``category.name`` for expanded properties) to Edm types.
    ``dtype_backend`` is ``None``, ``"numpy_nullable"`` or ``"pyarrow"`` as in pandas.
    """
    builder = FrameBuilder(edm_types, dtype_backend)
    one_page = isinstance(records, pd.DataFrame) or (
        isinstance(records, list)
        and (not records or not isinstance(records[0], (list, pd.DataFrame)))
    )
    for page in [records] if one_page else records:
        builder.add(page)
    return builder.frame()


def page_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One page's records as a raw (object) frame; nested objects as ``parent.child`` columns."""
    piece = _raw_piece(records)
    if piece is None:
        return pd.DataFrame()
    return piece.frame() if isinstance(piece, _Block) else piece


def combine(
    frames: list[pd.DataFrame],
    edm_types: Mapping[str, str] | None = None,
    dtype_backend: str | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Concatenate raw page frames once and give the columns their dtypes.

    ``columns`` names the columns of an empty result (no rows, so nothing to read them from).
    """
    builder = FrameBuilder(edm_types, dtype_backend, columns)
    for frame in frames:
        builder.add(frame)
    return builder.frame()


def document_frame(
    payload: Any,
    edm_types: Mapping[str, str] | None = None,
    dtype_backend: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """A JSON answer that is not a ``value`` collection, as a frame: an object is one row, a
    list of objects one row each, anything else a ``value`` column."""
    if isinstance(payload, dict):
        records = [payload]
    elif isinstance(payload, list):
        if all(isinstance(item, dict) for item in payload):
            records = payload
        else:
            records = [{"value": item} for item in payload]
    else:
        records = [{"value": payload}]
    if limit is not None:
        records = records[:limit]
    return combine([page_frame(records)], edm_types, dtype_backend)


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
        data[name] = convert_column(empty, edm_type, dtype_backend) if edm_type else empty
    return pd.DataFrame(data, index=pd.RangeIndex(0))


def check_backend(dtype_backend: str | None) -> None:
    """UsageError unless ``dtype_backend`` is one pandas knows (``None`` included)."""
    if dtype_backend not in DTYPE_BACKENDS:
        from ..errors import UsageError

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
        parts.append(expanded.astype(object))
    return pd.concat(parts, axis=1)


def convert_column(column: pd.Series, edm_type: str | None, backend: str | None) -> pd.Series:
    """A column of JSON values typed by its Edm type (inferred when ``None``)."""
    if edm_type is None:
        edm_type = _infer_edm_type(column)
    if edm_type is None or edm_type.startswith("Collection("):
        return column
    if edm_type in EDM_DATETIMES:
        return _to_datetime(column, backend, utc=True)
    if edm_type == "Edm.Date":
        return _to_datetime(column, backend, utc=False)
    if edm_type in EDM_FLOATS:
        return _to_float(column, backend)
    if edm_type in EDM_INTEGERS:
        return _to_int(column, backend)
    if edm_type == "Edm.Boolean":
        return _to_bool(column, backend)
    if edm_type in EDM_TEXTS or not edm_type.startswith("Edm."):
        # Enum types (Elfskot.*.QuotationStatus...) arrive as strings, like guids.
        return _to_text(column, backend)
    return column


def arrow_column(array: Any, edm_type: str, backend: str | None) -> pd.Series:
    """One Arrow column (of a page batch, a mirror file) as a pandas column, typed as
    :func:`convert_column` types the same values."""
    import pyarrow as pa

    kind = array.type
    if pa.types.is_null(kind):
        return pd.Series(np.full(len(array), None, dtype=object), dtype=object)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if edm_type in EDM_DATETIMES or edm_type == "Edm.Date":
            # Parse each distinct text once (many lines share a time stamp).
            encoded = array.dictionary_encode()
            uniques = encoded.dictionary.to_numpy(zero_copy_only=False)
            codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            utc = edm_type != "Edm.Date"
            return _to_datetime(_parse_each_once(uniques, codes, utc), backend, utc=utc)
        arrow_text = _arrow_text() if backend is None and _infer_string() else None
        if arrow_text is not None:
            # The Arrow buffers become the column as they are: no Python string per value.
            if not pa.types.is_large_string(kind):
                array = array.cast(pa.large_string())
            text = pd.arrays.ArrowStringArray(array, dtype=arrow_text[1])
            return pd.Series(text)
        column = pd.Series(array.to_numpy(zero_copy_only=False), dtype=object)
    elif pa.types.is_integer(kind) and array.null_count:
        # Straight to a masked array: through float64 (NaN) large integers would lose digits.
        values = array.fill_null(0).to_numpy()
        mask = array.is_null().to_numpy(zero_copy_only=False)
        column = pd.Series(pd.arrays.IntegerArray(values, mask))
    else:
        # Copied (pandas' default): a view of the Arrow buffer would be read-only.
        column = pd.Series(array.to_numpy(zero_copy_only=False))
    return convert_column(column, edm_type, backend)


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
        parsed = _parse_datetimes(column, utc)
    if parsed.dt.unit != "ns":
        # Coarser units hold dates datetime64[ns] cannot (0001-01-01 stands for "no date").
        low, high = (
            (_NS_MIN, _NS_MAX) if utc else (_NS_MIN.tz_localize(None), _NS_MAX.tz_localize(None))
        )
        if parsed.dt.tz is None and utc:
            parsed = parsed.dt.tz_localize("UTC")
        parsed = parsed.where((parsed >= low) & (parsed <= high))
    target = "datetime64[ns, UTC]" if utc else "datetime64[ns]"
    if backend == "pyarrow":
        import pyarrow as pa

        return parsed.astype(target).astype(
            pd.ArrowDtype(pa.timestamp("ns", "UTC" if utc else None))
        )
    return parsed.astype(target)


def _numbers(column: pd.Series) -> pd.Series:
    if column.dtype.kind == "f":
        return column  # numbers already (an Arrow column): to_numeric would only copy them
    if column.dtype == object:
        # JSON numbers and nulls: a plain cast once nulls are NaN is several times faster than
        # to_numeric; values a cast refuses (text that is no number) take the careful path.
        values = column.to_numpy()
        nulls = pd.isna(values)
        if nulls.any():
            values = values.copy()
            values[nulls] = np.nan
        try:
            return pd.Series(values.astype(np.float64), index=column.index)
        except (TypeError, ValueError):
            pass
    return pd.to_numeric(column, errors="coerce")


def _parse_datetimes(column: pd.Series, utc: bool) -> pd.Series:
    # Offsets may be missing (taken as UTC) or differ per value; bad values become NaT.
    if column.dtype == object and len(column) > 64:
        codes, uniques = pd.factorize(column)
        if len(uniques) * 2 < len(column):
            # Many rows share a time stamp (the lines of one quotation): parse each text once.
            return _parse_each_once(uniques, codes, utc, index=column.index)
    return pd.to_datetime(column, utc=utc, format="ISO8601", errors="coerce")


def _parse_each_once(
    uniques: Any, codes: np.ndarray, utc: bool, index: pd.Index | None = None
) -> pd.Series:
    """Date-times from distinct texts and each row's code into them (-1 for null)."""
    once = pd.to_datetime(
        pd.Index(uniques, dtype=object), utc=utc, format="ISO8601", errors="coerce"
    )
    return pd.Series(once.array.take(codes, allow_fill=True), index=index)


def _to_float(column: pd.Series, backend: str | None) -> pd.Series:
    numbers = _numbers(column)
    if backend == "numpy_nullable":
        return numbers.astype("Float64")
    if backend == "pyarrow":
        return numbers.astype("double[pyarrow]")
    return numbers.astype("float64")


def _to_int(column: pd.Series, backend: str | None) -> pd.Series:
    numbers = pd.to_numeric(column, errors="coerce")
    if column.dtype == object and numbers.dtype.kind == "f" and numbers.isna().any():
        # Nulls made the integers float64, where those beyond 2**53 lose digits (or cannot be
        # cast back at all): build the masked array from the values themselves instead.
        # (Text or fractions among them: keep what to_numeric made of them.)
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            numbers = pd.Series(pd.array(column.to_numpy(), dtype="Int64"), index=column.index)
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
    if column.dtype != object or not _infer_string():
        return column
    # pandas 3 gives text columns the "str" dtype; all-null ones should match.
    arrow_text = _arrow_text()
    if arrow_text is not None:
        # Straight to Arrow: half the time of astype("str"), and the type check comes free
        # (a value that is not text raises, and the column stays as it is).
        pa, dtype = arrow_text
        try:
            values = pa.array(column.to_numpy(), type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return column
        return pd.Series(pd.arrays.ArrowStringArray(values, dtype=dtype), index=column.index)
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        return column.astype("str")
    return column


@functools.lru_cache(maxsize=1)
def _arrow_text() -> tuple[Any, Any] | None:
    """(pyarrow, the "str" dtype) when that dtype is stored in Arrow, else ``None``."""
    dtype = pd.Series(["a"]).dtype
    if getattr(dtype, "storage", None) != "pyarrow":
        return None
    try:
        import pyarrow as pa

        # Check the constructor once; a pandas that builds it otherwise takes astype("str").
        probe = pa.array(["a", None], type=pa.large_string(), from_pandas=True)
        built = pd.Series(pd.arrays.ArrowStringArray(probe, dtype=dtype))
        if built.dtype != dtype or not built.equals(pd.Series(["a", None]).astype("str")):
            return None
    except Exception:  # any difference in pandas internals: the plain path is always right
        return None
    return pa, dtype


@functools.lru_cache(maxsize=1)
def _infer_string() -> bool:
    # pandas 3 (or 2.x with future.infer_string) gives text the "str" dtype.
    return str(pd.Series(["a"]).dtype) == "str"
