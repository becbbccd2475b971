"""Quotation arithmetic over the store: line amounts, group and quotation totals, and the rows a
configuration adds to a quotation. The Quotation and Configurator APIs write through it, so their
totals follow the same rules as the seed's:

- a line's amount is ``round(quantity * unitPrice * (1 - discountPct / 100), 2)``, incl. VAT
  ``round(amount * (1 + vat / 100), 2)``; its cost ``round(quantity * originalUnitPrice *
  (1 - purchasePriceDiscountPct / 100), 2)``;
- a group's totals are the sums of its lines', its margin the total less the cost;
- a quotation's ``totalPrice`` and ``totalPriceInclVat`` are the sums over all its lines.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import orjson

from .configurator import Evaluation, FeatureModelGraph
from .metadata import ServiceSpec
from .store import Store, column
from .values import EMPTY_DATE, utc_now_text


def amount(line: dict) -> float:
    """A line's price excluding VAT, after its discount."""
    return round(line["quantity"] * line["unitPrice"] * (1 - line["discountPct"] / 100), 2)


def amount_incl(line: dict, vat_pct: dict[str, float]) -> float:
    """A line's price including its VAT."""
    return round(amount(line) * (1 + vat_pct.get(line["vatId"], 0.0) / 100), 2)


def cost(line: dict) -> float:
    """What a line costs the seller."""
    unit = (line["originalUnitPrice"] or 0.0) * (1 - (line["purchasePriceDiscountPct"] or 0) / 100)
    return round(line["quantity"] * unit, 2)


def group_totals(lines: Iterable[dict], vat_pct: dict[str, float], count: int = 1) -> dict:
    """The totals of a ``QuotationGroups`` row from its lines (``count``: its groupAmount)."""
    lines = list(lines)
    total = round(sum(amount(x) for x in lines), 2)
    total_vat = round(sum(amount_incl(x, vat_pct) for x in lines), 2)
    purchase = round(sum(cost(x) for x in lines), 2)
    margin = round(total - purchase, 2)
    return {
        "unitExclPrice": round(total / count, 2) if count else total,
        "unitInclPrice": round(total_vat / count, 2) if count else total_vat,
        "totalPriceExclVat": total,
        "totalPriceInclVat": total_vat,
        "purchasePrice": purchase,
        "profitMargin": margin,
        "profitMarginPercentage": round(margin / total * 100, 2) if total else 0.0,
    }


class Ledger:
    """Reads and writes a quotation's lines, groups and totals in the store."""

    def __init__(self, service: ServiceSpec, store: Store) -> None:
        self.service = service
        self.store = store

    def rows(self, set_name: str, prop: str, value: object) -> list[dict]:
        """Rows of ``set_name`` whose ``prop`` equals ``value``, in key order."""
        spec = self.service.sets[set_name]
        raw = self.store.select_json(spec, f"{column(prop)} = :v", {"v": value}, column(spec.key))
        return [orjson.loads(r) for r in raw]

    def get(self, set_name: str, key: object) -> dict | None:
        """One row by key, or ``None``."""
        raw = self.store.get(self.service.sets[set_name], key)
        return orjson.loads(raw) if raw is not None else None

    def put(self, set_name: str, rows: list[dict]) -> None:
        """Insert or replace rows (validated against the set's types)."""
        if rows:
            self.store.insert(self.service.sets[set_name], rows, replace=True)

    def vat_pct(self) -> dict[str, float]:
        """VAT id -> percentage."""
        return {v["id"]: v["pct"] for v in self.store.rows(self.service.sets["Vats"])}

    def recompute(self, quotation_id: str) -> dict:
        """Groups' and the quotation's totals from their lines, stamped now; the quotation."""
        vat = self.vat_pct()
        lines = self.rows("QuotationLines", "quotationId", quotation_id)
        now = utc_now_text()
        groups = self.rows("QuotationGroups", "quotationId", quotation_id)
        for group in groups:
            mine = [x for x in lines if x["groupId"] == group["groupId"]]
            group.update(group_totals(mine, vat, group["groupAmount"] or 1))
        self.put("QuotationGroups", groups)
        quotation = self.get("Quotations", quotation_id)
        assert quotation is not None
        quotation.update(
            totalPrice=round(sum(amount(x) for x in lines), 2),
            totalPriceInclVat=round(sum(amount_incl(x, vat) for x in lines), 2),
            updatedDate=now,
        )
        self.put("Quotations", [quotation])
        return quotation

    def add_configuration(
        self,
        quotation: dict,
        graph: FeatureModelGraph,
        result: Evaluation,
        configuration: dict,
        count: int = 1,
    ) -> list[dict]:
        """A group for ``configuration`` with a line per selected, non-phantom node (values times
        ``count``), parent lines as in the tree; the quotation's totals recomputed."""
        existing = self.rows("QuotationLines", "quotationId", quotation["id"])
        groups = self.rows("QuotationGroups", "quotationId", quotation["id"])
        number = max((x["lineNumber"] or 0 for x in existing), default=0)
        group = dict.fromkeys(self.service.sets["QuotationGroups"].properties)
        group.update(
            groupId=str(uuid.uuid4()),
            groupOrder=len(groups),
            groupAmount=count,
            groupTitle=configuration.get("name"),
            configurationId=configuration["id"],
            configurationCode=configuration.get("code"),
            quotationId=quotation["id"],
            groupMarginPct=0.0,
        )
        line_of: dict[str, str] = {}
        lines = []
        for node_id, value in result.values.items():
            if graph.nodes[node_id].get("isPhantom"):
                continue
            up = graph.parent.get(node_id)
            while up is not None and up not in line_of:
                up = graph.parent.get(up)
            number += 1
            line = self._line(quotation, graph, node_id, value * count, group, number)
            line["parentLineId"] = line_of.get(up) if up is not None else None
            line_of[node_id] = line["id"]
            lines.append(line)
        group.update(group_totals(lines, self.vat_pct(), count))
        self.put("QuotationLines", lines)
        self.put("QuotationGroups", [group])
        self.recompute(quotation["id"])
        return lines

    def _line(
        self,
        quotation: dict,
        graph: FeatureModelGraph,
        node_id: str,
        quantity: float,
        group: dict,
        number: int,
    ) -> dict:
        """A configured line of ``group`` for one node, at the node's price, no discount."""
        node = graph.nodes[node_id]
        feature = graph.features.get(node["featureId"]) or {}
        price = graph.price(node_id)
        line = dict.fromkeys(self.service.sets["QuotationLines"].properties)
        line.update(
            id=str(uuid.uuid4()),
            createdDate=utc_now_text(),
            updatedDate=EMPTY_DATE,
            organizationId=quotation["organizationId"],
            quotationId=quotation["id"],
            lineNumber=number,
            articleCode=feature.get("articleCode"),
            description=feature.get("name"),
            featureId=node["featureId"],
            featureModelNodeId=node_id,
            quantity=float(quantity),
            groupedRootLine=node_id == graph.root,
            groupId=group["groupId"],
            groupOrder=group["groupOrder"],
            groupTitle=group["groupTitle"],
            groupAmount=group["groupAmount"],
            addedFromConfiguration=True,
            configurationId=group["configurationId"],
            vatId=feature.get("vatId"),
            discountPct=0.0,
            marginPct=feature.get("marginPct"),
            purchasePriceDiscountPct=0.0,
            groupDiscountPct=0.0,
            defaultPurchasePriceDiscountPct=0.0,
            unitPrice=price,
            originalUnitPrice=price,
            featureModelId=graph.model_id,
        )
        return line


__all__ = ["Ledger", "amount", "amount_incl", "cost", "group_totals"]
