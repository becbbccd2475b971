"""The model view against the sandbox, each tree compared with one walked in the test from
the raw sets: tree edges only, linked models beneath their node, constraints apart, a model
with a constraint cycle, a one-node model, a tree edge back up and models linking each other."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from clients import make_client
from cpq_expected import CONSTRAINTS, by_id, expected_tree, model_name, nth_model

from elfsquad_magic.cpq.tree import ModelTree
from elfsquad_magic.errors import UsageError


def _rows(frame: pd.DataFrame) -> list[tuple]:
    out = []
    for row in frame.itertuples(index=False):
        parent = row.parentNodeId if isinstance(row.parentNodeId, str) else None
        kind = row.edgeType if isinstance(row.edgeType, str) else None
        price = None if pd.isna(row.price) else row.price
        out.append((row.depth, row.nodeId, parent, kind, bool(row.linked), price))
    return out


# Models 0 and 5 link another model, 1 has one node, 2 an Implies cycle, 3 is the large one;
# the others add nothing new and are read in the slow run only.
MODELS = [0, 1, 2, 3, 5] + [pytest.param(i, marks=pytest.mark.slow) for i in (4, 6, 7, 8, 9)]


@pytest.mark.parametrize("index", MODELS)
def test_a_model_is_the_tree_walked_from_the_raw_sets_with_constraints_apart(
    cpq_client, raw, index
) -> None:
    model = nth_model(raw, index)
    frame = cpq_client.cpq.model(model["id"])
    assert _rows(frame) == expected_tree(raw, model["id"])
    rules = cpq_client.cpq.model(model["id"], constraints=True)
    in_tree = set(frame["nodeId"])
    expected = {
        (e["type"], e["fromNodeId"], e["toNodeId"])
        for e in raw("FeatureModelRelationships")
        if e["type"] in CONSTRAINTS and e["fromNodeId"] in in_tree
    }
    assert set(zip(rules["type"], rules["fromNodeId"], rules["toNodeId"], strict=True)) == expected
    assert not set(frame["edgeType"].dropna()) & CONSTRAINTS
    assert frame["constraints"].dropna().str.count(";").add(1).sum() == len(expected)


def test_a_model_is_found_by_its_root_feature_name_or_article_code(cpq_client, raw) -> None:
    model = nth_model(raw, 3)
    root = by_id(raw("Features"))[model["rootFeatureId"]]
    by_name = cpq_client.cpq.model(f"  {root['name'].upper()} ")
    by_code = cpq_client.cpq.model(root["articleCode"])
    assert by_name["nodeId"].tolist() == by_code["nodeId"].tolist()
    assert by_name["featureModelId"].iloc[0] == model["id"]
    assert len(by_name) == sum(n["featureModelId"] == model["id"] for n in raw("FeatureModelNodes"))


def test_the_columns_say_depth_parent_path_and_price(cpq_client, raw) -> None:
    frame = cpq_client.cpq.model(nth_model(raw, 0)["id"])
    nodes, features = by_id(raw("FeatureModelNodes")), by_id(raw("Features"))
    root = frame.iloc[0]
    assert root["depth"] == 0 and pd.isna(root["parent"]) and pd.isna(root["edgeType"])
    names = dict(zip(frame["nodeId"], frame["path"], strict=True))
    for row in frame.iloc[1:].itertuples(index=False):
        assert row.path == f"{names[row.parentNodeId]} / {row.path.rsplit(' / ', 1)[-1]}"
        assert row.parent == names[row.parentNodeId].rsplit(" / ", 1)[-1]
        node = nodes[row.nodeId]
        assert bool(row.isMandatory) == node["isMandatory"]
        sales = features[node["featureId"]]["salesPrice"]
        if node["divergentPrice"] is not None:
            assert row.price == node["divergentPrice"]
        elif sales is None:
            assert math.isnan(row.price)
        else:
            assert row.price == sales


def test_linked_models_hang_beneath_their_node_with_a_flag(cpq_client, raw) -> None:
    link = raw("LinkedFeatureModels")[0]
    owner = by_id(raw("FeatureModelNodes"))[link["parentNodeId"]]["featureModelId"]
    frame = cpq_client.cpq.model(owner)
    linked = frame[frame["linked"]]
    assert set(linked["featureModelId"]) == {link["featureModelId"]}
    first = linked.iloc[0]
    assert first["parentNodeId"] == link["parentNodeId"]
    assert frame.loc[~frame["linked"], "featureModelId"].eq(owner).all()


def test_a_cycle_of_implies_edges_does_not_make_the_walk_endless(cpq_client, raw) -> None:
    model = nth_model(raw, 2)
    implies = {
        e["fromNodeId"]: e["toNodeId"]
        for e in raw("FeatureModelRelationships")
        if e["featureModelId"] == model["id"] and e["type"] == "Implies"
    }
    start = next(iter(implies))
    node, seen = implies[start], {start}
    while node in implies and node not in seen:
        seen.add(node)
        node = implies[node]
    assert node == start, "the seed's model 2 has an Implies cycle"
    frame = cpq_client.cpq.model(model["id"])
    assert frame["nodeId"].is_unique
    assert len(frame) == sum(n["featureModelId"] == model["id"] for n in raw("FeatureModelNodes"))
    rules = cpq_client.cpq.model(model["id"], constraints=True)
    assert {tuple(x) for x in rules[["fromNodeId", "toNodeId"]].values} >= set(implies.items())


def test_a_model_of_one_node_is_one_row_typed_like_the_others(cpq_client, raw) -> None:
    single = cpq_client.cpq.model(nth_model(raw, 1)["id"])
    large = cpq_client.cpq.model(nth_model(raw, 3)["id"])
    assert len(single) == 1 and single["depth"].iloc[0] == 0
    assert single.dtypes.to_dict() == large.dtypes.to_dict()
    assert cpq_client.cpq.model(nth_model(raw, 1)["id"], constraints=True).empty
    assert ModelTree(single).text().count("\n") == 0


def test_an_unknown_model_gives_close_names(cpq_client, raw) -> None:
    name = model_name(raw, nth_model(raw, 3)["id"])
    with pytest.raises(UsageError) as caught:
        cpq_client.cpq.model(name[:-1] + "x")
    assert f"There is no feature model '{name[:-1]}x'" in str(caught.value)
    assert repr(name) in caught.value.hint


def test_no_name_lists_the_models(cpq_client, raw) -> None:
    models = cpq_client.cpq.model()
    assert sorted(models["id"]) == sorted(m["id"] for m in raw("FeatureModels"))
    counts = dict(zip(models["id"], models["nodes"], strict=True))
    for model in raw("FeatureModels"):
        nodes = [n for n in raw("FeatureModelNodes") if n["featureModelId"] == model["id"]]
        assert counts[model["id"]] == len(nodes)


def test_the_tree_draws_every_node_once_and_opens_the_first_level(cpq_client, raw) -> None:
    frame = cpq_client.cpq.model(nth_model(raw, 3)["id"])
    assert len(frame) > 150
    tree = cpq_client.cpq.tree(frame)
    lines = tree.text().splitlines()
    assert len(lines) == len(frame)
    assert lines[1].startswith(("├── ", "└── "))
    html = tree._repr_html_()
    assert html.count("<details open") == 1  # the root only: the rest stays folded
    parents = frame["parentNodeId"].dropna().nunique()
    assert html.count("<details") == parents
    assert html.count("</div>") >= len(frame) - parents


def test_a_tree_edge_back_up_and_models_linking_each_other_end(fresh_sandbox, tmp_path) -> None:
    client = make_client(fresh_sandbox, mirror_dir=tmp_path)
    models = client.cpq.model()
    owner_id = fresh_sandbox.rows("LinkedFeatureModels")[0]
    owner = next(
        n["featureModelId"]
        for n in fresh_sandbox.rows("FeatureModelNodes")
        if n["id"] == owner_id["parentNodeId"]
    )
    before = client.cpq.model(owner)
    deep = before[before["depth"] == before["depth"].max()].iloc[0]
    grandparent = before.set_index("nodeId").loc[deep["parentNodeId"], "parentNodeId"]
    client.post(
        "/data/1/FeatureModelRelationships",
        {
            "featureModelId": owner,
            "fromNodeId": deep["nodeId"],
            "toNodeId": grandparent,
            "type": "Optional",
            "order": 0,
        },
    )
    linked_root = before[before["linked"]].iloc[0]["nodeId"]
    root_node = before.iloc[0]["nodeId"]
    assert models["id"].isin([owner]).any()
    client.post(
        "/data/1/LinkedFeatureModels",
        {"parentNodeId": linked_root, "featureModelId": owner},
    )
    added = {e["toNodeId"] for e in fresh_sandbox.rows("FeatureModelRelationships")}
    assert grandparent in added
    after = client.cpq.model(owner)
    # Both new edges lead back to a node on the path to them: neither is followed.
    assert after["nodeId"].tolist() == before["nodeId"].tolist()
    assert (after["nodeId"] == root_node).sum() == 1
