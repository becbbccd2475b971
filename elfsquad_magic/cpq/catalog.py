"""The list of views: what each answers, what it is given, which options and sets it takes.

``%elfsquad_view --list`` shows it, and the magic refuses an option a view does not take.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .dealers import DEALER_SETS
from .model import MODEL_SETS
from .pivots import FEATURE_SETS
from .quotations import LINE_SETS, QUOTATION_SETS

__all__ = ["VIEWS", "ViewSpec", "find_view", "views_frame"]


@dataclass(frozen=True)
class ViewSpec:
    """One view: its name, what it shows, what its argument names, options, sets read."""

    name: str
    summary: str
    target: str
    options: tuple[str, ...]
    sets: tuple[str, ...]
    example: str


VIEWS = (
    ViewSpec(
        "model",
        "a feature model as a tree: depth, parent, path, edge type, price; linked models "
        "beneath their node; constraints listed per node, or apart (--constraints)",
        "the root feature's name or article code, or the model's id; none lists the models",
        ("constraints", "no_tree"),
        MODEL_SETS,
        '%elfsquad_view model "Carbon 190"',
    ),
    ViewSpec(
        "features",
        "features with one typed column per feature property, and their text in a language",
        "",
        ("language",),
        (*FEATURE_SETS, "FeatureTexts"),
        "%elfsquad_view features --language nl",
    ),
    ViewSpec(
        "quotations",
        "the pipeline: status names, the latest revisions, debtor and seller, totals, "
        "converted by ExchangeRates with --currency; --chart draws it by status and month",
        "",
        ("all_revisions", "currency", "chart"),
        (*QUOTATION_SETS, "ExchangeRates"),
        "%elfsquad_view quotations --currency EUR --chart",
    ),
    ViewSpec(
        "quotation_lines",
        "lines with feature, group, configuration code, category, model and margins",
        "a quotation's number, number/version or id; none: every line (or --where)",
        ("all_revisions", "where"),
        LINE_SETS,
        "%elfsquad_view quotation_lines 100000",
    ),
    ViewSpec(
        "custom_fields",
        "custom fields as columns, a dropdown's value shown by its field's text",
        "Quotations (the default) or CrmAccounts",
        ("language", "all_revisions"),
        ("QuotationProperties", "QuotationPropertyFields", "QuotationPropertyValues"),
        "%elfsquad_view custom_fields CrmAccounts --language nl",
    ),
    ViewSpec(
        "bom",
        "a configuration's bill of materials from the Configurator API: selected nodes with "
        "depth, parent, quantity and prices",
        "the configuration's id or code (or --quotation)",
        ("quotation",),
        ("Configurations",),
        "%elfsquad_view bom CFG-000001",
    ),
    ViewSpec(
        "dealer_prices",
        "a feature's price per dealer from the dealer terms (the rule is in the docs)",
        "the feature's name, article code or id; none: every dealer term",
        ("dealer",),
        DEALER_SETS,
        '%elfsquad_view dealer_prices "Carbon 190"',
    ),
)


def find_view(name: str) -> ViewSpec | None:
    """The view ``name`` (any casing, ``-`` for ``_``), or ``None``."""
    wanted = name.strip().lower().replace("-", "_")
    return next((view for view in VIEWS if view.name == wanted), None)


def views_frame() -> pd.DataFrame:
    """The views as a frame: name, what it shows, its argument, options, example."""
    return pd.DataFrame(
        [
            {
                "view": view.name,
                "shows": view.summary,
                "argument": view.target,
                "options": " ".join("--" + o.replace("_", "-") for o in view.options),
                "example": view.example,
            }
            for view in VIEWS
        ]
    )
