"""The Configurator API over real HTTP: the engine's rules on a model built for the test through
the Data API, and the seeded models' prices, totals and stored configurations; expected values
come from the test's own model or from ``generate_tenant``."""

from __future__ import annotations

import re
import uuid

import pytest
from conftest import api_caller, cpq_caller

BASE = "/configurator/3/configurator/"

# The test model: name, parent, edge type; "R" is the root.
SHAPE = [
    ("R", None, None),
    ("F", "R", "Mandatory"),
    ("A1", "F", "Alternative"),
    ("A2", "F", "Alternative"),
    ("W", "R", "Optional"),
    ("O1", "W", "Or"),
    ("O2", "W", "Or"),
    ("L", "R", "Optional"),
    ("M", "L", "Mandatory"),
    ("K", "R", "Optional"),
    ("D1", "K", "Optional"),
    ("D2", "D1", "Optional"),
    ("B", "R", "Optional"),
    ("X", "R", "Optional"),
]
CONSTRAINTS = [("B", "K", "Implies"), ("A2", "X", "Excludes"), ("L", "W", "Required")]
DIVERGENT = {"A2": 1234.5}


@pytest.fixture(scope="module")
def cfg(cpq_sandbox):
    return cpq_caller(cpq_sandbox, BASE)


@pytest.fixture(scope="module")
def model(cpq_sandbox, tenant) -> dict:
    """The test model written through the Data API: node name -> id, prices, ids."""
    data = api_caller(cpq_sandbox)
    priced = [f for f in tenant["Features"] if f["salesPrice"] and f["salesPrice"] > 0]
    feature = {name: priced[i] for i, (name, _, _) in enumerate(SHAPE)}
    model_id = str(uuid.uuid4())
    reply = data(
        "FeatureModels", "POST", json={"id": model_id, "rootFeatureId": feature["R"]["id"]}
    )
    assert reply.status_code == 201, reply.text
    ids = {name: str(uuid.uuid4()) for name, _, _ in SHAPE}
    nodes = [
        {
            "id": ids[name],
            "featureModelId": model_id,
            "featureId": feature[name]["id"],
            "divergentPrice": DIVERGENT.get(name),
            "isMandatory": kind == "Mandatory",
            "defaultValue": 1.0,
        }
        for name, _, kind in SHAPE
    ]
    edges = [
        {
            "featureModelId": model_id,
            "fromNodeId": ids[parent],
            "toNodeId": ids[name],
            "order": i,
            "type": kind,
            "default": name == "A1",
        }
        for i, (name, parent, kind) in enumerate(SHAPE)
        if parent
    ]
    edges += [
        {
            "featureModelId": model_id,
            "fromNodeId": ids[a],
            "toNodeId": ids[b],
            "order": 0,
            "type": kind,
            "default": False,
        }
        for a, b, kind in CONSTRAINTS
    ]
    for name, rows in (("FeatureModelNodes", nodes), ("FeatureModelRelationships", edges)):
        reply = data(f"{name}/Default.BulkInsert", "POST", json={"entities": rows})
        assert reply.status_code == 204, reply.text
    prices = {name: DIVERGENT.get(name, feature[name]["salesPrice"]) for name, _, _ in SHAPE}
    vat = {v["id"]: v["pct"] for v in tenant["Vats"]}
    vats = {name: vat[feature[name]["vatId"]] for name, _, _ in SHAPE}
    return {
        "id": model_id,
        "ids": ids,
        "names": {v: k for k, v in ids.items()},
        "prices": prices,
        "vats": vats,
    }


def flat(doc: dict) -> dict[str, dict]:
    """Every node of a configuration's tree by id."""
    out, stack = {}, [doc["root"]]
    while stack:
        node = stack.pop()
        out[node["id"]] = node
        stack.extend(node["features"] or [])
    return out


def selected(doc: dict, model: dict) -> set[str]:
    return {model["names"][i] for i, n in flat(doc).items() if n["isSelected"]}


def start(cfg, model) -> dict:
    reply = cfg("POST", f"new/{model['id']}", json={})
    assert reply.status_code == 200, reply.text
    return reply.json()


def choose(cfg, model, doc, *names: str, select: bool = True) -> dict:
    body = [
        {"featureModelNodeId": model["ids"][n], "value": 1, "isSelection": select} for n in names
    ]
    reply = cfg("PUT", f"{doc['id']}/multiple", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def expected_total(model: dict, names: set[str], vat: bool = False) -> float:
    total = 0.0
    for name in names:
        unit = round(model["prices"][name], 2)
        if vat:
            unit = round(unit * (1 + model["vats"][name] / 100), 2)
        total += round(unit, 2)
    return round(total, 2)


# -- The rules ---------------------------------------------------------------------------------


def test_a_new_configuration_takes_the_mandatory_children_and_the_default_alternative(cfg, model):
    doc = start(cfg, model)
    assert selected(doc, model) == {"R", "F", "A1"}
    assert doc["configurationModelId"] == model["id"]
    assert doc["totalPriceExclVatNumber"] == expected_total(model, {"R", "F", "A1"})
    assert doc["totalPriceInclVatNumber"] == expected_total(model, {"R", "F", "A1"}, vat=True)
    assert doc["unansweredMandatories"] == [] and doc["conflicts"] == []


def test_selecting_a_node_selects_its_ancestors(cfg, model):
    doc = choose(cfg, model, start(cfg, model), "D2")
    assert {"D2", "D1", "K"} <= selected(doc, model)
    assert doc["requirements"] == [{"nodeId": model["ids"]["D2"], "value": 1.0}]


def test_an_alternative_group_holds_one_choice(cfg, model):
    doc = choose(cfg, model, start(cfg, model), "A2")
    assert "A2" in selected(doc, model) and "A1" not in selected(doc, model)
    doc = choose(cfg, model, doc, "A1")
    assert "A1" in selected(doc, model) and "A2" not in selected(doc, model)


def test_mandatory_children_come_with_their_parent(cfg, model):
    doc = start(cfg, model)
    assert "M" not in selected(doc, model)
    doc = choose(cfg, model, doc, "L")
    assert {"L", "M"} <= selected(doc, model)


def test_an_or_group_needs_one_choice(cfg, model):
    doc = choose(cfg, model, start(cfg, model), "W")
    unanswered = [n["id"] for n in doc["unansweredMandatories"]]
    assert unanswered == [model["ids"]["W"]]
    doc = choose(cfg, model, doc, "O1", "O2")
    assert doc["unansweredMandatories"] == []
    assert {"O1", "O2"} <= selected(doc, model)


def test_implies_selects_its_target(cfg, model):
    doc = choose(cfg, model, start(cfg, model), "B")
    assert {"B", "K"} <= selected(doc, model)
    assert "D1" not in selected(doc, model)


def test_excludes_and_an_unmet_required_are_conflicts(cfg, model):
    doc = choose(cfg, model, start(cfg, model), "A2", "X")
    conflicts = [(c["feature"]["id"], c["type"]) for c in doc["conflicts"]]
    assert conflicts == [(model["ids"]["X"], 1)]  # Remove
    doc = choose(cfg, model, start(cfg, model), "L")
    assert [(c["feature"]["id"], c["type"]) for c in doc["conflicts"]] == [(model["ids"]["W"], 0)]
    assert doc["conflicts"][0]["featurePath"] == [flat(doc)[model["ids"]["R"]]["name"]]
    doc = choose(cfg, model, doc, "W", "O1")
    assert doc["conflicts"] == []


def test_deselecting_drops_the_subtree(cfg, model):
    doc = choose(cfg, model, start(cfg, model), "D2")
    doc = choose(cfg, model, doc, "K", select=False)
    assert not {"K", "D1", "D2"} & selected(doc, model)


def test_prices_are_the_divergent_price_else_the_feature_price(cfg, model):
    doc = choose(cfg, model, start(cfg, model), "A2", "B")
    nodes = flat(doc)
    for name, node_id in model["ids"].items():
        node = nodes[node_id]
        assert node["unitPriceExclVat"] == round(model["prices"][name], 2)
        assert node["price"]["unitPriceExcVat"] == node["unitPriceExclVat"]
        value = 1.0 if node["isSelected"] else 0.0
        assert node["totalPriceExclVat"] == round(model["prices"][name] * value, 2)
    names = selected(doc, model)
    assert doc["totalPriceExclVatNumber"] == expected_total(model, names)
    assert doc["basePrice"] == round(model["prices"]["R"], 2)
    assert doc["additionalPrice"] == round(expected_total(model, names) - doc["basePrice"], 2)


def _number(text: str) -> float:
    """A formatted price back to a number, in either convention."""
    digits = re.sub(r"[^0-9,.\-]", "", text)
    if re.search(r",\d{2}$", digits):
        digits = digits.replace(".", "").replace(",", ".")
    return float(digits.replace(",", ""))


def test_prices_come_as_numbers_and_as_formatted_strings(cfg, model):
    doc = start(cfg, model)
    assert doc["totalPriceExclVat"].startswith("€ ")
    assert _number(doc["totalPriceExclVat"]) == doc["totalPriceExclVatNumber"]
    reply = cfg("PUT", f"{doc['id']}/changelanguage", json="nl")
    dutch = reply.json()
    assert _number(dutch["totalPriceExclVat"]) == dutch["totalPriceExclVatNumber"]
    assert re.search(r",\d\d$", dutch["totalPriceExclVat"])


def test_another_currency_converts_at_the_exchange_rate(cfg, model, tenant):
    rate = next(r["rate"] for r in tenant["ExchangeRates"] if r["currencyIso"] == "USD")
    doc = start(cfg, model)
    reply = cfg("PUT", f"{doc['id']}/changecurrency", json="USD")
    assert reply.status_code == 200, reply.text
    usd = reply.json()
    assert usd["currency"] == "USD" and usd["totalPriceExclVat"].startswith("$ ")
    expected = round(
        sum(round(round(model["prices"][n] * rate, 2), 2) for n in selected(usd, model)), 2
    )
    assert usd["totalPriceExclVatNumber"] == expected


# -- Seeded models -----------------------------------------------------------------------------


def test_a_cycle_of_implications_selects_all_three_and_ends(cfg, tenant):
    implies = [r for r in tenant["FeatureModelRelationships"] if r["type"] == "Implies"]
    targets = {r["fromNodeId"]: r["toNodeId"] for r in implies}
    cycle = next(
        [a, targets[a], targets[targets[a]]]
        for a in targets
        if targets.get(a) in targets
        and targets.get(targets[a]) in targets
        and targets[targets[targets[a]]] == a
    )
    model_id = next(r["featureModelId"] for r in implies if r["fromNodeId"] == cycle[0])
    doc = cfg("POST", f"new/{model_id}", json={}).json()
    reply = cfg(
        "PUT", doc["id"], json={"featureModelNodeId": cycle[0], "value": 1, "isSelection": True}
    )
    assert reply.status_code == 200
    nodes = flat(reply.json())
    assert all(nodes[n]["isSelected"] for n in cycle)


def test_a_seeded_configuration_opens_with_the_nodes_of_its_lines(cfg, tenant):
    line = next(x for x in tenant["QuotationLines"] if x["configurationId"])
    lines = [x for x in tenant["QuotationLines"] if x["configurationId"] == line["configurationId"]]
    reply = cfg("GET", f"open/{line['configurationId']}")
    assert reply.status_code == 200, reply.text
    doc = reply.json()
    nodes = flat(doc)
    phantoms = {n["id"] for n in tenant["FeatureModelNodes"] if n["isPhantom"]}
    chosen = {i for i, n in nodes.items() if n["isSelected"]} - phantoms
    assert chosen == {x["featureModelNodeId"] for x in lines}
    prices = {x["featureModelNodeId"]: x["unitPrice"] for x in lines}
    for node_id, price in prices.items():
        assert nodes[node_id]["unitPriceExclVat"] == round(price, 2)
    code = next(c["code"] for c in tenant["Configurations"] if c["id"] == line["configurationId"])
    assert cfg("GET", f"open/{code}").json()["id"] == line["configurationId"]
    versions = {q["id"]: q["versionNumber"] for q in tenant["Quotations"]}
    latest = max({x["quotationId"] for x in lines}, key=lambda q: versions[q])
    assert doc["quotation"]["id"] == latest


def test_new_accepts_a_name_an_id_a_code_and_startup_requirements(cfg, tenant):
    features = {f["id"]: f for f in tenant["Features"]}
    model = tenant["FeatureModels"][0]
    name = features[model["rootFeatureId"]]["name"]
    nodes = [n for n in tenant["FeatureModelNodes"] if n["featureModelId"] == model["id"]]
    leaf = nodes[-1]
    body = {"startupRequirements": [{"nodeId": leaf["id"], "type": 0, "value": True}]}
    by_name = cfg("POST", f"new/{name}", json=body).json()
    assert by_name["configurationModelId"] == model["id"]
    assert flat(by_name)[leaf["id"]]["isSelected"]
    by_get = cfg("GET", f"new/{model['id']}").json()  # the configurator library's spelling
    assert by_get["configurationModelId"] == model["id"] and by_get["id"] != by_name["id"]
    copied = cfg("POST", f"new/{by_name['code']}", json={}).json()
    assert copied["id"] != by_name["id"] and flat(copied)[leaf["id"]]["isSelected"]
    assert cfg("POST", "new/no such model", json={}).status_code == 404


def test_version_1_is_an_alias(cpq_sandbox, tenant):
    v1 = cpq_caller(cpq_sandbox, "/configurator/1/configurator/")
    reply = v1("GET", "configurationmodels")
    assert reply.status_code == 200
    listed = {f["featureModelId"] for f in reply.json()["features"]}
    shown = {m["id"] for m in tenant["FeatureModels"] if not m["hideInShowroom"]}
    hidden = {m["id"] for m in tenant["FeatureModels"]} - shown
    assert hidden and shown <= listed and not hidden & listed


def test_a_configuration_is_stored_in_the_data_api(cpq_sandbox, cfg, model):
    data = api_caller(cpq_sandbox)
    doc = start(cfg, model)
    row = data(f"Configurations({doc['id']})").json()
    assert (row["code"], row["featureModelId"]) == (doc["code"], model["id"])
    assert cfg("PUT", f"{doc['id']}/updatename", json={"name": "Anna's bike"}).status_code == 200
    assert data(f"Configurations({doc['id']})").json()["name"] == "Anna's bike"
    assert cfg("GET", f"{doc['id']}/getname").json() == {
        "name": "Anna's bike",
        "configurationId": doc["id"],
    }


def test_add_to_quotation_adds_a_group_and_updates_the_totals(cpq_sandbox, cfg, model, tenant):
    data = api_caller(cpq_sandbox)
    doc = choose(cfg, model, start(cfg, model), "L", "B")
    quotation = tenant["Quotations"][0]
    before = data("QuotationLines", params={"$filter": f"quotationId eq {quotation['id']}"})
    before = before.json()["value"]
    body = {
        "quotationId": quotation["id"],
        "configurationIds": [doc["id"]],
        "quantities": {doc["id"]: 2},
    }
    reply = cfg("PUT", "addtoquotation", json=body)
    assert reply.status_code == 200 and reply.content == b""
    lines = data("QuotationLines", params={"$filter": f"quotationId eq {quotation['id']}"})
    lines = lines.json()["value"]
    added = [x for x in lines if x["configurationId"] == doc["id"]]
    assert {model["names"][x["featureModelNodeId"]] for x in added} == selected(doc, model)
    assert all(x["quantity"] == 2.0 for x in added)
    root = next(x for x in added if x["groupedRootLine"])
    assert all(x["parentLineId"] for x in added if x is not root)
    group = data(f"QuotationGroups({added[0]['groupId']})").json()
    amounts = [
        round(x["quantity"] * x["unitPrice"] * (1 - x["discountPct"] / 100), 2) for x in added
    ]
    assert group["totalPriceExclVat"] == pytest.approx(sum(amounts), abs=0.005)
    assert group["groupAmount"] == 2
    total = sum(
        round(x["quantity"] * x["unitPrice"] * (1 - x["discountPct"] / 100), 2) for x in lines
    )
    q = data(f"Quotations({quotation['id']})").json()
    assert q["totalPrice"] == pytest.approx(total, abs=0.011)
    assert len(lines) == len(before) + len(added)
    assert cfg("GET", f"open/{doc['id']}").json()["quotation"]["id"] == quotation["id"]


# -- Documents and negotiation -----------------------------------------------------------------


def test_the_pdf_is_a_real_pdf(cfg, model):
    doc = start(cfg, model)
    reply = cfg("GET", f"{doc['id']}/pdf")
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/pdf"
    body = reply.content
    assert body.startswith(b"%PDF-1.4") and body.rstrip().endswith(b"%%EOF")
    xref = int(body.rsplit(b"startxref", 1)[1].split()[0])
    assert body[xref:].startswith(b"xref")
    offsets = [int(line[:10]) for line in body[xref:].split(b"\n")[3:8]]
    for number, offset in enumerate(offsets, start=1):
        assert body[offset:].startswith(b"%d 0 obj" % number)


def test_answers_are_text_plain_unless_json_is_asked_for(cpq_sandbox):
    from conftest import session_for

    session = session_for(cpq_sandbox)
    url = f"{cpq_sandbox.url}{BASE}configurationmodels"
    assert session.get(url).headers["Content-Type"].startswith("text/plain")
    assert (
        session.get(url, headers={"Accept": "*/*"}).headers["Content-Type"].startswith("text/plain")
    )
    json_reply = session.get(url, headers={"Accept": "application/json"})
    assert json_reply.headers["Content-Type"].startswith("application/json")
    assert json_reply.json()["features"]


def test_unknown_configurations_and_nodes_are_refused(cfg, model):
    assert cfg("GET", f"open/{uuid.uuid4()}").status_code == 404
    doc = start(cfg, model)
    reply = cfg(
        "PUT",
        doc["id"],
        json={"featureModelNodeId": str(uuid.uuid4()), "value": 1, "isSelection": True},
    )
    assert reply.status_code == 400 and "errors" in reply.json()
