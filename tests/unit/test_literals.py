"""Python values -> OData literals: quoting, dates, guids, numbers, collections."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from elfsquad_magic.core.literals import to_odata_literal
from elfsquad_magic.errors import InterpolationError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "'plain'"),
        ("O'Brien", "'O''Brien'"),
        ("' or 1 eq 1 or name eq '", "''' or 1 eq 1 or name eq '''"),
        ("", "''"),
        ("ünïcødé & #", "'ünïcødé & #'"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (0, "0"),
        (-42, "-42"),
        (1.5, "1.5"),
        (1e20, "1e+20"),
        (float("nan"), "NaN"),
        (float("inf"), "INF"),
        (float("-inf"), "-INF"),
        (Decimal("12.50"), "12.50"),
        (Decimal("1E+3"), "1000"),
        (np.int64(7), "7"),
        (np.float64(2.25), "2.25"),
        (np.bool_(True), "true"),
    ],
)
def test_scalars_become_odata_literals(value: object, expected: str) -> None:
    assert to_odata_literal(value) == expected


def test_naive_datetime_is_taken_as_utc() -> None:
    assert to_odata_literal(dt.datetime(2024, 1, 1)) == "2024-01-01T00:00:00Z"


def test_aware_datetime_is_converted_to_utc() -> None:
    cet = dt.timezone(dt.timedelta(hours=1))
    assert to_odata_literal(dt.datetime(2024, 1, 1, 1, 30, tzinfo=cet)) == "2024-01-01T00:30:00Z"


def test_datetime_keeps_microseconds() -> None:
    value = dt.datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=dt.timezone.utc)
    assert to_odata_literal(value) == "2024-05-06T07:08:09.120000Z"


def test_pandas_timestamp_and_numpy_datetime() -> None:
    assert to_odata_literal(pd.Timestamp("2024-03-01 12:00", tz="UTC")) == "2024-03-01T12:00:00Z"
    assert to_odata_literal(np.datetime64("2024-03-01T12:00")) == "2024-03-01T12:00:00Z"


def test_date_time_and_duration() -> None:
    assert to_odata_literal(dt.date(2024, 2, 29)) == "2024-02-29"
    assert to_odata_literal(dt.time(14, 5)) == "14:05:00"
    assert to_odata_literal(dt.timedelta(days=1, hours=2, seconds=3.5)) == "duration'P1DT2H0M3.5S'"


def test_guid_is_unquoted() -> None:
    guid = uuid.UUID("6f1c2b3a-0000-4000-8000-000000000001")
    assert to_odata_literal(guid) == "6f1c2b3a-0000-4000-8000-000000000001"


def test_missing_values_are_null() -> None:
    assert to_odata_literal(pd.NA) == "null"
    assert to_odata_literal(pd.NaT) == "null"


def test_collections_become_in_lists() -> None:
    assert to_odata_literal(["a", "b'c"]) == "('a','b''c')"
    assert to_odata_literal((1, 2)) == "(1,2)"
    assert to_odata_literal({"b", "a"}) == "('a','b')"
    assert to_odata_literal(pd.Series([3, 4])) == "(3,4)"


def test_empty_and_nested_collections_are_refused() -> None:
    with pytest.raises(InterpolationError, match="empty list"):
        to_odata_literal([])
    with pytest.raises(InterpolationError, match="nested"):
        to_odata_literal([[1]])


def test_unsupported_type_names_the_type() -> None:
    with pytest.raises(InterpolationError, match="dict"):
        to_odata_literal({"a": 1})
    with pytest.raises(InterpolationError, match="object"):
        to_odata_literal(object())


def _read_string_literal(text: str) -> tuple[str, str]:
    """Read one OData string literal from the start of ``text``: (value, rest)."""
    assert text[0] == "'"
    out, i = [], 1
    while True:
        if text[i] == "'":
            if text[i + 1 : i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), text[i + 1 :]
        out.append(text[i])
        i += 1


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.text())
def test_any_string_stays_inside_its_literal(value: str) -> None:
    decoded, rest = _read_string_literal(to_odata_literal(value) + " and x eq 1")
    assert decoded == value
    assert rest == " and x eq 1"
