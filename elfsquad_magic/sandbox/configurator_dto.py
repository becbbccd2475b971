"""The Configurator API's node and conflict documents (``ConfigurationFeatureDTO3``,
``ConfigurationConflictDTO3``) and its prices: numbers, and strings formatted as the
configuration's language writes money."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from .configurator import RELATIONSHIP_TYPES, Conflict, FeatureModelGraph

# FeatureModelRelationshipDisplayType: names in the order of their numbers.
DISPLAY_TYPES = {
    "Standard": 0,
    "ImageBox": 1,
    "Dropdown": 2,
    "Searchbar": 4,
    "Table": 5,
    "NonDialogSearchbar": 6,
    "Slider": 7,
    "Input": 8,
    "Dialog": 9,
}
# Languages that write 1.234,56 (the others write 1,234.56).
_COMMA_DECIMAL = {"nl", "de", "fr", "es", "sv", "it", "pt", "da", "nb"}


@dataclass
class Pricing:
    """How a configuration shows money: rate from EUR, VAT rates, currency and language."""

    rate: float = 1.0
    vat: dict[str, float] = field(default_factory=dict)
    symbol: str = "€"
    digits: int = 2
    language: str = "en"
    texts: dict[str, str] = field(default_factory=dict)  # featureId -> description

    def unit(self, graph: FeatureModelGraph, node_id: str, vat: bool = False) -> float:
        """A node's unit price in the configuration's currency (with VAT when asked)."""
        price = round(graph.price(node_id) * self.rate, 2)
        if vat:
            price = round(price * (1 + self.vat_pct(graph, node_id) / 100), 2)
        return price

    def total(self, graph: FeatureModelGraph, node_id: str, value: float, vat: bool) -> float:
        """Unit price times value, rounded to cents."""
        return round(self.unit(graph, node_id, vat) * value, 2)

    def vat_pct(self, graph: FeatureModelGraph, node_id: str) -> float:
        """The VAT percentage of the node's feature."""
        feature = graph.features.get(graph.nodes[node_id]["featureId"]) or {}
        return self.vat.get(feature.get("vatId"), 0.0)

    def format(self, amount: float) -> str:
        """``€ 1.234,56`` (nl, de...) or ``€ 1,234.56`` (en); negative: ``€ -12,50``."""
        text = f"{abs(amount):,.{self.digits}f}"
        if self.language.lower()[:2] in _COMMA_DECIMAL:
            text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
        sign = "-" if amount < 0 else ""
        return f"{self.symbol} {sign}{text}"


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


class DtoBuilder:
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


def node_dto(build: DtoBuilder, node_id: str, depth: int | None = None) -> dict:
    """A node of the configuration with its prices and (``depth`` levels of) children."""
    graph, pricing, state = build.graph, build.pricing, build.state
    node = graph.nodes[node_id]
    feature = graph.features.get(node["featureId"]) or {}
    edge = graph.edge.get(node_id) or {}
    selected = node_id in build.values
    value = build.values.get(node_id, 0.0)
    children = None
    if depth is None or depth > 0:
        below = None if depth is None else depth - 1
        children = [node_dto(build, c, below) for c in graph.children[node_id]]
    doc = {
        "id": node_id,
        "configurationModelId": graph.model_id,
        "parentId": graph.parent.get(node_id),
        "featureId": node["featureId"],
        "value": value,
        "textValue": state.text_values.get(node_id),
        "imageValue": state.image_values.get(node_id),
        "isSelected": selected,
        "code": feature.get("articleCode"),
        "description": pricing.texts.get(node["featureId"]),
        "extendedDescription": None,
        "moreInfo": None,
        "name": feature.get("name"),
        "articleCode": feature.get("articleCode"),
        "unitOfMeasurement": None,
        "imageUrl": feature.get("cardImageUrl"),
        "type": RELATIONSHIP_TYPES.index(graph.kind(node_id)),
        "features": children if children is not None else [],
        "featureType": 3 if feature.get("type") == "Text" else 0,
        "isBestMatch": False,
        "isMandatory": bool(node.get("isMandatory")),
        "hideTextValue": bool(node.get("hideTextValue")),
        "displayType": DISPLAY_TYPES.get(edge.get("displayType") or "Standard", 0),
        "hideInQuotation": bool(node.get("hideInQuotation")),
        **_prices(build, node_id, value),
        "minValue": float(feature.get("minValue") or 0.0),
        "maxValue": float(feature.get("maxValue") or 0.0),
        "stepValue": float(feature.get("stepValue") or 0.0),
        "isDisabled": False,
        "disabledReason": None,
        "configurationId": state.id,
        "reference": node.get("reference"),
        "allowCardinality": False,
        "siblingOrder": edge.get("order"),
    }
    if node_id in state.files:
        doc["file"] = dict(state.files[node_id])
    return doc


def _prices(build: DtoBuilder, node_id: str, value: float) -> dict:
    """A node's prices, as formatted strings and as numbers (the service sends both)."""
    graph, pricing = build.graph, build.pricing
    unit, unit_vat = pricing.unit(graph, node_id), pricing.unit(graph, node_id, vat=True)
    total = pricing.total(graph, node_id, value, False)
    total_vat = pricing.total(graph, node_id, value, True)
    return {
        "unitPrice": pricing.format(unit),
        "unitPriceExclVat": unit,
        "unitPriceInclVat": pricing.format(unit_vat),
        "totalPrice": pricing.format(total),
        "totalPriceExclVat": total,
        "totalPriceInclVat": pricing.format(total_vat),
        "price": {
            "unitPriceExcVat": unit,
            "unitPriceIncVat": unit_vat,
            "totalPriceIncVat": total_vat,
            "totalPriceExcVat": total,
        },
    }


def conflict_dto(conflict: Conflict, graph: FeatureModelGraph, build: DtoBuilder) -> dict:
    """A conflict: the node concerned (its path of names from the root), the kind and values."""
    path = [graph.nodes[n]["featureId"] for n in reversed(graph.ancestors(conflict.node_id))]
    names = [(graph.features.get(f) or {}).get("name") or "" for f in path]
    alternatives = []
    if conflict.rule == "Alternative":
        alternatives = [
            node_dto(build, n, 0) for n in graph.group(conflict.node_id) if n != conflict.node_id
        ]
    return {
        "featurePath": names,
        "feature": node_dto(build, conflict.node_id, 0),
        "alternativeOptions": alternatives,
        "type": conflict.kind,
        "requestedValue": conflict.requested,
        "actualValue": conflict.actual,
    }


__all__ = [
    "DISPLAY_TYPES",
    "DtoBuilder",
    "LinkedInstance",
    "Pricing",
    "State",
    "conflict_dto",
    "node_dto",
]
