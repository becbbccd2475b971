"""The Data API's extras over real HTTP: the service document, ``$schema``/``$patch-schema``,
``$functions``/``$triggers`` and ``GenerateDocument``; expected values from the API description
and ``generate_tenant``."""

from __future__ import annotations

import pytest

from elfsquad_magic.sandbox.metadata import load_service


def test_the_service_document_lists_every_set(api) -> None:
    reply = api("")
    assert reply.status_code == 200
    listed = {(s["name"], s["url"]) for s in reply.json()["value"]}
    assert listed == {(name, name) for name in load_service().sets}


@pytest.mark.parametrize("spelling", ["Features/$schema", "features/$schema"])
def test_schema_describes_the_entity(api, spelling: str) -> None:
    reply = api(spelling)
    assert reply.status_code == 200
    doc = reply.json()
    spec = load_service().sets["Features"]
    assert list(doc["properties"]) == list(spec.properties)
    assert doc["properties"]["salesPrice"]["type"] == "number"
    assert doc["properties"]["id"] == {"type": "string", "format": "uuid"}
    assert doc["properties"]["tags"]["type"] == "array"
    assert doc["required"] == ["id"]
    patch = api("Features/$patch-schema").json()
    assert "id" not in patch["properties"] and "required" not in patch


def test_functions_and_triggers(api) -> None:
    functions = api("$functions").json()["value"]
    assert [f["name"] for f in functions] == ["Default.GenerateDocument"]
    assert [p["name"] for p in functions[0]["parameters"]] == [
        "type",
        "languageIso",
        "quotationTemplateId",
    ]
    topics = [t["name"] for t in api("$triggers").json()["value"]]
    assert "quotation.accepted" in topics


@pytest.mark.parametrize(
    "call",
    [
        "Quotations({id})/Default.GenerateDocument(type='pdf',languageIso='nl',"
        "quotationTemplateId=null)",
        "quotations/{id}/GenerateDocument(type='pdf',languageIso='en')",
    ],
)
def test_generate_document_returns_a_pdf(api, tenant, call: str) -> None:
    quotation = next(
        q
        for q in tenant["Quotations"]
        if any(x["quotationId"] == q["id"] for x in tenant["QuotationLines"][:50])
    )
    reply = api(call.format(id=quotation["id"]))
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == "application/pdf"
    assert reply.content.startswith(b"%PDF-1.4") and b"%%EOF" in reply.content[-8:]
    number = str(quotation["quotationNumber"]).encode()
    assert number in reply.content
    assert (
        f"{quotation['quotationNumber']}-{quotation['versionNumber']}.pdf"
        in (reply.headers["Content-Disposition"])
    )


def test_generate_document_refusals(api, tenant) -> None:
    missing = "Quotations(00000000-0000-4000-8000-000000000000)/Default.GenerateDocument()"
    assert api(missing).status_code == 404
    quotation = tenant["Quotations"][0]["id"]
    assert api(f"Quotations({quotation})/Default.GenerateDocument(nope='x')").status_code == 400
    feature = tenant["Features"][0]["id"]
    assert api(f"Features({feature})/Default.GenerateDocument()").status_code == 404


def test_apply_is_refused(api) -> None:
    reply = api("Quotations", params={"$apply": "groupby((statusId))"})
    assert reply.status_code == 400
    assert "$apply" in reply.json()["error"]["message"]
