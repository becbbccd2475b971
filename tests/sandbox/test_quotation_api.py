"""The Quotation API over real HTTP: business logic checked through the Data API against values
computed from ``generate_tenant``; its errors are its own, not OData's."""

from __future__ import annotations

import uuid
from collections import defaultdict

import pytest
from conftest import api_caller, cpq_caller, session_for


@pytest.fixture(scope="module")
def qapi(cpq_sandbox):
    return cpq_caller(cpq_sandbox, "/quotation/1/")


@pytest.fixture(scope="module")
def data(cpq_sandbox):
    return api_caller(cpq_sandbox)


def amount(line: dict) -> float:
    return round(line["quantity"] * line["unitPrice"] * (1 - line["discountPct"] / 100), 2)


def lines_of(data, quotation_id: str) -> list[dict]:
    reply = data("QuotationLines", params={"$filter": f"quotationId eq {quotation_id}"})
    return reply.json()["value"]


def latest_versions(tenant: dict) -> list[dict]:
    newest: dict[int, dict] = {}
    for q in tenant["Quotations"]:
        if (
            q["versionNumber"]
            > newest.get(q["quotationNumber"], {"versionNumber": 0})["versionNumber"]
        ):
            newest[q["quotationNumber"]] = q
    return list(newest.values())


# -- Create and delete -------------------------------------------------------------------------


def test_create_takes_the_first_status_and_the_next_number(qapi, data, tenant):
    reply = qapi("POST", "quotations", json={"subject": "Fleet of 3", "customField1": "x"})
    assert reply.status_code == 200, reply.text
    created = reply.json()
    first = min(tenant["QuotationStatuses"], key=lambda s: s["order"])
    assert created["statusId"] == first["id"]
    assert created["quotationNumber"] == max(q["quotationNumber"] for q in tenant["Quotations"]) + 1
    assert created["versionNumber"] == 1 and created["subject"] == "Fleet of 3"
    stored = data(f"Quotations({created['id']})").json()
    assert (stored["status"], stored["totalPrice"]) == (first["name"], 0.0)


def test_create_refuses_unknown_fields_with_validation_errors(qapi):
    reply = qapi("POST", "quotations", json={"nonsense": 1})
    assert reply.status_code == 400
    assert "nonsense" in reply.json()["errors"]
    reply = qapi("POST", "quotations", json={"debtorId": str(uuid.uuid4())})
    assert reply.status_code == 400 and "debtorId" in reply.json()["errors"]


def test_answers_are_text_plain_unless_json_is_asked_for(cpq_sandbox):
    session = session_for(cpq_sandbox)
    reply = session.post(f"{cpq_sandbox.url}/quotation/1/quotations", json={})
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert "quotationNumber" in reply.json()  # the text is the JSON document
    reply = session.post(
        f"{cpq_sandbox.url}/quotation/1/quotations", json={}, headers={"Accept": "*/*"}
    )
    assert reply.headers["Content-Type"].startswith("text/plain")


def test_delete_removes_the_quotation_and_its_lines(qapi, data, tenant):
    # The last one with lines: the other tests pick from the front of the list.
    victim = next(q for q in reversed(latest_versions(tenant)) if lines_of(data, q["id"]))
    reply = qapi("DELETE", f"quotations/{victim['id']}")
    assert reply.status_code == 200 and reply.json() == victim["id"]
    assert data(f"Quotations({victim['id']})").status_code == 404
    assert lines_of(data, victim["id"]) == []
    assert qapi("DELETE", f"quotations/{victim['id']}").status_code == 404


# -- Revisions ---------------------------------------------------------------------------------


def test_revise_copies_the_latest_version_and_marks_it_revised(qapi, data, tenant):
    source = next(
        q
        for q in latest_versions(tenant)
        if q["versionNumber"] == 2 and q["status"] != "Revised" and lines_of(data, q["id"])
    )
    before = lines_of(data, source["id"])
    reply = qapi("PUT", f"quotations/{source['id']}/revise", json={"copyMargin": True})
    assert reply.status_code == 200, reply.text
    new = reply.json()
    assert (new["quotationNumber"], new["versionNumber"]) == (source["quotationNumber"], 3)
    first = min(tenant["QuotationStatuses"], key=lambda s: s["order"])
    assert new["statusId"] == first["id"]
    assert data(f"Quotations({source['id']})").json()["status"] == "Revised"
    after = lines_of(data, new["id"])
    key = lambda x: x["lineNumber"]  # noqa: E731
    assert [(x["featureId"], x["quantity"], x["unitPrice"]) for x in sorted(after, key=key)] == [
        (x["featureId"], x["quantity"], x["unitPrice"]) for x in sorted(before, key=key)
    ]
    ids = {x["id"] for x in after}
    assert not ids & {x["id"] for x in before}
    assert all(x["parentLineId"] in ids for x in after if x["parentLineId"])
    stored = data(f"Quotations({new['id']})").json()
    assert stored["totalPrice"] == pytest.approx(sum(amount(x) for x in after), abs=0.011)
    older = qapi("PUT", f"quotations/{source['id']}/revise", json={})
    assert older.status_code == 400 and "message" in older.json()


# -- Status changes ----------------------------------------------------------------------------


def _required_missing(tenant: dict) -> tuple[dict, list[str]]:
    required = [
        p["id"]
        for p in sorted(tenant["QuotationProperties"], key=lambda p: p["order"])
        if p["isRequired"]
    ]
    filled = defaultdict(set)
    for v in tenant["QuotationPropertyValues"]:
        filled[v["entityId"]].add(v["entityPropertyId"])
    for q in tenant["Quotations"]:
        missing = [p for p in required if p not in filled[q["id"]]]
        if q["status"] == "Concept" and missing:
            return q, missing
    raise AssertionError("no concept quotation misses a required property")


def test_invoke_is_refused_while_required_properties_are_empty(qapi, data, tenant):
    quotation, missing = _required_missing(tenant)
    send = next(
        a for a in tenant["QuotationStatusChangeActions"] if a["name"] == "Send to customer"
    )
    body = {"quotationId": quotation["id"], "actionId": send["id"]}
    reply = qapi("PUT", f"quotations/{quotation['id']}/invoke", json=body)
    assert reply.status_code == 400, reply.text
    doc = reply.json()
    assert [p["id"] for p in doc["unsatisfiedProperties"]] == missing
    assert doc["unsatisfiedFields"] == []
    props = {p["id"]: p for p in tenant["QuotationProperties"]}
    for item in doc["unsatisfiedProperties"]:
        assert item["description"] == props[item["id"]]["description"] and item["isRequired"]
        assert {t["languageIso"] for t in item["texts"]} == {"en", "nl"}
    fields = {f["id"]: f for f in tenant["QuotationPropertyFields"]}
    for prop_id in missing:
        prop = props[prop_id]
        value = next(
            iter(f for f in fields.values() if f["entityPropertyId"] == prop_id),
            {"id": "Project Anna"},
        )["id"]
        created = data(
            "QuotationPropertyValues",
            "POST",
            json={"entityId": quotation["id"], "entityPropertyId": prop["id"], "value": value},
        )
        assert created.status_code == 201
    reply = qapi("PUT", f"quotations/{quotation['id']}/invoke", json=body)
    assert reply.status_code == 200 and reply.content == b""
    sent = next(s for s in tenant["QuotationStatuses"] if s["id"] == send["quotationStatusId"])
    stored = data(f"Quotations({quotation['id']})").json()
    assert (stored["statusId"], stored["status"]) == (sent["id"], sent["name"])


def test_invoke_on_a_revised_quotation_or_an_unknown_action(qapi, tenant):
    revised = next(q for q in tenant["Quotations"] if q["status"] == "Revised")
    archive = next(a for a in tenant["QuotationStatusChangeActions"] if a["name"] == "Archive")
    reply = qapi("PUT", f"quotations/{revised['id']}/invoke", json={"actionId": archive["id"]})
    assert reply.status_code == 403 and "message" in reply.json()
    reply = qapi("PUT", f"quotations/{revised['id']}/invoke", json={"actionId": str(uuid.uuid4())})
    assert reply.status_code == 404 and "message" in reply.json()


# -- Transfer and parties ----------------------------------------------------------------------


def test_transfer_down_the_dealer_tree_and_refused_elsewhere(qapi, data, tenant):
    main = tenant["Organizations"][0]["id"]
    child = next(
        r["childOrganizationId"]
        for r in tenant["OrganizationHasChildOrganizationRelationships"]
        if r["organizationId"] == main
    )
    quotation = next(q for q in latest_versions(tenant) if q["organizationId"] == main)
    body = {"targetOrganizationId": child, "transferDebtor": True, "transferShipTo": False}
    reply = qapi("PUT", f"quotations/{quotation['id']}/transfer", json=body)
    assert reply.status_code == 200, reply.text
    moved = data(f"Quotations({quotation['id']})").json()
    assert moved["organizationId"] == child and moved["debtorId"] == quotation["debtorId"]
    assert moved["shipToId"] is None
    stranger = data("Organizations", "POST", json={"name": "Elsewhere Cycles"}).json()["id"]
    reply = qapi(
        "PUT", f"quotations/{quotation['id']}/transfer", json={"targetOrganizationId": stranger}
    )
    assert reply.status_code == 403 and reply.json()["reason"]


def test_update_debtor_applies_the_accounts_discount_lines(qapi, data, tenant):
    standing = defaultdict(list)
    for row in tenant["CrmDiscountLines"]:
        standing[row["crmAccountId"]].append(row)
    account = next(a for a in tenant["CrmAccounts"] if len(standing[a["id"]]) >= 1)
    quotation = next(
        q
        for q in latest_versions(tenant)
        if q["debtorId"] in standing and q["debtorId"] != account["id"]
    )
    manual = [
        r
        for r in tenant["QuotationDiscountLines"]
        if r["quotationId"] == quotation["id"] and r["crmAccountId"] is None
    ]
    reply = qapi(
        "PUT", "updateDebtor", json={"quotationId": quotation["id"], "crmAccountId": account["id"]}
    )
    assert reply.status_code == 200, reply.text
    stored = data(f"Quotations({quotation['id']})").json()
    assert stored["debtorId"] == account["id"]
    assert stored["debtorContactId"] == account["defaultContactId"]
    rows = data(
        "QuotationDiscountLines", params={"$filter": f"quotationId eq {quotation['id']}"}
    ).json()["value"]
    from_crm = sorted(
        (r["description"], r["discountPct"], r["discountAmount"]) for r in rows if r["crmAccountId"]
    )
    assert from_crm == sorted(
        (r["description"], r["discountPct"], r["discountAmount"]) for r in standing[account["id"]]
    )
    assert {r["crmAccountId"] for r in rows if r["crmAccountId"]} == {account["id"]}
    assert {r["id"] for r in rows if not r["crmAccountId"]} == {r["id"] for r in manual}
    ship = qapi("PUT", "updateShipTo", json={"quotationId": quotation["id"], "crmAccountId": None})
    assert ship.status_code == 200
    assert data(f"Quotations({quotation['id']})").json()["shipToId"] is None


# -- Lines and groups --------------------------------------------------------------------------


def test_line_and_group_actions_recompute_the_totals(qapi, data, tenant):
    vats = {v["id"]: v["pct"] for v in tenant["Vats"]}
    quotation = next(
        q
        for q in latest_versions(tenant)
        if len({x["groupId"] for x in lines_of(data, q["id"]) if x["groupId"]}) >= 1
        and len(lines_of(data, q["id"])) >= 4
    )
    lines = lines_of(data, quotation["id"])
    loose = [x["id"] for x in lines[:2]]
    reply = qapi(
        "PUT",
        f"quotations/{quotation['id']}/applylinediscount",
        json={"discountPct": 12.5, "quotationLineIds": loose},
    )
    assert reply.status_code == 200, reply.text
    group = next(x["groupId"] for x in lines if x["groupId"])
    zero = next(v["id"] for v in tenant["Vats"] if v["pct"] == 0)
    reply = qapi(
        "PUT",
        f"quotations/{quotation['id']}/applygroupvat",
        json={"vatId": zero, "quotationGroupIds": [group]},
    )
    assert reply.status_code == 200, reply.text
    reply = qapi(
        "PUT",
        f"quotations/{quotation['id']}/applylinedeliverydate",
        json={"deliveryDate": "2026-03-01T00:00:00Z", "quotationLineIds": loose},
    )
    assert reply.status_code == 200
    after = {x["id"]: x for x in lines_of(data, quotation["id"])}
    assert all(after[i]["discountPct"] == 12.5 for i in loose)
    assert all(after[i]["deliverydate"].startswith("2026-03-01") for i in loose)
    assert all(x["vatId"] == zero for x in after.values() if x["groupId"] == group)
    stored = data(f"Quotations({quotation['id']})").json()
    assert stored["totalPrice"] == pytest.approx(sum(amount(x) for x in after.values()), abs=0.011)
    incl = sum(round(amount(x) * (1 + vats[x["vatId"]] / 100), 2) for x in after.values())
    assert stored["totalPriceInclVat"] == pytest.approx(incl, abs=0.011)
    row = data(f"QuotationGroups({group})").json()
    mine = [x for x in after.values() if x["groupId"] == group]
    assert row["totalPriceInclVat"] == pytest.approx(sum(amount(x) for x in mine), abs=0.011)
    bad = qapi(
        "PUT",
        f"quotations/{quotation['id']}/applylinediscount",
        json={"discountPct": 5, "quotationLineIds": [str(uuid.uuid4())]},
    )
    assert bad.status_code == 400 and "quotationLineIds" in bad.json()["errors"]


def test_errors_are_not_odata(qapi, cpq_sandbox):
    reply = qapi("PUT", f"quotations/{uuid.uuid4()}/revise", json={})
    assert reply.status_code == 404 and set(reply.json()) == {"message"}
    session = session_for(cpq_sandbox)
    reply = session.post(
        f"{cpq_sandbox.url}/quotation/1/quotations/{uuid.uuid4()}/addfile",
        files={"file": ("a.txt", b"x")},
    )
    assert reply.status_code == 404 and set(reply.json()) == {"message"}
