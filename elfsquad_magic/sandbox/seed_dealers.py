"""Dealers and money in the synthetic tenant: the dealer tree, dealer terms, exchange rates, the
status change actions and the tenant's settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .seed_tenant import Tenant

# Rates against the tenant's currency (EUR) for every currency a quotation or dealer uses.
EXCHANGE_RATES = {"EUR": 1.0, "USD": 1.0842, "GBP": 0.8513, "CHF": 0.9632}
# name, target status: actions into a status of the flow past the first check the quotation's
# required properties (see quotationapi).
_ACTIONS = [
    ("Send to customer", "Sent"),
    ("Mark as accepted", "Accepted"),
    ("Mark as rejected", "Rejected"),
    ("Back to concept", "Concept"),
    ("Archive", "Archived"),
]


def child_organizations(t: Tenant, orgs: list[dict]) -> list[dict]:
    """Every dealer is a child of the tenant, except every third, a sub-dealer of the one before."""
    rows = []
    for i, org in enumerate(orgs[1:], start=1):
        parent = orgs[i - 1] if i % 3 == 2 else orgs[0]
        row = t.audit(parent["id"], None)
        row["childOrganizationId"] = org["id"]
        rows.append(row)
    return rows


def dealer_terms(
    t: Tenant, orgs: list[dict], features: list[dict], models: list[dict]
) -> tuple[list[dict], list[dict]]:
    """What each dealer may sell and on which terms: per feature and per model."""
    rng = t.rng
    priced = [f for f in features if f["salesPrice"] is not None and f["salesPrice"] > 0]
    per_feature, per_model = [], []
    for org in orgs[1:]:
        for feature in rng.sample(priced, min(len(priced), 15)):
            row = t.audit(org["id"], None)
            absolute = round(feature["salesPrice"] * 0.95, 2) if rng.random() < 0.2 else None
            row.update(
                featureId=feature["id"],
                upValuePct=float(rng.choice([0, 0, 5, 10])),
                purchaseDiscountPct=float(rng.choice([20, 25, 30, 35, 40])),
                allowedToSell=rng.random() < 0.9,
                absoluteSalesPrice=absolute,
            )
            per_feature.append(row)
        for model in models:
            if rng.random() < 0.5:
                row = t.audit(org["id"], None)
                row.update(
                    featureModelId=model["id"],
                    upValuePct=float(rng.choice([0, 5])),
                    purchaseDiscountPct=float(rng.choice([25, 30, 35])),
                )
                per_model.append(row)
    return per_feature, per_model


def exchange_rates(t: Tenant) -> list[dict]:
    """One rate per currency in use."""
    rows = []
    for iso, rate in EXCHANGE_RATES.items():
        row = t.audited()
        row.update(currencyIso=iso, rate=rate)
        rows.append(row)
    return rows


def status_actions(t: Tenant, statuses: list[dict]) -> list[dict]:
    """``QuotationStatusChangeActions``: each moves a quotation into its status."""
    by_name = {s["name"]: s for s in statuses}
    rows = []
    for name, target in _ACTIONS:
        row = t.audited()
        row.update(name=name, quotationStatusId=by_name[target]["id"])
        rows.append(row)
    return rows


def settings(t: Tenant, statuses: list[dict], vats: list[dict], next_number: int) -> dict:
    """The tenant's settings row (most settings unset): the statuses a revision, an archive and
    an expiry move to, the next quotation number."""
    by_name = {s["name"]: s["id"] for s in statuses}
    row = t.audited()
    row.update(
        primaryColor="#0b5394",
        accentColor="#f1c232",
        nextQuotationNumber=next_number,
        quotationExpiresInDays=30,
        defaultVatId=next(v["id"] for v in vats if v["defaultVat"]),
        displayVatPrices=True,
        defaultArchivedStatusId=by_name["Archived"],
        defaultRevisedStatusId=by_name["Revised"],
        defaultExpiredStatusId=by_name["Expired"],
        enableConfigurator=True,
        enableMultipleConfigurations=True,
        divergentFeatureModelNodePrices=True,
    )
    return row


__all__ = [
    "EXCHANGE_RATES",
    "child_organizations",
    "dealer_terms",
    "exchange_rates",
    "settings",
    "status_actions",
]
