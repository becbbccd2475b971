"""What real integrations send, answered as the real service answers it."""

from __future__ import annotations

import uuid

import pytest
import requests
from conftest import data, fetch_all
from sandbox_expected import instant

from elfsquad_magic.sandbox.values import EMPTY_DATE


def _ids(rows: list[dict]) -> set[str]:
    return {r["id"] for r in rows}


def test_pascal_case_filter_from_elfsquads_examples(api, tenant) -> None:
    quotation = tenant["Quotations"][3]["id"]
    text = f"QuotationId eq {quotation} and ArticleCode ne null"
    got = fetch_all(api, "quotationlines", **{"$filter": text})
    expected = [
        r
        for r in tenant["QuotationLines"]
        if r["quotationId"] == quotation and r["articleCode"] is not None
    ]
    assert got and _ids(got) == _ids(expected)


def test_created_date_in_pascal_case(api, tenant) -> None:
    got = fetch_all(api, "Features", **{"$filter": "CreatedDate gt 2024-06-01T00:00:00Z"})
    since = instant("2024-06-01T00:00:00Z")
    assert _ids(got) == {r["id"] for r in tenant["Features"] if instant(r["createdDate"]) > since}


def test_operators_and_functions_in_any_casing(api, tenant) -> None:
    text = "Contains(Name,'Lamp') AND SalesPrice GT 100 Or ToLower(Type) Eq 'text'"
    got = fetch_all(api, "features", **{"$filter": text})
    expected = [
        r
        for r in tenant["Features"]
        if ("Lamp" in (r["name"] or "") and (r["salesPrice"] or 0) > 100) or r["type"] == "Text"
    ]
    assert got and _ids(got) == _ids(expected)


def test_select_orderby_and_expand_in_any_casing_answer_with_the_models_names(api) -> None:
    reply = api(
        "QuotationLines",
        params={
            "$select": "Id,ArticleCode,UnitPrice",
            "$orderby": "UnitPrice DESC",
            "$expand": "Feature($select=Name)",
            "$top": "5",
        },
    )
    assert reply.status_code == 200, reply.text
    rows = reply.json()["value"]
    assert [set(data(r)) for r in rows] == [{"id", "articleCode", "unitPrice", "feature"}] * 5
    assert all(set(r["feature"]) == {"name"} for r in rows if r["feature"] is not None)
    prices = [r["unitPrice"] for r in rows]
    assert prices == sorted(prices, reverse=True)


def test_option_names_in_any_casing(api, tenant) -> None:
    reply = api("features", params={"$Filter": "type eq 'Text'", "$TOP": "3", "$Count": "true"})
    assert reply.status_code == 200, reply.text
    doc = reply.json()
    assert len(doc["value"]) == 3
    assert doc["@odata.count"] == sum(r["type"] == "Text" for r in tenant["Features"])


def test_unknown_property_in_any_casing_still_names_it(api) -> None:
    reply = api("features", params={"$filter": "NoSuchThing eq 1"})
    assert reply.status_code == 400
    assert "NoSuchThing" in reply.json()["error"]["message"]


@pytest.mark.parametrize("action", ["BulkUpdate", "bulkupdate", "Default.BulkUpdate"])
def test_bulk_update_qualified_or_not(fresh_api, fresh_sandbox, action) -> None:
    line = fresh_sandbox.rows("QuotationLines")[0]
    reply = fresh_api(
        f"quotationlines/{action}",
        method="POST",
        json={"entities": [{"id": line["id"], "textValue": f"via {action}"}]},
    )
    assert reply.status_code in (200, 204), reply.text
    stored = {r["id"]: r for r in fresh_sandbox.rows("QuotationLines")}
    assert stored[line["id"]]["textValue"] == f"via {action}"


def test_unqualified_bulk_insert_and_delete(fresh_api, fresh_sandbox) -> None:
    vat = fresh_sandbox.rows("Vats")[0]
    new_id = str(uuid.uuid4())
    row = {**vat, "id": new_id, "name": "Inserted unqualified"}
    assert fresh_api("vats/BulkInsert", method="POST", json={"entities": [row]}).ok
    assert new_id in {r["id"] for r in fresh_sandbox.rows("Vats")}
    assert fresh_api("Vats/BulkDelete", method="POST", json={"identifiers": [new_id]}).ok
    assert new_id not in {r["id"] for r in fresh_sandbox.rows("Vats")}


def _text_of(row: dict, spec_texts: list[str]) -> list[str]:
    return [str(row[name]).lower() for name in spec_texts if row.get(name) is not None]


@pytest.fixture(scope="module")
def feature_texts() -> list[str]:
    from elfsquad_magic.sandbox.metadata import load_service

    return load_service().sets["Features"].text_properties()


@pytest.mark.parametrize(
    ("search", "predicate"),
    [
        ("LAMP", lambda t: any("lamp" in v for v in t)),
        ("chain LAMP", lambda t: any("chain" in v for v in t) and any("lamp" in v for v in t)),
        ("chain AND lamp", lambda t: any("chain" in v for v in t) and any("lamp" in v for v in t)),
        ("lamp OR saddle", lambda t: any("lamp" in v or "saddle" in v for v in t)),
        (
            "lamp AND NOT bike",
            lambda t: any("lamp" in v for v in t) and not any("bike" in v for v in t),
        ),
        ('"art-0001"', lambda t: any("art-0001" in v for v in t)),
        (
            "(lamp OR saddle) AND carbon",
            lambda t: (
                any("lamp" in v or "saddle" in v for v in t) and any("carbon" in v for v in t)
            ),
        ),
    ],
)
def test_search_finds_terms_in_text_properties(api, tenant, feature_texts, search, predicate):
    got = fetch_all(api, "features", **{"$search": search})
    expected = [r for r in tenant["Features"] if predicate(_text_of(r, feature_texts))]
    assert 0 < len(expected) < len(tenant["Features"]), "the case must tell rows apart"
    assert _ids(got) == _ids(expected)


def test_search_combines_with_filter_and_count(api, tenant, feature_texts) -> None:
    reply = api("features", params={"$search": "lamp", "$filter": "type eq 'Product'"})
    assert reply.status_code == 200
    count = api("features/$count", params={"$search": "lamp", "$filter": "type eq 'Product'"})
    expected = [
        r
        for r in tenant["Features"]
        if r["type"] == "Product" and any("lamp" in v for v in _text_of(r, feature_texts))
    ]
    assert int(count.text) == len(expected)


@pytest.mark.parametrize("search", ["", "(lamp", "lamp)", "AND"])
def test_a_malformed_search_is_a_bad_request(api, search) -> None:
    reply = api("features", params={"$search": search})
    assert reply.status_code == 400
    assert "$search" in reply.json()["error"]["message"]


@pytest.mark.parametrize("api_root", ["data/1", "quotation/1", "configurator/1", "configurator/3"])
def test_health_endpoints_answer_without_a_token(sandbox, api_root) -> None:
    reply = requests.get(f"{sandbox.url}/{api_root}/health/ready", timeout=10)
    assert (reply.status_code, reply.text) == (200, "Healthy")


def test_empty_dates_are_written_with_a_z(api, tenant) -> None:
    assert EMPTY_DATE == "0001-01-01T00:00:00Z"
    reply = api("quotations", params={"$filter": "expiresDate eq 0001-01-01T00:00:00Z"})
    rows = reply.json()["value"]
    assert rows and all(r["expiresDate"] == "0001-01-01T00:00:00Z" for r in rows)


def test_quotation_status_follows_status_id_and_back(fresh_api, fresh_sandbox) -> None:
    statuses = {s["name"]: s["id"] for s in fresh_sandbox.rows("QuotationStatuses")}
    quotation = fresh_sandbox.rows("Quotations")[0]
    other = next(name for name in statuses if name != quotation["status"])
    reply = fresh_api(
        f"quotations({quotation['id']})", method="PATCH", json={"StatusId": statuses[other]}
    )
    assert reply.status_code == 204, reply.text
    stored = {r["id"]: r for r in fresh_sandbox.rows("Quotations")}[quotation["id"]]
    assert (stored["statusId"], stored["status"]) == (statuses[other], other)
    back = quotation["status"]
    assert fresh_api(f"quotations({quotation['id']})", method="PATCH", json={"status": back}).ok
    stored = {r["id"]: r for r in fresh_sandbox.rows("Quotations")}[quotation["id"]]
    assert (stored["statusId"], stored["status"]) == (statuses[back], back)


def test_seeded_quotations_keep_status_and_status_id_consistent(tenant) -> None:
    names = {s["id"]: s["name"] for s in tenant["QuotationStatuses"]}
    assert all(names[q["statusId"]] == q["status"] for q in tenant["Quotations"])


def test_metadata_carries_the_legacy_note_on_status(api) -> None:
    text = api("$metadata").text
    assert 'Term="Org.OData.Core.V1.Description"' in text
    assert "Use the StatusId property instead" in text
