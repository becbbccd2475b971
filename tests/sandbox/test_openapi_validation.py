"""Every documented path and method of the Quotation and Configurator APIs (and the Data API's
function paths) is called on a sandbox, and every request and answer is validated against the
OpenAPI files by openapi-core: status, content type and body schema. The files are the
committed copies of ``scripts/build_openapi_fixtures.py``.

Where the sandbox follows public integrations' evidence instead of a file, the deviation is
listed in ``DEVIATIONS`` (and in docs/sandbox.md) and checked for what it is instead.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from conftest import session_for
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

HERE = Path(__file__).parent / "openapi"
# (path, method) -> what the sandbox sends instead of what the file documents, and why.
DEVIATIONS = {
    ("/configurator/{version}/configurator/{configurationId}/overview", "get"): (
        "application/json",
        "the file documents no content; its description says it returns the overview DTO",
    ),
    ("/configurator/{version}/configurator/{configurationId}/pdf", "get"): (
        "application/pdf",
        "the file documents no content; the endpoint generates a PDF",
    ),
    (
        "/Quotations({id})/Default.GenerateDocument(type={type},languageIso={languageIso},"
        "quotationTemplateId={quotationTemplateId})",
        "get",
    ): ("application/pdf", "the file says JSON of any shape; the function makes a document"),
    ("/Quotations({id})/Default.GenerateDocument()", "get"): (
        "application/pdf",
        "the file says JSON of any shape; the function makes a document",
    ),
}


def load(name: str, server: str) -> tuple[dict, OpenAPI]:
    spec = json.loads(gzip.decompress((HERE / f"{name}.openapi.json.gz").read_bytes()))
    spec["servers"] = [{"url": server}]
    # The files were checked as OpenAPI 3.0 when they were written (14 s for the configurator's).
    return spec, OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


@pytest.fixture(scope="module")
def specs(cpq_sandbox) -> dict[str, tuple[dict, OpenAPI]]:
    url = cpq_sandbox.url
    return {
        "quotation": load("quotation-api", url),
        "configurator": load("configurator-api", url),
        "data": load("data-api-extras", f"{url}/data/1"),
    }


class Walk:
    """Sends requests, validates each against its file, remembers what was covered."""

    def __init__(self, sb, specs: dict) -> None:
        self.sb = sb
        self.specs = specs
        self.session = session_for(sb)
        self.session.headers["Accept"] = "application/json"
        self.covered: set[tuple[str, str, str]] = set()

    def call(
        self, api: str, template: str, method: str, path: str, valid: bool = True, **kwargs
    ) -> requests.Response:
        """Send a request (``valid``: one the file allows) and validate the answer."""
        spec, openapi = self.specs[api]
        base = spec["servers"][0]["url"]
        reply = self.session.request(method, base + path, timeout=30, **kwargs)
        assert reply.status_code < 500, reply.text
        assert str(reply.status_code) in spec["paths"][template][method.lower()]["responses"], (
            template,
            reply.status_code,
            reply.text[:300],
        )
        request = RequestsOpenAPIRequest(reply.request)
        if valid:
            openapi.validate_request(request)
        deviation = DEVIATIONS.get((template, method.lower()))
        if deviation is not None:
            assert reply.headers["Content-Type"].startswith(deviation[0]), template
        else:
            openapi.validate_response(request, RequestsOpenAPIResponse(reply))
        self.covered.add((api, template, method.lower()))
        return reply


def documented(spec: dict) -> set[tuple[str, str]]:
    return {(p, m) for p, ops in spec["paths"].items() for m in ops if m != "parameters"}


def test_every_configurator_path_answers_as_documented(cpq_sandbox, specs, tenant) -> None:
    walk = Walk(cpq_sandbox, specs)
    c: Callable[..., requests.Response] = lambda t, m, p, **kw: walk.call(  # noqa: E731
        "configurator",
        "/configurator/{version}/configurator/" + t,
        m,
        "/configurator/3/configurator/" + p,
        **kw,
    )
    link = tenant["LinkedFeatureModels"][0]
    parent = next(n for n in tenant["FeatureModelNodes"] if n["id"] == link["parentNodeId"])
    model = parent["featureModelId"]
    c("configurationmodels", "GET", "configurationmodels?lang=nl")
    c("settings", "GET", "settings")
    doc = c("new/{featureModelName}", "POST", f"new/{model}", json={"languageIso": "en"}).json()
    cid = doc["id"]
    node = doc["root"]["features"][0]["id"] if doc["root"]["features"] else doc["root"]["id"]
    c("open/{configurationId}", "GET", f"open/{cid}")
    c("open/multiple", "GET", f"open/multiple?configurationIds={cid}&configurationIds={cid}")
    requirement = {"featureModelNodeId": node, "value": 1, "isSelection": True}
    c("{configurationId}", "PUT", cid, json=requirement)
    c("{configurationId}/multiple", "PUT", f"{cid}/multiple", json=[requirement])
    update = {**requirement, "configurationId": cid, "ignoreConflicts": False}
    c("update/multiple", "PUT", "update/multiple", json=[update])
    text = {"featureModelNodeId": node, "textValue": "Engraved: Anna"}
    c("{id}/text", "PUT", f"{cid}/text", json=text)
    c("{id}/text/multiple", "PUT", f"{cid}/text/multiple", json=[text])
    c("{id}/image", "PUT", f"{cid}/image", json={**text, "textValue": "data:image/png;base64,AA=="})
    files = {"file": ("logo.png", b"\x89PNG\r\n", "image/png")}
    c("{configurationId}/{featureModelNodeId}/file", "POST", f"{cid}/{node}/file", files=files)
    c("{configurationId}/{featureModelNodeId}/file", "DELETE", f"{cid}/{node}/file")
    c("{configurationId}/changecurrency", "PUT", f"{cid}/changecurrency", json="GBP")
    c("{configurationId}/changelanguage", "PUT", f"{cid}/changelanguage", json="de")
    c("{configurationId}/getname", "GET", f"{cid}/getname")
    c(
        "{configurationId}/updatename",
        "PUT",
        f"{cid}/updatename",
        json={"name": "Anna", "configurationId": cid},
    )
    c("{configurationId}/overview", "GET", f"{cid}/overview")
    c("{configurationId}/pdf", "GET", f"{cid}/pdf?languageIso=nl")
    c("{id}/2dlayout", "GET", f"{cid}/2dlayout")
    c("{id}/3dlayout", "GET", f"{cid}/3dlayout")
    cardinality = {"parentNodeId": parent["id"], "cardinality": 2, "configurationCode": None}
    doc = c(
        "{configurationId}/updatelinkedconfigurationcardinality",
        "PUT",
        f"{cid}/updatelinkedconfigurationcardinality",
        json=cardinality,
    ).json()
    first, second = (x["linkedConfigurationId"] for x in doc["linkedConfigurations"])
    c(
        "{configurationId}/copylinkedconfiguration",
        "PUT",
        f"{cid}/copylinkedconfiguration",
        json={"linkedConfigurationId": first},
    )
    order = {"linkedConfigurationId": second, "previousIndex": 2, "currentIndex": 0}
    c(
        "{configurationId}/changecardinalityorder",
        "PUT",
        f"{cid}/changecardinalityorder",
        json=order,
    )
    multiplier = {"parentConfigurationId": cid, "linkedConfigurationId": first, "multiplier": 3}
    doc = c(
        "{configurationId}/updateLinkedConfigurationMultiplier",
        "PUT",
        f"{cid}/updateLinkedConfigurationMultiplier",
        json=multiplier,
    ).json()
    assert doc["linkedConfigurations"][0]["linkedConfigurationId"] == second
    assert [
        x["multiplier"] for x in doc["linkedConfigurations"] if x["linkedConfigurationId"] == first
    ] == [3]
    doc = c(
        "{configurationId}/removelinkedconfiguration",
        "PUT",
        f"{cid}/removelinkedconfiguration",
        json={"linkedConfigurationId": second},
    ).json()
    assert len(doc["linkedConfigurations"]) == 2
    quotation = tenant["Quotations"][1]["id"]
    c(
        "addtoquotation",
        "PUT",
        "addtoquotation",
        json={"quotationId": quotation, "configurationIds": [cid], "quantities": {cid: 1}},
    )
    ask = {
        "quotationRequest": {
            "firstName": "Anna",
            "lastName": "Jansen",
            "email": "anna@example.com",
            "countryIso": "NL",
        },
        "configurationIds": [cid],
        "quantities": {cid: 1},
    }
    c("requestquote", "POST", "requestquote", json=ask)
    missing = documented(specs["configurator"][0]) - {(t, m) for _, t, m in walk.covered}
    assert not missing, sorted(missing)


def test_every_quotation_path_answers_as_documented(cpq_sandbox, specs, tenant) -> None:
    walk = Walk(cpq_sandbox, specs)
    q: Callable[..., requests.Response] = lambda t, m, p, **kw: walk.call(  # noqa: E731
        "quotation", "/quotation/1/" + t, m, "/quotation/1/" + p, **kw
    )
    created = q("quotations", "POST", "quotations", json={"subject": "Validated"}).json()
    qid = created["id"]
    q("quotations", "POST", "quotations", valid=False, json={"unknownField": 1})  # 400
    archive = next(a for a in tenant["QuotationStatusChangeActions"] if a["name"] == "Archive")
    send = next(a for a in tenant["QuotationStatusChangeActions"] if a["name"].startswith("Send"))
    q(
        "quotations/{quotationId}/invoke",
        "PUT",
        f"quotations/{qid}/invoke",
        json={"quotationId": qid, "actionId": send["id"]},
    )  # 400 unsatisfied, documented
    q(
        "quotations/{quotationId}/invoke",
        "PUT",
        f"quotations/{qid}/invoke",
        json={"quotationId": qid, "actionId": archive["id"]},
    )
    revised = q(
        "quotations/{quotationId}/revise",
        "PUT",
        f"quotations/{qid}/revise",
        json={"copyMargin": True},
    ).json()
    q(
        "quotations/{quotationId}/invoke",
        "PUT",
        f"quotations/{qid}/invoke",
        json={"quotationId": qid, "actionId": archive["id"]},
    )  # 403: revised, documented
    main = tenant["Organizations"][0]["id"]
    child = next(
        r["childOrganizationId"]
        for r in tenant["OrganizationHasChildOrganizationRelationships"]
        if r["organizationId"] == main
    )
    q(
        "quotations/{quotationId}/transfer",
        "PUT",
        f"quotations/{revised['id']}/transfer",
        json={"targetOrganizationId": child, "transferDebtor": True},
    )
    q(
        "quotations/{quotationId}/transfer",
        "PUT",
        f"quotations/{revised['id']}/transfer",
        json={"targetOrganizationId": child},
    )  # 403 with a reason
    account = tenant["CrmAccounts"][0]["id"]
    for party in ("updateDebtor", "updateSeller", "updateShipTo"):
        q(party, "PUT", party, json={"quotationId": revised["id"], "crmAccountId": account})
    q("updateDebtor", "PUT", "updateDebtor", json={"quotationId": str(uuid.uuid4())})  # 400
    line = next(x for x in tenant["QuotationLines"] if x["groupId"])
    target = line["quotationId"]
    lines, groups = [line["id"]], [line["groupId"]]
    vat = tenant["Vats"][1]["id"]
    for action, body in (
        ("applylinediscount", {"discountPct": 7.5, "quotationLineIds": lines}),
        (
            "applylinedeliverydate",
            {"deliveryDate": "2026-05-01T00:00:00Z", "quotationLineIds": lines},
        ),
        ("applylinevat", {"vatId": vat, "quotationLineIds": lines}),
        ("applygroupdiscount", {"discountPct": 5, "quotationGroupIds": groups}),
        ("applygroupdeliverydate", {"deliveryDate": None, "quotationGroupIds": groups}),
        ("applygroupvat", {"vatId": vat, "quotationGroupIds": groups}),
    ):
        q(f"quotations/{{quotationId}}/{action}", "PUT", f"quotations/{target}/{action}", json=body)
    q(
        "quotations/{quotationId}/applylinediscount",
        "PUT",
        f"quotations/{target}/applylinediscount",
        json={"discountPct": 5, "quotationLineIds": [str(uuid.uuid4())]},
    )  # 400
    q("quotations/{quotationId}/revise", "PUT", f"quotations/{uuid.uuid4()}/revise", json={})
    q("quotations/{id}", "DELETE", f"quotations/{revised['id']}")
    q("quotations/{id}", "DELETE", f"quotations/{revised['id']}")  # 404, no body
    missing = documented(specs["quotation"][0]) - {(t, m) for _, t, m in walk.covered}
    assert not missing, sorted(missing)


def test_data_api_function_paths_answer_as_documented(cpq_sandbox, specs, tenant) -> None:
    walk = Walk(cpq_sandbox, specs)
    quotation = tenant["Quotations"][2]["id"]
    template = str(uuid.uuid4())
    walk.call(
        "data",
        "/Quotations({id})/Default.GenerateDocument()",
        "get",
        f"/Quotations({quotation})/Default.GenerateDocument()",
    )
    walk.call(
        "data",
        "/Quotations({id})/Default.GenerateDocument(type={type},languageIso={languageIso},"
        "quotationTemplateId={quotationTemplateId})",
        "get",
        f"/Quotations({quotation})/Default.GenerateDocument(type='pdf',languageIso='nl',"
        f"quotationTemplateId={template})",
    )
    body = {"QuotationId": quotation, "LanguageIso": "en", "Type": "pdf"}
    made = walk.call(
        "data", "/$functions/GenerateDocument", "put", "/$functions/GenerateDocument", json=body
    ).json()
    assert made["ContentType"] == "application/pdf"
    attached = walk.call(
        "data",
        "/$functions/AttachDocument",
        "put",
        "/$functions/AttachDocument",
        json={**body, "FileName": "q.pdf"},
    ).json()
    walk.call(
        "data",
        "/$functions/DownloadFile",
        "put",
        "/$functions/DownloadFile",
        json={"Url": attached["Url"]},
    )
    missing = documented(specs["data"][0]) - {(t, m) for _, t, m in walk.covered}
    assert not missing, sorted(missing)
