"""The Quotation and Configurator APIs through the client: JSON asked for, their errors read,
documents as natural tables, PDFs as bytes that never print.

Expected values come from the sandbox's rows and from the raw documents fetched here with plain
``requests``, never from the client under test.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from clients import get_token, logged_in_client

from elfsquad_magic.errors import BadRequestError, PermissionDeniedError
from elfsquad_magic.fetch.documents import Document
from elfsquad_magic.sandbox import Sandbox

CONFIGURATOR = "/configurator/3/configurator"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """A private sandbox for this module: its tests change quotations."""
    with Sandbox(scale=1, seed=42) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def client(sb: Sandbox) -> Any:
    return logged_in_client(sb, progress=False)


def raw(sb: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    """The service's own answer, asking for JSON, without the client under test."""
    headers = {"Authorization": f"Bearer {get_token(sb)}", "Accept": "application/json"}
    return requests.request(method, f"{sb.url}{path}", headers=headers, timeout=30, **kwargs)


def flatten(nodes: list[dict], depth: int = 0, parent: Any = None) -> Iterator[dict]:
    """A tree of ``features`` as (id, depth, parent) rows, depth first: the test's own walk."""
    for node in nodes:
        yield {"id": node["id"], "depth": depth, "parentId": node.get("parentId") or parent}
        yield from flatten(node.get("features") or [], depth + 1, node["id"])


def test_the_quotation_api_answers_json_to_the_client(sb: Sandbox, client: Any) -> None:
    """The API offers text/plain first; the client asks for JSON and gets a one-row frame."""
    plain = requests.post(
        f"{sb.url}/quotation/1/quotations",
        json={"subject": "Offered as text"},
        headers={"Authorization": f"Bearer {get_token(sb)}"},
        timeout=30,
    )
    assert plain.headers["Content-Type"].startswith("text/plain")
    created = client.post("/quotation/1/quotations", json={"subject": "A new offer"})
    assert len(created) == 1 and created.loc[0, "subject"] == "A new offer"
    stored = {q["id"]: q for q in sb.rows("Quotations")}
    assert stored[created.loc[0, "id"]]["subject"] == "A new offer"


def _concept_missing_properties(sb: Sandbox) -> tuple[dict, list[dict]]:
    """A Concept quotation and the required quotation properties it has no value for."""
    required = [p for p in sb.rows("QuotationProperties") if p["isRequired"]]
    filled: dict[str, set[str]] = defaultdict(set)
    for value in sb.rows("QuotationPropertyValues"):
        if value["value"] not in (None, ""):
            filled[value["entityId"]].add(value["entityPropertyId"])
    for quotation in sb.rows("Quotations"):
        missing = [p for p in required if p["id"] not in filled[quotation["id"]]]
        if quotation["status"] == "Concept" and missing:
            return quotation, missing
    raise AssertionError("no Concept quotation misses a required property")


def test_a_refused_status_change_names_the_empty_properties(sb: Sandbox, client: Any) -> None:
    quotation, missing = _concept_missing_properties(sb)
    action = next(
        a for a in sb.rows("QuotationStatusChangeActions") if a["name"] == "Send to customer"
    )
    body = {"quotationId": quotation["id"], "actionId": action["id"]}
    with pytest.raises(BadRequestError) as caught:
        client.put(f"/quotation/1/quotations/{quotation['id']}/invoke", json=body)
    error = caught.value
    for prop in missing:
        assert repr(prop["description"]) in error.message
    assert "invoke the action again" in error.hint
    assert error.code == "UnsatisfiedProperties"
    assert "Traceback" not in "".join(error._render_traceback_())


def test_a_refused_transfer_says_why(sb: Sandbox, client: Any) -> None:
    stranger = client.post("/data/1/Organizations", json={"name": "Elsewhere Cycles"})
    quotation = next(q for q in sb.rows("Quotations") if q["status"] == "Concept")
    path = f"/quotation/1/quotations/{quotation['id']}/transfer"
    said = raw(sb, "PUT", path, json={"targetOrganizationId": stranger.loc[0, "id"]})
    assert said.status_code == 403
    with pytest.raises(PermissionDeniedError) as caught:
        client.put(path, json={"targetOrganizationId": stranger.loc[0, "id"]})
    assert said.json()["reason"] in caught.value.message


def test_a_validation_error_names_the_fields(sb: Sandbox, client: Any) -> None:
    said = raw(sb, "POST", "/quotation/1/quotations", json={"statusId": "not a status"})
    assert said.status_code == 400 and isinstance(said.json().get("errors"), dict)
    with pytest.raises(BadRequestError) as caught:
        client.post("/quotation/1/quotations", json={"statusId": "not a status"})
    for field, problems in said.json()["errors"].items():
        assert field in caught.value.message
        assert str(problems[0])[:40] in caught.value.message


def test_the_configuration_models_are_a_table_of_features(sb: Sandbox, client: Any) -> None:
    document = raw(sb, "GET", f"{CONFIGURATOR}/configurationmodels").json()
    frame = client.get(f"{CONFIGURATOR}/configurationmodels")
    expected = [model["featureModelId"] for model in document["features"]]
    assert frame["featureModelId"].tolist() == expected and len(expected) > 1
    assert frame["startingPriceInclVat"].tolist() == [
        model["startingPriceInclVat"] for model in document["features"]
    ]
    assert frame.attrs["elfsquad"]["document"]["language"] == document["language"]
    assert client.get(f"{CONFIGURATOR}/configurationmodels", raw=True) == document


def test_a_configuration_is_its_selected_nodes_with_depth_and_parent(
    sb: Sandbox, client: Any
) -> None:
    configuration = sb.rows("Configurations")[0]
    document = raw(sb, "GET", f"{CONFIGURATOR}/open/{configuration['id']}").json()
    frame = client.get(f"{CONFIGURATOR}/open/{configuration['id']}")
    every = {row["id"]: row for row in flatten([document["root"]])}
    selected = [node["id"] for node in _walk(document["root"]) if node.get("isSelected", True)]
    assert frame["id"].tolist() == selected
    assert frame["depth"].tolist() == [every[i]["depth"] for i in selected]
    assert frame["parentId"].tolist()[1:] == [every[i]["parentId"] for i in selected][1:]
    total = sum(node["totalPriceExclVat"] for node in _walk(document["root"]) if node["isSelected"])
    assert frame["totalPriceExclVat"].sum() == pytest.approx(total)
    assert frame.attrs["elfsquad"]["document"]["code"] == document["code"]


def _walk(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("features") or []:
        yield from _walk(child)


def test_a_pdf_is_bytes_that_never_print(sb: Sandbox, client: Any, tmp_path) -> None:
    configuration = sb.rows("Configurations")[0]
    path = f"{CONFIGURATOR}/{configuration['id']}/pdf"
    pdf = client.get(path)
    assert isinstance(pdf, Document) and isinstance(pdf, bytes)
    assert bytes(pdf) == raw(sb, "GET", path).content and pdf.startswith(b"%PDF-")
    assert "%PDF" not in repr(pdf) and f"{len(pdf):,} bytes" in repr(pdf)
    saved = pdf.save(tmp_path / "configuration.pdf")
    assert saved.read_bytes() == bytes(pdf)
