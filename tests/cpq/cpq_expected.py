"""What the CPQ views should answer, computed in plain Python from the sandbox's raw rows,
without any of the views' code or SQL."""

from __future__ import annotations

from collections.abc import Callable

Rows = Callable[[str], list[dict]]

TREE = {"Optional", "Mandatory", "Alternative", "Or"}
CONSTRAINTS = {"Required", "Excludes", "Implies", "Includes"}


def by_id(rows: list[dict], key: str = "id") -> dict:
    return {row[key]: row for row in rows}


def nth_model(raw: Rows, index: int) -> dict:
    """The seed's model ``index`` (by ``order``): 1 has one node, 2 an Implies cycle, 3 is
    the large one."""
    return sorted(raw("FeatureModels"), key=lambda m: m["order"])[index]


def model_root(raw: Rows, model_id: str) -> str:
    """The node of the model's root feature that no tree edge leads into."""
    model = by_id(raw("FeatureModels"))[model_id]
    entered = {e["toNodeId"] for e in raw("FeatureModelRelationships") if e["type"] in TREE}
    return next(
        n["id"]
        for n in raw("FeatureModelNodes")
        if n["featureModelId"] == model_id
        and n["featureId"] == model["rootFeatureId"]
        and n["id"] not in entered
    )


def expected_tree(raw: Rows, model_id: str) -> list[tuple]:
    """(depth, nodeId, parentNodeId, edgeType, linked, price) in tree order: children by
    ``order`` then id, a linked model's root after its parent's own children."""
    nodes = by_id(raw("FeatureModelNodes"))
    features = by_id(raw("Features"))
    children: dict[str, list[tuple]] = {}
    for edge in raw("FeatureModelRelationships"):
        if edge["type"] in TREE:
            children.setdefault(edge["fromNodeId"], []).append(
                (edge["order"] or 0, edge["toNodeId"], edge["type"], False)
            )
    for link in raw("LinkedFeatureModels"):
        root = model_root(raw, link["featureModelId"])
        children.setdefault(link["parentNodeId"], []).append((10**9, root, None, True))
    out: list[tuple] = []

    def visit(
        node_id: str, parent: str | None, kind: str | None, depth: int, linked: bool, path: tuple
    ) -> None:
        node = nodes[node_id]
        price = node["divergentPrice"]
        if price is None:
            price = features[node["featureId"]]["salesPrice"]
        out.append((depth, node_id, parent, kind, linked, price))
        for _order, child, child_kind, via_link in sorted(children.get(node_id, [])):
            if child not in path:
                visit(child, node_id, child_kind, depth + 1, linked or via_link, path + (child,))

    root = model_root(raw, model_id)
    visit(root, None, None, 0, False, (root,))
    return out


def model_name(raw: Rows, model_id: str) -> str:
    model = by_id(raw("FeatureModels"))[model_id]
    return by_id(raw("Features"))[model["rootFeatureId"]]["name"]


def latest_quotations(raw: Rows) -> list[dict]:
    """The highest version of each quotation number."""
    best: dict[int, dict] = {}
    for q in raw("Quotations"):
        number = q["quotationNumber"]
        if number not in best or q["versionNumber"] > best[number]["versionNumber"]:
            best[number] = q
    return [best[n] for n in sorted(best)]


def account_name(account: dict | None) -> str | None:
    if account is None:
        return None
    if account["companyName"]:
        return account["companyName"]
    parts = [account["firstName"], account["lastNamePrefix"], account["lastName"]]
    return " ".join(p for p in parts if p)


def line_margins(line: dict, vat_pct: float) -> dict:
    """A line's amounts by the formula of docs/cpq.md."""
    quantity = line["quantity"] or 0.0
    sales = round(quantity * (line["unitPrice"] or 0) * (1 - (line["discountPct"] or 0) / 100), 2)
    cost = round(
        quantity
        * (line["originalUnitPrice"] or 0)
        * (1 - (line["purchasePriceDiscountPct"] or 0) / 100),
        2,
    )
    return {
        "totalPriceExclVat": sales,
        "totalPriceInclVat": round(sales * (1 + vat_pct / 100), 2),
        "purchasePrice": cost,
        "profitMargin": round(sales - cost, 2),
    }


def dealer_price(feature: dict, term: dict | None, organization: dict) -> tuple:
    """(dealer price, purchase price) by the rule of docs/cpq.md."""
    sales = feature["salesPrice"]
    if term is None:
        up = organization["defaultUpValuePct"] or 0
        return (round(sales * (1 + up / 100), 2) if sales is not None else None, None)
    if term["absoluteSalesPrice"] is not None:
        price = term["absoluteSalesPrice"]
    else:
        price = round(sales * (1 + (term["upValuePct"] or 0) / 100), 2)
    return price, round(sales * (1 - term["purchaseDiscountPct"] / 100), 2)
