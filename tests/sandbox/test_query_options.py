"""Each query option against rows computed in Python from the seed data."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from conftest import data, fetch_all
from sandbox_expected import instant, sort_rows

ODD_NAME = "O'Brien's \"special\" frame, 58cm"


def _odata_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ids(rows: list[dict]) -> set[str]:
    return {r["id"] for r in rows}


FEATURE_FILTERS = [
    ("salesPrice gt 100", lambda r: r["salesPrice"] is not None and r["salesPrice"] > 100),
    ("salesPrice le 0", lambda r: r["salesPrice"] is not None and r["salesPrice"] <= 0),
    ("salesPrice eq null", lambda r: r["salesPrice"] is None),
    ("salesPrice ne null and salesPrice lt 0", lambda r: (r["salesPrice"] or 0) < 0),
    (f"name eq {_odata_string(ODD_NAME)}", lambda r: r["name"] == ODD_NAME),
    ("contains(name,'''')", lambda r: r["name"] is not None and "'" in r["name"]),
    ("contains(name,'\"')", lambda r: r["name"] is not None and '"' in r["name"]),
    ("startswith(name,'Alu')", lambda r: r["name"] is not None and r["name"].startswith("Alu")),
    ("endswith(name,'7')", lambda r: r["name"] is not None and r["name"].endswith("7")),
    ("contains(name,'%')", lambda r: r["name"] is not None and "%" in r["name"]),
    ("contains(name,'_')", lambda r: r["name"] is not None and "_" in r["name"]),
    ("contains(name,'Größe')", lambda r: r["name"] is not None and "Größe" in r["name"]),
    ("not contains(name,'a')", lambda r: not (r["name"] is not None and "a" in r["name"])),
    ("name ne 'Lamp 0'", lambda r: r["name"] != "Lamp 0"),
    (
        "type eq 'Option' or salesPrice lt 10 and disallowDiscount eq true",
        lambda r: (
            r["type"] == "Option"
            or (r["salesPrice"] is not None and r["salesPrice"] < 10 and r["disallowDiscount"])
        ),
    ),
    (
        "(type eq 'Option' or salesPrice lt 10) and not disallowDiscount eq true",
        lambda r: (
            (r["type"] == "Option" or (r["salesPrice"] is not None and r["salesPrice"] < 10))
            and not r["disallowDiscount"]
        ),
    ),
    ("type in ('Text','Value')", lambda r: r["type"] in ("Text", "Value")),
    (
        "createdDate ge 2024-01-01T00:00:00Z",
        lambda r: instant(r["createdDate"]) >= datetime(2024, 1, 1, tzinfo=timezone.utc),
    ),
    (
        "createdDate lt 2021-06-01T12:00:00+02:00",
        lambda r: instant(r["createdDate"]) < datetime(2021, 6, 1, 10, tzinfo=timezone.utc),
    ),
    ("year(createdDate) eq 2022", lambda r: instant(r["createdDate"]).year == 2022),
    ("updatedDate eq 0001-01-01T00:00:00Z", lambda r: r["updatedDate"] == "0001-01-01T00:00:00Z"),
    ("salesPrice mul 2 gt 8000", lambda r: r["salesPrice"] is not None and r["salesPrice"] > 4000),
    ("tolower(name) eq 'lamp 0'", lambda r: (r["name"] or "").lower() == "lamp 0"),
]


@pytest.mark.parametrize(
    ("text", "predicate"), FEATURE_FILTERS, ids=[f[0] for f in FEATURE_FILTERS]
)
def test_filter_on_features_matches_python(api, tenant, text, predicate) -> None:
    expected = [r for r in tenant["Features"] if predicate(r)]
    got = fetch_all(api, "Features", **{"$filter": text})
    assert _ids(got) == _ids(expected)
    assert len(got) == len(expected)


def test_filter_guid_literal_unquoted_and_in(api, tenant) -> None:
    cats = [c["id"] for c in tenant["Categories"][:2]]
    got = fetch_all(api, "features", **{"$filter": f"categoryId eq {cats[0]}"})
    assert _ids(got) == {r["id"] for r in tenant["Features"] if r["categoryId"] == cats[0]}
    got = fetch_all(api, "features", **{"$filter": f"categoryId in ({cats[0]},{cats[1]})"})
    assert _ids(got) == {r["id"] for r in tenant["Features"] if r["categoryId"] in cats}
    upper = cats[0].upper()
    got = fetch_all(api, "features", **{"$filter": f"categoryId eq {upper}"})
    assert len(got) == sum(r["categoryId"] == cats[0] for r in tenant["Features"]) > 0


def test_filter_lines_of_one_quotation(api, tenant) -> None:
    quotation = tenant["Quotations"][5]
    text = f"quotationId eq {quotation['id']} and quantity ge 2"
    got = fetch_all(api, "quotationlines", **{"$filter": text})
    expected = [
        r
        for r in tenant["QuotationLines"]
        if r["quotationId"] == quotation["id"] and r["quantity"] >= 2
    ]
    assert _ids(got) == _ids(expected)


def test_quoted_injection_attempt_is_a_plain_string(api, tenant) -> None:
    reply = api("Features", params={"$filter": "contains(name,'x'') OR 1=1 --')"})
    assert reply.status_code == 200
    assert reply.json()["value"] == []
    reply = api("Features", params={"$filter": "name eq 'a'';DROP TABLE t_Features;--'"})
    assert reply.status_code == 200
    assert len(fetch_all(api, "Features")) == len(tenant["Features"])


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("nope eq 1", "nope"),
        ("salesPrice gt", None),
        ("contains(name)", None),
        ("category/name eq 'x'", None),
        ("tags/any(t: t eq 'a')", None),
        ("salesPrice eq 'abc'", None),
        ("createdDate gt 'not a date'", None),
        ("(((", None),
    ],
)
def test_bad_filter_is_400_with_odata_error(api, text, needle) -> None:
    reply = api("Features", params={"$filter": text})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] and error["message"]
    if needle:
        assert needle in error["message"]


def test_select_returns_only_the_selected_properties(api, tenant) -> None:
    got = fetch_all(api, "Features", **{"$select": "name,salesPrice,id"})
    assert all(set(data(r)) == {"name", "salesPrice", "id"} for r in got)
    by_id = {r["id"]: r for r in tenant["Features"]}
    assert all(by_id[r["id"]]["salesPrice"] == r["salesPrice"] for r in got)


def test_select_unknown_property_is_400(api) -> None:
    reply = api("Features", params={"$select": "name,bogus"})
    assert reply.status_code == 400
    assert "bogus" in reply.json()["error"]["message"]


@pytest.mark.parametrize(
    ("orderby", "keys"),
    [
        ("salesPrice desc,name", [("salesPrice", True), ("name", False)]),
        ("type,salesPrice", [("type", False), ("salesPrice", False)]),
        ("createdDate desc", [("createdDate", True)]),
        ("name asc", [("name", False)]),
    ],
)
def test_orderby_several_keys_matches_python_sort(api, tenant, orderby, keys) -> None:
    got = fetch_all(api, "Features", **{"$orderby": orderby})
    expected = sort_rows(tenant["Features"], keys)
    assert [r["id"] for r in got] == [r["id"] for r in expected]


def test_orderby_unknown_property_is_400(api) -> None:
    assert api("Features", params={"$orderby": "bogus desc"}).status_code == 400
    assert api("Features", params={"$orderby": "name sideways"}).status_code == 400


def test_top_and_skip_slice_the_key_order(api, tenant) -> None:
    expected = sorted(tenant["Features"], key=lambda r: r["id"])[30:47]
    reply = api("Features", params={"$top": "17", "$skip": "30"})
    doc = reply.json()
    assert [r["id"] for r in doc["value"]] == [r["id"] for r in expected]
    assert "@odata.nextLink" not in doc


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", ""])
def test_bad_top_or_skip_is_400(api, value) -> None:
    assert api("Features", params={"$top": value}).status_code == 400
    assert api("Features", params={"$skip": value}).status_code == 400


def test_count_true_counts_the_filtered_set(api, tenant) -> None:
    reply = api("Features", params={"$filter": "salesPrice gt 100", "$count": "true", "$top": "3"})
    doc = reply.json()
    expected = sum(1 for r in tenant["Features"] if (r["salesPrice"] or 0) > 100)
    assert doc["@odata.count"] == expected
    assert len(doc["value"]) == 3
    assert "@odata.count" not in api("Features", params={"$top": "1"}).json()


def test_count_segment(api, tenant) -> None:
    reply = api("Quotations/$count")
    assert reply.status_code == 200
    assert int(reply.text) == len(tenant["Quotations"])


def test_expand_to_one_with_nested_select(api, tenant) -> None:
    names = {c["id"]: c["name"] for c in tenant["Categories"]}
    got = fetch_all(api, "Features", **{"$expand": "category($select=name)", "$select": "id"})
    by_id = {r["id"]: r for r in tenant["Features"]}
    for row in got:
        category_id = by_id[row["id"]]["categoryId"]
        if category_id is None:
            assert row["category"] is None
        else:
            assert row["category"] == {"name": names[category_id]}


def test_expand_feature_of_quotation_lines(api, tenant) -> None:
    features = {f["id"]: f for f in tenant["Features"]}
    reply = api("QuotationLines", params={"$expand": "feature", "$top": "50"})
    for row in reply.json()["value"]:
        assert row["feature"] == features[row["featureId"]]


def test_expand_debtor_of_quotations(api, tenant) -> None:
    accounts = {a["id"]: a for a in tenant["CrmAccounts"]}
    reply = api("Quotations", params={"$expand": "debtor($select=companyName,city)", "$top": "20"})
    for row in reply.json()["value"]:
        account = accounts[row["debtorId"]]
        assert row["debtor"] == {"companyName": account["companyName"], "city": account["city"]}


def test_expand_unknown_navigation_is_400(api) -> None:
    assert api("Features", params={"$expand": "bogus"}).status_code == 400
    assert api("Features", params={"$expand": "category($top=1)"}).status_code == 400


def test_unknown_query_option_is_400(api) -> None:
    assert api("Features", params={"$bogus": "1"}).status_code == 400


def test_values_keep_their_json_form(api, tenant) -> None:
    got = {r["id"]: r for r in fetch_all(api, "Quotations")}
    for row in tenant["Quotations"]:
        assert data(got[row["id"]]) == row  # dates unchanged, decimals numbers, guids strings
    forms = {len(r["createdDate"]) for r in tenant["Quotations"]}
    assert {19, 20, 28} <= forms  # no offset, Z, 7 fraction digits
    assert any(r["expiresDate"] == "0001-01-01T00:00:00Z" for r in tenant["Quotations"])
