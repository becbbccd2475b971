"""The ``bom`` view: a configuration's bill of materials, from the Configurator API.

``GET /configurator/3/configurator/open/{id}`` answers the configuration as a recursive tree
(``root.features[]``) of every node of its model, each with ``isSelected``, its value and
its prices, both as formatted strings and as numbers. The view keeps the selected nodes in
tree order with their depth (0 at the root) and parent, and the numbers: ``totalPrice`` sums
to the configuration's ``totalPriceExclVatNumber``. Of a quotation, it is the bills of its
configured groups one after the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from ..core.odata import CONFIGURATOR_V3_ROOT
from ..errors import ResponseFormatError, UsageError
from .quotations import resolve_quotation
from .run import TEXT_DTYPE, ViewRun, literal, not_found

__all__ = ["BOM_COLUMNS", "bom_rows", "bom_view", "open_path"]

# The configurator's FeatureModelRelationshipTypes, in the order of their numbers.
_EDGE_TYPES = (
    "Optional",
    "Mandatory",
    "Alternative",
    "Or",
    "Required",
    "Excludes",
    "Implies",
    "Includes",
)
BOM_COLUMNS = {
    "configurationCode": TEXT_DTYPE,
    "depth": "int64",
    "name": TEXT_DTYPE,
    "articleCode": TEXT_DTYPE,
    "edgeType": TEXT_DTYPE,
    "quantity": "float64",
    "unitPrice": "float64",
    "totalPrice": "float64",
    "totalPriceInclVat": "float64",
    "currency": TEXT_DTYPE,
    "isMandatory": "bool",
    "nodeId": TEXT_DTYPE,
    "parentId": TEXT_DTYPE,
    "featureId": TEXT_DTYPE,
    "configurationId": TEXT_DTYPE,
}


def open_path(configuration_id: str) -> str:
    """The Configurator API path that opens a configuration."""
    return f"{CONFIGURATOR_V3_ROOT}configurator/open/{configuration_id}"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def bom_rows(document: dict) -> Iterator[dict[str, Any]]:
    """The selected nodes of a ``ConfigurationDTO3``, in tree order, as BOM rows."""
    root = document.get("root")
    pending = [(root, 0)] if isinstance(root, dict) else []
    while pending:
        node, depth = pending.pop()
        if not node.get("isSelected"):
            continue  # nothing below an unselected node is selected
        price = node.get("price") if isinstance(node.get("price"), dict) else {}
        kind = node.get("type")
        yield {
            "configurationCode": document.get("code"),
            "depth": depth,
            "name": node.get("name"),
            "articleCode": node.get("articleCode"),
            "edgeType": _EDGE_TYPES[kind] if isinstance(kind, int) and depth else None,
            "quantity": _number(node.get("value")),
            "unitPrice": _number(node.get("unitPriceExclVat")),
            "totalPrice": _number(node.get("totalPriceExclVat")),
            "totalPriceInclVat": _number(price.get("totalPriceIncVat")),
            "currency": document.get("currency"),
            "isMandatory": bool(node.get("isMandatory")),
            "nodeId": node.get("id"),
            "parentId": node.get("parentId"),
            "featureId": node.get("featureId"),
            "configurationId": document.get("id"),
        }
        children = node.get("features") or []
        pending.extend((child, depth + 1) for child in reversed(children))


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(BOM_COLUMNS))
    return frame.astype(BOM_COLUMNS)


def _configuration_ids(run: ViewRun, configuration: object, quotation: object) -> list[str]:
    """The configurations to open: one by id or code, or a quotation's configured groups."""
    run.need("Configurations")
    if quotation is not None:
        run.need("Quotations", "QuotationLines")
        ids = resolve_quotation(run, quotation)
        found = run.sql(
            "the configurations of the quotation's groups, in line order",
            f"""
SELECT configurationId FROM QuotationLines
WHERE quotationId = {literal(ids[0])} AND configurationId IS NOT NULL
GROUP BY configurationId ORDER BY min(lineNumber)""",
        )
        return [str(i) for i in found["configurationId"]]
    known = run.sql(
        "the configurations' ids and codes", "SELECT id, code FROM Configurations ORDER BY code"
    )
    wanted = str(configuration).strip().lower()
    run.python(f"find the configuration {configuration!r} by id or code")
    for column in ("id", "code"):
        hit = known[known[column].astype(TEXT_DTYPE).str.lower() == wanted]
        if len(hit):
            return [str(hit["id"].iloc[0])]
    raise not_found(
        "configuration",
        configuration,
        known["code"].dropna().astype(str),
        "Configurations holds them; %elfsquad_view quotation_lines shows each line's code.",
    )


def bom_view(
    run: ViewRun, configuration: object = None, *, quotation: object = None
) -> pd.DataFrame:
    """The bill of materials of a configuration (its id or code), or of every configured
    group of a quotation: selected nodes with depth, parent, quantity and prices."""
    if (configuration is None) == (quotation is None):
        raise UsageError(
            "Name a configuration (its id or code) or a quotation, one of them.",
            "For example: %elfsquad_view bom CFG-000001, or %elfsquad_view bom --quotation 100000",
        )
    rows: list[dict[str, Any]] = []
    for configuration_id in _configuration_ids(run, configuration, quotation):
        path = open_path(configuration_id)
        run.request(f"GET {path}")
        document = run.client.get(path, raw=True)
        if not isinstance(document, dict):
            raise ResponseFormatError(
                f"GET {path} answered no configuration document.",
                "Check that the Configurator API is enabled for this tenant.",
            )
        rows.extend(bom_rows(document))
        totals = run.notes.setdefault("totals", {})
        totals[str(document.get("code") or configuration_id)] = _number(
            document.get("totalPriceExclVatNumber")
        )
    run.python("keep the selected nodes of root.features, in tree order, with their depth")
    return _frame(rows)
