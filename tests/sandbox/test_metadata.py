"""$metadata (CSDL) and the API descriptions served next to the Data API."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib import resources

import requests

from elfsquad_magic.core.schema import parse_metadata

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def _apispec() -> dict:
    raw = resources.files("elfsquad_magic.apispec").joinpath("data_api.json").read_bytes()
    return json.loads(raw)


def test_metadata_is_xml_listing_every_entity_set(api) -> None:
    reply = api("$metadata")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(reply.content)
    names = {e.get("Name") for e in root.iter(f"{EDM}EntitySet")}
    expected = {s["name"] for s in _apispec()["entitySets"]}
    assert names == expected
    assert len(names) >= 63


def test_metadata_carries_edm_types_keys_and_navigation(api) -> None:
    schema = parse_metadata(api("$metadata").content)
    features = schema.find("features")
    assert features is not None and features.key == ("id",)
    types = features.edm_types()
    assert types["id"] == "Edm.Guid"
    assert types["salesPrice"] == "Edm.Decimal"
    assert types["createdDate"] == "Edm.DateTimeOffset"
    assert types["disallowDiscount"] == "Edm.Boolean"
    assert types["tags"] == "Collection(Edm.String)"
    assert types["type"] == "Edm.String"
    assert features.navigation["category"].target_set == "Categories"
    assert schema.find("Quotations").edm_types()["quotationNumber"] == "Edm.Int64"
    assert schema.find("QuotationLines").edm_types()["lineNumber"] == "Edm.Int32"
    assert schema.find("Countries").key == ("iso",)


def test_apispec_matches_the_reference_types() -> None:
    sets = {s["name"]: s for s in _apispec()["entitySets"]}
    props = {p["name"]: p["type"] for p in sets["QuotationLines"]["properties"]}
    assert props["quotationId"] == "Edm.Guid"
    assert props["quantity"] == "Edm.Decimal"
    assert "feature" not in props  # navigation, not a property
    assert {n["name"]: n["target"] for n in sets["QuotationLines"]["navigation"]}["feature"] == (
        "Features"
    )


def test_swagger_documents_are_served_or_404(sandbox) -> None:
    for path, filename in [
        ("/quotation/1/swagger/v1/swagger.json", "quotation_api.json"),
        ("/configurator/v1/swagger.json", "configurator_api.json"),
    ]:
        shipped = resources.files("elfsquad_magic.apispec").joinpath(filename).is_file()
        reply = requests.get(sandbox.url + path, timeout=30)
        if shipped:
            assert reply.status_code == 200
            assert isinstance(reply.json(), dict)
        else:
            assert reply.status_code == 404
            assert reply.json()["error"]["code"] == "NotFound"


def test_unknown_paths_are_404_odata_errors(sandbox) -> None:
    reply = requests.get(f"{sandbox.url}/nothing/here", timeout=10)
    assert reply.status_code == 404
    assert reply.json()["error"]["message"]
