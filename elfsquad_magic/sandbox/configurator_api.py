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

import orjson

from .configurator import FeatureModelGraph, Requirement
from .configurator_dto import DtoBuilder, Pricing, State, conflict_dto
from .configurator_showroom import ShowroomMixin
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


class ConfiguratorApi(ShowroomMixin):
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
            # Revisions share a configuration: its quotation is the latest version among them.
            quotations = {
                q: self.ledger.get("Quotations", q) for q in {x["quotationId"] for x in lines}
            }
            latest = max(
                quotations, key=lambda q: ((quotations[q] or {}).get("versionNumber") or 0, q)
            )
            state.quotation_id = latest
            lines = [x for x in lines if x["quotationId"] == latest]
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
        build = DtoBuilder(graph, result.values, state, pricing)
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


def _set(ledger: Ledger, name: str):  # noqa: ANN202 - an EntitySetSpec
    return ledger.service.sets[name]


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


__all__ = ["ConfiguratorApi"]
