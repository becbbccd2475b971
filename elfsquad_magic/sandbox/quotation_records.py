"""Quotation rows as the Quotation API reads and makes them: the read DTO, the audit members
every entity carries, and a new quotation with its number, status and currency."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import orjson

from .cpqhttp import invalid
from .ledger import Ledger
from .store import column
from .values import EMPTY_DATE, normalize_datetime, utc_now_text

__all__ = [
    "READ_FIELDS",
    "entity_dto",
    "main_organization",
    "new_quotation",
    "read_dto",
    "statuses_in_order",
]

READ_FIELDS = (
    "id",
    "customField1",
    "customField2",
    "customField3",
    "customField4",
    "customField5",
    "organizationId",
    "customerReference",
    "subject",
    "quotationReference",
    "remarks",
    "debtorId",
    "debtorContactId",
    "sellerId",
    "sellerContactId",
    "shipToId",
    "shipToContactId",
    "statusId",
    "quotationNumber",
    "versionNumber",
)


def read_dto(quotation: dict) -> dict:
    """A quotation as ``QuotationReadDto``."""
    return {name: quotation.get(name) for name in READ_FIELDS}


def statuses_in_order(ledger: Ledger) -> list[dict]:
    """The quotation statuses in their flow order."""
    rows = ledger.store.rows(ledger.service.sets["QuotationStatuses"])
    return sorted(rows, key=lambda s: (s["order"] or 0, s["id"]))


def main_organization(ledger: Ledger) -> str | None:
    """The tenant's own organisation (the one that owns itself)."""
    orgs = ledger.store.rows(ledger.service.sets["Organizations"])
    top = [o for o in orgs if o["organizationId"] == o["id"]] or orgs
    return top[0]["id"] if top else None


def new_quotation(ledger: Ledger, fields: dict) -> dict:
    """A new, empty quotation row from ``fields`` (a QuotationCreateDto), stored."""
    spec = ledger.service.sets["Quotations"]
    statuses = statuses_in_order(ledger)
    by_id = {s["id"]: s for s in statuses}
    status_id = fields.get("statusId") or (statuses[0]["id"] if statuses else None)
    if status_id not in by_id:
        raise invalid("statusId", f"The quotation status {status_id} does not exist.")
    number = fields.get("quotationNumber")
    if number is None:
        numbers = ledger.store.select_json(spec, "", None, f"{column('quotationNumber')} DESC", 1)
        number = (orjson.loads(numbers[0])["quotationNumber"] if numbers else 100000) + 1
    org_id = fields.get("organizationId") or main_organization(ledger)
    org = ledger.get("Organizations", org_id) if org_id else None
    if org_id and org is None:
        raise invalid("organizationId", f"The organization {org_id} does not exist.")
    currency = (org or {}).get("currencyIso") or "EUR"
    rates = {
        r["currencyIso"]: r["rate"] for r in ledger.store.rows(ledger.service.sets["ExchangeRates"])
    }
    now = datetime.now(timezone.utc)
    row = dict.fromkeys(spec.properties)
    row.update({k: v for k, v in fields.items() if k in spec.properties and v is not None})
    row.update(
        id=fields.get("id") or str(uuid.uuid4()),
        createdDate=utc_now_text(),
        updatedDate=EMPTY_DATE,
        organizationId=org_id,
        sellerId=fields.get("sellerId") or org_id,
        languageIso=(org or {}).get("languageIso") or "en",
        currencyIso=currency,
        synced=False,
        quotationNumber=number,
        versionNumber=fields.get("versionNumber") or 1,
        statusId=status_id,
        status=by_id[status_id]["name"],
        totalPrice=0.0,
        totalPriceInclVat=0.0,
        isVerified=False,
        expiresDate=(now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
        propertyIds=[],
        exchangeRate=float(rates.get(currency, 1.0)),
        purchaseDiscount=0.0,
    )
    if ledger.get("Quotations", row["id"]) is not None:
        raise invalid("id", f"A quotation with id {row['id']} already exists.")
    ledger.put("Quotations", [row])
    return row


def entity_dto(row: dict, tenant: str | None) -> dict:
    """The audit members every entity of the Quotation API carries."""
    zero = str(uuid.UUID(int=0))
    return {
        "id": row["id"],
        "tenantId": tenant or zero,
        "organizationId": row["organizationId"],
        "organizationName": None,
        "creatorId": row["creatorId"] or zero,
        "modifierId": row["creatorId"] or zero,
        "reference": row["reference"],
        "synced": False,
        "inactive": False,
        # RFC 3339 in this API (the Data API keeps the seed's awkward forms).
        "createdDate": normalize_datetime(row["createdDate"]),
        "updatedDate": normalize_datetime(row["updatedDate"]),
        "temp": None,
        **{f"customField{i}": row.get(f"customField{i}") for i in range(1, 6)},
    }
