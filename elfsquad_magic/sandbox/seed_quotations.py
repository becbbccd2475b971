"""Quotations of the synthetic tenant: revisions, configured groups, lines, discount lines and
custom property values.

Quotation numbers come in families: versions 1..n of one ``quotationNumber``, the older ones in
status Revised, each newer one a copy of the one before with a line or two more. A quotation holds
configured groups (a configuration of a model: one line per selected, non-phantom node, the root's
line the group's ``groupedRootLine``, each line's ``parentLineId`` the line of its nearest
non-phantom ancestor) and loose lines. A line's amount is ``round(quantity * unitPrice * (1 -
discountPct / 100), 2)``; a group's and a quotation's totals are the sums of their lines'.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from .configurator import FeatureModelGraph

if TYPE_CHECKING:
    from .seed_tenant import Tenant

# The configurator's EntityPropertyType (0-9) by name: the names are the sandbox's own, the
# public descriptions give only the numbers.
PROPERTY_TYPES = [
    "Text",
    "Number",
    "Date",
    "Boolean",
    "Dropdown",
    "TextArea",
    "MultiSelect",
    "Email",
    "Url",
    "File",
]
QUOTATION_PROPERTIES = [
    ("Project name", "Text", True, []),
    (
        "Sales channel",
        "Dropdown",
        True,
        [("WEB", "Web shop"), ("DLR", "Dealer"), ("DIR", "Direct")],
    ),
    ("Delivery week", "Number", False, []),
    ("Installation included", "Boolean", False, []),
    ("Workshop notes", "TextArea", False, []),
]
CRM_PROPERTIES = [
    (
        "Customer segment",
        "Dropdown",
        False,
        [("RET", "Retail"), ("FLT", "Fleet"), ("RNT", "Rental")],
    ),
    ("Credit limit", "Number", False, []),
    ("Account notes", "Text", False, []),
]
_PROJECTS = ["Fleet renewal 2025", "Städtische Räder", "Campus bikes", "Project “Zuid”", "Demo"]
# Versions per quotation number: most quotations are never revised.
_VERSIONS = [1] * 14 + [2] * 4 + [3] * 2
_CONFIGURED_GROUPS = [0] * 3 + [1] * 8 + [2] * 6 + [3] * 3


def property_sets(
    t: Tenant, specs: list, entity: str, field_set: str, accounts: list[dict] | None = None
) -> dict[str, list[dict]]:
    """A property trio's definitions: properties, dropdown fields, their texts (nl, en)."""
    out: dict[str, list[dict]] = {entity: [], field_set: [], "texts": [], "field_texts": []}
    for order, (description, kind, required, fields) in enumerate(specs):
        prop = t.audited()
        prop.update(
            description=description,
            isRequired=required,
            isReadonly=False,
            type=kind,
            order=order,
            isPublic=True,
        )
        out[entity].append(prop)
        for iso, label in (("en", description), ("nl", f"{description} (NL)")):
            text = t.audited()
            text.update(value=label, languageIso=iso, entityPropertyId=prop["id"])
            out["texts"].append(text)
        for k, (code, label) in enumerate(fields):
            row = t.audited()
            row.update(code=code, description=label, entityPropertyId=prop["id"])
            if field_set == "QuotationPropertyFields":
                row.update(isDefault=k == 1, quotationPropertyId=prop["id"])
            out[field_set].append(row)
            for iso, value in (("en", label), ("nl", f"{label} (NL)")):
                text = t.audited()
                text.update(value=value, languageIso=iso, entityPropertyFieldId=row["id"])
                out["field_texts"].append(text)
    return out


def property_value(t: Tenant, prop: dict, fields: list[dict]) -> str:
    """A value of ``prop``'s type as the service stores it (text; a dropdown's field id)."""
    rng = t.rng
    kind = prop["type"]
    if kind == "Dropdown":
        return rng.choice([f for f in fields if f["entityPropertyId"] == prop["id"]])["id"]
    if kind == "Number":
        return str(
            rng.randint(1, 52) if "week" in prop["description"] else rng.randint(5, 500) * 100
        )
    if kind == "Boolean":
        return rng.choice(["true", "false"])
    if kind == "TextArea":
        return "Bring the tools;\nring twice."
    return rng.choice(_PROJECTS)


def crm_discount_lines(t: Tenant, accounts: list[dict]) -> list[dict]:
    """Standing discounts of about one account in six (a percentage or an amount)."""
    rng = t.rng
    rows = []
    for account in accounts:
        if rng.random() >= 1 / 6:
            continue
        row = t.audited(account["organizationId"])
        percentage = rng.random() < 0.7
        row.update(
            crmAccountId=account["id"],
            description="Fleet discount" if percentage else "Loyalty bonus",
            featureModelIds=[],
            discountOnExVat=True,
            type="Percentage" if percentage else "Amount",
            discountAmount=0.0 if percentage else float(rng.choice([50, 100, 250])),
            discountPct=float(rng.choice([2.5, 5, 7.5])) if percentage else 0.0,
            appliesTo="Total",
        )
        rows.append(row)
    return rows


@dataclass
class Catalogue:
    """What quotations are made of: models with their trees, priced features, VAT rates."""

    models: list[dict]
    graphs: dict[str, FeatureModelGraph]
    features: dict[str, dict]
    priced: list[dict]
    vat_pct: dict[str, float]
    rates: dict[str, float]
    purchase_discount: dict[str, float]  # model -> its purchaseDiscount (a dealer's cost)


@dataclass
class _Group:
    configuration: dict
    graph: FeatureModelGraph
    values: dict[str, float]
    discount: float
    # Per line of the group: node, feature, value, unit price and the node of the parent line
    # (the nearest non-phantom ancestor); the same in every version of the quotation.
    selected: list[tuple[str, dict, float, float, str | None]] | None = None

    def selection(self, features: dict[str, dict]) -> list[tuple]:
        """The group's lines in the making, worked out on first use (see ``selected``)."""
        if self.selected is None:
            graph, lined = self.graph, set()
            self.selected = []
            for node_id, value in self.values.items():
                node = graph.nodes[node_id]
                if node["isPhantom"]:
                    continue
                up = graph.parent.get(node_id)
                while up is not None and up not in lined:
                    up = graph.parent.get(up)
                feature = features[node["featureId"]]
                self.selected.append((node_id, feature, value, graph.price(node_id), up))
                lined.add(node_id)
        return self.selected


@dataclass
class _Priced:
    """A quotation's lines with their amounts excluding and including VAT, in line order."""

    lines: list[dict] = field(default_factory=list)
    amounts: list[float] = field(default_factory=list)
    incl: list[float] = field(default_factory=list)


_Choices = tuple[list[str], list[str], "str | None", list[str], list[str]]


def _choices(graph: FeatureModelGraph, node: str) -> _Choices:
    """A node's children a customer answers: Mandatory, Alternative (and the default one), Or
    and Optional, each in the tree's order."""
    kids = graph.children[node]
    alternatives = [c for c in kids if graph.kind(c) == "Alternative"]
    default = next((c for c in alternatives if graph.edge[c].get("default")), None)
    return (
        [c for c in kids if graph.kind(c) == "Mandatory"],
        alternatives,
        default,
        [c for c in kids if graph.kind(c) == "Or"],
        [c for c in kids if graph.kind(c) == "Optional"],
    )


def configuration_values(
    t: Tenant, graph: FeatureModelGraph, known: dict[str, _Choices] | None = None
) -> dict[str, float]:
    """A configuration as a customer makes one: each Alternative group answered (mostly with its
    default), one or two of each Or group, two in five optional children; then the rules.
    ``known``: the nodes' choices worked out before (per node, shared by the configurations of
    a model; filled in as they are met)."""
    rng = t.rng
    random_ = rng.random
    known = {} if known is None else known
    explicit: dict[str, float] = {}
    stack = [graph.root] if graph.root else []
    while stack:
        node = stack.pop()
        choices = known.get(node)
        if choices is None:
            choices = known[node] = _choices(graph, node)
        mandatory, alternatives, default, ors, optional = choices
        chosen = list(mandatory)
        if alternatives:
            chosen.append(
                default if default is not None and random_() < 0.7 else rng.choice(alternatives)
            )
        if ors:
            chosen.extend(rng.sample(ors, min(len(ors), rng.choice([1, 1, 2]))))
        chosen.extend([c for c in optional if random_() < 0.4])
        for child in chosen:
            explicit[child] = 1.0
        stack.extend(chosen)
    result = graph.evaluate(explicit)
    while result.conflicts and explicit:
        explicit.popitem()  # a customer drops a choice until the rules are met
        result = graph.evaluate(explicit)
    return result.values


@dataclass
class _Content:
    """A quotation's makings, kept from one version to the next."""

    groups: list[_Group]
    loose: list[tuple[dict, float, float]]  # feature, quantity, discount


class QuotationWriter:
    """Builds the quotation families and everything that hangs from them."""

    def __init__(
        self,
        t: Tenant,
        cat: Catalogue,
        statuses: list[dict],
        accounts: list[dict],
        contacts: list[dict],
        line_template: dict,
    ) -> None:
        self.t, self.cat = t, cat
        self.revised = next(s for s in statuses if s["name"] == "Revised")
        self.current = [s for s in statuses if s["name"] != "Revised"]
        self.accounts = accounts
        self.contacts_of: dict[str, list[str]] = {}
        for c in contacts:
            self.contacts_of.setdefault(c["crmAccountId"], []).append(c["id"])
        self.line_template = line_template
        self.out: dict[str, list[dict]] = _empty_sales()
        self.quotation_count = 0
        self.configuration_count = 0
        self.discounts_of: dict[str, list[dict]] = {}
        self.properties: list[dict] = []
        self.fields: list[dict] = []
        # Drawn by index, so a value's share is its count (the seed's awkward values).
        self.quantities: list[float] = [1.0]
        self.discounts: list[float] = [0.0]
        self.units: list[str] = ["pcs"]
        # Per model, its nodes' choices (see configuration_values); per VAT, 1 + pct / 100.
        self.choices: dict[str, dict[str, _Choices]] = {}
        self.vat_factor = {vat: 1 + pct / 100 for vat, pct in cat.vat_pct.items()}

    def write(self, count: int) -> dict[str, list[dict]]:
        """``count`` quotations in families of versions; family 3 has no lines at all."""
        whole = _empty_sales()
        for chunk in self.chunks(count):
            for name, rows in chunk.items():
                whole[name].extend(rows)
        return whole

    def chunks(self, count: int, rows: int = 50_000) -> Iterator[dict[str, list[dict]]]:
        """The rows of :meth:`write`, handed on whenever about ``rows`` lines are made (the
        same values: only when they leave changes)."""
        t, rng = self.t, self.t.rng
        family = 0
        while self.quotation_count < count:
            if len(self.out["QuotationLines"]) >= rows:
                yield self.out
                self.out = _empty_sales()
            versions = 1 if family == 3 else rng.choice(_VERSIONS)
            versions = min(versions, count - self.quotation_count)
            account = rng.choice(self.accounts)
            currency = rng.choice(["EUR", "EUR", "EUR", "USD", "GBP"])
            language = rng.choice(["nl", "en", "de", "fr"])
            created = t.moment()
            content = None
            for version in range(1, versions + 1):
                if content is None:
                    content = self.content(created, currency, language, empty=family == 3)
                else:
                    content = self.revise(content)
                status = self.revised if version < versions else rng.choice(self.current)
                self.quotation(
                    family, version, created, account, currency, language, status, content
                )
                created += timedelta(days=rng.randint(1, 20), seconds=rng.randint(0, 86400))
            family += 1
        yield self.out
        self.out = _empty_sales()

    # The makings -----------------------------------------------------------------------------
    def content(self, created, currency: str, language: str, empty: bool) -> _Content:  # noqa: ANN001
        rng = self.t.rng
        if empty:
            return _Content([], [])
        groups = []
        for _ in range(rng.choice(_CONFIGURED_GROUPS)):
            model = rng.choice(self.cat.models)
            graph = self.cat.graphs[model["id"]]
            values = configuration_values(self.t, graph, self.choices.setdefault(model["id"], {}))
            groups.append(
                _Group(
                    self.configuration(model, created, currency, language),
                    graph,
                    values,
                    _DISCOUNTS_OF_GROUPS[int(rng.random() * len(_DISCOUNTS_OF_GROUPS))],
                )
            )
        loose_count = rng.randint(3, 18) if not groups else rng.randint(0, 10)
        return _Content(groups, [self.loose_line() for _ in range(loose_count)])

    def loose_line(self) -> tuple[dict, float, float]:
        random_ = self.t.rng.random
        priced, quantities, discounts = self.cat.priced, self.quantities, self.discounts
        feature = priced[int(random_() * len(priced))]
        quantity = quantities[int(random_() * len(quantities))]
        return feature, quantity, discounts[int(random_() * len(discounts))]

    def revise(self, content: _Content) -> _Content:
        """The next version: the same groups, the loose lines with one or two more."""
        extra = [self.loose_line() for _ in range(self.t.rng.randint(1, 2))]
        return _Content(content.groups, content.loose + extra)

    def configuration(self, model: dict, created, currency: str, language: str) -> dict:  # noqa: ANN001
        t = self.t
        row = t.audited()
        row["createdDate"] = t.stamp(created)
        root = self.cat.features[model["rootFeatureId"]]
        row.update(
            code=f"CFG-{self.configuration_count + 1:06d}",
            currencyIso=currency,
            languageIso=language,
            preview=False,
            name=root["name"],
            featureModelId=model["id"],
            featureModelVersion=1,
        )
        self.out["Configurations"].append(row)
        self.configuration_count += 1
        return row

    # One quotation -----------------------------------------------------------------------
    def quotation(
        self,
        family: int,
        version: int,
        created,  # noqa: ANN001
        account: dict,
        currency: str,
        language: str,
        status: dict,
        content: _Content,
    ) -> None:
        t, rng = self.t, self.t.rng
        q = t.audited(rng.choice(t.org_ids))
        q["createdDate"] = t.stamp(created)
        priced = _Priced()
        for order, group in enumerate(content.groups):
            self.group_lines(q, created, group, order, priced)
        for feature, quantity, discount in content.loose:
            number = len(priced.lines)
            line = self.line(q, created, number, feature, quantity, discount, feature["salesPrice"])
            self.add_line(priced, line)
        total = sum(priced.amounts)
        total_vat = sum(priced.incl)
        self.out["QuotationLines"].extend(priced.lines)
        contact_id = rng.choice(self.contacts_of[account["id"]])
        _complete_quotation(
            t,
            q,
            family,
            version,
            created,
            account,
            contact_id,
            status,
            total,
            total_vat,
            self.accounts,
        )
        q.update(
            currencyIso=currency,
            languageIso=language,
            exchangeRate=self.cat.rates.get(currency, 1.0),
        )
        self.out["Quotations"].append(q)
        self.quotation_count += 1
        self.discount_lines(q, account)
        self.property_values(q, status)

    def group_lines(self, q: dict, created, group: _Group, order: int, priced: _Priced) -> None:  # noqa: ANN001
        """One line per selected, non-phantom node in tree order, and the group's row."""
        t, graph = self.t, group.graph
        group_id = t.guid()
        config = group.configuration
        title = config["name"]
        model_id, root = graph.model_id, graph.root
        cost_discount = self.cat.purchase_discount[model_id]
        line_of: dict[str, str] = {}
        start = len(priced.lines)
        for node_id, feature, value, price, up in group.selection(self.cat.features):
            number = len(priced.lines)
            line = self.line(q, created, number, feature, value, group.discount, price)
            # Item by item: the row keeps its properties' order.
            line["featureModelNodeId"] = node_id
            line["featureModelId"] = model_id
            line["configurationId"] = config["id"]
            line["parentLineId"] = line_of[up] if up is not None else None
            line["groupedRootLine"] = node_id == root
            line["groupId"] = group_id
            line["groupOrder"] = order
            line["groupTitle"] = title
            line["addedFromConfiguration"] = True
            line["purchasePriceDiscountPct"] = cost_discount
            line["defaultPurchasePriceDiscountPct"] = cost_discount
            line_of[node_id] = line["id"]
            self.add_line(priced, line)
        total = round(sum(priced.amounts[start:]), 2)
        total_vat = round(sum(priced.incl[start:]), 2)
        purchase = round(sum(_cost(x) for x in priced.lines[start:]), 2)
        margin = round(total - purchase, 2)
        self.out["QuotationGroups"].append(
            {
                "groupId": group_id,
                "groupOrder": order,
                "groupAmount": 1,
                "groupTitle": title,
                "configurationId": config["id"],
                "parentGroupId": None,
                "configurationCode": config["code"],
                "quotationId": q["id"],
                "unitExclPrice": total,
                "unitInclPrice": total_vat,
                "totalPriceExclVat": total,
                "totalPriceInclVat": total_vat,
                "purchasePrice": purchase,
                "profitMargin": margin,
                "profitMarginPercentage": round(margin / total * 100, 2) if total else 0.0,
                "groupMarginPct": 0.0,
            }
        )

    def line(
        self,
        q: dict,
        created,  # noqa: ANN001
        number: int,
        feature: dict,
        quantity: float,
        discount: float,
        unit_price: float | None,
    ) -> dict:
        """A loose line (no group, no configuration); configured lines update it."""
        t = self.t
        units = self.units
        random_ = t.rng.random
        user_ids = t.user_ids
        price = float(unit_price or 0.0)
        line = self.line_template.copy()
        roll = random_()
        cost_discount = float(_PURCHASE_DISCOUNTS[int(roll * 1000) % len(_PURCHASE_DISCOUNTS)])
        # Item by item (the template's order stays), in the order the numbers are drawn.
        line["id"] = t.guid()
        line["createdDate"] = q["createdDate"]
        if roll < 0.5:
            line["updatedDate"] = q["createdDate"]
        else:
            line["updatedDate"] = t.stamp(created + timedelta(days=roll * 90))
        line["organizationId"] = q["organizationId"]
        line["creatorId"] = user_ids[int(roll * 7919) % len(user_ids)]
        line["quotationId"] = q["id"]
        line["lineNumber"] = number + 1
        line["articleCode"] = feature["articleCode"]
        if random_() < 0.7:
            line["deliverydate"] = t.stamp(created + timedelta(days=7 + int(random_() * 113)))
        name = feature["name"]
        line["description"] = name if random_() < 0.9 else f"{name} – custom"
        line["featureId"] = feature["id"]
        line["quantity"] = quantity
        if random_() < 0.01:
            line["textValue"] = "Engraving: “Anna’s bike”"
        line["groupedRootLine"] = False
        line["groupOrder"] = 0
        line["groupAmount"] = 1
        line["addedFromConfiguration"] = False
        line["vatId"] = feature["vatId"]
        line["discountPct"] = discount
        line["marginPct"] = feature["marginPct"]
        line["purchasePriceDiscountPct"] = cost_discount
        line["groupDiscountPct"] = 0.0
        line["defaultPurchasePriceDiscountPct"] = cost_discount
        line["unitPrice"] = price
        line["originalUnitPrice"] = price
        line["unitOfMeasurement"] = units[int(random_() * len(units))]
        return line

    def add_line(self, priced: _Priced, line: dict) -> None:
        """Add a finished line to ``priced`` with its amounts (each worked out once)."""
        amount = _amount(line)
        priced.lines.append(line)
        priced.amounts.append(amount)
        priced.incl.append(round(amount * self.vat_factor[line["vatId"]], 2))

    def discount_lines(self, q: dict, account: dict) -> None:
        """The debtor's standing CRM discounts, and now and then a manual one."""
        t = self.t
        standing = self.discounts_of.get(account["id"], [])
        manual = t.rng.random() < 0.1
        for order, source in enumerate([*standing, None] if manual else standing):
            row = t.audited(q["organizationId"])
            row.update(
                discountAmount=source["discountAmount"] if source else t.money(25, 400),
                discountPct=source["discountPct"] if source else 0.0,
                quotationId=q["id"],
                groupId=None,
                type=source["type"] if source else "Amount",
                description=source["description"] if source else "Trade-in of the old bike",
                discountOnExVat=True,
                featureId=None,
                crmAccountId=account["id"] if source else None,
                order=order,
                flatDiscountAmount=0.0,
                flatDiscountPercentage=0.0,
            )
            self.out["QuotationDiscountLines"].append(row)

    def property_values(self, q: dict, status: dict) -> None:
        """Required properties are filled once a quotation left the concept stage; others
        now and then (a dropdown stores its field's id)."""
        t = self.t
        sent = status["displayInFlow"] and status["order"] > 0
        for prop in self.properties:
            wanted = 1.0 if prop["isRequired"] and sent else 0.5 if prop["isRequired"] else 0.35
            if t.rng.random() >= wanted:
                continue
            row = t.audited(q["organizationId"])
            row.update(
                entityId=q["id"],
                entityPropertyId=prop["id"],
                value=property_value(t, prop, self.fields),
            )
            self.out["QuotationPropertyValues"].append(row)


SALES_SETS = (
    "Quotations",
    "QuotationLines",
    "QuotationGroups",
    "Configurations",
    "QuotationDiscountLines",
    "QuotationPropertyValues",
)
"""The sets :class:`QuotationWriter` makes."""


def _empty_sales() -> dict[str, list[dict]]:
    return {name: [] for name in SALES_SETS}


_DISCOUNTS_OF_GROUPS = [0.0] * 6 + [5.0] * 3 + [10.0] * 2 + [15.0]
_PURCHASE_DISCOUNTS = [0, 10, 20, 25, 30, 35, 40]


def _amount(line: dict) -> float:
    return round(line["quantity"] * line["unitPrice"] * (1 - line["discountPct"] / 100), 2)


def _cost(line: dict) -> float:
    unit = line["originalUnitPrice"] * (1 - line["purchasePriceDiscountPct"] / 100)
    return round(line["quantity"] * unit, 2)


def _complete_quotation(
    t: Tenant,
    q: dict,
    family: int,
    version: int,
    created,  # noqa: ANN001
    account: dict,
    contact_id: str,
    status: dict,
    total: float,
    total_vat: float,
    accounts: list[dict],
) -> None:
    """The quotation's own fields, once its lines are known."""
    from .values import EMPTY_DATE

    rng = t.rng
    expires = created + timedelta(days=30)
    q.update(
        sellerId=q["organizationId"],
        sellerContactId=rng.choice(t.user_ids),
        debtorId=account["id"],
        debtorContactId=contact_id,
        shipToId=account["id"] if rng.random() < 0.8 else rng.choice(accounts)["id"],
        shipToContactId=contact_id if rng.random() < 0.8 else None,
        synced=rng.random() < 0.5,
        quotationNumber=100000 + family,
        versionNumber=version,
        status=status["name"],
        statusId=status["id"],
        subject=rng.choice(
            ["Offerte e-bike", "Quote, fleet of 12", 'Order "rush"', "Ångström bikes", None]
        ),
        totalPrice=round(total, 2),
        totalPriceInclVat=round(total_vat, 2),
        isVerified=rng.random() < 0.4,
        customerReference=f"PO-{rng.randrange(10**5)}" if rng.random() < 0.5 else None,
        quotationReference=None,
        deliverydate=t.stamp(created + timedelta(days=45)) if rng.random() < 0.6 else None,
        remarks=("Lorem ipsum dolor sit amet. " * 40).strip() if family % 50 == 3 else None,
        expiresDate=t.stamp(expires) if rng.random() < 0.85 else EMPTY_DATE,
        quotationTemplateId=None,
        propertyIds=[],
        purchaseDiscount=0.0,
    )


__all__ = [
    "PROPERTY_TYPES",
    "Catalogue",
    "QuotationWriter",
    "SALES_SETS",
    "configuration_values",
    "crm_discount_lines",
    "property_sets",
    "property_value",
]
