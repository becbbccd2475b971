"""The Configurator API's showroom side (models, settings, quotation requests) and linked
configurations: a mixin of ``ConfiguratorApi``, kept apart to keep modules small."""

from __future__ import annotations

import uuid

import orjson

from .configurator_dto import DtoBuilder, LinkedInstance, State
from .cpqhttp import CpqRequest, answer, empty, guid, invalid, missing
from .dataapi import Reply
from .quotation_records import main_organization, new_quotation
from .values import EMPTY_DATE, normalize_datetime, utc_now_text


class ShowroomMixin:
    """Methods of ``ConfiguratorApi`` for the showroom and linked configurations."""

    def _set(self, name: str):  # noqa: ANN202 - an EntitySetSpec
        return self.ledger.service.sets[name]  # type: ignore[attr-defined]

    def configuration_models(self, req: CpqRequest) -> Reply:
        """``GET configurationmodels``: the models shown in the showroom, with their starting
        price (a new configuration's total), and the categories of their root features."""
        ledger = self.ledger
        lang = req.params.get("lang") or "en"
        models = [
            m for m in ledger.store.rows(self._set("FeatureModels")) if not m["hideInShowroom"]
        ]
        models.sort(key=lambda m: (m["order"] or 0, m["id"]))
        features = []
        attached: dict[str, list[str]] = {}
        for model in models:
            graph = self.graph(model["id"])
            state = State("", "", model["id"], language=lang)
            pricing = self.pricing(state)
            result = graph.evaluate({})
            build = DtoBuilder(graph, result.values, state, pricing)
            excl = round(sum(build.node_total(n) for n in result.values), 2)
            incl = round(sum(build.node_total(n, vat=True) for n in result.values), 2)
            root = graph.features.get(model["rootFeatureId"]) or {}
            if root.get("categoryId"):
                attached.setdefault(root["categoryId"], []).append(root["id"])
            features.append(
                {
                    "featureModelId": model["id"],
                    "featureId": model["rootFeatureId"],
                    "articleCode": root.get("articleCode"),
                    "name": root.get("name"),
                    "description": pricing.texts.get(model["rootFeatureId"]),
                    "extendedDescription": None,
                    "moreInfo": None,
                    "imageUrl": root.get("cardImageUrl"),
                    "startingPriceExclVat": pricing.format(excl),
                    "startingPriceInclVat": pricing.format(incl),
                    "startup": 0,
                }
            )
        categories = ledger.store.rows(self._set("Categories"))
        return answer(
            req,
            {
                "categories": category_tree(categories, attached),
                "features": features,
                "languages": self.languages(),
                "language": lang,
            },
        )

    def settings(self, req: CpqRequest) -> Reply:
        """``GET settings``: the showroom's settings, from the tenant's ``Settings`` row."""
        ledger = self.ledger
        rows = ledger.store.rows(self._set("Settings"))
        row = rows[0] if rows else {}
        vats = ledger.store.rows(self._set("Vats"))
        vat = next((v for v in vats if v["id"] == row.get("defaultVatId")), None)
        countries = ledger.store.rows(self._set("Countries"))
        doc = {
            "id": row.get("id") or str(uuid.UUID(int=0)),
            "organizationId": row.get("organizationId"),
            "reference": None,
            "synced": False,
            "createdDate": normalize_datetime(row.get("createdDate") or EMPTY_DATE),
            "updatedDate": normalize_datetime(row.get("updatedDate") or EMPTY_DATE),
            "requireLogin": bool(row.get("requireLogin")),
            "primaryColor": row.get("primaryColor"),
            "accentColor": row.get("accentColor"),
            "enableWelcomePage": bool(row.get("enableWelcomePage")),
            "enableProductPage": True,
            "enableOverviewPage": bool(row.get("enableOverviewPage")),
            "enableMultipleConfigurations": bool(row.get("enableMultipleConfigurations")),
            "languageIsos": sorted(self.languages()),
            "countries": [
                {
                    k: c[k]
                    for k in ("iso", "name", "active", "englishName", "phonePrefix", "capital")
                }
                for c in countries
            ],
            "displayVat": bool(row.get("displayVatPrices")),
            "quotationRequestedAction": 0,
            "allowDifferentShipToAddress": False,
            "enable3dFootprint": False,
            "enable3dLabel": False,
            "displayCreateQuotationInLastStep": False,
            "attachPdfToMail": False,
            "sendMailToCustomer": False,
            "defaultVatId": vat["id"] if vat else None,
            "currencyIso": "EUR",
            "enableCustomFeatureModelSettings": False,
            "hideCustomerField": False,
            "hideDeliveryDateField": False,
            "hideRemarksField": False,
            "hideShippingAddressField": False,
            "onConfigurationLeavePopup": False,
            "productPageDefaultPageSize": 24,
            "hasCustomerPortalEnabled": False,
            "enableRecaptcha": False,
            "selectedLanguageIso": req.params.get("lang") or "en",
            "allowGroupAmount": True,
            "languages": [{"iso": k, "name": v} for k, v in self.languages().items()],
        }
        if vat:
            doc["defaultVat"] = _vat_doc(vat)
        return answer(req, doc)

    def _instance(self, state: State, body: object, name: str = "linkedConfigurationId") -> int:
        if not isinstance(body, dict):
            raise invalid("$", "Send a JSON object.")
        wanted = guid(body.get(name), name)
        for i, item in enumerate(state.linked):
            if wanted in (item.id, item.configuration_id):
                return i
        raise missing(f"No linked configuration {wanted} in this configuration.")

    def linked_cardinality(self, req: CpqRequest, state: State) -> Reply:
        """``PUT {id}/updatelinkedconfigurationcardinality``: as many linked configurations
        beneath ``parentNodeId`` as ``cardinality`` says (new ones of the linked model)."""
        body = req.json()
        if not isinstance(body, dict):
            raise invalid("$", "Send a LinkedConfigurationCardinalityModel object.")
        node = guid(body.get("parentNodeId"), "parentNodeId")
        links = self.ledger.rows("LinkedFeatureModels", "parentNodeId", node)
        if not links:
            raise invalid("parentNodeId", f"No model is linked beneath node {node}.")
        count = body.get("cardinality")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise invalid("cardinality", "The cardinality must be a whole number, 0 or more.")
        model = self.ledger.get("FeatureModels", links[0]["featureModelId"])
        mine = [x for x in state.linked if x.parent_node_id == node]
        while len(mine) < count:
            child = self.create(model, state.language)
            item = LinkedInstance(str(uuid.uuid4()), node, child.id)
            state.linked.append(item)
            mine.append(item)
        for item in mine[count:]:
            state.linked.remove(item)
        return answer(req, self.dto(state, req))

    def copy_linked(self, req: CpqRequest, state: State) -> Reply:
        """``PUT {id}/copylinkedconfiguration``: one more linked configuration like another."""
        index = self._instance(state, req.json())
        source = state.linked[index]
        original = self.states[source.configuration_id]
        model = self.ledger.get("FeatureModels", original.model_id)
        child = self.create(model, state.language)
        child.explicit = dict(original.explicit)
        state.linked.insert(
            index + 1,
            LinkedInstance(str(uuid.uuid4()), source.parent_node_id, child.id, source.multiplier),
        )
        return answer(req, self.dto(state, req))

    def remove_linked(self, req: CpqRequest, state: State) -> Reply:
        """``PUT {id}/removelinkedconfiguration``."""
        state.linked.pop(self._instance(state, req.json()))
        return answer(req, self.dto(state, req))

    def cardinality_order(self, req: CpqRequest, state: State) -> Reply:
        """``PUT {id}/changecardinalityorder``: move a linked configuration to another index."""
        body = req.json()
        index = self._instance(state, body)
        target = body.get("currentIndex")
        if isinstance(target, bool) or not isinstance(target, int):
            raise invalid("currentIndex", "The index must be a whole number.")
        item = state.linked.pop(index)
        state.linked.insert(max(0, min(target, len(state.linked))), item)
        return empty()

    def linked_multiplier(self, req: CpqRequest, state: State) -> Reply:
        """``PUT {id}/updateLinkedConfigurationMultiplier``: a linked configuration's quantity."""
        body = req.json()
        index = self._instance(state, body)
        multiplier = body.get("multiplier")
        if isinstance(multiplier, bool) or not isinstance(multiplier, int) or multiplier < 1:
            raise invalid("multiplier", "The multiplier must be a whole number, 1 or more.")
        state.linked[index].multiplier = multiplier
        return answer(req, self.dto(state, req))

    def request_quote(self, req: CpqRequest) -> Reply:
        """``POST requestquote``: a CRM account and contact from the request, a new quotation
        in the first status, the configurations added to it."""
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("quotationRequest"), dict):
            raise invalid("quotationRequest", "The quotationRequest field is required.")
        ask = body["quotationRequest"]
        account, contact = self._requester(ask)
        fields = {
            "organizationId": account["organizationId"],
            "debtorId": account["id"],
            "debtorContactId": contact["id"],
            "shipToId": account["id"],
            "subject": ask.get("subject"),
            "remarks": ask.get("remarks"),
            "customerReference": ask.get("customerReference"),
        }
        quotation = new_quotation(self.ledger, fields)
        if body.get("configurationIds"):
            add = {
                "quotationId": quotation["id"],
                "configurationIds": body["configurationIds"],
                "quantities": body.get("quantities"),
            }
            inner = CpqRequest("PUT", ["addtoquotation"], [], orjson.dumps(add), req.accept)
            self.add_to_quotation(inner)
        return empty()

    def _requester(self, ask: dict) -> tuple[dict, dict]:
        """The CRM account and contact of an anonymous quotation request, stored."""
        org = main_organization(self.ledger)
        stamp = {"createdDate": utc_now_text(), "updatedDate": EMPTY_DATE, "organizationId": org}
        account = {**dict.fromkeys(self._set("CrmAccounts").properties), **stamp}
        account.update(
            id=str(uuid.uuid4()),
            companyName=ask.get("companyName"),
            email=ask.get("email"),
            phone1=ask.get("phoneNumber"),
            streetName=ask.get("streetName"),
            houseNumber=ask.get("houseNumber"),
            postalCode=ask.get("postalCode"),
            city=ask.get("city"),
            countryIso=ask.get("countryIso"),
            type="Company" if ask.get("companyName") else "Person",
            firstName=ask.get("firstName"),
            lastName=ask.get("lastName"),
        )
        contact = {**dict.fromkeys(self._set("CrmContacts").properties), **stamp}
        contact.update(
            id=str(uuid.uuid4()),
            firstName=ask.get("firstName"),
            lastName=ask.get("lastName"),
            email=ask.get("email"),
            crmAccountId=account["id"],
            useParentAddress=True,
        )
        account["defaultContactId"] = contact["id"]
        self.ledger.put("CrmAccounts", [account])
        self.ledger.put("CrmContacts", [contact])
        return account, contact


def _vat_doc(vat: dict) -> dict:
    """A Data API ``Vats`` row as the configurator's ``VAT``."""
    return {
        "id": vat["id"],
        "organizationId": vat["organizationId"],
        "reference": vat["reference"],
        "synced": False,
        "createdDate": normalize_datetime(vat["createdDate"]),
        "updatedDate": normalize_datetime(vat["updatedDate"]),
        "name": vat["name"],
        "pct": vat["pct"],
        "pctString": f"{vat['pct']:g}%",
        "includesVAT": bool(vat["includesVAT"]),
        "defaultVat": bool(vat["defaultVat"]),
        "coefficient": round(1 + vat["pct"] / 100, 4),
    }


def category_tree(categories: list[dict], attached: dict[str, list[str]]) -> list[dict]:
    """The showroom's categories as a tree, each with the models ``attached`` to it."""
    kids: dict[str | None, list[dict]] = {}
    for c in sorted(categories, key=lambda c: (c["order"] or 0, c["id"])):
        kids.setdefault(c["parentId"], []).append(c)

    def tree(parent: str | None) -> list[dict]:
        return [
            {
                "id": c["id"],
                "name": c["name"],
                "attachedFeatureIds": attached.get(c["id"], []),
                "subcategories": tree(c["id"]),
            }
            for c in kids.get(parent, [])
        ]

    return tree(None)


__all__ = ["ShowroomMixin", "category_tree"]
