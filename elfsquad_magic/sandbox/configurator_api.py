"""The Configurator API (``/configurator/3/configurator/...``, ``/configurator/1/...`` alike):
configurations of the seeded feature models, answered as ``configurator-api.openapi.json``
shapes them (``ConfigurationDTO3`` and friends).

A configuration's answers live in memory; its row is in the Data API's ``Configurations`` (the
name follows ``updatename``). A seeded configuration opens with the answers its quotation lines
record. Prices are in the tenant's currency (EUR) times the configuration currency's exchange
rate, as numbers and as strings formatted for the configuration's language.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

import orjson

from .configurator import RELATIONSHIP_TYPES, FeatureModelGraph, Requirement
from .configurator_dto import Pricing, conflict_dto, node_dto
from .cpqhttp import (
    PDF,
    CpqError,
    CpqRequest,
    answer,
    empty,
    error_reply,
    guid,
    invalid,
    missing,
    small_pdf,
)
from .dataapi import Reply
from .ledger import Ledger
from .values import utc_now_text


@dataclass
class LinkedInstance:
    """One configuration of a linked model beneath a node of its parent configuration."""

    id: str
    parent_node_id: str
    configuration_id: str
    multiplier: int = 1


@dataclass
class State:
    """A configuration's answers and settings."""

    id: str
    code: str
    model_id: str
    explicit: dict[str, float] = field(default_factory=dict)
    text_values: dict[str, str] = field(default_factory=dict)
    image_values: dict[str, str] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)
    language: str = "en"
    currency: str = "EUR"
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    quotation_id: str | None = None
    linked: list[LinkedInstance] = field(default_factory=list)


class ConfiguratorApi:
    """Routes below ``/configurator/{version}/configurator/``."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.states: dict[str, State] = {}
        self._lock = threading.RLock()

    # Routing ------------------------------------------------------------------------------
    def handle(self, req: CpqRequest) -> Reply:
        """Answer one request; refusals come back as ``{"message": ...}`` or ``{"errors"}``."""
        try:
            with self._lock:
                return self._route(req)
        except CpqError as exc:
            return error_reply(exc)

    def _route(self, req: CpqRequest) -> Reply:
        segs, method = [s for s in req.segments if s], req.method
        head = segs[0].lower() if segs else ""
        fixed = {
            ("GET", "configurationmodels"): self.configuration_models,
            ("GET", "settings"): self.settings,
            ("PUT", "addtoquotation"): self.add_to_quotation,
            ("POST", "requestquote"): self.request_quote,
        }
        if len(segs) == 1 and (method, head) in fixed:
            return fixed[(method, head)](req)
        if head == "new" and len(segs) == 2 and method in ("GET", "POST"):
            return self.new(req, segs[1])
        if head == "open" and len(segs) == 2 and method == "GET":
            if segs[1].lower() == "multiple":
                ids = [v for k, v in req.query if k.lower() == "configurationids"]
                return answer(req, [self.dto(self.state(i), req) for i in ids])
            return answer(req, self.dto(self.state(segs[1]), req))
        if head == "update" and segs[1:] == ["multiple"] and method == "PUT":
            return self.update_many(req)
        if not segs:
            raise missing("No resource here.")
        state = self.state(segs[0])
        rest = [s.lower() for s in segs[1:]]
        if len(rest) == 2 and rest[1] == "file" and method in ("POST", "DELETE"):
            return self.file(req, state, segs[1])
        action = (method, "/".join(rest))
        routes = {
            ("PUT", ""): self.update,
            ("PUT", "multiple"): self.update_list,
            ("PUT", "text"): self.text,
            ("PUT", "text/multiple"): self.text,
            ("PUT", "image"): self.text,
            ("GET", "overview"): self.overview,
            ("GET", "getname"): self.get_name,
            ("PUT", "updatename"): self.update_name,
            ("GET", "pdf"): self.pdf,
            ("GET", "2dlayout"): lambda req, state: answer(req, []),
            ("GET", "3dlayout"): lambda req, state: answer(req, []),
            ("PUT", "changecurrency"): self.change_currency,
            ("PUT", "changelanguage"): self.change_language,
            ("PUT", "changecardinalityorder"): self.cardinality_order,
            ("PUT", "copylinkedconfiguration"): self.copy_linked,
            ("PUT", "removelinkedconfiguration"): self.remove_linked,
            ("PUT", "updatelinkedconfigurationcardinality"): self.linked_cardinality,
            ("PUT", "updatelinkedconfigurationmultiplier"): self.linked_multiplier,
        }
        if action not in routes:
            raise CpqError(405 if rest in ([], ["multiple"]) else 404, {"message": "Not found."})
        return routes[action](req, state)

    # Data ---------------------------------------------------------------------------------
    def graph(self, model_id: str) -> FeatureModelGraph:
        """The model's tree and constraints as the store holds them now."""
        ledger = self.ledger
        model = ledger.get("FeatureModels", model_id)
        if model is None:
            raise missing(f"No feature model with id {model_id}.")
        nodes = ledger.rows("FeatureModelNodes", "featureModelId", model_id)
        edges = ledger.rows("FeatureModelRelationships", "featureModelId", model_id)
        wanted = {n["featureId"] for n in nodes} | {model["rootFeatureId"]}
        spec = ledger.service.sets["Features"]
        found = ledger.store.get_many(spec, wanted)
        features = {k: orjson.loads(v) for k, v in found.items()}
        return FeatureModelGraph(model, nodes, edges, features)

    def pricing(self, state: State) -> Pricing:
        """Exchange rate, VAT, currency format and texts for a configuration."""
        ledger = self.ledger
        rates = {
            r["currencyIso"]: r["rate"] for r in ledger.store.rows(_set(ledger, "ExchangeRates"))
        }
        currency = ledger.get("Currencies", state.currency) or {}
        texts = ledger.rows("FeatureTexts", "languageIso", state.language)
        return Pricing(
            rate=float(rates.get(state.currency, 1.0)),
            vat=ledger.vat_pct(),
            symbol=currency.get("symbol") or state.currency,
            digits=int(currency.get("decimalDigits") or 2),
            language=state.language,
            texts={t["featureId"]: t["value"] for t in texts if t["type"] == "Description"},
        )

    def state(self, key: str) -> State:
        """A configuration by id or code: in memory, or rebuilt from its quotation lines."""
        text = key.strip()
        found = self.states.get(text.lower())
        if found is not None:
            return found
        row = None
        try:
            row = self.ledger.get("Configurations", str(uuid.UUID(text)))
        except ValueError:
            rows = self.ledger.rows("Configurations", "code", text)
            row = rows[0] if rows else None
        if row is None:
            raise missing(f"No configuration with id or code '{key}'.")
        if row["id"] in self.states:
            return self.states[row["id"]]
        state = State(row["id"], row["code"] or "", row["featureModelId"])
        state.language = row.get("languageIso") or "en"
        state.currency = row.get("currencyIso") or "EUR"
        lines = self.ledger.rows("QuotationLines", "configurationId", row["id"])
        if lines:
            state.quotation_id = lines[0]["quotationId"]
            count = lines[0]["groupAmount"] or 1
            for line in lines:
                if line["featureModelNodeId"]:
                    state.explicit[line["featureModelNodeId"]] = line["quantity"] / count
        self.states[state.id] = state
        return state

    def resolve_model(self, name: str) -> tuple[dict, State | None]:
        """A model by id, root feature name or article code; or a configuration to copy."""
        ledger = self.ledger
        models = ledger.store.rows(_set(ledger, "FeatureModels"))
        by_id = {m["id"]: m for m in models}
        try:
            key = str(uuid.UUID(name))
        except ValueError:
            key = None
        if key in by_id:
            return by_id[key], None
        roots = ledger.store.get_many(
            _set(ledger, "Features"), [m["rootFeatureId"] for m in models]
        )
        wanted = name.strip().lower()
        for model in models:
            feature = orjson.loads(roots.get(model["rootFeatureId"], b"{}"))
            names = {
                (feature.get("name") or "").strip().lower(),
                (feature.get("articleCode") or "").lower(),
            }
            if wanted and wanted in names:
                return model, None
        try:
            source = self.state(name)
        except CpqError:
            raise missing(f"No feature model or configuration named '{name}'.") from None
        return by_id[source.model_id], source

    def dto(self, state: State, req: CpqRequest | None = None) -> dict:
        """The ``ConfigurationDTO3`` of ``state``."""
        if req is not None and req.params.get("lang"):
            state.language = req.params["lang"]
        graph = self.graph(state.model_id)
        result = graph.evaluate(state.explicit)
        pricing = self.pricing(state)
        build = _DtoBuilder(graph, result.values, state, pricing)
        root = build.node(graph.root) if graph.root else None
        row = self.ledger.get("Configurations", state.id) or {}
        base = build.node_total(graph.root) if graph.root else 0.0
        total = round(sum(build.node_total(n) for n in result.values), 2)
        total_vat = round(sum(build.node_total(n, vat=True) for n in result.values), 2)
        base_vat = build.node_total(graph.root, vat=True) if graph.root else 0.0
        fmt = pricing.format
        doc = {
            "id": state.id,
            "sessionId": state.session_id,
            "code": state.code,
            "name": row.get("name"),
            "arEnabled": False,
            "configurationModelId": state.model_id,
            "foreignConfigurationModelIds": [],
            "root": root,
            "steps": [],
            "preconfigurationFeatures": [],
            "unansweredMandatories": [build.node(n, depth=1) for n in result.unanswered],
            "linkedConfigurationModels": self.linked_models(graph),
            "linkedConfigurations": self.linked_instances(state, graph),
            "values": {},
            "textValues": dict(state.text_values),
            "imageValues": dict(state.image_values),
            "requirements": [{"nodeId": n, "value": v} for n, v in state.explicit.items() if v > 0],
            "language": state.language,
            "currency": state.currency,
            "languages": self.languages(),
            "basePriceExclVat": fmt(base),
            "basePriceInclVat": fmt(base_vat),
            "basePriceExclVatNumber": base,
            "basePriceInclVatNumber": base_vat,
            "basePrice": base,
            "additionalPriceExclVat": fmt(round(total - base, 2)),
            "additionalPriceInclVat": fmt(round(total_vat - base_vat, 2)),
            "additionalPriceExclVatNumber": round(total - base, 2),
            "additionalPriceInclVatNumber": round(total_vat - base_vat, 2),
            "additionalPrice": round(total - base, 2),
            "totalPriceExclVat": fmt(total),
            "totalPriceInclVat": fmt(total_vat),
            "totalPriceExclVatNumber": total,
            "totalPriceInclVatNumber": total_vat,
            "totalPrice": total,
            "conflicts": [conflict_dto(c, graph, build) for c in result.conflicts],
        }
        if state.quotation_id and (q := self.ledger.get("Quotations", state.quotation_id)):
            doc["quotation"] = {
                "id": q["id"],
                "subject": q["subject"],
                "quotationNumber": q["quotationNumber"],
                "versionNumber": q["versionNumber"],
            }
        return doc

    def languages(self) -> dict[str, str]:
        """Language iso -> name, from the Data API's ``Languages``."""
        return {r["iso"]: r["name"] for r in self.ledger.store.rows(_set(self.ledger, "Languages"))}

    def linked_models(self, graph: FeatureModelGraph) -> list[dict]:
        """The models linked beneath this model's nodes."""
        out = []
        for node_id in graph.nodes:
            for link in self.ledger.rows("LinkedFeatureModels", "parentNodeId", node_id):
                linked = self.ledger.get("FeatureModels", link["featureModelId"]) or {}
                root = self.ledger.get("Features", linked.get("rootFeatureId")) or {}
                out.append(
                    {
                        "parentNodeId": node_id,
                        "configurationModelId": link["featureModelId"],
                        "configurationModelName": root.get("name"),
                        "allowCardinality": bool(link["allowCardinality"]),
                        "allowMultiplier": bool(link["allowMultiplier"]),
                    }
                )
        return out

    def linked_instances(self, state: State, graph: FeatureModelGraph) -> list[dict]:
        """The linked configurations made beneath this one, in their order."""
        out = []
        for order, item in enumerate(state.linked):
            child = self.states[item.configuration_id]
            child_graph = self.graph(child.model_id)
            out.append(
                {
                    "id": item.id,
                    "configurationId": state.id,
                    "linkedConfigurationId": child.id,
                    "parentNodeId": item.parent_node_id,
                    "rootFeatureId": child_graph.nodes[child_graph.root]["featureId"]
                    if child_graph.root
                    else str(uuid.UUID(int=0)),
                    "order": order,
                    "multiplier": item.multiplier,
                    "combinedInView": False,
                }
            )
        return out

    # Starting and opening ----------------------------------------------------------------
    def new(self, req: CpqRequest, name: str) -> Reply:
        """``POST``/``GET new/{featureModelName}``: a new configuration (a copy when ``name`` is
        a configuration's id or code), with the body's ``startupRequirements`` applied."""
        body = req.json({}) if req.method == "POST" else {}
        if not isinstance(body, dict):
            raise invalid("$", "Send a StartNewConfigurationModel object.")
        model, source = self.resolve_model(name)
        state = self.create(model, body.get("languageIso") or req.params.get("lang") or "en")
        if source is not None:
            state.explicit = dict(source.explicit)
            state.text_values = dict(source.text_values)
        graph = self.graph(model["id"])
        for item in body.get("startupRequirements") or []:
            node = guid(item.get("nodeId"), "startupRequirements.nodeId")
            if node not in graph.nodes:
                raise invalid("startupRequirements", f"The node {node} is not in this model.")
            kind, value = item.get("type", 0), item.get("value")
            if kind == 2:
                state.text_values[node] = str(value)
                value = 1.0
            elif kind == 3:
                continue  # cardinality of a linked model: no linked instances at start
            number = 1.0 if value is None or value is True else float(value or 0)
            state.explicit = graph.apply(state.explicit, Requirement(node, number, number > 0))
        return answer(req, self.dto(state, req))

    def create(self, model: dict, language: str) -> State:
        """A new configuration of ``model``, stored in the Data API's ``Configurations``."""
        ledger = self.ledger
        spec = _set(ledger, "Configurations")
        count = ledger.store.count(spec)
        code = f"CFG-{count + 1:06d}"
        while ledger.rows("Configurations", "code", code):
            count += 1
            code = f"CFG-{count + 1:06d}"
        root = ledger.get("Features", model["rootFeatureId"]) or {}
        row = dict.fromkeys(spec.properties)
        row.update(
            id=str(uuid.uuid4()),
            createdDate=utc_now_text(),
            updatedDate="0001-01-01T00:00:00Z",
            organizationId=model["organizationId"],
            code=code,
            currencyIso="EUR",
            languageIso=language,
            preview=False,
            name=root.get("name"),
            featureModelId=model["id"],
            featureModelVersion=1,
        )
        ledger.put("Configurations", [row])
        state = State(row["id"], code, model["id"], language=language)
        self.states[state.id] = state
        return state

    # Answers ------------------------------------------------------------------------------
    def _requirement(self, item: object, graph: FeatureModelGraph) -> Requirement:
        if not isinstance(item, dict):
            raise invalid("$", "Send an UpdateRequirementModel object.")
        node = guid(item.get("featureModelNodeId"), "featureModelNodeId")
        if node not in graph.nodes:
            raise invalid("featureModelNodeId", f"The node {node} is not in this model.")
        value = item.get("value", 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid("value", "The value must be a number.")
        return Requirement(node, float(value), bool(item.get("isSelection", True)))

    def apply(self, state: State, items: list) -> None:
        """Apply requirements in order."""
        graph = self.graph(state.model_id)
        for item in items:
            state.explicit = graph.apply(state.explicit, self._requirement(item, graph))
        self.touch(state)

    def touch(self, state: State) -> None:
        """Stamp the configuration's row as changed."""
        row = self.ledger.get("Configurations", state.id)
        if row is not None:
            row.update(
                updatedDate=utc_now_text(), languageIso=state.language, currencyIso=state.currency
            )
            self.ledger.put("Configurations", [row])

    def update(self, req: CpqRequest, state: State) -> Reply:
        """``PUT {id}``: one requirement."""
        self.apply(state, [req.json()])
        return answer(req, self.dto(state, req))

    def update_list(self, req: CpqRequest, state: State) -> Reply:
        """``PUT {id}/multiple``: requirements in order."""
        items = req.json()
        if not isinstance(items, list):
            raise invalid("$", "Send a list of UpdateRequirementModel objects.")
        self.apply(state, items)
        return answer(req, self.dto(state, req))

    def update_many(self, req: CpqRequest) -> Reply:
        """``PUT update/multiple``: requirements of several configurations; the answer is the
        configuration named by ``configurationId`` (else the first one's)."""
        items = req.json()
        if not isinstance(items, list) or not items:
            raise invalid("$", "Send a list of UpdateConfigurationModel objects.")
        touched = []
        for item in items:
            state = self.state(str(item.get("configurationId") if isinstance(item, dict) else ""))
            self.apply(state, [item])
            touched.append(state)
        wanted = req.params.get("configurationid")
        state = self.state(wanted) if wanted else touched[0]
        return answer(req, self.dto(state, req))

    def text(self, req: CpqRequest, state: State) -> Reply:
        """``PUT {id}/text``, ``{id}/text/multiple``, ``{id}/image``: a node's text (or image)
        value; a text selects its node, an empty one clears it."""
        body = req.json()
        items = body if isinstance(body, list) else [body]
        graph = self.graph(state.model_id)
        image = req.segments[-1].lower() == "image"
        for item in items:
            if not isinstance(item, dict):
                raise invalid("$", "Send an UpdateTextValueModel object.")
            node = guid(item.get("featureModelNodeId"), "featureModelNodeId")
            if node not in graph.nodes:
                raise invalid("featureModelNodeId", f"The node {node} is not in this model.")
            target = state.image_values if image else state.text_values
            text = item.get("textValue")
            if text:
                target[node] = str(text)
                state.explicit = graph.apply(state.explicit, Requirement(node, 1.0))
            else:
                target.pop(node, None)
        self.touch(state)
        return answer(req, self.dto(state, req))

    def file(self, req: CpqRequest, state: State, node_text: str) -> Reply:
        """``POST``/``DELETE {id}/{nodeId}/file``: a node's uploaded file (name and size kept)."""
        node = guid(node_text, "featureModelNodeId")
        graph = self.graph(state.model_id)
        if node not in graph.nodes:
            raise missing(f"The node {node} is not in this model.")
        if req.method == "DELETE":
            state.files.pop(node, None)
        else:
            name = _multipart_filename(req)
            state.files[node] = {"url": f"{req.base_url}/files/{state.id}/{node}", "name": name}
            state.explicit = graph.apply(state.explicit, Requirement(node, 1.0))
        return answer(req, self.dto(state, req))

    # Reading ------------------------------------------------------------------------------
    def overview(self, req: CpqRequest, state: State) -> Reply:
        """``GET {id}/overview``: the selected nodes, flat, with their prices (the file
        documents no content; the real service sends this document)."""
        doc = self.dto(state, req)
        selected = []

        def walk(node: dict) -> None:
            if node["isSelected"]:
                selected.append({k: v for k, v in node.items() if k != "features"})
            for child in node.get("features") or []:
                walk(child)

        if doc["root"]:
            walk(doc["root"])
        keys = (
            "id",
            "code",
            "name",
            "totalPriceExclVat",
            "totalPriceInclVat",
            "totalPriceExclVatNumber",
            "totalPriceInclVatNumber",
            "currency",
            "language",
        )
        return answer(req, {**{k: doc[k] for k in keys}, "features": selected})

    def get_name(self, req: CpqRequest, state: State) -> Reply:
        """``GET {id}/getname``."""
        row = self.ledger.get("Configurations", state.id) or {}
        return answer(req, {"name": row.get("name"), "configurationId": state.id})

    def update_name(self, req: CpqRequest, state: State) -> Reply:
        """``PUT {id}/updatename``: the name, also in the Data API's ``Configurations``."""
        body = req.json()
        if not isinstance(body, dict):
            raise invalid("$", "Send a ConfigurationNameModel object.")
        row = self.ledger.get("Configurations", state.id)
        if row is not None:
            row.update(name=body.get("name"), updatedDate=utc_now_text())
            self.ledger.put("Configurations", [row])
        return empty()

    def pdf(self, req: CpqRequest, state: State) -> Reply:
        """``GET {id}/pdf``: a one-page PDF listing the selected nodes and the total."""
        if req.params.get("languageiso"):
            state.language = req.params["languageiso"]
        if req.params.get("currencyiso"):
            state.currency = req.params["currencyiso"].upper()
        doc = self.dto(state)
        lines = []

        def walk(node: dict, depth: int) -> None:
            if node["isSelected"]:
                lines.append(f"{'  ' * depth}{node['name'] or ''}  {node['totalPrice']}")
                for child in node.get("features") or []:
                    walk(child, depth + 1)

        if doc["root"]:
            walk(doc["root"], 0)
        lines.append(f"Total excl. VAT: {doc['totalPriceExclVat']}")
        title = f"Configuration {state.code}: {doc['name'] or ''}"
        return Reply(
            200,
            small_pdf(title, lines),
            PDF,
            {"Content-Disposition": f'attachment; filename="{state.code}.pdf"'},
        )

    def configuration_models(self, req: CpqRequest) -> Reply:
        """``GET configurationmodels``: the models shown in the showroom, with their starting
        price (a new configuration's total), and the categories of their root features."""
        ledger = self.ledger
        lang = req.params.get("lang") or "en"
        models = [
            m for m in ledger.store.rows(_set(ledger, "FeatureModels")) if not m["hideInShowroom"]
        ]
        models.sort(key=lambda m: (m["order"] or 0, m["id"]))
        features = []
        attached: dict[str, list[str]] = {}
        for model in models:
            graph = self.graph(model["id"])
            state = State("", "", model["id"], language=lang)
            pricing = self.pricing(state)
            result = graph.evaluate({})
            build = _DtoBuilder(graph, result.values, state, pricing)
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
        categories = ledger.store.rows(_set(ledger, "Categories"))
        return answer(
            req,
            {
                "categories": _category_tree(categories, attached),
                "features": features,
                "languages": self.languages(),
                "language": lang,
            },
        )

    def settings(self, req: CpqRequest) -> Reply:
        """``GET settings``: the showroom's settings, from the tenant's ``Settings`` row."""
        ledger = self.ledger
        rows = ledger.store.rows(_set(ledger, "Settings"))
        row = rows[0] if rows else {}
        vats = ledger.store.rows(_set(ledger, "Vats"))
        vat = next((v for v in vats if v["id"] == row.get("defaultVatId")), None)
        countries = ledger.store.rows(_set(ledger, "Countries"))
        doc = {
            "id": row.get("id") or str(uuid.UUID(int=0)),
            "organizationId": row.get("organizationId"),
            "reference": None,
            "synced": False,
            "createdDate": row.get("createdDate") or "0001-01-01T00:00:00Z",
            "updatedDate": row.get("updatedDate") or "0001-01-01T00:00:00Z",
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
            doc["defaultVat"] = {
                "id": vat["id"],
                "organizationId": vat["organizationId"],
                "reference": vat["reference"],
                "synced": False,
                "createdDate": vat["createdDate"],
                "updatedDate": vat["updatedDate"],
                "name": vat["name"],
                "pct": vat["pct"],
                "pctString": f"{vat['pct']:g}%",
                "includesVAT": bool(vat["includesVAT"]),
                "defaultVat": bool(vat["defaultVat"]),
                "coefficient": round(1 + vat["pct"] / 100, 4),
            }
        return answer(req, doc)

    # Changing settings -------------------------------------------------------------------
    def change_currency(self, req: CpqRequest, state: State) -> Reply:
        """``PUT {id}/changecurrency``: the body is the currency's iso (a JSON string)."""
        iso = req.json()
        if not isinstance(iso, str) or self.ledger.get("Currencies", iso.upper()) is None:
            raise invalid("currencyIso", f"The currency '{iso}' is not known.")
        state.currency = iso.upper()
        self.touch(state)
        return answer(req, self.dto(state, req))

    def change_language(self, req: CpqRequest, state: State) -> Reply:
        """``PUT {id}/changelanguage``: the body is the language's iso (a JSON string)."""
        iso = req.json()
        if not isinstance(iso, str) or self.ledger.get("Languages", iso.lower()) is None:
            raise invalid("languageIso", f"The language '{iso}' is not known.")
        state.language = iso.lower()
        self.touch(state)
        return answer(req, self.dto(state))

    # Linked configurations ---------------------------------------------------------------
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

    # Quotations ---------------------------------------------------------------------------
    def add_to_quotation(self, req: CpqRequest) -> Reply:
        """``PUT addtoquotation``: a group with the configuration's lines for each configuration
        (``quantities`` sets its group amount), the quotation's totals recomputed."""
        body = req.json()
        if not isinstance(body, dict):
            raise invalid("$", "Send an AddToQuotationModel object.")
        quotation_id = guid(body.get("quotationId"), "quotationId")
        quotation = self.ledger.get("Quotations", quotation_id)
        if quotation is None:
            raise missing(f"No quotation with id {quotation_id}.")
        quantities = body.get("quantities") or {}
        ids = body.get("configurationIds") or []
        if not isinstance(ids, list) or not ids:
            raise invalid("configurationIds", "Name at least one configuration.")
        for config_id in ids:
            state = self.state(str(config_id))
            count = quantities.get(config_id, quantities.get(state.id, 1))
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise invalid("quantities", "A quantity must be a whole number, 1 or more.")
            graph = self.graph(state.model_id)
            row = self.ledger.get("Configurations", state.id) or {"id": state.id}
            self.ledger.add_configuration(
                quotation, graph, graph.evaluate(state.explicit), row, count
            )
            state.quotation_id = quotation_id
        return empty()

    def request_quote(self, req: CpqRequest) -> Reply:
        """``POST requestquote``: a CRM account and contact from the request, a new quotation
        in the first status, the configurations added to it."""
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("quotationRequest"), dict):
            raise invalid("quotationRequest", "The quotationRequest field is required.")
        ask = body["quotationRequest"]
        ledger = self.ledger
        orgs = ledger.store.rows(_set(ledger, "Organizations"))
        org = min(orgs, key=lambda o: o["createdDate"])["id"] if orgs else None
        now = utc_now_text()
        account = dict.fromkeys(_set(ledger, "CrmAccounts").properties)
        account.update(
            id=str(uuid.uuid4()),
            createdDate=now,
            updatedDate="0001-01-01T00:00:00Z",
            organizationId=org,
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
        contact = dict.fromkeys(_set(ledger, "CrmContacts").properties)
        contact.update(
            id=str(uuid.uuid4()),
            createdDate=now,
            updatedDate="0001-01-01T00:00:00Z",
            organizationId=org,
            firstName=ask.get("firstName"),
            lastName=ask.get("lastName"),
            email=ask.get("email"),
            crmAccountId=account["id"],
            useParentAddress=True,
        )
        account["defaultContactId"] = contact["id"]
        ledger.put("CrmAccounts", [account])
        ledger.put("CrmContacts", [contact])
        from .quotationapi import new_quotation  # one module creates quotations

        quotation = new_quotation(
            ledger,
            {
                "organizationId": org,
                "debtorId": account["id"],
                "debtorContactId": contact["id"],
                "shipToId": account["id"],
                "subject": ask.get("subject"),
                "remarks": ask.get("remarks"),
                "customerReference": ask.get("customerReference"),
            },
        )
        add = {
            "quotationId": quotation["id"],
            "configurationIds": body.get("configurationIds"),
            "quantities": body.get("quantities"),
        }
        if add["configurationIds"]:
            inner = CpqRequest("PUT", ["addtoquotation"], [], orjson.dumps(add), req.accept)
            self.add_to_quotation(inner)
        return empty()


class _DtoBuilder:
    """Builds node DTOs of one configuration (see ``configurator_dto.node_dto``)."""

    def __init__(
        self, graph: FeatureModelGraph, values: dict[str, float], state: State, pricing: Pricing
    ) -> None:
        self.graph, self.values, self.state, self.pricing = graph, values, state, pricing

    def node_total(self, node_id: str, vat: bool = False) -> float:
        """A selected node's price times its value, converted (0 when not selected)."""
        value = self.values.get(node_id, 0.0)
        return self.pricing.total(self.graph, node_id, value, vat)

    def node(self, node_id: str, depth: int | None = None) -> dict:
        """The node's DTO with its children (``depth`` levels of them; all when ``None``)."""
        return node_dto(self, node_id, depth)


def _set(ledger: Ledger, name: str):  # noqa: ANN202 - an EntitySetSpec
    return ledger.service.sets[name]


def _category_tree(categories: list[dict], attached: dict[str, list[str]]) -> list[dict]:
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


def _multipart_filename(req: CpqRequest) -> str:
    """The file name of a multipart upload (``upload`` when none is given)."""
    import email.policy
    from email.parser import BytesParser

    if not req.content_type.lower().startswith("multipart/form-data"):
        raise CpqError(415, {"message": "Send the file as multipart/form-data."})
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {req.content_type}\r\n\r\n".encode() + req.body
    )
    names = [p.get_filename() for p in message.iter_parts() if p.get_filename()]
    if len(names) != 1:
        raise invalid("file", "Send exactly one file.")
    return names[0]


__all__ = ["RELATIONSHIP_TYPES", "ConfiguratorApi", "LinkedInstance", "State"]
