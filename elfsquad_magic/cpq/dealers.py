"""The ``dealer_prices`` view: a feature's price per dealer organization.

Elfsquad keeps dealer terms in ``OrganizationSellsFeatures`` (an absolute price, an up-value
percentage, a purchase discount percentage, whether the dealer may sell it) and documents no
rule for combining them. The rule this view applies, written down in ``docs/cpq.md``:

- a dealer's **sales price** is the term's ``absoluteSalesPrice`` when set, else the
  feature's ``salesPrice`` raised by the term's ``upValuePct``; a dealer without a term for
  the feature sells at ``salesPrice`` raised by its organization's ``defaultUpValuePct``;
- its **purchase price** is the feature's ``salesPrice`` less the term's
  ``purchaseDiscountPct`` (none without a term: nothing was agreed);
- its **margin** is the sales price less the purchase price; prices are rounded to cents
  (half to even) and in the tenant's currency.

Dealers are the organizations below another in
``OrganizationHasChildOrganizationRelationships``.
"""

from __future__ import annotations

import pandas as pd

from .run import ViewRun, literal, not_found

__all__ = ["DEALER_SETS", "dealer_prices_view"]

DEALER_SETS = (
    "Organizations",
    "OrganizationHasChildOrganizationRelationships",
    "OrganizationSellsFeatures",
    "Features",
)


def _find(run: ViewRun, kind: str, given: object, query: str, columns: tuple[str, ...]) -> str:
    """The id of the row whose ``columns`` (any of them, case ignored) equal ``given``."""
    rows = run.sql(f"the {kind}s' ids and names", query)
    wanted = " ".join(str(given).lower().split())
    run.python(f"find the {kind} {given!r} by {', '.join(columns)}")
    for column in columns:
        values = rows[column].astype("string").str.lower().str.split().str.join(" ")
        hit = rows[values == wanted]
        if len(hit):
            return str(hit["id"].iloc[0])
    names = rows[columns[1]].dropna().astype(str)
    raise not_found(kind, given, names, f"%elfsquad_view dealer_prices lists the {kind}s' terms.")


def dealer_prices_view(
    run: ViewRun, feature: object = None, *, dealer: object = None
) -> pd.DataFrame:
    """Dealer prices by the rule above: every dealer term, or for one ``feature`` (its name,
    article code or id) a row per dealer, with or without a term; ``dealer`` keeps one."""
    run.need(*DEALER_SETS)
    filters = []
    if feature is not None:
        feature_id = _find(
            run,
            "feature",
            feature,
            "SELECT id, name, articleCode FROM Features",
            ("id", "name", "articleCode"),
        )
        filters.append(f"f.id = {literal(feature_id)}")
    else:
        filters.append("t.id IS NOT NULL")
    if dealer is not None:
        dealer_id = _find(
            run, "dealer", dealer, "SELECT id, name FROM Organizations", ("id", "name")
        )
        filters.append(f"d.id = {literal(dealer_id)}")
    return run.sql("dealer prices: terms applied to the features", _prices_sql(filters))


def _prices_sql(filters: list[str]) -> str:
    upvalue = "coalesce(t.upValuePct, d.defaultUpValuePct, 0)"
    return f"""
WITH dealers AS (
    -- A dealer: an organization below another one.
    SELECT o.id, o.name, o.defaultUpValuePct, p.name AS parentOrganization
    FROM Organizations o
    JOIN OrganizationHasChildOrganizationRelationships r ON r.childOrganizationId = o.id
    LEFT JOIN Organizations p ON p.id = r.organizationId
),
prices AS (
    SELECT d.name AS dealer, d.parentOrganization, f.name AS feature, f.articleCode,
           f.salesPrice, CASE WHEN t.id IS NULL THEN 'default' ELSE 'term' END AS source,
           coalesce(t.allowedToSell, TRUE) AS allowedToSell,
           t.absoluteSalesPrice, {upvalue} AS upValuePct, t.purchaseDiscountPct,
           coalesce(t.absoluteSalesPrice,
                    round_even(f.salesPrice * (1 + {upvalue} / 100), 2)) AS dealerPrice,
           round_even(f.salesPrice * (1 - t.purchaseDiscountPct / 100), 2) AS purchasePrice,
           d.id AS organizationId, f.id AS featureId, t.id AS termId
    FROM dealers d
    CROSS JOIN Features f
    LEFT JOIN OrganizationSellsFeatures t ON t.organizationId = d.id AND t.featureId = f.id
    WHERE {" AND ".join(filters)}
)
SELECT dealer, parentOrganization, feature, articleCode, salesPrice, source, allowedToSell,
       absoluteSalesPrice, upValuePct, purchaseDiscountPct, dealerPrice, purchasePrice,
       round_even(dealerPrice - purchasePrice, 2) AS dealerMargin,
       organizationId, featureId, termId
FROM prices
ORDER BY feature NULLS LAST, featureId, dealer"""
