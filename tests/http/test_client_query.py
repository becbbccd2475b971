"""ElfsquadClient queries against the sandbox: paging, options, dtypes, entities, writes."""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import pytest
from clients import make_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elfsquad_magic.errors import UsageError


def test_all_pages_to_the_last_row_with_exact_identity(client, sandbox) -> None:
    expected = sandbox.rows("QuotationLines")
    frame = client.get("/data/1/QuotationLines")
    assert len(expected) > 500 * 3
    assert frame["id"].tolist() == [row["id"] for row in expected]
    assert frame["id"].is_unique
    meta = frame.attrs["elfsquad"]
    assert meta["pages"] == -(-len(expected) // 500)
    assert meta["url"] == f"{sandbox.api_url}/data/1/QuotationLines"
    assert meta["count"] is None and meta["elapsed"] > 0
    # Values survive the trip: compare a few columns row by row.
    for column in ("quotationId", "description", "lineNumber"):
        got = frame[column].astype(object).where(frame[column].notna(), None).tolist()
        assert got == [row[column] for row in expected]
    prices = frame["unitPrice"].tolist()
    assert prices == [float(row["unitPrice"]) for row in expected]


def test_set_names_are_case_insensitive(client) -> None:
    a = client.get("/data/1/quotationstatuses")
    b = client.get("data/1/QuotationStatuses")
    pd.testing.assert_frame_equal(a, b)


def test_filter_select_orderby_top(client, sandbox) -> None:
    rows = [r for r in sandbox.rows("Features") if r["salesPrice"] is not None]
    expected = sorted(
        (r for r in rows if r["salesPrice"] > 100), key=lambda r: (-r["salesPrice"], r["id"])
    )[:7]
    frame = client.get(
        "/data/1/features",
        filter="salesPrice gt 100",
        select=["name", "salesPrice", "id"],
        orderby="salesPrice desc,id",
        top=7,
    )
    assert list(frame.columns) == ["name", "salesPrice", "id"]
    assert frame["id"].tolist() == [r["id"] for r in expected]


def test_filter_with_quotes_and_ampersands_matches_exactly(client, sandbox) -> None:
    from elfsquad_magic.core.literals import to_odata_literal

    rows = sandbox.rows("CrmAccounts")
    for name in ("O'Connor Rad S.A.", "Rue de l'Église"):
        column = "companyName" if name.startswith("O'") else "streetName"
        frame = client.get("/data/1/crmaccounts", filter=f"{column} eq {to_odata_literal(name)}")
        assert frame["id"].tolist() == [r["id"] for r in rows if r[column] == name]
        assert len(frame) >= 1
    contacts = sandbox.rows("CrmContacts")
    name = next(r["companyName"] for r in contacts if "&" in (r["companyName"] or ""))
    frame = client.get("/data/1/crmcontacts", filter=f"companyName eq {to_odata_literal(name)}")
    assert frame["id"].tolist() == [r["id"] for r in contacts if r["companyName"] == name]


def test_unicode_and_reserved_characters_are_encoded(client, sandbox) -> None:
    value = "Ünïcode & # + % ? = / 'quoted'"
    from elfsquad_magic.core.literals import to_odata_literal

    frame = client.get("/data/1/features", filter=f"name eq {to_odata_literal(value)}")
    assert frame.empty
    assert "salesPrice" in frame.columns and str(frame["salesPrice"].dtype) == "float64"
    selected = client.get("/data/1/features", filter="salesPrice lt -1e9", select="name,id")
    assert list(selected.columns) == ["name", "id"] and selected.empty


def test_count_skip_and_guid_filter(client, sandbox) -> None:
    rows = sandbox.rows("Quotations")
    frame = client.get("/data/1/quotations", count="true", skip=5, top=3)
    assert frame.attrs["elfsquad"]["count"] == len(rows)
    assert frame["id"].tolist() == [r["id"] for r in rows[5:8]]
    target = rows[10]
    one = client.get("/data/1/quotations", filter=f"id eq {target['id']}")
    assert one["id"].tolist() == [target["id"]]


def test_date_filter_with_an_iso_literal(client, sandbox) -> None:
    since = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    from elfsquad_magic.core.literals import to_odata_literal

    frame = client.get(
        "/data/1/quotations", filter=f"createdDate ge {to_odata_literal(since)}", select="id"
    )
    expected = [
        r["id"]
        for r in sandbox.rows("Quotations")
        if pd.to_datetime(r["createdDate"], utc=True) >= since
    ]
    assert sorted(frame["id"].tolist()) == sorted(expected)


def test_expand_gives_prefixed_typed_columns(client, sandbox) -> None:
    frame = client.get("/data/1/features", expand="category", top=20)
    categories = {c["id"]: c for c in sandbox.rows("Categories")}
    assert "category" not in frame.columns
    for _, row in frame.iterrows():
        if isinstance(row["categoryId"], str):
            assert row["category.name"] == categories[row["categoryId"]]["name"]
    assert str(frame["category.createdDate"].dtype) == "datetime64[ns, UTC]"
    assert frame["tags"].map(lambda v: isinstance(v, list)).all()


def test_dtypes_per_edm_type(client) -> None:
    frame = client.get("/data/1/quotations")
    dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    assert dtypes["createdDate"] == "datetime64[ns, UTC]"  # Edm.DateTimeOffset
    assert dtypes["totalPrice"] == "float64"  # Edm.Decimal
    assert dtypes["quotationNumber"] in ("int64", "Int64")  # Edm.Int64
    assert dtypes["versionNumber"] in ("int64", "Int64")  # Edm.Int32
    assert dtypes["isVerified"] in ("bool", "boolean")  # Edm.Boolean
    assert pd.api.types.is_string_dtype(frame["id"])  # Edm.Guid
    assert pd.api.types.is_string_dtype(frame["subject"])  # Edm.String
    assert frame["propertyIds"].map(lambda v: isinstance(v, list)).all()  # Collection


def test_dtype_backends(sandbox) -> None:
    nullable = make_client(sandbox, dtype_backend="numpy_nullable").get("/data/1/quotations")
    assert str(nullable["totalPrice"].dtype) == "Float64"
    assert str(nullable["versionNumber"].dtype) == "Int64"
    assert str(nullable["subject"].dtype) == "string"
    pytest.importorskip("pyarrow")
    arrow = make_client(sandbox, dtype_backend="pyarrow").get("/data/1/quotations")
    assert str(arrow["totalPrice"].dtype) == "double[pyarrow]"
    assert str(arrow["createdDate"].dtype) == "timestamp[ns, tz=UTC][pyarrow]"


def test_limit_stops_after_n_rows(client, sandbox) -> None:
    expected = [r["id"] for r in sandbox.rows("QuotationLines")]
    frame = client.get("/data/1/quotationlines", limit=1234)
    assert frame["id"].tolist() == expected[:1234]
    assert frame.attrs["elfsquad"]["pages"] == 3
    assert client.get("/data/1/quotationlines", limit=0).empty


def test_no_paginate_takes_the_first_page(client, sandbox) -> None:
    frame = client.get("/data/1/quotationlines", paginate=False)
    assert frame["id"].tolist() == [r["id"] for r in sandbox.rows("QuotationLines")[:500]]
    assert frame.attrs["elfsquad"]["pages"] == 1


def test_single_entity_is_a_one_row_frame_in_both_key_forms(client, sandbox) -> None:
    row = sandbox.rows("Quotations")[3]
    for path in (f"/data/1/Quotations({row['id']})", f"/data/1/quotations/{row['id']}"):
        frame = client.get(path)
        assert frame.shape[0] == 1
        assert frame["id"][0] == row["id"]
        assert str(frame["createdDate"].dtype) == "datetime64[ns, UTC]"


def test_raw_gives_the_parsed_json(client, sandbox) -> None:
    payload = client.get("/data/1/vats", raw=True)
    assert isinstance(payload, dict)
    assert [r["id"] for r in payload["value"]] == [r["id"] for r in sandbox.rows("Vats")]


def test_metadata_comes_back_as_xml_text(client) -> None:
    text = client.request("GET", "/data/1/$metadata", raw=True)
    assert isinstance(text, str) and text.lstrip().startswith("<")
    assert client.schema().find("quotationlines") is not None


def test_full_url_on_the_api_host_is_accepted(client, sandbox) -> None:
    frame = client.get(f"{sandbox.api_url}/data/1/vats?$top=2")
    assert frame.shape[0] == 2


def test_progress_bar_only_for_several_pages(sandbox, capsys, monkeypatch) -> None:
    from elfsquad_magic.fetch import progress

    monkeypatch.setattr(progress, "is_terminal", lambda stream: True)  # as in a terminal
    client = make_client(sandbox, progress=True)
    client.get("/data/1/vats")
    assert "rows" not in capsys.readouterr().err
    client.get("/data/1/quotationlines", limit=1100)
    assert "rows" in capsys.readouterr().err
    client.get("/data/1/quotationlines", limit=1100, progress=False)
    assert "rows" not in capsys.readouterr().err


def test_json_body_on_get_is_refused(client) -> None:
    with pytest.raises(UsageError):
        client.request("GET", "/data/1/vats", json={"a": 1})


def test_create_update_delete(fresh_sandbox) -> None:
    client = make_client(fresh_sandbox)
    category = fresh_sandbox.rows("Categories")[0]
    new_id = str(uuid.uuid4())
    created = client.post(
        "/data/1/features",
        json={
            "id": new_id,
            "name": "Créé 'quoted'",
            "articleCode": "NEW-1",
            "salesPrice": 12.5,
            "categoryId": category["id"],
        },
    )
    assert isinstance(created, pd.DataFrame) and created["id"][0] == new_id
    assert str(created["salesPrice"].dtype) == "float64"
    assert client.patch(f"/data/1/features({new_id})", json={"salesPrice": 99}) is None
    stored = next(r for r in fresh_sandbox.rows("Features") if r["id"] == new_id)
    assert stored["salesPrice"] == 99 and stored["name"] == "Créé 'quoted'"
    assert client.delete(f"/data/1/features({new_id})") is None
    assert all(r["id"] != new_id for r in fresh_sandbox.rows("Features"))


_HOSTILE_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("'\"&#+%?=/\\()$,;: \t{}")),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    ),
    max_size=30,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_HOSTILE_TEXT)
def test_any_string_stays_inside_its_filter_literal(client, sandbox, value: str) -> None:
    """A value never widens or breaks the filter: exactly the rows equal to it, plus a known one."""
    from elfsquad_magic.notebook.cell import parse_request

    known = sandbox.rows("CrmAccounts")[0]
    request = parse_request(
        "GET /data/1/crmaccounts",
        "$filter=companyName eq {{value}} or id eq {{known_id}}\n$select=id,companyName",
        {"value": value, "known_id": known["id"]},
    )
    frame = client.send(request)
    expected = [
        r["id"]
        for r in sandbox.rows("CrmAccounts")
        if r["companyName"] == value or r["id"] == known["id"]
    ]
    assert sorted(frame["id"].tolist()) == sorted(expected)


def test_no_progress_bar_when_stderr_is_a_file(sandbox, tmp_path) -> None:
    """A script whose stderr goes to a log gets no bar frames in it."""
    import subprocess
    import sys

    script = (
        "from elfsquad_magic import ElfsquadClient\n"
        f"c = ElfsquadClient({sandbox.client_id!r}, {sandbox.client_secret!r}, "
        f"login_url={sandbox.login_url!r}, api_url={sandbox.api_url!r})\n"
        "print(len(c.get('/data/1/quotationlines', limit=1600)))\n"
    )
    log = tmp_path / "run.log"
    with log.open("wb") as stderr:
        done = subprocess.run(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=stderr, timeout=120
        )
    assert done.returncode == 0 and done.stdout.strip() == b"1600"
    written = log.read_bytes()
    assert b"\r" not in written and b"rows" not in written, written[:300]
