"""The configuration engine: a feature model's tree, its constraints, and what a set of answers
selects, costs and leaves open.

A model is ``FeatureModelNodes`` joined by ``FeatureModelRelationships``. Tree edges (``Optional``,
``Mandatory``, ``Alternative``, ``Or``) run from a parent (``fromNodeId``) to a child
(``toNodeId``); constraint edges (``Required``, ``Excludes``, ``Implies``, ``Includes``) join two
nodes anywhere in the model and are never part of the tree. The rules:

- selecting a node selects its ancestors;
- an ``Alternative`` group holds one choice: choosing another replaces it; a group nobody answered
  takes its ``default`` child, if it has one;
- ``Mandatory`` children are selected with their parent;
- an ``Or`` group needs at least one choice;
- ``Implies`` and ``Includes`` select their target (with its ancestors), to a fixed point, so a
  cycle of them ends;
- ``Excludes`` between two selected nodes and an unmet ``Required`` are conflicts;
- a selected node whose ``Alternative`` or ``Or`` group has no choice is an unanswered mandatory;
- a node's price is its ``divergentPrice`` when set, else its feature's ``salesPrice`` (none: 0);
  a total is the sum of the selected nodes' price times their value.

The seed builds its quotations' configurations with this module, and the Configurator API serves
it; it knows nothing of HTTP or the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

TREE_TYPES = ("Optional", "Mandatory", "Alternative", "Or")
CONSTRAINT_TYPES = ("Required", "Excludes", "Implies", "Includes")
# The configurator's FeatureModelRelationshipTypes, numbered as it sends them.
RELATIONSHIP_TYPES = TREE_TYPES + CONSTRAINT_TYPES
# The configurator's ConflictType.
CONFLICT_ADD, CONFLICT_REMOVE, CONFLICT_ALTERNATIVE, CONFLICT_VALUE = 0, 1, 2, 3


@dataclass(frozen=True)
class Requirement:
    """One answer: select (``value`` > 0) or deselect a node."""

    node_id: str
    value: float = 1.0
    is_selection: bool = True


@dataclass(frozen=True)
class Conflict:
    """A rule the selection breaks: the node concerned, the rule's kind and the values."""

    node_id: str
    kind: int
    requested: float
    actual: float
    rule: str  # the relationship type (or "Alternative") that found it


@dataclass
class Evaluation:
    """What a configuration's answers amount to."""

    values: dict[str, float]  # selected node -> value, in tree order (root first)
    conflicts: list[Conflict] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)  # nodes whose group is unanswered


class FeatureModelGraph:
    """One feature model: nodes, the tree, the constraints and the node prices."""

    def __init__(
        self,
        model: Mapping,
        nodes: Iterable[Mapping],
        relationships: Iterable[Mapping],
        features: Mapping[str, Mapping],
    ) -> None:
        self.model_id: str = model["id"]
        self.nodes: dict[str, Mapping] = {n["id"]: n for n in nodes}
        self.features = features
        self.parent: dict[str, str] = {}
        self.edge: dict[str, Mapping] = {}  # child -> its tree relationship
        self.children: dict[str, list[str]] = {n: [] for n in self.nodes}
        self.constraints: list[tuple[str, str, str]] = []
        ordered = sorted(relationships, key=lambda r: (r["order"] or 0, r["toNodeId"] or ""))
        for rel in ordered:
            source, target, kind = rel["fromNodeId"], rel["toNodeId"], rel["type"]
            if source not in self.nodes or target not in self.nodes:
                continue
            if kind in TREE_TYPES:
                self.parent[target] = source
                self.edge[target] = rel
                self.children[source].append(target)
            elif kind in CONSTRAINT_TYPES:
                self.constraints.append((source, target, kind))
        roots = [
            n
            for n, row in self.nodes.items()
            if n not in self.parent and row["featureId"] == model.get("rootFeatureId")
        ]
        orphans = [n for n in self.nodes if n not in self.parent]
        self.root: str | None = (roots or orphans or [None])[0]
        self.order = self._preorder()
        # Per node, its children by group kind (the engine asks these often).
        self._kind = {child: rel["type"] for child, rel in self.edge.items()}
        self.mandatory: dict[str, list[str]] = {}
        self.alternatives: dict[str, list[str]] = {}
        self.ors: dict[str, list[str]] = {}
        for node, kids in self.children.items():
            self.mandatory[node] = [c for c in kids if self._kind[c] == "Mandatory"]
            self.alternatives[node] = [c for c in kids if self._kind[c] == "Alternative"]
            self.ors[node] = [c for c in kids if self._kind[c] == "Or"]
        self._default = {
            node: next((c for c in alts if self.edge[c].get("default")), None)
            for node, alts in self.alternatives.items()
        }
        self._implications = [
            (s, t) for s, t, k in self.constraints if k in ("Implies", "Includes")
        ]

    def _preorder(self) -> list[str]:
        out: list[str] = []
        stack = [self.root] if self.root else []
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(self.children[node]))
        return out

    # The tree ----------------------------------------------------------------------------
    def kind(self, node_id: str) -> str:
        """The type of the tree edge into ``node_id`` (the root: ``Optional``)."""
        return self._kind.get(node_id, "Optional")

    def ancestors(self, node_id: str) -> list[str]:
        """Parent, grandparent... up to the root."""
        out = []
        while node_id in self.parent:
            node_id = self.parent[node_id]
            out.append(node_id)
        return out

    def descendants(self, node_id: str) -> list[str]:
        """Every node below ``node_id`` in the tree."""
        out, stack = [], list(self.children.get(node_id, ()))
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(self.children[node])
        return out

    def group(self, node_id: str) -> list[str]:
        """The siblings sharing ``node_id``'s Alternative or Or group (itself included)."""
        parent, kind = self.parent.get(node_id), self.kind(node_id)
        if parent is None or kind not in ("Alternative", "Or"):
            return [node_id]
        return [c for c in self.children[parent] if self.kind(c) == kind]

    def depth(self, node_id: str) -> int:
        """1 for the root."""
        return len(self.ancestors(node_id)) + 1

    # Prices -------------------------------------------------------------------------------
    def price(self, node_id: str) -> float:
        """The node's unit price: ``divergentPrice`` when set, else the feature's price."""
        node = self.nodes[node_id]
        if node.get("divergentPrice") is not None:
            return float(node["divergentPrice"])
        feature = self.features.get(node["featureId"]) or {}
        return float(feature.get("salesPrice") or 0.0)

    def default_value(self, node_id: str) -> float:
        """The value a node takes when selected without one: its ``defaultValue``, else 1."""
        value = self.nodes[node_id].get("defaultValue")
        return float(value) if value else 1.0

    def total(self, values: Mapping[str, float]) -> float:
        """Sum of price times value over the selected nodes, rounded to cents."""
        return round(sum(self.price(n) * v for n, v in values.items()), 2)

    # Answers ------------------------------------------------------------------------------
    def apply(self, explicit: dict[str, float], req: Requirement) -> dict[str, float]:
        """The explicit answers after ``req``: deselecting drops the node's subtree; choosing
        in an Alternative group replaces the group's earlier choice."""
        if req.node_id not in self.nodes:
            raise KeyError(req.node_id)
        out = dict(explicit)
        if not req.is_selection or req.value <= 0:
            for node in [req.node_id, *self.descendants(req.node_id)]:
                out.pop(node, None)
            out[req.node_id] = 0.0
            return out
        for node in [req.node_id, *self.ancestors(req.node_id)]:
            if self.kind(node) == "Alternative":
                for sibling in self.group(node):
                    if sibling != node:
                        for gone in [sibling, *self.descendants(sibling)]:
                            out.pop(gone, None)
        out.pop(req.node_id, None)  # re-answered: moves to the end
        out[req.node_id] = float(req.value)
        return out

    def evaluate(self, explicit: Mapping[str, float]) -> Evaluation:
        """Selected nodes with their values, conflicts and unanswered mandatory groups."""
        if self.root is None:
            return Evaluation({})
        values: dict[str, float] = {self.root: 1.0}
        mentioned = {n for n in explicit if n in self.nodes}
        for node, value in explicit.items():
            if node in self.nodes and value > 0:
                self._select(values, node, value)
        self._close(values, mentioned)
        ordered = {n: values[n] for n in self.order if n in values}
        return Evaluation(ordered, self._conflicts(ordered), self._unanswered(ordered))

    def _select(self, values: dict[str, float], node: str, value: float | None = None) -> list:
        """Select ``node`` (and its ancestors); returns the nodes that were not selected."""
        added = [] if node in values else [node]
        values[node] = value if value is not None else values.get(node, self.default_value(node))
        for up in self.ancestors(node):
            if up in values:
                break
            values[up] = self.default_value(up)
            added.append(up)
        return added

    def _close(self, values: dict[str, float], mentioned: set[str]) -> None:
        """Mandatory children, default alternatives, Implies and Includes, to a fixed point."""
        queue = list(values)
        while queue:
            while queue:
                node = queue.pop()
                for child in self.mandatory[node]:
                    if child not in values:
                        queue.extend(self._select(values, child))
                default = self._default[node]
                if default is not None and not any(
                    c in values or c in mentioned for c in self.alternatives[node]
                ):
                    queue.extend(self._select(values, default))
            for source, target in self._implications:
                if source in values and target not in values:
                    queue.extend(self._select(values, target))

    def _conflicts(self, values: Mapping[str, float]) -> list[Conflict]:
        found = []
        for source, target, kind in self.constraints:
            if kind == "Excludes" and source in values and target in values:
                found.append(Conflict(target, CONFLICT_REMOVE, 0.0, values[target], kind))
            elif kind == "Required" and source in values and target not in values:
                found.append(Conflict(target, CONFLICT_ADD, 1.0, 0.0, kind))
        for node in values:
            chosen = [c for c in self.alternatives[node] if c in values]
            for extra in chosen[1:]:
                found.append(
                    Conflict(extra, CONFLICT_ALTERNATIVE, 0.0, values[extra], "Alternative")
                )
        return found

    def _unanswered(self, values: Mapping[str, float]) -> list[str]:
        out = []
        for node in values:
            for group in (self.alternatives[node], self.ors[node]):
                if group and not any(c in values for c in group):
                    out.append(node)
                    break
        return out


__all__ = [
    "CONFLICT_ADD",
    "CONFLICT_ALTERNATIVE",
    "CONFLICT_REMOVE",
    "CONFLICT_VALUE",
    "CONSTRAINT_TYPES",
    "RELATIONSHIP_TYPES",
    "TREE_TYPES",
    "Conflict",
    "Evaluation",
    "FeatureModelGraph",
    "Requirement",
]
