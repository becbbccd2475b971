"""Pages read straight into Arrow: which pages the reader takes, and that the frame is the same.

The reader is a fast path only: for every page it either returns exactly what decoding the page
would give, or ``None`` (and the page is decoded). So the tests check what it refuses, what it
reads, and above all that a frame built from Arrow pages equals the one built from the decoded
records, dtypes included, with every dtype backend, against made-up pages and the sandbox.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pytest
from clients import make_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scripted import ScriptedServer, page

from elfsquad_magic.core.odata import ETAG
from elfsquad_magic.errors import IncompleteResultError
from elfsquad_magic.fetch.arrow_reader import ArrowPage, PageReader
from elfsquad_magic.fetch.frames import FrameBuilder
from elfsquad_magic.fetch.tables import TableBuilder
from elfsquad_magic.sandbox import Sandbox

BACKENDS = [None, "numpy_nullable", "pyarrow"]
PAGE = 50

EDM = {
    "id": "Edm.Guid",
    "name": "Edm.String",
    "price": "Edm.Decimal",
    "quantity": "Edm.Int32",
    "big": "Edm.Int64",
    "active": "Edm.Boolean",
    "created": "Edm.DateTimeOffset",
    "due": "Edm.Date",
    "status": "Elfskot.Quotations.QuotationStatus",
    "file": "Edm.Untyped",
}

FLAT = {
    "id": "6f1c2b3a-0000-4000-8000-000000000001",
    "name": "Frame A",
    "price": 10.5,
    "quantity": 2,
    "big": 2**60 + 1,
    "active": True,
    "created": "2024-01-01T10:00:00Z",
    "due": "2024-02-29",
    "status": "Open",
    "file": None,
}


def reader_for(records: list[dict[str, Any]], edm: dict[str, str] | None = None) -> PageReader:
    """The reader the client would build after ``records`` (asserted to exist)."""
    reader = PageReader.for_records(records, EDM if edm is None else edm)
    assert reader is not None
    return reader


def body(records: Any, **annotations: Any) -> bytes:
    """A page body as the service writes it (``next_link=`` / ``count=`` for the annotations)."""
    payload: dict[str, Any] = {"@odata.context": "https://x/data/1/$metadata#Things"}
    if "count" in annotations:
        payload["@odata.count"] = annotations["count"]
    payload["value"] = records
    if "next_link" in annotations:
        payload["@odata.nextLink"] = annotations["next_link"]
    return orjson.dumps(payload)


def decoded_frame(
    pages: list[list[dict[str, Any]]], edm: dict[str, str], backend: str | None
) -> pd.DataFrame:
    """The frame of ``pages`` the ordinary way: every page decoded, default batches."""
    builder = FrameBuilder(edm, backend)
    for records in pages:
        builder.add(orjson.loads(orjson.dumps(records)))
    return builder.frame()


def arrow_frame(
    pages: list[list[dict[str, Any]]],
    edm: dict[str, str],
    backend: str | None,
    batch_rows: int = 8192,
) -> tuple[pd.DataFrame, int]:
    """The frame of ``pages`` as the client builds it with the reader: the first page decoded,
    each later one through the reader, decoded when the reader refuses it. Also returns how
    many pages went through Arrow."""
    builder = FrameBuilder(edm, backend, batch_rows=batch_rows)
    first = orjson.loads(orjson.dumps(pages[0]))
    builder.add(first)
    reader = PageReader.for_records(first, edm)
    taken = 0
    for records in pages[1:]:
        read = reader.read(body(records)) if reader is not None else None
        if read is None:
            builder.add(orjson.loads(orjson.dumps(records)))
        else:
            taken += 1
            builder.add(read)
    return builder.frame(), taken


# -- 1. which first pages give a reader ---------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "edm"),
    [
        pytest.param([{**FLAT, "name": {"en": "Frame"}}], EDM, id="nested-object"),
        pytest.param([{**FLAT, "name": ["a", "b"]}], EDM, id="list-value"),
        pytest.param([{**FLAT, "name": []}], EDM, id="empty-list"),
        pytest.param([{**FLAT, "extra": 1}], EDM, id="property-not-in-metadata"),
        pytest.param(
            [{**FLAT, "tags": None}],
            {**EDM, "tags": "Collection(Edm.String)"},
            id="collection-type-while-null",
        ),
        pytest.param(
            [{**FLAT, "tags": ["a"]}],
            {**EDM, "tags": "Collection(Edm.String)"},
            id="collection-type",
        ),
        pytest.param(
            [{**FLAT, "status": None}],
            {**EDM, "status": "Collection(Elfskot.Quotations.QuotationStatus)"},
            id="collection-of-enums",
        ),
        pytest.param([FLAT], None, id="no-metadata"),
        pytest.param([FLAT], {}, id="empty-metadata"),
        pytest.param([], EDM, id="no-records"),
        pytest.param(["6f1c2b3a-0000-4000-8000-000000000001"], EDM, id="primitive-records"),
    ],
)
def test_no_reader_for_pages_the_schema_cannot_type(records: list[Any], edm: Any) -> None:
    assert PageReader.for_records(records, edm) is None


def test_a_reader_for_flat_typed_records_with_the_arrow_types_of_their_edm_types() -> None:
    reader = reader_for([FLAT])
    read = reader.read(body([FLAT, FLAT]))
    assert isinstance(read, ArrowPage) and len(read) == 2
    assert read.columns == list(FLAT)  # the first page's order
    types = {field.name: field.type for field in read.rows.type}
    assert types == {
        "id": pa.large_string(),
        "name": pa.large_string(),
        "price": pa.float64(),
        "quantity": pa.int64(),
        "big": pa.int64(),
        "active": pa.bool_(),
        "created": pa.large_string(),  # dates are parsed later, once per distinct text
        "due": pa.large_string(),
        "status": pa.large_string(),  # enum members arrive as their names
        "file": pa.null(),  # Edm.Untyped is only taken while it is null
    }
    assert read.rows.to_pylist() == [FLAT, FLAT]


def test_the_first_record_decides_even_when_its_values_are_null() -> None:
    # Types come from $metadata, not from the values: an all-null first record still reads.
    nulls = dict.fromkeys(FLAT)
    read = reader_for([nulls]).read(body([FLAT]))
    assert read is not None and read.rows.to_pylist() == [FLAT]


@pytest.mark.parametrize(
    "edm_type",
    ["Edm.Int16", "Edm.Byte", "Edm.SByte", "Edm.Double", "Edm.Single", "Edm.TimeOfDay"],
)
def test_other_primitive_types_give_a_reader(edm_type: str) -> None:
    assert PageReader.for_records([{"v": None}], {"v": edm_type}) is not None


# -- 2. what read() refuses, and what it reads ---------------------------------------------------

_SMALL_EDM = {"id": "Edm.Guid", "n": "Edm.Int32", "p": "Edm.Decimal", "b": "Edm.Boolean"}
_SMALL_EDM["u"] = "Edm.Untyped"
_ROW = '"id":"a","n":1,"p":1.5,"b":true,"u":null'


def _small_reader() -> PageReader:
    return reader_for([{"id": "a", "n": 1, "p": 1.5, "b": True, "u": None}], _SMALL_EDM)


def _page(row: str) -> bytes:
    return b'{"@odata.context":"x","value":[{' + row.encode() + b"}]}"


MISFITS = [
    pytest.param(_page(_ROW + ',"x":1'), id="unexpected-property"),
    pytest.param(_page('"@odata.etag":"W/1",' + _ROW), id="record-annotation"),
    pytest.param(_page(_ROW.replace('"n":1', '"n":"1"')), id="text-for-int"),
    pytest.param(_page(_ROW.replace('"n":1', '"n":1.5')), id="fraction-for-int"),
    pytest.param(_page(_ROW.replace('"n":1', '"n":1e2')), id="exponent-for-int"),
    pytest.param(_page(_ROW.replace('"n":1', '"n":true')), id="bool-for-int"),
    pytest.param(_page(_ROW.replace('"id":"a"', '"id":5')), id="number-for-text"),
    pytest.param(_page(_ROW.replace('"id":"a"', '"id":{"x":1}')), id="object-for-text"),
    pytest.param(_page(_ROW.replace('"id":"a"', '"id":["a"]')), id="list-for-text"),
    pytest.param(_page(_ROW.replace('"p":1.5', '"p":"1.5"')), id="text-for-number"),
    pytest.param(_page(_ROW.replace('"b":true', '"b":1')), id="number-for-bool"),
    pytest.param(_page(_ROW.replace('"b":true', '"b":"true"')), id="text-for-bool"),
    pytest.param(_page(_ROW.replace('"u":null', '"u":"x"')), id="untyped-not-null"),
    pytest.param(_page(_ROW.replace('"u":null', '"u":{"a":1}')), id="untyped-object"),
    pytest.param(_page(_ROW.replace('"id":"a"', '"id":"\\ud800"')), id="lone-surrogate"),
    pytest.param(_page(_ROW.replace('"id":"a"', '"id":"\\udc00x"')), id="lone-low-surrogate"),
    pytest.param(_page(_ROW.replace('"n":1', '"n":9223372036854775808')), id="int-above-int64"),
    pytest.param(_page(_ROW.replace('"n":1', '"n":-9223372036854775809')), id="int-below-int64"),
    pytest.param(_page(_ROW.replace('"p":1.5', '"p":1e400')), id="number-beyond-double"),
    pytest.param(b'{"value":null}', id="value-null"),
    pytest.param(b'{"value":{"id":"a"}}', id="value-object"),
    pytest.param(b'{"@odata.context":"x"}', id="value-missing"),
    pytest.param(b'{"value":[null]}', id="null-record"),
    pytest.param(b'{"value":[{' + _ROW.encode() + b"},null]}", id="null-record-later"),
    pytest.param(b'{"value":[1]}', id="number-record"),
    pytest.param(b'{"value":[["a"]]}', id="list-record"),
    pytest.param(b'{"value":[]}\n{"value":[]}', id="two-documents"),
    pytest.param(b'{"value":[]} {"value":[]}', id="two-documents-one-line"),
    pytest.param(b'{"value":[]}x', id="trailing-garbage"),
    pytest.param(b'{"value":[{"id":"a"', id="truncated"),
    pytest.param(b'{"@odata.deltaLink":"x","value":[]}', id="unknown-page-member"),
    pytest.param(b'{"@odata.count":"5","value":[]}', id="count-as-text"),
    pytest.param(b'{"@odata.nextLink":5,"value":[]}', id="next-link-as-number"),
    pytest.param(b'[{"id":"a"}]', id="top-level-array"),
    pytest.param(b"", id="empty-body"),
    pytest.param(b"   \n ", id="blank-body"),
    pytest.param(b"<html><body>Sign in</body></html>", id="html"),
]


@pytest.mark.parametrize("payload", MISFITS)
def test_pages_that_do_not_fit_are_left_to_the_decoder(payload: bytes) -> None:
    assert _small_reader().read(payload) is None


def test_invalid_utf8_is_left_to_the_decoder() -> None:
    payload = _page(_ROW).replace(b'"id":"a"', b'"id":"\xff\xfe"')
    with pytest.raises(ValueError):
        json.loads(payload)  # the decoded path reports this answer as malformed
    assert _small_reader().read(payload) is None


@pytest.mark.parametrize("payload", [b"null", b" null\n"])
def test_a_null_body_is_left_to_the_decoder_without_crashing(payload: bytes) -> None:
    # In a child process: the failure this guards against is a segmentation fault.
    code = (
        "from elfsquad_magic.fetch.arrow_reader import PageReader\n"
        "reader = PageReader.for_records([{'id': 'a'}], {'id': 'Edm.String'})\n"
        f"print(reader.read({payload!r}))\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (child.returncode, child.stdout.strip()) == (0, "None"), child.stderr[-500:]


def test_read_takes_count_next_link_and_the_records() -> None:
    rows = [{"id": "a", "n": 1, "p": 1.5, "b": True, "u": None}]
    rows.append({"id": "b", "n": -2, "p": 0, "b": False, "u": None})
    link = "https://x/data/1/Things?$skip=2&$filter=name%20eq%20%27%C3%A9%27"
    read = _small_reader().read(body(rows, count=1234, next_link=link))
    assert read is not None
    assert (read.count, read.next_link, len(read)) == (1234, link, 2)
    assert read.rows.to_pylist() == [{**rows[0]}, {**rows[1], "p": 0.0}]


def test_read_without_annotations_and_an_empty_page() -> None:
    read = _small_reader().read(b'{"value":[]}')
    assert read is not None and len(read) == 0
    assert (read.count, read.next_link) == (None, None)
    etag = _small_reader().read(b'{"@odata.metadataEtag":"W/\\"1\\"","value":[]}')
    assert etag is not None and len(etag) == 0


@pytest.mark.parametrize(
    "dump",
    [
        pytest.param(lambda p: json.dumps(p, indent=2).encode(), id="indented"),
        pytest.param(
            lambda p: json.dumps(p, indent="\t").replace("\n", "\r\n").encode(), id="crlf"
        ),
        pytest.param(lambda p: json.dumps(p).encode() + b"\n", id="trailing-newline"),
        pytest.param(lambda p: json.dumps(p, ensure_ascii=True).encode(), id="ascii-escapes"),
        pytest.param(lambda p: orjson.dumps(p, option=orjson.OPT_INDENT_2), id="orjson-indented"),
    ],
)
def test_read_takes_any_layout_of_the_json(dump: Any) -> None:
    rows = [
        {"id": 'line\nbreak "quoted" \\ back', "n": 7, "p": -0.25, "b": False, "u": None},
        {"id": "Ångström 😀 \u2028 \t tab", "n": 0, "p": 1e-300, "b": True, "u": None},
    ]
    payload = {"@odata.count": 2, "value": rows, "@odata.nextLink": "https://x/next"}
    read = _small_reader().read(dump(payload))
    assert read is not None
    assert (read.count, read.next_link) == (2, "https://x/next")
    assert read.rows.to_pylist() == rows


def test_escaped_surrogate_pairs_decode_to_one_character() -> None:
    read = _small_reader().read(_page(_ROW.replace('"id":"a"', '"id":"\\ud83d\\ude00\\u00e9\\/"')))
    assert read is not None and read.values("id") == ["😀é/"]


def test_a_missing_property_reads_as_null_and_order_follows_the_first_page() -> None:
    payload = b'{"value":[{"u":null,"n":2,"id":"b"},{"p":2.5}]}'
    read = _small_reader().read(payload)
    assert read is not None and read.columns == ["id", "n", "p", "b", "u"]
    assert read.rows.to_pylist() == [
        {"id": "b", "n": 2, "p": None, "b": None, "u": None},
        {"id": None, "n": None, "p": 2.5, "b": None, "u": None},
    ]


def test_int64_limits_are_kept_exactly() -> None:
    low, high = -(2**63), 2**63 - 1
    rows = [{"id": "a", "n": low}, {"id": "b", "n": None}, {"id": "c", "n": high}]
    read = _small_reader().read(body(rows))
    assert read is not None and read.values("n") == [low, None, high]
    for backend in BACKENDS:
        builder = FrameBuilder(_SMALL_EDM, backend)
        builder.add(read)
        column = builder.frame()["n"]
        assert column.isna().tolist() == [False, True, False]
        assert [int(column[0]), int(column[2])] == [low, high], backend


def test_arrow_page_slicing_and_keys() -> None:
    rows = [{"id": str(i), "n": i, "p": None, "b": None, "u": None} for i in range(5)]
    read = _small_reader().read(body(rows, count=99, next_link="https://x/next"))
    assert read is not None and len(read) == 5 and "5 rows" in repr(read)
    head = read[:3]
    assert isinstance(head, ArrowPage) and len(head) == 3
    assert (head.count, head.next_link) == (99, "https://x/next")
    assert head.values("id") == ["0", "1", "2"]
    assert read[3:].values("n") == [3, 4]
    assert len(read[:0]) == 0 and len(read[10:]) == 0 and len(read[:100]) == 5
    with pytest.raises(ValueError):
        read[::2]
    assert read.key_values(("id",)) == ["0", "1", "2", "3", "4"]
    assert read[1:3].key_values(("id", "n")) == [("1", 1), ("2", 2)]
    assert read[:2].key_values(("id", "absent")) == [("0", None), ("1", None)]


# -- 3. the frame is the same ---------------------------------------------------------------------

# Values that have gone wrong in converters before: nulls of every type, .NET's min/max dates
# (NaT), offsets of every form, 7-digit fractions, text JSON must escape.
AWKWARD = [
    FLAT,
    dict.fromkeys(FLAT),
    {
        "id": "6f1c2b3a-0000-4000-8000-000000000003",
        "name": 'Ångström "rush" O\'Brien\nline 2\\back\ttab 😀 \u0000 \u2028',
        "price": -0.0,
        "quantity": 0,
        "big": -(2**53) - 3,
        "active": False,
        "created": "0001-01-01T00:00:00",
        "due": "0001-01-01",
        "status": "Closed",
        "file": None,
    },
    {
        "id": "6f1c2b3a-0000-4000-8000-000000000004",
        "name": "",
        "price": -1234567.891,
        "quantity": -7,
        "big": 2**53 + 1,
        "active": True,
        "created": "2024-02-03T04:05:06.1234567+02:00",
        "due": "9999-12-31",
        "status": "",
        "file": None,
    },
    {
        "id": "6f1c2b3a-0000-4000-8000-000000000005",
        "name": "ascii",
        "price": 1e300,
        "quantity": 2147483647,
        "big": 2**62 + 11,
        "active": None,
        "created": "9999-12-31T23:59:59.9999999Z",
        "due": "1677-09-20",
        "status": "Open",
        "file": None,
    },
    {
        "id": "6f1c2b3a-0000-4000-8000-000000000006",
        "name": None,
        "price": 3,
        "quantity": None,
        "big": -5,
        "active": False,
        "created": "2024-06-01T10:20:30",
        "due": "2262-04-12",
        "status": None,
        "file": None,
    },
    {
        "id": "6f1c2b3a-0000-4000-8000-000000000007",
        "name": "ümlaut",
        "price": 5e-324,
        "quantity": -2147483648,
        "big": 0,
        "active": True,
        "created": "2024-06-01T10:20:30-05:30",
        "due": "2024-12-31",
        "status": "Open",
        "file": None,
    },
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_awkward_values_give_the_same_frame(backend: str | None) -> None:
    pages = [AWKWARD[:1], AWKWARD[1:4], AWKWARD[4:]]
    arrow, taken = arrow_frame(pages, EDM, backend)
    decoded = decoded_frame(pages, EDM, backend)
    assert taken == 2
    # Both paths keep every digit of integers next to nulls (none goes through float64).
    pd.testing.assert_frame_equal(arrow, decoded, check_exact=True)
    exact = [r["big"] for r in AWKWARD]
    assert [None if pd.isna(v) else int(v) for v in arrow["big"]] == exact
    assert arrow["created"].isna().tolist() == [False, True, True, False, True, False, False]
    assert arrow["due"].isna().tolist() == [False, True, True, True, True, True, False]
    assert arrow.loc[3, "created"] == pd.Timestamp("2024-02-03T02:05:06.1234567Z")
    assert arrow.loc[6, "created"] == pd.Timestamp("2024-06-01T15:50:30Z")
    assert arrow.loc[2, "name"] == AWKWARD[2]["name"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_integers_within_53_bits_give_an_identical_frame(backend: str | None) -> None:
    records = [{**r, "big": None if r["big"] is None else r["big"] % 2**40} for r in AWKWARD]
    pages = [records[:2], records[2:5], records[5:]]
    arrow, taken = arrow_frame(pages, EDM, backend)
    assert taken == 2
    pd.testing.assert_frame_equal(arrow, decoded_frame(pages, EDM, backend), check_exact=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_column_null_on_every_arrow_page_keeps_its_dtype(backend: str | None) -> None:
    # One type per page: all-null batches must come out typed like the decoded ones.
    first = [{**FLAT, "big": 5}]
    nulls = [dict.fromkeys(FLAT) for _ in range(3)]
    pages = [first, nulls, nulls]
    arrow, taken = arrow_frame(pages, EDM, backend, batch_rows=2)
    assert taken == 2
    pd.testing.assert_frame_equal(arrow, decoded_frame(pages, EDM, backend), check_exact=True)
    only_nulls, _ = arrow_frame([nulls, nulls], EDM, backend)
    pd.testing.assert_frame_equal(only_nulls, decoded_frame([nulls, nulls], EDM, backend))


def _mixed_pages() -> list[list[dict[str, Any]]]:
    """Pages of 3 rows; some the reader takes, some it refuses (the decoder takes those)."""
    records = [
        {**r, "id": f"{i:04d}", "big": None if r["big"] is None else i * 1000}
        for i, r in enumerate(AWKWARD * 4)
    ]
    pages = [records[i : i + 3] for i in range(0, len(records), 3)]
    pages[2] = [{**r, "file": "a document"} for r in pages[2]]  # Untyped, not null: decoded
    pages[4] = [{**r, "quantity": None} for r in pages[4]]  # all null: Arrow
    pages[5] = [{**r, "file": {"name": "x.pdf"}} for r in pages[5]]  # an object: decoded
    return pages


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch_rows", [1, 4, 8192])
def test_arrow_and_decoded_pages_mixed_in_one_builder(backend: str | None, batch_rows: int) -> None:
    pages = _mixed_pages()
    arrow, taken = arrow_frame(pages, EDM, backend, batch_rows=batch_rows)
    assert taken == len(pages) - 3  # the first page and the two refused ones are decoded
    decoded = decoded_frame(pages, EDM, backend)
    assert "file.name" in decoded.columns
    pd.testing.assert_frame_equal(arrow, decoded, check_exact=True)


def built_tables(pages: list[list[dict[str, Any]]], batch_rows: int, polars: bool) -> Any:
    """``pages`` through a :class:`TableBuilder` as a fetch gives them to it: its polars
    frame and ETags (``polars``), else its Arrow table."""
    edm = {**EDM, ETAG: "Edm.String"}
    first = orjson.loads(orjson.dumps(pages[0]))
    reader = PageReader.for_records(first, edm)
    builder = TableBuilder(
        edm, None, reader=reader, batch_rows=batch_rows, polars=polars, keys=["id"]
    )
    builder.add(first)
    for records in pages[1:]:
        read = reader.read(body(records)) if reader is not None else None
        builder.add(read if read is not None else orjson.loads(orjson.dumps(records)))
    return builder.polars_frame() if polars else builder.table()


@pytest.mark.parametrize("batch_rows", [1, 4, 8192])
def test_polars_made_batch_by_batch_is_the_whole_table_made_polars(batch_rows: int) -> None:
    """A polars result is made of each batch as it is built (the whole Arrow table never
    exists); it equals the whole table made polars at once, and the ETags are kept apart."""
    pl = pytest.importorskip("polars")
    pages = [[{**r, ETAG: f'W/"{r["id"]}"'} for r in page] for page in _mixed_pages() + [[]]]
    table = built_tables(pages, batch_rows, polars=False)
    frame, etags = built_tables(pages, batch_rows, polars=True)
    whole = pl.from_arrow(table.drop_columns([ETAG]))
    assert frame.columns == whole.columns and frame.schema == whole.schema
    assert frame.equals(whole, null_equal=True) and frame.height == sum(map(len, pages))
    assert etags.column_names == ["id", ETAG]
    assert etags.to_pylist() == table.select(["id", ETAG]).to_pylist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_unexpected_property_on_a_later_page_is_decoded_into_its_column(
    backend: str | None,
) -> None:
    pages = [AWKWARD[:2], [{**r, "note": "late"} for r in AWKWARD[2:4]], AWKWARD[4:]]
    pages = [[{**r, "big": 1} for r in p] for p in pages]
    arrow, taken = arrow_frame(pages, EDM, backend, batch_rows=2)
    assert taken == 1
    decoded = decoded_frame(pages, EDM, backend)
    assert decoded["note"].notna().sum() == 2
    pd.testing.assert_frame_equal(arrow, decoded, check_exact=True)


# Text JSON can carry (no lone surrogates), finite numbers, every int64, and nulls.
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_MOMENTS = st.datetimes(datetime(1700, 1, 1), datetime(2200, 1, 1))
_OFFSETS = st.sampled_from(["", "Z", "+02:00", "-05:30", "+00:00"])


def _stamp(moment: datetime, offset: str, digits: int) -> str:
    fraction = f".{moment.microsecond:06d}{digits % 10}"[: digits + 1] if digits else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + offset


_STAMPS = st.one_of(
    st.builds(_stamp, _MOMENTS, _OFFSETS, st.integers(0, 7)),
    st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999+00:00"]),
)
_INT64 = st.integers(-(2**63), 2**63 - 1)
_HYPO_EDM = {
    "id": "Edm.Guid",
    "text": "Edm.String",
    "price": "Edm.Decimal",
    "count": "Edm.Int64",
    "flag": "Edm.Boolean",
    "stamp": "Edm.DateTimeOffset",
    "day": "Edm.Date",
    "status": "Elfskot.Things.Status",
}


def _record(ints: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, Any]]:
    """A record with every property of ``_HYPO_EDM``, in that order, any of them null."""
    values = {
        "id": st.uuids().map(str),
        "text": _TEXT,
        "price": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-999, 999),
        "count": ints,
        "flag": st.booleans(),
        "stamp": _STAMPS,
        "day": st.dates().map(str),
        "status": st.sampled_from(["Open", "Closed", "Ångström"]),
    }
    return st.fixed_dictionaries({name: value | st.none() for name, value in values.items()})


_FIRST_PAGE = st.lists(_record(_INT64), min_size=1, max_size=6)
_LATER_PAGES = st.lists(st.lists(_record(_INT64), min_size=1, max_size=6), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    first=_FIRST_PAGE,
    later=_LATER_PAGES,
    backend=st.sampled_from(BACKENDS),
    batch_rows=st.integers(1, 12),
)
def test_arrow_pages_give_the_decoded_frame(
    first: list[dict[str, Any]],
    later: list[list[dict[str, Any]]],
    backend: str | None,
    batch_rows: int,
) -> None:
    pages = [first, *later]
    arrow, taken = arrow_frame(pages, _HYPO_EDM, backend, batch_rows=batch_rows)
    assert taken == len(later)  # every generated page fits the schema
    pd.testing.assert_frame_equal(arrow, decoded_frame(pages, _HYPO_EDM, backend))


# -- 4. the sandbox, through the client -----------------------------------------------------------


class PageKinds:
    """Counts the pages FrameBuilder.add is given, Arrow pages apart."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.arrow = 0
        self.decoded = 0
        self._lock = threading.Lock()
        original = FrameBuilder.add

        def add(builder: FrameBuilder, records: Any) -> int:
            with self._lock:
                if isinstance(records, ArrowPage):
                    self.arrow += 1
                else:
                    self.decoded += 1
            return original(builder, records)

        monkeypatch.setattr(FrameBuilder, "add", add)


def _both_ways(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch, path: str, **options: Any
) -> tuple[pd.DataFrame, pd.DataFrame, PageKinds]:
    """The frame with the reader, the frame without it, and the pages the first one took."""
    kinds = PageKinds(monkeypatch)
    client = make_client(sb, dtype_backend=options.pop("backend", None))
    fast = client.get(path, **options)
    with monkeypatch.context() as patch:
        patch.setattr(PageReader, "for_records", classmethod(lambda cls, records, edm: None))
        arrow_pages, decoded_pages = kinds.arrow, kinds.decoded
        slow = client.get(path, **options)
        assert kinds.arrow == arrow_pages, "the reader was used though it was switched off"
        assert kinds.decoded - decoded_pages == slow.attrs["elfsquad"]["pages"]
    return fast, slow, kinds


# Sets with more than one 50-row page whose records are flat: the reader reads them.
FLAT_SETS = ["QuotationLines", "CrmAccounts", "CrmContacts"]


@pytest.mark.parametrize("concurrency", [4, 1])
@pytest.mark.parametrize("entity_set", FLAT_SETS)
def test_sandbox_frames_are_the_same_with_the_reader(
    small_pages: Sandbox, monkeypatch: pytest.MonkeyPatch, entity_set: str, concurrency: int
) -> None:
    fast, slow, kinds = _both_ways(
        small_pages, monkeypatch, f"/data/1/{entity_set}", concurrency=concurrency
    )
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    rows = small_pages.rows(entity_set)
    pages = -(-len(rows) // PAGE)
    assert len(fast) == len(rows) and pages > 2
    assert kinds.arrow == pages - 1, "pages after the first did not go through the reader"
    assert fast["id"].tolist() == [r["id"] for r in rows]


@pytest.mark.parametrize("backend", ["numpy_nullable", "pyarrow"])
def test_sandbox_frames_are_the_same_with_every_backend(
    small_pages: Sandbox, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    fast, slow, kinds = _both_ways(
        small_pages, monkeypatch, "/data/1/QuotationLines", backend=backend, concurrency=4
    )
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert kinds.arrow > 100


def test_sandbox_values_come_through_exactly(
    small_pages: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    kinds = PageKinds(monkeypatch)
    frame = make_client(small_pages).get("/data/1/QuotationLines", concurrency=4)
    assert kinds.arrow > 100
    rows = small_pages.rows("QuotationLines")
    for name in ("lineNumber", "unitPrice", "description", "groupedRootLine"):
        got = [None if pd.isna(v) else v for v in frame[name]]
        assert got == [r[name] for r in rows], name
    created = pd.to_datetime([r["createdDate"] for r in rows], utc=True, format="ISO8601")
    assert frame["createdDate"].tolist() == list(created)


@pytest.mark.parametrize("concurrency", [4, 1])
@pytest.mark.parametrize(
    ("entity_set", "select"),
    [
        ("Quotations", "id,subject,totalPrice,status,expiresDate,synced,versionNumber"),
        ("Features", "id,name,salesPrice,minValue,isRecommendation"),
        ("QuotationLines", "id,quantity,createdDate,file"),
    ],
)
def test_sandbox_select_reads_the_selected_properties(
    small_pages: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    entity_set: str,
    select: str,
    concurrency: int,
) -> None:
    fast, slow, kinds = _both_ways(
        small_pages,
        monkeypatch,
        f"/data/1/{entity_set}",
        select=select,
        concurrency=concurrency,
    )
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert list(fast.columns) == select.split(",")
    assert kinds.arrow == -(-len(fast) // PAGE) - 1 > 1


@pytest.mark.parametrize("concurrency", [4, 1])
@pytest.mark.parametrize(
    ("entity_set", "options"),
    [
        ("Quotations", {}),  # propertyIds is a list
        ("Features", {}),  # tags is a list
        (
            "QuotationLines",
            {"expand": "feature($select=name,salesPrice)", "select": "id,featureId,quantity"},
        ),
        ("CrmContacts", {"expand": "organization($select=name,currencyIso)"}),
    ],
)
def test_sandbox_nested_records_are_decoded(
    small_pages: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    entity_set: str,
    options: dict[str, str],
    concurrency: int,
) -> None:
    fast, slow, kinds = _both_ways(
        small_pages, monkeypatch, f"/data/1/{entity_set}", concurrency=concurrency, **options
    )
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert kinds.arrow == 0
    assert len(fast) == len(small_pages.rows(entity_set))
    if "feature" in options.get("expand", ""):
        assert fast["feature.name"].notna().sum() > len(fast) // 2


# -- 5. malformed later pages, end to end -------------------------------------------------------


def _currencies_with_a_bad_second_page(server: ScriptedServer, sandbox: Sandbox) -> Any:
    """A client of ``server``, which serves the sandbox's real $metadata (so the client knows
    the types and builds a reader) and two pages of Currencies, the second with a byte that
    is no UTF-8."""
    client = make_client(sandbox)
    client.login()
    metadata = client.engine.transport.request("GET", f"{sandbox.api_url}/data/1/$metadata").content
    first = {"iso": "EUR", "name": "Euro", "symbol": "€", "decimalDigits": 2}
    first.update(rounding=0.01, namePlural="Euros")
    later = orjson.dumps({"value": [{**first, "iso": "GBP", "name": "Pound \ufffd"}]})
    bad = later.replace("\ufffd".encode(), b"\xff")
    xml = {"Content-Type": "application/xml"}
    server.routes["/data/1/$metadata"] = lambda s, h: (200, xml, metadata)
    server.routes["/data/1/Currencies"] = lambda s, h: (
        (200, {"Content-Type": "application/json"}, bad)
        if "skip" in h.path
        else page([first], f"{server.url}/data/1/Currencies?skip=1")
    )
    return make_client(sandbox, login_url=server.url, api_url=server.url)


def test_invalid_utf8_on_a_later_page_is_malformed_for_the_decoder(
    server: ScriptedServer, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted = _currencies_with_a_bad_second_page(server, sandbox)
    monkeypatch.setattr(PageReader, "for_records", classmethod(lambda cls, records, edm: None))
    with pytest.raises(IncompleteResultError, match="not JSON"):
        scripted.get("/data/1/Currencies", concurrency=1)


def test_invalid_utf8_on_a_later_page_is_reported_like_any_malformed_answer(
    server: ScriptedServer, sandbox: Sandbox
) -> None:
    scripted = _currencies_with_a_bad_second_page(server, sandbox)
    with pytest.raises(IncompleteResultError, match="not JSON"):
        frame = scripted.get("/data/1/Currencies", concurrency=1)
        frame["name"].tolist()  # whatever comes back must be readable
