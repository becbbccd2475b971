"""Collection pages parsed straight into Arrow columns, without a Python object per value.

Once the first page of a collection has shown its properties (all of them primitive, all typed
by ``$metadata``), every later page is read by Arrow's C++ JSON reader under that schema. The
reader releases the GIL, so the pages of a concurrent fetch are parsed while other pages are
still being received, and text columns go into the DataFrame as the Arrow buffers they already
are. A page the schema does not fit (a property it did not expect, a value of another JSON
type, an object where a primitive was) makes :meth:`PageReader.read` return ``None``, and the
caller decodes that page the ordinary way, so nothing about the result depends on this path.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ArrowPage", "PageReader"]

from ..core.odata import EDM_DATE, EDM_DATETIMES, EDM_FLOATS, EDM_INTEGERS, EDM_TEXTS, ETAG

try:  # pyarrow is a dependency; without it (a broken install) pages are decoded the usual way
    import pyarrow as pa
    import pyarrow.json as pa_json
except ImportError:  # pragma: no cover
    pa = None
    pa_json = None

# The JSON type each Edm type arrives as. Dates and times come as text and are parsed later
# (once per distinct value); Edm.Untyped is only taken while it is null.
_TEXT = EDM_TEXTS | EDM_DATETIMES | {EDM_DATE}
# Blocks larger than a page: a page is one JSON line that must not be split.
_BLOCK_BYTES = 1 << 24
# A page is a JSON object; anything else is left to the decoder (pyarrow 26 crashes the process
# on a body that starts with a bare null).
_OBJECT_START = re.compile(rb"\s*\{")
# Annotations the service may put next to "value"; any other member makes the page fall back.
_PAGE_ANNOTATIONS = ("@odata.context", "@odata.count", "@odata.nextLink", "@odata.metadataEtag")


class ArrowPage:
    """One collection page as an Arrow struct array (one field per property), in order."""

    __slots__ = ("rows", "count", "next_link")

    def __init__(self, rows: Any, count: int | None, next_link: str | None) -> None:
        self.rows = rows  # pyarrow.StructArray
        self.count = count
        self.next_link = next_link

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"<ArrowPage {len(self)} rows>"

    @property
    def columns(self) -> list[str]:
        """The property names, in the order of the first page."""
        return [field.name for field in self.rows.type]

    def values(self, name: str) -> list[Any]:
        """The values of one property as Python objects (keys, for the integrity checks)."""
        return self.rows.field(name).to_pylist()

    def __getitem__(self, rows: slice) -> ArrowPage:
        """Some of the rows, as a list slice gives them (a page cut short by a row limit)."""
        start, stop, step = rows.indices(len(self))
        if step != 1:
            raise ValueError("an Arrow page is sliced in steps of 1")
        return ArrowPage(self.rows.slice(start, max(0, stop - start)), self.count, self.next_link)

    def key_values(self, key: Sequence[str]) -> list[Any]:
        """Each row's key: the value of a one-property key, else a tuple (None when absent)."""
        names = self.columns
        columns = [self.values(n) if n in names else [None] * len(self) for n in key]
        return columns[0] if len(columns) == 1 else list(zip(*columns, strict=True))


class PageReader:
    """Reads page bodies into :class:`ArrowPage` under the properties of a first page."""

    def __init__(self, fields: Sequence[tuple[str, Any]]) -> None:
        row = pa.struct([pa.field(name, arrow_type) for name, arrow_type in fields])
        members = [
            (name, pa.int64() if name == "@odata.count" else pa.string())
            for name in _PAGE_ANNOTATIONS
        ]
        schema = pa.schema([*members, ("value", pa.list_(row))])
        # "error": a property the first page did not have must not be dropped silently.
        self._parse = pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="error"
        )
        # Pretty-printed JSON: the reader must not take line ends for record ends.
        self._parse_lines = pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="error", newlines_in_values=True
        )
        self._read = pa_json.ReadOptions(use_threads=False, block_size=_BLOCK_BYTES)

    @classmethod
    def for_records(
        cls, records: Sequence[Any], edm_types: Mapping[str, str] | None
    ) -> PageReader | None:
        """A reader for the pages after ``records`` (the first page), or ``None`` when some
        property is not a primitive the schema types, or pyarrow is missing."""
        if pa is None or not edm_types or not records or not isinstance(records[0], dict):
            return None
        fields = []
        for name, value in records[0].items():
            arrow_type = _arrow_type(
                edm_types.get(name) or ("Edm.String" if name == ETAG else None)
            )
            if arrow_type is None or isinstance(value, (dict, list)):
                return None
            fields.append((name, arrow_type))
        return cls(fields)

    def read(self, body: bytes) -> ArrowPage | None:
        """The page in ``body``, or ``None`` when it does not fit the schema (decode it as
        usual then: that path reports malformed answers)."""
        if len(body) >= _BLOCK_BYTES or not _OBJECT_START.match(body):
            return None
        parse = self._parse_lines if b"\n" in body.strip() else self._parse
        try:
            table = pa_json.read_json(
                io.BytesIO(body), read_options=self._read, parse_options=parse
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
        if table.num_rows != 1:
            return None  # several JSON documents, or none
        value = table.column("value").combine_chunks()
        if value.null_count:
            return None  # "value": null is no collection
        rows = value.flatten()
        if rows.null_count:
            return None  # a null where a record should be
        if not body.isascii():
            # The reader copies bytes into strings unchecked; invalid UTF-8 is no JSON.
            try:
                rows.validate(full=True)
            except pa.ArrowInvalid:
                return None
        count = table.column("@odata.count")[0].as_py()
        link = table.column("@odata.nextLink")[0].as_py()
        return ArrowPage(rows, count, link or None)


def _arrow_type(edm_type: str | None) -> Any:
    if edm_type is None:
        return None
    if edm_type in _TEXT or (not edm_type.startswith(("Edm.", "Collection(")) and edm_type):
        # Enum types arrive as their member names. Large strings are what pandas' Arrow-backed
        # "str" dtype holds, so the columns need no conversion later.
        return pa.large_string()
    if edm_type in EDM_FLOATS:
        return pa.float64()
    if edm_type in EDM_INTEGERS:
        return pa.int64()
    if edm_type == "Edm.Boolean":
        return pa.bool_()
    if edm_type == "Edm.Untyped":
        return pa.null()
    return None
