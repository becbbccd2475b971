"""A product model compared between two tenants on one host, seeded alike and then changed in
"prod" through the API: a price, a node's mandatory flag, a feature renamed, a tree edge removed.
The expected differences are computed here from both tenants' raw rows: the tree walked in
Python, nodes matched by their path of names."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import pandas as pd
import pytest
from clients import make_client
from cpq_expected import CONSTRAINTS, by_id, expected_tree, nth_model

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.cpq.model_diff import node_paths
from elfsquad_magic.errors import UsageError
from elfsquad_magic.sandbox import Sandbox, TenantSpec

COMPARED = ("name", "articleCode", "edgeType", "isMandatory", "price", "linked", "isPhantom")


@pytest.fixture(scope="module")
def tenants(tmp_path_factory) -> Iterator[tuple[Sandbox, ElfsquadClient, ElfsquadClient]]:
    with Sandbox(scale=1, seed=42, tenants=[TenantSpec("prod", "prod-client")]) as sb:
        folder = tmp_path_factory.mktemp("model-diff")
        test = make_client(sb, mirror_dir=folder)
        spec = sb.tenant("prod")
        prod = ElfsquadClient(
            spec.client_id,
            spec.client_secret,
            login_url=sb.login_url,
            api_url=sb.api_url,
            progress=False,
            mirror_dir=folder,
        )
        test.connection, prod.connection = "test", "prod"
        yield sb, test, prod


def label(feature: dict | None) -> str:
    name = re.sub(r"\s+", " ", (feature or {}).get("name") or "").strip()
    return name or (feature or {}).get("articleCode") or "(unnamed)"


def expected_nodes(rows, model_id: str) -> dict[str, dict]:
    """Path -> the compared properties of each node, from the raw rows (namesakes numbered)."""
    nodes, features = by_id(rows("FeatureModelNodes")), by_id(rows("Features"))
    walked = expected_tree(rows, model_id)
    labels = {n: label(features.get(nodes[n]["featureId"])) for _, n, *_ in walked}
    rules: dict[str, list[str]] = {}
    for edge in rows("FeatureModelRelationships"):
        if edge["type"] in CONSTRAINTS and edge["toNodeId"] in nodes:
            target = label(features.get(nodes[edge["toNodeId"]]["featureId"]))
            rules.setdefault(edge["fromNodeId"], []).append(f"{edge['type']} {target}")
    out: dict[str, dict] = {}
    stack: list[str] = []
    for depth, node_id, _parent, kind, linked, price in walked:
        del stack[depth:]
        path = f"{stack[-1]} / {labels[node_id]}" if stack else labels[node_id]
        base, k = path, 1
        while path in out:
            k += 1
            path = f"{base} [{k}]"
        stack.append(path)
        node, feature = nodes[node_id], features.get(nodes[node_id]["featureId"]) or {}
        out[path] = {
            "name": feature.get("name"),
            "articleCode": feature.get("articleCode"),
            "edgeType": kind,
            "isMandatory": node["isMandatory"],
            "price": price,
            "linked": linked,
            "isPhantom": node["isPhantom"],
            "divergentPrice": node["divergentPrice"],
            "salesPrice": feature.get("salesPrice"),
            "constraints": "; ".join(sorted(rules.get(node_id, []))) or None,
        }
    return out


def plain(value):
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "item"):  # a NumPy scalar
        return plain(value.item())
    return value


def test_every_change_to_a_model_is_found_and_nothing_else(tenants) -> None:
    sb, test, prod = tenants
    model = nth_model(sb.rows, 0)  # it links another model: linked nodes are compared too
    model_id = model["id"]
    before = expected_nodes(sb.rows, model_id)
    assert test.diff(prod, model=model_id).empty  # seeded alike: nothing differs
    # Changes in prod, through its API.
    rows = sb.tenant("prod").rows
    nodes = by_id(rows("FeatureModelNodes"))
    walked = expected_tree(rows, model_id)
    leaves = {n for _, n, *_ in walked} - {p for _, _, p, *_ in walked}
    priced = next(n for _, n, *_ in walked[1:] if nodes[n]["divergentPrice"] is None)
    flipped = next(n for _, n, *_ in walked[2:] if n != priced)
    renamed = next(n for n in sorted(leaves) if n not in (priced, flipped))
    removed = next(n for n in sorted(leaves) if n not in (priced, flipped, renamed))
    feature = by_id(rows("Features"))[nodes[priced]["featureId"]]
    prod.patch(
        f"/data/1/Features({feature['id']})", json={"salesPrice": (feature["salesPrice"] or 0) + 10}
    )
    prod.patch(
        f"/data/1/FeatureModelNodes({flipped})",
        json={"isMandatory": not nodes[flipped]["isMandatory"]},
    )
    prod.patch(f"/data/1/Features({nodes[renamed]['featureId']})", json={"name": "Renamed in prod"})
    [edge] = [
        e
        for e in rows("FeatureModelRelationships")
        if e["toNodeId"] == removed and e["type"] in ("Optional", "Mandatory", "Alternative", "Or")
    ]
    prod.delete(f"/data/1/FeatureModelRelationships({edge['id']})")

    first = expected_nodes(sb.rows, model_id)
    second = expected_nodes(sb.tenant("prod").rows, model_id)
    assert first == before  # test is untouched
    expected = {("only in test", p, None, None, None) for p in first.keys() - second.keys()}
    expected |= {("only in prod", p, None, None, None) for p in second.keys() - first.keys()}
    for path in first.keys() & second.keys():
        for name, value in first[path].items():
            if plain(value) != plain(second[path][name]):
                expected.add(("changed", path, name, plain(value), plain(second[path][name])))
    kinds = {row[0] for row in expected}
    properties = {row[2] for row in expected if row[0] == "changed"}
    assert kinds == {"only in test", "only in prod", "changed"}
    assert {"price", "salesPrice", "isMandatory"} <= properties

    differences = test.diff(prod, model=model_id)
    found = {
        (r.change, r.path, plain(r.property), plain(r.test), plain(r.prod))
        for r in differences.itertuples(index=False)
    }
    assert found == expected
    summary = differences.attrs["elfsquad"]["diff"]["summary"]
    both = len(first.keys() & second.keys())
    root = by_id(sb.rows("Features"))[model["rootFeatureId"]]
    assert summary.startswith(f"Model {label(root)}: ")
    assert f"{both:,} nodes in both" in summary
    assert f"{len(first.keys() - second.keys())} only in test" in summary


def test_namesake_siblings_are_told_apart_in_tree_order() -> None:
    tree = pd.DataFrame(
        {
            "depth": [0, 1, 2, 1, 2, 1],
            "path": [
                "Bike",
                "Bike / Red",
                "Bike / Red / X",
                "Bike / Red",
                "Bike / Red / X",
                "Bike / A / B",
            ],
        }
    )
    assert node_paths(tree).tolist() == [
        "Bike",
        "Bike / Red",
        "Bike / Red / X",
        "Bike / Red [2]",
        "Bike / Red [2] / X",
        "Bike / A / B",  # a name holding " / " stays one name
    ]


def test_a_model_missing_in_one_tenant_says_which(tenants) -> None:
    _, test, prod = tenants
    with pytest.raises(UsageError, match="^In prod: ") as caught:
        prod.diff(test, model="no such model")
    assert "model" in caught.value.message
    with pytest.raises(UsageError, match="not both"):
        test.diff(prod, "Features", model="x")
