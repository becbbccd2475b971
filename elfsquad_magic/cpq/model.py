"""The ``model`` view: one feature model as a tree, from the mirrored sets.

Elfsquad spreads a model over ``FeatureModels`` (no name of its own: its root feature's),
``FeatureModelNodes``, ``FeatureModelRelationships`` and ``LinkedFeatureModels``. The tree is
walked in DuckDB by a recursive CTE from the root node along tree edges only (``Optional``,
``Mandatory``, ``Alternative``, ``Or``), children in their ``order``; a linked model's root
hangs beneath its parent node. Constraint edges (``Required``, ``Excludes``, ``Implies``,
``Includes``) are never walked: they are listed per node and, with ``constraints=True``, as
a frame of their own. Each path carries the nodes it visited, so a malformed model (an edge
back to an ancestor, two models linking each other) ends instead of looping.
"""

from __future__ import annotations

import pandas as pd

from ..errors import UsageError
from .run import ViewRun, literal, not_found

__all__ = [
    "CONSTRAINT_TYPES",
    "MODEL_SETS",
    "TREE_TYPES",
    "model_constraints",
    "model_list",
    "model_tree",
    "resolve_model",
    "tree_sql",
]

TREE_TYPES = ("Optional", "Mandatory", "Alternative", "Or")
CONSTRAINT_TYPES = ("Required", "Excludes", "Implies", "Includes")
MODEL_SETS = (
    "FeatureModels",
    "FeatureModelNodes",
    "FeatureModelRelationships",
    "LinkedFeatureModels",
    "Features",
)
# A linked model's root sorts after its parent node's own children.
_LINK_ORDER = 1_000_000

_MODELS_SQL = """
SELECT f.name AS rootName, f.articleCode,
       (SELECT count(*) FROM FeatureModelNodes n WHERE n.featureModelId = m.id) AS nodes,
       (SELECT count(*) FROM LinkedFeatureModels l
        JOIN FeatureModelNodes n ON n.id = l.parentNodeId
        WHERE n.featureModelId = m.id) AS linkedModels,
       m.id
FROM FeatureModels m
LEFT JOIN Features f ON f.id = m.rootFeatureId
ORDER BY m."order", m.id
"""


def _types(names: tuple[str, ...]) -> str:
    return ", ".join(literal(n) for n in names)


def resolve_model(run: ViewRun, model: str) -> tuple[str, str]:
    """The id and name of the model named ``model``: its root feature's name or article code
    (case and surrounding spaces ignored), or its id; else an error with close names."""
    models = run.sql("the models and their root features", _MODELS_SQL)
    wanted = " ".join(str(model).lower().split())
    run.python(f"find the model {model!r} by id, root feature name or article code")
    for column in ("id", "rootName", "articleCode"):
        values = models[column].astype("string").str.lower().str.split().str.join(" ")
        found = models[values == wanted]
        if len(found) > 1:
            ids = ", ".join(found["id"].astype(str))
            raise UsageError(
                f"Several feature models are named {model!r}: {ids}.", "Name it by its id."
            )
        if len(found) == 1:
            row = found.iloc[0]
            name = row["rootName"] if pd.notna(row["rootName"]) else row["articleCode"]
            return str(row["id"]), str(name if pd.notna(name) else row["id"])
    names = [*models["rootName"].dropna(), *models["articleCode"].dropna()]
    raise not_found("feature model", model, names, "%elfsquad_view model (no name) lists them.")


def model_list(run: ViewRun) -> pd.DataFrame:
    """The feature models: root feature name and article code, node count, linked models."""
    run.need(*MODEL_SETS)
    return run.sql("the models and their root features", _MODELS_SQL)


# The walk of one model; @MODEL@ stands for its id, as a literal.
_TREE_SQL = f"""
WITH RECURSIVE
tree_edges AS (
    -- Tree edges only: constraint edges ({_types(CONSTRAINT_TYPES)}) are not children.
    SELECT fromNodeId AS parentNodeId, toNodeId AS nodeId, type AS edgeType,
           coalesce("order", 0) AS siblingOrder, FALSE AS viaLink
    FROM FeatureModelRelationships
    WHERE type IN ({_types(TREE_TYPES)})
),
roots AS (
    -- A model's root: its node of the root feature that no tree edge leads into.
    SELECT m.id AS featureModelId, n.id AS nodeId
    FROM FeatureModels m
    JOIN FeatureModelNodes n ON n.featureModelId = m.id
    WHERE n.id NOT IN (SELECT nodeId FROM tree_edges)
    QUALIFY row_number() OVER (
        PARTITION BY m.id ORDER BY (n.featureId = m.rootFeatureId) DESC, n.id) = 1
),
edges AS (
    SELECT * FROM tree_edges
    UNION ALL
    -- A linked model hangs beneath its parent node.
    SELECT l.parentNodeId, r.nodeId, NULL, {_LINK_ORDER}, TRUE
    FROM LinkedFeatureModels l JOIN roots r ON r.featureModelId = l.featureModelId
),
labels AS (
    SELECT n.id AS nodeId,
           coalesce(nullif(regexp_replace(trim(f.name), '\\s+', ' ', 'g'), ''), f.articleCode,
                    '(unnamed)') AS label
    FROM FeatureModelNodes n LEFT JOIN Features f ON f.id = n.featureId
),
walk AS (
    SELECT r.nodeId, NULL::VARCHAR AS parentNodeId, NULL::VARCHAR AS edgeType, 0 AS depth,
           FALSE AS linked, [r.nodeId] AS visited, [b.label] AS names, [''] AS sortKey
    FROM roots r JOIN labels b ON b.nodeId = r.nodeId
    WHERE r.featureModelId = @MODEL@
    UNION ALL
    SELECT e.nodeId, w.nodeId, e.edgeType, w.depth + 1, w.linked OR e.viaLink,
           list_append(w.visited, e.nodeId), list_append(w.names, b.label),
           list_append(w.sortKey, printf('%010d %s', e.siblingOrder, e.nodeId))
    FROM walk w
    JOIN edges e ON e.parentNodeId = w.nodeId
    JOIN labels b ON b.nodeId = e.nodeId
    -- The visited path: an edge back to a node already on it is not followed.
    WHERE NOT list_contains(w.visited, e.nodeId)
),
rules AS (
    SELECT r.fromNodeId AS nodeId,
           string_agg(r.type || ' ' || b.label, '; ' ORDER BY r.type, b.label) AS constraints
    FROM FeatureModelRelationships r JOIN labels b ON b.nodeId = r.toNodeId
    WHERE r.type IN ({_types(CONSTRAINT_TYPES)})
    GROUP BY r.fromNodeId
),
tree AS (
    SELECT w.depth, f.name, f.articleCode, w.edgeType, n.isMandatory,
           coalesce(n.divergentPrice, f.salesPrice) AS price,
           array_to_string(w.names, ' / ') AS path,
           w.names[-2] AS parent,
           w.linked, n.isPhantom, c.constraints,
           w.nodeId, w.parentNodeId, n.featureId, n.featureModelId,
           n.divergentPrice, f.salesPrice, w.sortKey
    FROM walk w
    JOIN FeatureModelNodes n ON n.id = w.nodeId
    LEFT JOIN Features f ON f.id = n.featureId
    LEFT JOIN rules c ON c.nodeId = w.nodeId
)"""


def tree_sql(model_id: str) -> str:
    """The recursive CTEs that walk the model ``model_id``, ending in ``tree``."""
    return _TREE_SQL.replace("@MODEL@", literal(model_id))


def model_tree(run: ViewRun, model: str) -> pd.DataFrame:
    """One row per node of the model ``model``, in tree order (depth 0 at the root)."""
    run.need(*MODEL_SETS)
    model_id, name = resolve_model(run, model)
    query = tree_sql(model_id) + "\nSELECT * EXCLUDE (sortKey) FROM tree ORDER BY sortKey"
    return run.sql(f"the tree of {name}, walked by tree edges from its root", query)


def model_constraints(run: ViewRun, model: str) -> pd.DataFrame:
    """The constraint edges of the model ``model`` (and of its linked models), one per row."""
    run.need(*MODEL_SETS)
    model_id, name = resolve_model(run, model)
    query = (
        tree_sql(model_id)
        + f"""
SELECT r.type, a.path AS fromPath, b.path AS toPath, r.fromNodeId, r.toNodeId,
       a.linked AS fromLinked, r.id
FROM FeatureModelRelationships r
JOIN tree a ON a.nodeId = r.fromNodeId
LEFT JOIN tree b ON b.nodeId = r.toNodeId
WHERE r.type IN ({_types(CONSTRAINT_TYPES)})
ORDER BY a.sortKey, r.type, b.sortKey"""
    )
    return run.sql(f"the constraint edges of {name}", query)
