"""What differs in a product model between two tenants: nodes only in one, and each changed
property of the nodes both have, matched by their path in the tree.

A model copied to another tenant gets new ids for its model, nodes and relationships (and often
its features): only the tree survives, so the nodes are matched on the path of names from the
root (``E-Bike / Frame / Colour / Red``), as the ``model`` view walks it. Two siblings of one
name are told apart by their place among their namesakes (``Red [2]``), in tree order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

from ..errors import UsageError
from ..store.diff import DiffSummary, diff_frames

__all__ = [
    "MODEL_IDS",
    "ModelSource",
    "ModelViews",
    "diff_model_trees",
    "diff_models",
    "node_paths",
]

MODEL_IDS = ("nodeId", "parentNodeId", "featureId", "featureModelId", "parent", "depth")
"""Columns of a model's tree that differ between copies or follow from the path: not compared."""


class ModelViews(Protocol):
    """The ``model`` view of a tenant's CPQ views."""

    def model(
        self, model: str | None = None, *, constraints: bool = False, offline: bool = False
    ) -> pd.DataFrame:
        """One row per node of ``model`` in tree order, with its ``depth`` and ``path``."""
        ...


class ModelSource(Protocol):
    """What a model diff needs of a tenant's client: its name and its CPQ views."""

    connection: str | None

    @property
    def cpq(self) -> ModelViews:
        """The tenant's CPQ views over its mirror."""
        ...


def node_paths(tree: pd.DataFrame) -> pd.Series:
    """Each node's path, unique within the tree: a path shared by namesake siblings (or by
    their subtrees) gets ``[2]``, ``[3]``... on its last name, in tree order. ``tree`` is in
    tree order (each node after its parent) with ``depth`` and ``path``."""
    paths = tree["path"].astype("string").fillna("(unnamed)").tolist()
    # The nearest ancestors, by depth: (raw path, unique path). A name may hold " / " itself,
    # so a node's own name is what its path adds to its parent's.
    ancestors: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    unique: list[str] = []
    for raw, depth in zip(paths, tree["depth"].astype(int).tolist(), strict=True):
        del ancestors[depth:]
        if ancestors:
            parent_raw, parent_unique = ancestors[-1]
            own = f"{parent_unique} / {raw[len(parent_raw) + 3 :]}"
        else:
            own = raw
        seen[own] = seen.get(own, 0) + 1
        final = own if seen[own] == 1 else f"{own} [{seen[own]}]"
        ancestors.append((raw, final))
        unique.append(final)
    return pd.Series(unique, index=tree.index, name="path", dtype="string")


def diff_model_trees(
    first: pd.DataFrame,
    second: pd.DataFrame,
    *,
    model: str,
    names: tuple[str, str] = ("first", "second"),
    ignore: Sequence[str] = (),
) -> tuple[pd.DataFrame, DiffSummary]:
    """The differences between two trees of one model (frames of the ``model`` view), nodes
    matched on their unique path; ids and what follows from the path are not compared."""
    left = first.assign(path=node_paths(first))
    right = second.assign(path=node_paths(second))
    skipped = [*MODEL_IDS, *ignore]
    frame, summary = diff_frames(
        left, right, on=["path"], ignore=skipped, names=names, entity_set=f"Model {model}"
    )
    # Tree order, as the model view shows it: a node's changes beside its place in the tree.
    order = {path: i for i, path in enumerate([*left["path"], *right["path"]])}
    frame = frame.sort_values("path", key=lambda s: s.map(order), kind="stable")
    frame = frame.reset_index(drop=True)
    frame.attrs["elfsquad"] = {"diff": summary.__dict__ | {"summary": _nodes(str(summary))}}
    return frame, summary


def diff_models(
    first: ModelSource,
    second: ModelSource,
    model: str,
    *,
    ignore: Sequence[str] = (),
    offline: bool = False,
) -> tuple[pd.DataFrame, DiffSummary]:
    """The differences in the model ``model`` (its root feature's name or article code)
    between two tenants, each tree from its mirror (synced first unless ``offline``)."""
    names = (first.connection or "first", second.connection or "second")
    if names[0] == names[1]:
        names = (f"{names[0]} (1)", f"{names[1]} (2)")
    trees: list[pd.DataFrame] = []
    for source, name in zip((first, second), names, strict=True):
        try:
            trees.append(source.cpq.model(model, offline=offline, output="pandas"))
        except UsageError as exc:
            raise UsageError(f"In {name}: {exc.message}", exc.hint) from None
    label = _label(trees[0], model)
    return diff_model_trees(trees[0], trees[1], model=label, names=names, ignore=ignore)


def _label(tree: pd.DataFrame, model: str) -> str:
    """The model's name as the tree's root says it."""
    root: Any = tree["path"].iloc[0] if len(tree) else None
    return str(root) if root is not None and not pd.isna(root) else model


def _nodes(summary: str) -> str:
    """The summary in nodes rather than rows."""
    return summary.replace(" in both,", " nodes in both,", 1)
