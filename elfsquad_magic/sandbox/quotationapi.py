"""The Quotation API (``/quotation/1/...``): write actions with business logic, answered as
``quotation-api.openapi.json`` shapes them; reads go through the Data API.

Rules the sandbox follows (the service's own are not public):

- a new quotation takes the first status (lowest ``order``), the next quotation number and
  version 1 unless the body says otherwise;
- ``revise`` copies the latest version (lines, groups, discount lines, property values) into
  version n+1 in the first status and moves the old one to the Revised status (the settings'
  ``defaultRevisedStatusId``); only the latest version can be revised;
- ``invoke`` runs a status change action: an action into a status of the flow past the first
  (``displayInFlow`` and ``order`` > 0) needs every required quotation property filled and a
  debtor, else 400 ``{"unsatisfiedProperties": [...], "unsatisfiedFields": [...]}``; a
  Revised quotation's status cannot change (403 ``{"message"}``);
- ``transfer`` moves a quotation to an organisation above or below its owner in the dealer tree
  (403 ``{"reason"}`` for any other); parties not transferred are cleared;
- ``updateDebtor`` replaces the discount lines that came from the old debtor's CRM discount
  lines with copies of the new debtor's; ``updateSeller``/``updateShipTo`` set their party;
- ``apply*`` actions change the named lines (or the lines of the named groups) and recompute the
  groups' and the quotation's totals (see ``ledger``).
"""

from __future__ import annotations

import threading
import uuid

from .cpqhttp import CpqError, CpqRequest, answer, empty, error_reply, guid, invalid, missing
from .dataapi import Reply
from .ledger import Ledger
from .metadata import EntitySetSpec
from .quotation_records import (
    READ_FIELDS,
    entity_dto,
    main_organization,
    new_quotation,
    read_dto,
    statuses_in_order,
)
from .seed_quotations import PROPERTY_TYPES
from .values import EMPTY_DATE, normalize_datetime, utc_now_text

_LINE_ACTIONS = {
    "applylinediscount": "discountPct",
    "applylinedeliverydate": "deliveryDate",
    "applylinevat": "vatId",
    "applygroupdiscount": "discountPct",
    "applygroupdeliverydate": "deliveryDate",
    "applygroupvat": "vatId",
}


class QuotationApi:
    """Routes below ``/quotation/1/``."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._lock = threading.RLock()

    def handle(self, req: CpqRequest) -> Reply:
        """Answer one request; refusals are ``{"errors"}``, ``{"message"}`` or ``{"reason"}``."""
        try:
            with self._lock:
                return self._route(req)
        except CpqError as exc:
            return error_reply(exc)

    def _route(self, req: CpqRequest) -> Reply:
        segs = [s for s in req.segments if s]
        low = [s.lower() for s in segs]
        method = req.method
        if low == ["quotations"] and method == "POST":
            return self.create(req)
        if len(low) == 2 and low[0] == "quotations" and method == "DELETE":
            return self.delete(req, segs[1])
        if len(low) == 1 and low[0] in ("updatedebtor", "updateseller", "updateshipto"):
            if method != "PUT":
                raise CpqError(405, {"message": "Use PUT."})
            return self.update_party(req, low[0][len("update") :])
        if len(low) == 3 and low[0] == "quotations" and method == "PUT":
            quotation = self.quotation(segs[1])
            action = low[2]
            if action == "invoke":
                return self.invoke(req, quotation)
            if action == "revise":
                return self.revise(req, quotation)
            if action == "transfer":
                return self.transfer(req, quotation)
            if action in _LINE_ACTIONS:
                return self.apply_lines(req, quotation, action)
        raise missing(f"No Quotation API resource at {'/'.join(segs)} for {method}.")

    def quotation(self, key: str) -> dict:
        """The quotation ``key`` names; 404 ``{"message"}`` otherwise."""
        try:
            found = self.ledger.get("Quotations", str(uuid.UUID(key)))
        except ValueError:
            found = None
        if found is None:
            raise missing(f"Quotation {key} was not found.")
        return found

    # Create and delete --------------------------------------------------------------------
    def create(self, req: CpqRequest) -> Reply:
        """``POST quotations``: the new quotation as ``QuotationReadDto``."""
        body = req.json()
        if not isinstance(body, dict):
            raise invalid("$", "Send a QuotationCreateDto object.")
        allowed = set(READ_FIELDS)
        for name in body:
            if name not in allowed:
                raise invalid(name, f"The property '{name}' is not part of QuotationCreateDto.")
        fields = {k: v for k, v in body.items() if v is not None}
        for name in (
            "id",
            "organizationId",
            "statusId",
            "debtorId",
            "debtorContactId",
            "sellerId",
            "sellerContactId",
            "shipToId",
            "shipToContactId",
        ):
            if name in fields:
                fields[name] = guid(fields[name], name)
        for name, set_name in (
            ("debtorId", "CrmAccounts"),
            ("shipToId", "CrmAccounts"),
            ("debtorContactId", "CrmContacts"),
        ):
            if name in fields and self.ledger.get(set_name, fields[name]) is None:
                raise invalid(name, f"The {set_name[:-1]} {fields[name]} does not exist.")
        quotation = new_quotation(self.ledger, fields)
        return answer(req, read_dto(quotation))

    def delete(self, req: CpqRequest, key: str) -> Reply:
        """``DELETE quotations/{id}``: the quotation with its lines, groups, discount lines and
        property values; answers the deleted id (404 without a body when there is none)."""
        try:
            quotation = self.quotation(key)
        except CpqError:
            return Reply(404, b"", None)
        ledger, qid = self.ledger, quotation["id"]
        for set_name, prop in (
            ("QuotationLines", "quotationId"),
            ("QuotationGroups", "quotationId"),
            ("QuotationDiscountLines", "quotationId"),
            ("QuotationPropertyValues", "entityId"),
        ):
            spec = ledger.service.sets[set_name]
            keys = [r[spec.key] for r in ledger.rows(set_name, prop, qid)]
            ledger.store.delete(spec, keys)
        ledger.store.delete(ledger.service.sets["Quotations"], [qid])
        return answer(req, qid)

    # Status -------------------------------------------------------------------------------
    def invoke(self, req: CpqRequest, quotation: dict) -> Reply:
        """``PUT quotations/{id}/invoke``: run a status change action."""
        body = req.json()
        if not isinstance(body, dict):
            raise invalid("$", "Send an InvokeActionModel object.")
        action = self.ledger.get(
            "QuotationStatusChangeActions", guid(body.get("actionId"), "actionId")
        )
        if action is None:
            raise missing(f"Status change action {body.get('actionId')} was not found.")
        statuses = {s["id"]: s for s in statuses_in_order(self.ledger)}
        target = statuses.get(action["quotationStatusId"])
        if target is None:
            raise missing(f"The action's status {action['quotationStatusId']} was not found.")
        if statuses.get(quotation["statusId"], {}).get("name") == "Revised":
            raise CpqError(403, {"message": "A revised quotation's status cannot change."})
        if target["displayInFlow"] and (target["order"] or 0) > 0:
            properties, fields = self.unsatisfied(quotation)
            if properties or fields:
                return Reply(
                    400,
                    _dumps({"unsatisfiedProperties": properties, "unsatisfiedFields": fields}),
                    "application/json; charset=utf-8",
                )
        quotation.update(statusId=target["id"], status=target["name"], updatedDate=utc_now_text())
        self.ledger.put("Quotations", [quotation])
        return empty()

    def unsatisfied(self, quotation: dict) -> tuple[list[dict], list[str]]:
        """Required quotation properties without a value (as ``QuotationProperty`` documents)
        and required quotation fields left empty."""
        ledger = self.ledger
        filled = {
            v["entityPropertyId"]
            for v in ledger.rows("QuotationPropertyValues", "entityId", quotation["id"])
            if v["value"] not in (None, "")
        }
        props = ledger.store.rows(ledger.service.sets["QuotationProperties"])
        wanted = sorted(
            (p for p in props if p["isRequired"] and p["id"] not in filled),
            key=lambda p: (p["order"] or 0, p["id"]),
        )
        tenant = main_organization(ledger)
        fields = [] if quotation.get("debtorId") else ["debtorId"]
        return [self.property_doc(p, tenant) for p in wanted], fields

    def property_doc(self, prop: dict, tenant: str | None) -> dict:
        """A quotation property as the Quotation API's ``QuotationProperty`` (texts, fields)."""
        ledger = self.ledger
        texts = [
            {
                **entity_dto(t, tenant),
                "value": t["value"],
                "languageIso": t["languageIso"],
                "entityPropertyId": prop["id"],
            }
            for t in ledger.rows("EntityPropertyTexts", "entityPropertyId", prop["id"])
        ]
        fields = []
        for f in ledger.rows("QuotationPropertyFields", "entityPropertyId", prop["id"]):
            field_texts = [
                {
                    **entity_dto(t, tenant),
                    "value": t["value"],
                    "languageIso": t["languageIso"],
                    "entityPropertyFieldId": f["id"],
                    "type": 0,
                }
                for t in ledger.rows(
                    "QuotationPropertyFieldTexts", "entityPropertyFieldId", f["id"]
                )
            ]
            fields.append(
                {
                    **entity_dto(f, tenant),
                    "code": f["code"],
                    "description": f["description"],
                    "entityPropertyId": prop["id"],
                    "quotationPropertyId": prop["id"],
                    "texts": field_texts,
                    "isDefault": bool(f["isDefault"]),
                }
            )
        kind = PROPERTY_TYPES.index(prop["type"]) if prop["type"] in PROPERTY_TYPES else 0
        return {
            **entity_dto(prop, tenant),
            "description": prop["description"],
            "isRequired": bool(prop["isRequired"]),
            "isReadonly": bool(prop["isReadonly"]),
            "isViewableForOrganizations": True,
            "type": kind,
            "texts": texts,
            "order": prop["order"] or 0,
            "fields": fields,
            "isPublic": bool(prop["isPublic"]),
        }

    # Revisions ----------------------------------------------------------------------------
    def revise(self, req: CpqRequest, quotation: dict) -> Reply:
        """``PUT quotations/{id}/revise``: version n+1, a copy; the old one Revised."""
        body = req.json({})
        if not isinstance(body, dict):
            raise invalid("$", "Send a ReviseQuotationModel object.")
        ledger = self.ledger
        family = ledger.rows("Quotations", "quotationNumber", quotation["quotationNumber"])
        latest = max(q["versionNumber"] or 0 for q in family)
        if (quotation["versionNumber"] or 0) != latest:
            raise CpqError(
                400,
                {
                    "message": f"Quotation {quotation['quotationNumber']} version "
                    f"{quotation['versionNumber']} is not its latest version "
                    f"({latest}): revise that one."
                },
            )
        statuses = statuses_in_order(ledger)
        settings = ledger.store.rows(ledger.service.sets["Settings"])
        revised_id = settings[0].get("defaultRevisedStatusId") if settings else None
        revised = next((s for s in statuses if s["id"] == revised_id), None) or next(
            (s for s in statuses if s["name"] == "Revised"), None
        )
        if revised is None:
            raise CpqError(400, {"message": "The tenant has no Revised status."})
        copy = {
            **quotation,
            "id": str(uuid.uuid4()),
            "versionNumber": latest + 1,
            "statusId": statuses[0]["id"],
            "status": statuses[0]["name"],
            "createdDate": utc_now_text(),
            "updatedDate": EMPTY_DATE,
        }
        ledger.put("Quotations", [copy])
        self._copy_children(quotation["id"], copy["id"], bool(body.get("copyMargin", True)))
        quotation.update(statusId=revised["id"], status=revised["name"], updatedDate=utc_now_text())
        ledger.put("Quotations", [quotation])
        return answer(req, read_dto(ledger.recompute(copy["id"])))

    def _copy_children(self, source: str, target: str, copy_margin: bool) -> None:
        ledger = self.ledger
        now = utc_now_text()
        groups = ledger.rows("QuotationGroups", "quotationId", source)
        new_group = {g["groupId"]: str(uuid.uuid4()) for g in groups}
        lines = ledger.rows("QuotationLines", "quotationId", source)
        new_line = {x["id"]: str(uuid.uuid4()) for x in lines}
        features = {}
        if not copy_margin:
            spec = ledger.service.sets["Features"]
            import orjson

            found = ledger.store.get_many(spec, {x["featureId"] for x in lines if x["featureId"]})
            features = {k: orjson.loads(v) for k, v in found.items()}
        copies = []
        for x in lines:
            margin = x["marginPct"]
            if not copy_margin and x["featureId"] in features:
                margin = features[x["featureId"]]["marginPct"]
            copies.append(
                {
                    **x,
                    "id": new_line[x["id"]],
                    "quotationId": target,
                    "createdDate": now,
                    "updatedDate": EMPTY_DATE,
                    "groupId": new_group.get(x["groupId"]),
                    "parentLineId": new_line.get(x["parentLineId"]),
                    "marginPct": margin,
                }
            )
        ledger.put("QuotationLines", copies)
        ledger.put(
            "QuotationGroups",
            [{**g, "groupId": new_group[g["groupId"]], "quotationId": target} for g in groups],
        )
        for set_name, prop in (
            ("QuotationDiscountLines", "quotationId"),
            ("QuotationPropertyValues", "entityId"),
        ):
            rows = ledger.rows(set_name, prop, source)
            ledger.put(
                set_name,
                [
                    {
                        **r,
                        "id": str(uuid.uuid4()),
                        prop: target,
                        "createdDate": now,
                        "updatedDate": EMPTY_DATE,
                    }
                    for r in rows
                ],
            )

    # Transfer and parties -----------------------------------------------------------------
    def transfer(self, req: CpqRequest, quotation: dict) -> Reply:
        """``PUT quotations/{id}/transfer``: to an organisation up or down the dealer tree."""
        body = req.json()
        if not isinstance(body, dict):
            raise invalid("$", "Send a TransferQuotationModel object.")
        target = guid(body.get("targetOrganizationId"), "targetOrganizationId")
        if self.ledger.get("Organizations", target) is None:
            raise invalid("targetOrganizationId", f"The organization {target} does not exist.")
        owner = quotation["organizationId"]
        if target == owner:
            raise CpqError(403, {"reason": "The quotation already belongs to that organization."})
        parent = {
            r["childOrganizationId"]: r["organizationId"]
            for r in self.ledger.store.rows(
                self.ledger.service.sets["OrganizationHasChildOrganizationRelationships"]
            )
        }

        def above(org: str) -> set[str]:
            out = set()
            while org in parent and parent[org] not in out:
                org = parent[org]
                out.add(org)
            return out

        if target not in above(owner) and owner not in above(target):
            raise CpqError(
                403,
                {
                    "reason": "The target organization is neither above nor below "
                    "the quotation's organization in the dealer tree."
                },
            )
        quotation["organizationId"] = target
        for party, flag in (
            ("debtorId", "transferDebtor"),
            ("debtorContactId", "transferDebtorContact"),
            ("shipToId", "transferShipTo"),
            ("shipToContactId", "transferShipToContact"),
            ("sellerContactId", "transferSellerContact"),
        ):
            if not body.get(flag):
                quotation[party] = None
        quotation["sellerId"] = target if body.get("transferSeller", True) else None
        quotation["updatedDate"] = utc_now_text()
        self.ledger.put("Quotations", [quotation])
        return answer(req, read_dto(quotation))

    def update_party(self, req: CpqRequest, party: str) -> Reply:
        """``PUT updateDebtor``/``updateSeller``/``updateShipTo``."""
        body = req.json()
        if not isinstance(body, dict):
            raise invalid("$", "Send a QuotationCrmModel object.")
        quotation = self.ledger.get("Quotations", guid(body.get("quotationId"), "quotationId"))
        if quotation is None:
            raise invalid("quotationId", f"Quotation {body.get('quotationId')} does not exist.")
        account_id = body.get("crmAccountId")
        account = None
        if account_id is not None:
            account_id = guid(account_id, "crmAccountId")
            account = self.ledger.get("CrmAccounts", account_id)
            seller_org = party == "seller" and self.ledger.get("Organizations", account_id)
            if account is None and not seller_org:
                raise invalid("crmAccountId", f"The CRM account {account_id} does not exist.")
        contact = account.get("defaultContactId") if account else None
        field = {"debtor": "debtorId", "seller": "sellerId", "shipto": "shipToId"}[party]
        quotation[field] = account_id
        if party in ("debtor", "shipto"):
            quotation[field.replace("Id", "ContactId")] = contact
        quotation["updatedDate"] = utc_now_text()
        self.ledger.put("Quotations", [quotation])
        if party == "debtor":
            self.crm_discounts(quotation, account_id)
        return empty()

    def crm_discounts(self, quotation: dict, account_id: str | None) -> None:
        """Discount lines that came from a CRM account now come from ``account_id``'s."""
        ledger = self.ledger
        spec: EntitySetSpec = ledger.service.sets["QuotationDiscountLines"]
        current = ledger.rows("QuotationDiscountLines", "quotationId", quotation["id"])
        ledger.store.delete(spec, [r["id"] for r in current if r["crmAccountId"]])
        kept = [r for r in current if not r["crmAccountId"]]
        standing = ledger.rows("CrmDiscountLines", "crmAccountId", account_id) if account_id else []
        now = utc_now_text()
        rows = []
        for order, source in enumerate(standing, start=len(kept)):
            row = dict.fromkeys(spec.properties)
            row.update(
                id=str(uuid.uuid4()),
                createdDate=now,
                updatedDate=EMPTY_DATE,
                organizationId=quotation["organizationId"],
                discountAmount=source["discountAmount"],
                discountPct=source["discountPct"],
                quotationId=quotation["id"],
                type=source["type"],
                description=source["description"],
                discountOnExVat=source["discountOnExVat"],
                crmAccountId=account_id,
                order=order,
                flatDiscountAmount=0.0,
                flatDiscountPercentage=0.0,
            )
            rows.append(row)
        ledger.put("QuotationDiscountLines", rows)

    # Lines and groups ---------------------------------------------------------------------
    def apply_lines(self, req: CpqRequest, quotation: dict, action: str) -> Reply:
        """``apply{line,group}{discount,deliverydate,vat}``: set one field on lines, recompute."""
        body = req.json()
        if not isinstance(body, dict):
            raise invalid("$", "Send a JSON object.")
        by_group = action.startswith("applygroup")
        ids_field = "quotationGroupIds" if by_group else "quotationLineIds"
        ids = body.get(ids_field)
        if not isinstance(ids, list):
            raise invalid(ids_field, f"The {ids_field} field is required.")
        wanted = {guid(i, ids_field) for i in ids}
        lines = self.ledger.rows("QuotationLines", "quotationId", quotation["id"])
        key = "groupId" if by_group else "id"
        known = {x[key] for x in lines if x[key]}
        unknown = sorted(wanted - known)
        if unknown:
            raise invalid(ids_field, f"{unknown[0]} is not part of quotation {quotation['id']}.")
        field = _LINE_ACTIONS[action]
        value = body.get(field)
        if field == "discountPct":
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value <= 100
            ):
                raise invalid("discountPct", "The discount must be a number from 0 to 100.")
            changes = {"discountPct": float(value)}
        elif field == "vatId":
            if value is not None and self.ledger.get("Vats", guid(value, "vatId")) is None:
                raise invalid("vatId", f"The VAT {value} does not exist.")
            changes = {"vatId": guid(value, "vatId") if value is not None else None}
        else:
            if value is not None:
                try:
                    normalize_datetime(str(value))
                except ValueError:
                    raise invalid("deliveryDate", f"'{value}' is not a date-time.") from None
            changes = {"deliverydate": value}
        now = utc_now_text()
        changed = [{**x, **changes, "updatedDate": now} for x in lines if x[key] in wanted]
        self.ledger.put("QuotationLines", changed)
        self.ledger.recompute(quotation["id"])
        return empty()


def _dumps(doc: object) -> bytes:
    import orjson

    return orjson.dumps(doc)


__all__ = ["QuotationApi"]
