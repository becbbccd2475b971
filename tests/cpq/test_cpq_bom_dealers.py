"""The bom view against the sandbox's Configurator API (its total equals the configuration's,
read here with plain requests; its nodes are those the quotation's lines record) and the
dealer_prices view against the rule of docs/cpq.md applied to the raw dealer terms."""

from __future__ import annotations

import pytest
import requests
from clients import get_token
from cpq_expected import by_id, dealer_price

from elfsquad_magic.errors import UsageError


def _open(sandbox, configuration_id: str) -> dict:
    answer = requests.get(
        f"{sandbox.api_url}/configurator/3/configurator/open/{configuration_id}",
        headers={"Authorization": f"Bearer {get_token(sandbox)}", "Accept": "application/json"},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()


def _latest_lines(raw, configuration_id: str) -> list[dict]:
    lines = [x for x in raw("QuotationLines") if x["configurationId"] == configuration_id]
    quotations = by_id(raw("Quotations"))
    newest = max(quotations[x["quotationId"]]["versionNumber"] for x in lines)
    return [x for x in lines if quotations[x["quotationId"]]["versionNumber"] == newest]


@pytest.mark.parametrize("index", [0, 5, 40])
def test_the_bom_total_is_the_configurations_and_its_nodes_the_lines(
    cpq_client, raw, sandbox, index
) -> None:
    configuration = sorted(raw("Configurations"), key=lambda c: c["code"])[index]
    frame = cpq_client.cpq.bom(configuration["code"])
    document = _open(sandbox, configuration["id"])
    assert round(frame["totalPrice"].sum(), 2) == pytest.approx(
        document["totalPriceExclVatNumber"], abs=0.005
    )
    assert frame.attrs["elfsquad"]["view"]["totals"] == {
        configuration["code"]: document["totalPriceExclVatNumber"]
    }
    nodes = by_id(raw("FeatureModelNodes"))
    priced = {n for n in frame["nodeId"] if not nodes[n]["isPhantom"]}
    assert priced == {x["featureModelNodeId"] for x in _latest_lines(raw, configuration["id"])}
    assert set(frame["currency"]) == {configuration["currencyIso"]}


def test_the_bom_is_flat_with_depth_and_parent_in_tree_order(cpq_client, raw) -> None:
    configuration = sorted(raw("Configurations"), key=lambda c: c["code"])[0]
    frame = cpq_client.cpq.bom(configuration["id"])
    assert frame["depth"].iloc[0] == 0 and frame["parentId"].isna().iloc[0]
    seen: dict[str, int] = {}
    for row in frame.itertuples(index=False):
        if row.depth:
            assert seen[row.parentId] == row.depth - 1  # the parent came before, a level up
        seen[row.nodeId] = row.depth
    assert (frame["totalPrice"] == (frame["unitPrice"] * frame["quantity"]).round(2)).all()


def test_the_bom_of_a_quotation_is_its_groups_one_after_the_other(cpq_client, raw) -> None:
    groups = raw("QuotationGroups")
    quotation_id = next(
        g["quotationId"]
        for g in groups
        if sum(h["quotationId"] == g["quotationId"] for h in groups) > 1
    )
    quotation = by_id(raw("Quotations"))[quotation_id]
    frame = cpq_client.cpq.bom(
        quotation=f"{quotation['quotationNumber']}/{quotation['versionNumber']}"
    )
    codes = [
        g["configurationCode"]
        for g in sorted(groups, key=lambda g: g["groupOrder"])
        if g["quotationId"] == quotation_id
    ]
    assert list(dict.fromkeys(frame["configurationCode"])) == codes


def test_an_unknown_configuration_gives_close_codes(cpq_client) -> None:
    with pytest.raises(UsageError, match="There is no configuration 'CFG-0000001'") as caught:
        cpq_client.cpq.bom("CFG-0000001")
    assert "CFG-0000" in caught.value.hint
    with pytest.raises(UsageError, match="one of them"):
        cpq_client.cpq.bom()


def test_dealer_prices_follow_the_rule_for_every_term(cpq_client, raw) -> None:
    frame = cpq_client.cpq.dealer_prices().set_index("termId")
    terms = raw("OrganizationSellsFeatures")
    assert sorted(frame.index) == sorted(t["id"] for t in terms)
    features, organizations = by_id(raw("Features")), by_id(raw("Organizations"))
    for term in terms:
        row = frame.loc[term["id"]]
        organization = organizations[term["organizationId"]]
        price, purchase = dealer_price(features[term["featureId"]], term, organization)
        assert (row["dealerPrice"], row["purchasePrice"]) == pytest.approx((price, purchase))
        assert row["dealer"] == organization["name"] and row["source"] == "term"
        assert row["allowedToSell"] == term["allowedToSell"]


def test_one_features_price_per_dealer_with_or_without_a_term(cpq_client, raw) -> None:
    term = raw("OrganizationSellsFeatures")[0]
    feature = by_id(raw("Features"))[term["featureId"]]
    frame = cpq_client.cpq.dealer_prices(feature["articleCode"])
    children = {
        r["childOrganizationId"] for r in raw("OrganizationHasChildOrganizationRelationships")
    }
    assert sorted(frame["organizationId"]) == sorted(children)
    organizations = by_id(raw("Organizations"))
    for row in frame.itertuples(index=False):
        mine = [
            t
            for t in raw("OrganizationSellsFeatures")
            if t["organizationId"] == row.organizationId and t["featureId"] == feature["id"]
        ]
        price, purchase = dealer_price(
            feature, mine[0] if mine else None, organizations[row.organizationId]
        )
        assert row.dealerPrice == pytest.approx(price)
        assert (row.source == "term") == bool(mine)
    one = cpq_client.cpq.dealer_prices(
        feature["id"], dealer=organizations[term["organizationId"]]["name"]
    )
    assert one["organizationId"].tolist() == [term["organizationId"]]


def test_an_unknown_feature_or_dealer_gives_close_names(cpq_client) -> None:
    with pytest.raises(UsageError, match="There is no dealer 'Dealer 9'") as caught:
        cpq_client.cpq.dealer_prices(dealer="Dealer 9")
    assert "Dealer 1" in caught.value.hint
    with pytest.raises(UsageError, match="There is no feature"):
        cpq_client.cpq.dealer_prices("no such feature at all")
