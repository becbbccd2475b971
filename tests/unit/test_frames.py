"""Records -> DataFrame: dtypes from Edm types, inference, flattening, backends."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from elfsquad_magic.fetch.frames import to_frame

RECORDS = [
    {
        "id": "6f1c2b3a-0000-4000-8000-000000000001",
        "name": "Frame A",
        "salesPrice": 10,
        "quantity": 2,
        "stock": None,
        "active": True,
        "archived": None,
        "createdDate": "2024-01-01T10:00:00Z",
        "modifiedDate": "0001-01-01T00:00:00",
        "tags": ["a", "b"],
        "category": {"name": "Frames", "parent": {"code": "F"}},
    },
    {
        "id": "6f1c2b3a-0000-4000-8000-000000000002",
        "name": 'O\'Brien, "quoted"',
        "salesPrice": 12.5,
        "quantity": 3,
        "stock": 4,
        "active": False,
        "archived": True,
        "createdDate": "2024-02-03T04:05:06.1234567+02:00",
        "modifiedDate": "2024-02-03T04:05:06",
        "tags": [],
        "category": None,
    },
]

EDM = {
    "id": "Edm.Guid",
    "name": "Edm.String",
    "salesPrice": "Edm.Decimal",
    "quantity": "Edm.Int32",
    "stock": "Edm.Int64",
    "active": "Edm.Boolean",
    "archived": "Edm.Boolean",
    "createdDate": "Edm.DateTimeOffset",
    "modifiedDate": "Edm.DateTimeOffset",
    "tags": "Collection(Edm.String)",
    "category.name": "Edm.String",
}


def test_dtypes_follow_edm_types() -> None:
    frame = to_frame(RECORDS, EDM)
    dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    assert dtypes["salesPrice"] == "float64"
    assert dtypes["quantity"] == "int64"
    assert dtypes["stock"] == "Int64"
    assert dtypes["active"] == "bool"
    assert dtypes["archived"] == "boolean"
    assert dtypes["createdDate"] == "datetime64[ns, UTC]"
    assert dtypes["modifiedDate"] == "datetime64[ns, UTC]"
    assert pd.api.types.is_string_dtype(frame["id"])
    assert frame["salesPrice"].tolist() == [10.0, 12.5]


def test_dates_parse_offsets_fractions_and_the_empty_date() -> None:
    frame = to_frame(RECORDS, EDM)
    assert frame["createdDate"].tolist() == [
        pd.Timestamp("2024-01-01T10:00:00Z"),
        pd.Timestamp("2024-02-03T02:05:06.1234567Z"),
    ]
    assert pd.isna(frame["modifiedDate"][0])
    assert frame["modifiedDate"][1] == pd.Timestamp("2024-02-03T04:05:06Z")


def test_expanded_objects_become_prefixed_columns_and_lists_stay_lists() -> None:
    frame = to_frame(RECORDS, EDM)
    assert "category" not in frame.columns
    assert frame["category.name"].tolist()[0] == "Frames"
    assert pd.isna(frame["category.name"][1])
    assert frame["category.parent.code"][0] == "F"
    assert frame["tags"].tolist() == [["a", "b"], []]


def test_types_are_inferred_without_a_schema() -> None:
    frame = to_frame(RECORDS)
    assert str(frame["createdDate"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["modifiedDate"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["quantity"].dtype) == "int64"
    assert str(frame["active"].dtype) == "bool"
    assert str(frame["archived"].dtype) == "boolean"
    assert str(frame["salesPrice"].dtype) == "float64"
    assert pd.api.types.is_string_dtype(frame["name"])


def test_pages_are_concatenated_in_order() -> None:
    pages = [[{"n": i, "s": f"x{i}"} for i in range(j, j + 3)] for j in (0, 3, 6)]
    frame = to_frame(pages, {"n": "Edm.Int32"})
    assert frame["n"].tolist() == list(range(9))
    assert list(frame.index) == list(range(9))


def test_column_null_on_one_page_gets_the_type_of_the_others() -> None:
    pages = [[{"n": None, "d": None}], [{"n": 2, "d": "2024-01-01T00:00:00Z"}]]
    frame = to_frame(pages, {"n": "Edm.Int32", "d": "Edm.DateTimeOffset"})
    assert str(frame["n"].dtype) == "Int64"
    assert str(frame["d"].dtype) == "datetime64[ns, UTC]"


def test_empty_result_is_an_empty_frame() -> None:
    assert to_frame([]).empty


def test_numpy_nullable_backend() -> None:
    frame = to_frame(RECORDS, EDM, dtype_backend="numpy_nullable")
    assert str(frame["salesPrice"].dtype) == "Float64"
    assert str(frame["quantity"].dtype) == "Int64"
    assert str(frame["active"].dtype) == "boolean"
    assert str(frame["name"].dtype) == "string"


def test_pyarrow_backend() -> None:
    pytest.importorskip("pyarrow")
    frame = to_frame(RECORDS, EDM, dtype_backend="pyarrow")
    assert str(frame["salesPrice"].dtype) == "double[pyarrow]"
    assert str(frame["quantity"].dtype) == "int64[pyarrow]"
    assert str(frame["createdDate"].dtype) == "timestamp[ns, tz=UTC][pyarrow]"
    assert frame["name"].dtype.storage == "pyarrow"


def test_unknown_backend_is_refused() -> None:
    from elfsquad_magic.errors import UsageError

    with pytest.raises(UsageError):
        to_frame(RECORDS, dtype_backend="arrow")


# -- FrameBuilder: batches, memory, irregular pages --------------------------------------------

LINE_EDM = {
    "id": "Edm.Guid",
    "n": "Edm.Int32",
    "price": "Edm.Decimal",
    "ok": "Edm.Boolean",
    "at": "Edm.DateTimeOffset",
    "name": "Edm.String",
    "tags": "Collection(Edm.String)",
    "category.name": "Edm.String",
}


def _lines(count: int, start: int = 0) -> list[dict]:
    return [
        {
            "id": f"6f1c2b3a-0000-4000-8000-{i:012d}",
            "n": i,
            "price": None if i % 5 == 0 else i / 4,
            "ok": i % 3 == 0,
            "at": "0001-01-01T00:00:00" if i % 7 == 0 else f"2024-01-{1 + i % 28:02d}T10:00:00Z",
            "name": None if i % 11 == 0 else f"line {i}",
            "tags": ["a"] * (i % 3),
            "category": {"name": f"c{i % 4}"} if i % 2 else None,
        }
        for i in range(start, start + count)
    ]


def _build(pages: list[list[dict]], batch_rows: int) -> pd.DataFrame:
    from elfsquad_magic.fetch.frames import FrameBuilder

    builder = FrameBuilder(LINE_EDM, batch_rows=batch_rows)
    for page in pages:
        builder.add(page)
    return builder.frame()


def test_small_batches_give_the_frame_of_one_batch() -> None:
    pages = [_lines(50, start) for start in range(0, 1000, 50)]
    whole = _build(pages, batch_rows=100_000)
    batched = _build(pages, batch_rows=64)
    pd.testing.assert_frame_equal(batched, whole, check_exact=True)
    assert whole["n"].tolist() == list(range(1000))
    assert str(whole["price"].dtype) == "float64" and whole["price"].isna().sum() == 200
    assert str(whole["at"].dtype) == "datetime64[ns, UTC]" and whole["at"].isna().sum() == 143
    assert whole["tags"].tolist()[:3] == [[], ["a"], ["a", "a"]]
    assert pd.isna(whole["category.name"][0]) and whole["category.name"][1] == "c1"


def test_no_python_row_object_outlives_its_batch() -> None:
    from elfsquad_magic.fetch.frames import FrameBuilder

    marker = "".join(["6f1c2b3a-ffff-4000-8000-", "000000000000"])  # one str object
    before = sys.getrefcount(marker)
    pages = [_lines(50, start) for start in range(0, 300, 50)]
    for page in pages:
        for line in page:
            del line["category"]  # flat pages: the fast path, one object block per page
    pages[1][7]["id"] = marker
    builder = FrameBuilder(LINE_EDM, batch_rows=64)
    for page in pages:
        builder.add(page)
    del pages, page, line
    # The marker's batch is converted (text went to Arrow) while the builder goes on: no
    # object array (the batch's block, or a view of it) may still hold the Python string,
    # or every row object of every batch would live until the end of the fetch.
    assert sys.getrefcount(marker) == before
    frame = builder.frame()
    assert frame["id"].iloc[57] == marker


def test_pages_with_different_properties_are_aligned() -> None:
    pages = [[{"id": "a", "n": 1}], [{"id": "b", "extra": "x"}], [{"n": 3, "id": "c"}]]
    frame = to_frame(pages, {"id": "Edm.String", "n": "Edm.Int32", "extra": "Edm.String"})
    assert frame["id"].tolist() == ["a", "b", "c"]
    assert frame["n"].tolist()[0] == 1 and pd.isna(frame["n"][1]) and frame["n"][2] == 3
    assert str(frame["n"].dtype) == "Int64"
    assert frame["extra"].tolist()[1] == "x"


def test_values_that_do_not_fit_the_declared_type() -> None:
    records = [
        {"name": "a", "price": "1.5"},
        {"name": 7, "price": "n/a"},
        {"name": None, "price": 2},
    ]
    frame = to_frame(records, {"name": "Edm.String", "price": "Edm.Decimal"})
    assert frame["name"].tolist() == ["a", 7, None]  # kept as they came, not stringified
    assert frame["price"].tolist()[0] == 1.5 and pd.isna(frame["price"][1])
    assert frame["price"][2] == 2.0


def test_shared_time_stamps_parse_like_distinct_ones() -> None:
    stamps = ["2024-05-06T07:08:09.1234567+02:00", "2024-05-06T07:08:09Z", None, "bad"]
    records = [{"at": stamps[i % 4]} for i in range(400)]
    frame = to_frame(records, {"at": "Edm.DateTimeOffset"})
    expected = pd.to_datetime(
        pd.Series([stamps[i % 4] for i in range(400)], dtype=object),
        utc=True,
        format="ISO8601",
        errors="coerce",
    ).astype("datetime64[ns, UTC]")
    pd.testing.assert_series_equal(frame["at"], expected, check_names=False)
