"""The ``quotations`` and ``quotation_lines`` views: the pipeline, and lines with margins.

Revisions of a quotation are separate rows sharing a ``quotationNumber``; the views keep the
latest version of each number unless asked for all. The status name comes from ``statusId``
(the ``status`` property is legacy). Nothing leads from a line to its quotation, so the
joins are written out here.

Margins of a line (the formula in ``docs/cpq.md``; the service's ``QuotationGroups`` totals
are the sums of these over a group's lines)::

    totalPriceExclVat = round(quantity * unitPrice * (1 - discountPct / 100), 2)
    totalPriceInclVat = round(totalPriceExclVat * (1 + vat / 100), 2)
    purchasePrice     = round(quantity * originalUnitPrice
                              * (1 - purchasePriceDiscountPct / 100), 2)
    profitMargin      = totalPriceExclVat - purchasePrice
    profitMarginPercentage = profitMargin / totalPriceExclVat * 100  (none when the price is 0)

``round`` rounds half to even (DuckDB's ``round_even``), as .NET's ``Math.Round`` does: a
line of 4101.125 is 4101.12, as in the service's totals.
"""

from __future__ import annotations

import re

import pandas as pd

from .run import ViewRun, ident, literal, not_found

__all__ = [
    "LINE_SETS",
    "QUOTATION_SETS",
    "check_currency",
    "quotation_lines_view",
    "quotations_view",
    "resolve_quotation",
]

QUOTATION_SETS = ("Quotations", "QuotationStatuses", "CrmAccounts", "Organizations")
LINE_SETS = (
    "QuotationLines",
    "Quotations",
    "QuotationStatuses",
    "Features",
    "Categories",
    "Vats",
    "Configurations",
    "FeatureModels",
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_LATEST = "row_number() OVER (PARTITION BY quotationNumber ORDER BY versionNumber DESC) = 1"
# An account's name: a company's, else a person's.
_ACCOUNT_NAME = (
    "coalesce({a}.companyName, concat_ws(' ', {a}.firstName, {a}.lastNamePrefix, {a}.lastName))"
)
_RATES = """
rates AS (
    -- One rate per currency: units of it per unit of the tenant's currency (the newest row).
    SELECT currencyIso, arg_max(rate, greatest(createdDate, updatedDate)) AS rate
    FROM ExchangeRates GROUP BY currencyIso
)"""


def check_currency(run: ViewRun, currency: str) -> str:
    """``currency`` as ``ExchangeRates`` spells it, or an error naming the currencies."""
    found = run.sql("the currencies with a rate", "SELECT DISTINCT currencyIso FROM ExchangeRates")
    isos = [str(iso) for iso in found["currencyIso"].dropna()]
    for iso in isos:
        if iso.lower() == currency.strip().lower():
            return iso
    raise not_found("exchange rate for", currency, isos, f"ExchangeRates has {sorted(isos)}.")


def quotations_view(
    run: ViewRun, *, all_revisions: bool = False, currency: str | None = None
) -> pd.DataFrame:
    """The pipeline: one row per quotation (the latest revision of each number unless
    ``all_revisions``) with status, debtor and seller names, totals in the quotation's
    currency and, with ``currency``, converted by ``ExchangeRates``."""
    run.need(*QUOTATION_SETS, *(("ExchangeRates",) if currency else ()))
    converted, joins, ctes = "", "", ""
    if currency:
        currency = check_currency(run, currency)
        ctes = f"WITH {_RATES.strip()}"
        rate = "t.rate / r.rate"
        converted = (
            f",\n       round_even(q.totalPrice * {rate}, 2) AS {ident('totalPrice' + currency)}"
            f",\n       round_even(q.totalPriceInclVat * {rate}, 2)"
            f" AS {ident('totalPriceInclVat' + currency)}"
        )
        joins = (
            "\nLEFT JOIN rates r ON r.currencyIso = q.currencyIso"
            f"\nLEFT JOIN rates t ON t.currencyIso = {literal(currency)}"
        )
    latest = "" if all_revisions else f"\n-- The latest revision of each number.\nQUALIFY {_LATEST}"
    query = f"""{ctes}\nSELECT q.quotationNumber, q.versionNumber, s.name AS status, q.subject,
       {_ACCOUNT_NAME.format(a="d")} AS debtor,
       coalesce(o.name, {_ACCOUNT_NAME.format(a="sa")}) AS seller,
       q.createdDate, q.expiresDate, q.currencyIso, q.totalPrice, q.totalPriceInclVat{converted},
       q.id, q.statusId, q.debtorId, q.sellerId
FROM Quotations q
LEFT JOIN QuotationStatuses s ON s.id = q.statusId
LEFT JOIN CrmAccounts d ON d.id = q.debtorId
-- The seller is an organization (the tenant or a dealer), or else an account.
LEFT JOIN Organizations o ON o.id = q.sellerId
LEFT JOIN CrmAccounts sa ON sa.id = q.sellerId{joins}{latest}
ORDER BY q.quotationNumber, q.versionNumber"""
    return run.sql("the quotations with status, parties and totals", query)


def resolve_quotation(run: ViewRun, quotation: object, all_revisions: bool = False) -> list[str]:
    """The ids of the quotation ``quotation``: a number (its latest version, or every
    version with ``all_revisions``), ``number/version``, or an id; else an error with close
    numbers."""
    found = run.sql(
        "the quotation numbers and versions",
        "SELECT id, quotationNumber, versionNumber FROM Quotations",
    )
    text = str(quotation).strip()
    run.python(f"find the quotation {text!r} by number, number/version or id")
    if _GUID.match(text):
        rows = found[found["id"].str.lower() == text.lower()]
    else:
        match = re.fullmatch(r"(\d+)(?:\s*[/.-]\s*(\d+))?", text)
        rows = found.iloc[0:0]
        if match:
            rows = found[found["quotationNumber"] == int(match.group(1))]
            if match.group(2):
                rows = rows[rows["versionNumber"] == int(match.group(2))]
            elif not all_revisions and len(rows):
                rows = rows[rows["versionNumber"] == rows["versionNumber"].max()]
    if rows.empty:
        numbers = sorted({str(n) for n in found["quotationNumber"]})
        raise not_found("quotation", text, numbers, "%elfsquad_view quotations lists them.")
    return [str(i) for i in rows["id"]]


def quotation_lines_view(
    run: ViewRun,
    quotation: object = None,
    *,
    where: str | None = None,
    all_revisions: bool = False,
) -> pd.DataFrame:
    """Lines with their feature, group, configuration code, category, model and margins: of
    one quotation, of those matching ``where`` (a DuckDB condition on the view's columns),
    or of all (latest revisions unless ``all_revisions``)."""
    run.need(*LINE_SETS)
    chosen = ""
    if quotation is not None and str(quotation).strip():
        ids = resolve_quotation(run, quotation, all_revisions)
        chosen = f"\n    WHERE q.id IN ({', '.join(literal(i) for i in ids)})"
    elif not all_revisions:
        chosen = "\n    WHERE q.isLatest"
    condition = f"\nWHERE {where}" if where and where.strip() else ""
    query = _lines_sql(chosen, condition)
    return run.sql("the quotation lines with features, groups and margins", query)


def _lines_sql(chosen: str, condition: str) -> str:
    return f"""
WITH quotations AS (
    -- Amounts are rounded half to even, as the service's totals are.
    SELECT q.*, s.name AS statusName, {_LATEST} AS isLatest
    FROM Quotations q LEFT JOIN QuotationStatuses s ON s.id = q.statusId
),
lines AS (
    SELECT q.quotationNumber, q.versionNumber, q.statusName AS status, q.currencyIso,
           l.*, coalesce(v.pct, 0) AS vatPct,
           round_even(coalesce(l.quantity, 0) * coalesce(l.unitPrice, 0)
                 * (1 - coalesce(l.discountPct, 0) / 100), 2) AS totalPriceExclVat,
           round_even(coalesce(l.quantity, 0) * coalesce(l.originalUnitPrice, 0)
                 * (1 - coalesce(l.purchasePriceDiscountPct, 0) / 100), 2) AS purchasePrice
    FROM QuotationLines l
    JOIN quotations q ON q.id = l.quotationId
    LEFT JOIN Vats v ON v.id = l.vatId{chosen}
),
view AS (
    SELECT l.quotationNumber, l.versionNumber, l.status, l.lineNumber,
           coalesce(f.name, l.description) AS feature, l.articleCode,
           l.groupTitle AS "group", c.code AS configurationCode,
           cat.name AS category, mf.name AS model,
           l.quantity, l.unitPrice, l.originalUnitPrice, l.discountPct,
           l.purchasePriceDiscountPct, l.vatPct, l.currencyIso,
           l.totalPriceExclVat,
           round_even(l.totalPriceExclVat * (1 + l.vatPct / 100), 2) AS totalPriceInclVat,
           l.purchasePrice,
           round_even(l.totalPriceExclVat - l.purchasePrice, 2) AS profitMargin,
           CASE WHEN l.totalPriceExclVat <> 0 THEN round_even(
               (l.totalPriceExclVat - l.purchasePrice) / l.totalPriceExclVat * 100, 2)
           END AS profitMarginPercentage,
           l.id, l.quotationId, l.featureId, l.groupId, l.parentLineId,
           l.configurationId, l.featureModelId
    FROM lines l
    LEFT JOIN Features f ON f.id = l.featureId
    LEFT JOIN Categories cat ON cat.id = f.categoryId
    LEFT JOIN Configurations c ON c.id = l.configurationId
    LEFT JOIN FeatureModels m ON m.id = l.featureModelId
    LEFT JOIN Features mf ON mf.id = m.rootFeatureId
)
SELECT * FROM view{condition}
ORDER BY quotationNumber, versionNumber, lineNumber, id"""
