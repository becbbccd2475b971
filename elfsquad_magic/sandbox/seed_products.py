"""The product model of the synthetic tenant: feature models as trees, their constraints and
links, feature properties (an EAV pair) and feature texts.

Every model is a tree of ``FeatureModelNodes`` rooted at the node of the model's
``rootFeatureId``, joined by tree edges in ``FeatureModelRelationships`` (each parent's children
form one group: ``Alternative``, ``Or``, or ``Mandatory``/``Optional``), with a few constraint
edges (``Required``, ``Excludes``, ``Implies``, ``Includes``) in the same set. Model 1 has a
single node; model 2's ``Implies`` edges form a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .configurator import TREE_TYPES

if TYPE_CHECKING:
    from .seed_tenant import Tenant

# Node counts and depths: most models are small, one is large, as in a real catalogue.
_SIZES = [24, 30, 36, 45, 50, 60, 70, 85, 100, 120]
_LARGE = (180, 300)
_SINGLE_NODE_MODEL, _CYCLE_MODEL, _LARGE_MODEL = 1, 2, 3
_GROUP_KINDS = ["Alternative"] * 7 + ["Or"] * 4 + ["mixed"] * 9
_DISPLAY = ["Standard"] * 6 + ["Dropdown", "ImageBox", "Table"]
_FEATURE_PROPERTIES = [
    ("Weight (kg)", "Input"),
    ("Colour", "Text"),
    ("Frame size", "Text"),
    ("Warranty (years)", "Input"),
    ("Compatible with", "AssociatedFeatures"),
    ("Power (W)", "Input"),
    ("Material", "Text"),
    ("Spare part", "AssociatedFeatures"),
]
_TEXT_VALUES = {
    "Colour": ["Matte black", "Racing red", "Ice white", "Olive", "Blau/Grün"],
    "Frame size": ["S", "M", "L", "XL", '28"'],
    "Material": ["Aluminium", "Carbon", "Steel", "Titanium"],
}
_TEXT_LANGUAGES = [("en", "{name}"), ("nl", "{name} (NL)"), ("de", "{name} – DE")]


def feature_models(t: Tenant, features: list[dict]) -> list[dict]:
    """``10 * scale`` models, each on its own root feature (a named one)."""
    rng = t.rng
    named = [f for f in features if f["name"] and f["name"].strip()]
    roots = rng.sample(named, min(len(named), 10 * t.scale))
    models = []
    for i, root in enumerate(roots):
        row = t.audited()
        row.update(
            rootFeatureId=root["id"],
            order=i,
            displayPrices=rng.random() < 0.8,
            hideInShowroom=i > 3 and rng.random() < 0.2,
            hideInOrderEntry=False,
            autodeskUrn=None,
            isLocked=rng.random() < 0.1,
            purchaseDiscount=float(rng.choice([0, 10, 15])),
        )
        models.append(row)
    return models


def model_trees(
    t: Tenant, models: list[dict], features: list[dict], node_template: dict, edge_template: dict
) -> tuple[list[dict], list[dict], list[dict]]:
    """Nodes, relationships (tree and constraint edges) and linked models of every model."""
    rng = t.rng
    # A few accessories appear in many models (shared features).
    shared = rng.sample(features, 8)
    nodes: list[dict] = []
    edges: list[dict] = []
    by_id = {}
    for feature in features:
        by_id.setdefault(feature["id"], feature)  # the first of an id, as a scan finds it
    for i, model in enumerate(models):
        if i % 10 == _SINGLE_NODE_MODEL:
            size, depth = 1, 1
        elif i % 10 == _LARGE_MODEL:
            size, depth = rng.randint(*_LARGE), 6
        else:
            size, depth = rng.choice(_SIZES), rng.randint(3, 6)
        tree = _Tree(t, model, node_template, edge_template)
        tree.grow(size, depth, features, shared, by_id[model["rootFeatureId"]])
        tree.constrain(cycle=i % 10 == _CYCLE_MODEL)
        nodes.extend(tree.nodes)
        edges.extend(tree.edges)
    linked = _linked_models(t, models, nodes)
    return nodes, edges, linked


class _Tree:
    """One model's nodes and edges, grown at random within a size and a depth."""

    def __init__(self, t: Tenant, model: dict, node_template: dict, edge_template: dict) -> None:
        self.t, self.model = t, model
        self.node_template, self.edge_template = node_template, edge_template
        self.nodes: list[dict] = []
        self.edges: list[dict] = []
        self.depth: dict[str, int] = {}
        self.kind: dict[str, str] = {}  # parent -> its children's group kind
        self.kids: dict[str, list[str]] = {}
        self.parent: dict[str, str] = {}
        self.used: set[str] = set()
        self.by_id: dict[str, dict] = {}
        self.open: list[str] = []  # nodes above the deepest level, which may get children
        self.max_depth = 1

    def node(self, feature: dict, depth: int) -> dict:
        t, rng = self.t, self.t.rng
        row = dict(self.node_template)
        row.update(t.audited())
        price = feature["salesPrice"]
        divergent = None
        if depth > 1 and rng.random() < 0.1:
            base = price if price and price > 0 else t.money(5, 400)
            divergent = round(base * rng.uniform(0.8, 1.1), 2)
        row.update(
            featureModelId=self.model["id"],
            featureId=feature["id"],
            divergentPrice=divergent,
            upvaluePct=0.0,
            purchaseDiscountPct=0.0,
            defaultValue=1.0,
            hideInQuotation=False,
            hideInConfigurator=False,
            hideInOrderEntry=False,
            hideInOverview=False,
            hideTextValue=False,
            isQuotationGroup=depth == 1,
            isMandatory=False,
            isPreconfiguration=False,
            isPhantom=False,
        )
        self.nodes.append(row)
        self.by_id[row["id"]] = row
        if depth < self.max_depth:
            self.open.append(row["id"])
        self.depth[row["id"]] = depth
        self.kids[row["id"]] = []
        self.used.add(feature["id"])
        return row

    def pick_feature(self, features: list[dict], shared: list[dict]) -> dict:
        rng = self.t.rng
        if rng.random() < 0.08:
            choice = rng.choice(shared)
            if choice["id"] not in self.used:
                return choice
        for _ in range(20):  # a feature once per model where the catalogue allows
            choice = features[int(rng.random() * len(features))]
            if choice["id"] not in self.used:
                return choice
        return choice

    def grow(
        self, size: int, depth: int, features: list[dict], shared: list[dict], root_feature: dict
    ) -> None:
        """A root (``root_feature``, the model's), a spine down to ``depth``, then children
        anywhere above the deepest level."""
        rng = self.t.rng
        self.max_depth = depth
        current = self.node(root_feature, 1)["id"]
        for _level in range(2, depth + 1):
            if len(self.nodes) >= size:
                return
            current = self.child(current, features, shared)
        while len(self.nodes) < size:
            parent = self.open[int(rng.random() * len(self.open))]
            count = rng.randint(2, 4) if not self.kids[parent] else 1
            for _ in range(min(count, size - len(self.nodes))):
                self.child(parent, features, shared)

    def child(self, parent: str, features: list[dict], shared: list[dict]) -> str:
        rng = self.t.rng
        kind = self.kind.get(parent)
        if kind is None:
            kind = "mixed" if self.depth[parent] == 1 else rng.choice(_GROUP_KINDS)
            self.kind[parent] = kind
        edge_type = kind
        if kind == "mixed":
            edge_type = "Mandatory" if rng.random() < 0.3 else "Optional"
        node = self.node(self.pick_feature(features, shared), self.depth[parent] + 1)
        node["isMandatory"] = edge_type == "Mandatory"
        order = len(self.kids[parent])
        default = edge_type == "Alternative" and order == 0 and rng.random() < 0.6
        self.edge(parent, node["id"], edge_type, order, default)
        self.kids[parent].append(node["id"])
        self.parent[node["id"]] = parent
        if kind in ("Alternative", "Or") and self.depth[parent] == 2 and rng.random() < 0.3:
            # A grouping node ("Frame options"): not a line of the quotation, no price.
            self.by_id[parent].update(isPhantom=True, divergentPrice=0.0)
        return node["id"]

    def edge(self, source: str, target: str, kind: str, order: int, default: bool) -> None:
        rng = self.t.rng
        row = dict(self.edge_template)
        row.update(self.t.audited())
        row.update(
            featureModelId=self.model["id"],
            fromNodeId=source,
            toNodeId=target,
            order=order,
            default=default,
            type=kind,
            displaySeperateBlade=False,
            isDefaultSelector=default,
            displayType=rng.choice(_DISPLAY) if kind in TREE_TYPES else "Standard",
            combineIntoQuotationGroup=False,
            hideExcludeInView=False,
        )
        self.edges.append(row)

    def ancestors(self, node: str) -> set[str]:
        out = set()
        while node in self.parent:
            node = self.parent[node]
            out.add(node)
        return out

    def constrain(self, cycle: bool) -> None:
        """About one constraint per 25 nodes between unrelated nodes (not ancestors, not in one
        Alternative group); with ``cycle``, three ``Implies`` edges that go round."""
        rng = self.t.rng
        candidates = [n["id"] for n in self.nodes[1:]]
        if len(candidates) < 4:
            return
        pairs = []
        for _ in range(200):
            if len(pairs) >= max(1, len(self.nodes) // 25) + (3 if cycle else 0):
                break
            a, b = rng.sample(candidates, 2)
            if a in self.ancestors(b) or b in self.ancestors(a):
                continue
            if self.parent.get(a) == self.parent.get(b):
                continue
            if any(a in p or b in p for p in pairs):
                continue
            pairs.append((a, b))
        if cycle and len(pairs) >= 3:
            (a, b), (c, _), (d, _) = pairs[:3]
            for source, target in ((a, c), (c, d), (d, a)):
                self.edge(source, target, "Implies", 0, False)
            pairs = pairs[3:]
        for a, b in pairs:
            kind = rng.choice(["Required", "Excludes", "Implies", "Includes"])
            self.edge(a, b, kind, 0, False)


def _linked_models(t: Tenant, models: list[dict], nodes: list[dict]) -> list[dict]:
    """A leaf of every fifth model links the next model (never one linking back)."""
    rng = t.rng
    by_model: dict[str, list[dict]] = {}
    for node in nodes:
        by_model.setdefault(node["featureModelId"], []).append(node)
    links = []
    for i in range(0, len(models) - 1, 5):
        source, target = models[i], models[i + 1]
        candidates = [n for n in by_model[source["id"]][1:] if not n["isPhantom"]]
        if not candidates:
            continue
        node = rng.choice(candidates)
        row = t.audited()
        row.update(
            parentNodeId=node["id"],
            featureModelId=target["id"],
            allowCardinality=rng.random() < 0.5,
            allowMultiplier=False,
            defaultCardinality=1,
            staticCardinality=None,
            defaultMultiplierValue=1,
            defaultCardinalityExpressionId=None,
            staticCardinalityExpressionId=None,
            multiplierValueExpressionId=None,
            combineInView=False,
        )
        node["linkedFeatureModelId"] = row["id"]
        links.append(row)
    return links


def feature_properties(t: Tenant, features: list[dict]) -> tuple[list[dict], list[dict]]:
    """``FeatureProperties`` and, for about 40 % of the features, one to three values each:
    ``value`` for Input, ``textValue`` for Text, ``associatedFeatureId`` for AssociatedFeatures."""
    rng = t.rng
    properties = []
    for name, kind in _FEATURE_PROPERTIES:
        row = t.audited()
        row.update(name=name, type=kind, single=kind != "AssociatedFeatures", public=True)
        properties.append(row)
    values = []
    for feature in features:
        if rng.random() >= 0.4:
            continue
        for prop in rng.sample(properties, rng.randint(1, 3)):
            row = t.audited()
            value = text = associated = None
            if prop["type"] == "Input":
                value = float(rng.choice([0.5, 1, 2, 3.2, 5, 12.5, 250, 500]))
            elif prop["type"] == "Text":
                text = rng.choice(_TEXT_VALUES[prop["name"]])
            else:
                associated = features[int(rng.random() * len(features))]["id"]
            row.update(
                featurePropertyId=prop["id"],
                featureId=feature["id"],
                value=value,
                textValue=text,
                associatedFeatureId=associated,
            )
            values.append(row)
    return properties, values


def feature_texts(t: Tenant, features: list[dict], nodes: list[dict]) -> list[dict]:
    """Descriptions of every feature used in a model, in English and Dutch (German for some)."""
    rng = t.rng
    used = {n["featureId"] for n in nodes}
    texts = []
    for feature in features:
        if feature["id"] not in used or feature["name"] is None:
            continue
        languages = _TEXT_LANGUAGES if rng.random() < 0.3 else _TEXT_LANGUAGES[:2]
        for iso, pattern in languages:
            row = t.audited()
            row.update(
                value=pattern.format(name=feature["name"]),
                languageIso=iso,
                type="Description",
                featureId=feature["id"],
            )
            texts.append(row)
    return texts


__all__ = ["feature_models", "feature_properties", "feature_texts", "model_trees"]
