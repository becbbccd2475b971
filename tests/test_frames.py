"""Records -> DataFrame: dtypes from Edm types, inference, flattening, backends."""

from __future__ import annotations

import pandas as pd
import pytest

from elfsquad_magic.frames import to_frame

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
