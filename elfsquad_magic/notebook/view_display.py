"""``%elfsquad_view``'s side of the notebook: which options go with which view, calling the
view, and showing what it made (the queries, the steps, the model's tree, the chart)."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

import pandas as pd
from IPython.display import display

from ..cpq.catalog import VIEWS, ViewSpec, find_view
from ..cpq.run import as_output, close_names
from ..cpq.tree import ModelTree
from ..cpq.views import CpqViews
from ..errors import UsageError

__all__ = ["VIEW_OPTIONS", "check_view_options", "run_view", "unquote", "view_spec"]

VIEW_OPTIONS = (
    "all_revisions",
    "currency",
    "language",
    "constraints",
    "no_tree",
    "chart",
    "quotation",
    "where",
    "dealer",
)
"""The options of ``%elfsquad_view`` that belong to some views only."""


def unquote(text: str) -> str:
    """``"Carbon 190"`` -> ``Carbon 190``: IPython splits a magic line keeping the quotes
    around a quoted word (a name with spaces, a ``--where`` condition)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _unquoted(args: Namespace) -> Namespace:
    values = {
        name: unquote(value) if isinstance(value, str) else value
        for name, value in vars(args).items()
    }
    values["target"] = [unquote(word) for word in args.target or []]
    return Namespace(**values)


def view_spec(name: str) -> ViewSpec:
    """The view ``name``, or a :class:`UsageError` with close names."""
    spec = find_view(name)
    if spec is None:
        names = [view.name for view in VIEWS]
        close = close_names(name, names)
        hint = f"Did you mean {', '.join(close)}? " if close else ""
        raise UsageError(
            f"There is no view {name!r}.", f"{hint}%elfsquad_view --list lists the views."
        )
    return spec


def check_view_options(spec: ViewSpec, args: Namespace) -> None:
    """Refuse an option the view does not take, naming the views that do."""
    for option in VIEW_OPTIONS:
        if getattr(args, option, None) in (None, False) or option in spec.options:
            continue
        takers = [view.name for view in VIEWS if option in view.options]
        flag = "--" + option.replace("_", "-")
        raise UsageError(
            f"{flag} goes with {' and '.join(takers)}, not with {spec.name}.",
            "%elfsquad_view --list shows each view's options.",
        )
    if args.offline and spec.name == "bom":
        raise UsageError(
            "The bill of materials is read from the Configurator API: it has no offline copy.",
            "Offline, %elfsquad_view quotation_lines --offline shows the configured lines.",
        )


def _call(views: CpqViews, spec: ViewSpec, target: str | None, args: Namespace) -> pd.DataFrame:
    offline = bool(args.offline)
    if spec.name == "model":
        return views.model(target, constraints=args.constraints, offline=offline, output="pandas")
    if spec.name == "features":
        return views.features(language=args.language, offline=offline, output="pandas")
    if spec.name == "quotations":
        return views.quotations(
            all_revisions=args.all_revisions,
            currency=args.currency,
            offline=offline,
            output="pandas",
        )
    if spec.name == "quotation_lines":
        return views.quotation_lines(
            target,
            where=args.where,
            all_revisions=args.all_revisions,
            offline=offline,
            output="pandas",
        )
    if spec.name == "custom_fields":
        return views.custom_fields(
            target or "Quotations",
            language=args.language,
            all_revisions=args.all_revisions,
            offline=offline,
            output="pandas",
        )
    if spec.name == "bom":
        return views.bom(target, quotation=args.quotation, output="pandas")
    return views.dealer_prices(target, dealer=args.dealer, offline=offline, output="pandas")


def run_view(views: CpqViews, args: Namespace) -> Any:
    """Run the view the magic line names and show what goes with it; returns its frame (as
    ``--output`` or the client's ``output`` setting asks)."""
    args = _unquoted(args)
    spec = view_spec(args.view)
    check_view_options(spec, args)
    target = " ".join(args.target).strip() or None
    if target is not None and not spec.target:
        raise UsageError(
            f"The view {spec.name} takes no argument ({target!r}).",
            f"For example: {spec.example}",
        )
    frame = _call(views, spec, target, args)
    if args.show_sql:
        print(views.sql(frame))
    if args.explain:
        print(views.explain(frame))
    if spec.name == "model" and target and not args.constraints and not args.no_tree:
        display(ModelTree(frame))
    if args.chart:
        _show_chart(views, frame, args.chart)
    # Shown from the pandas frame (the tree and the chart need it), handed over as asked.
    return as_output(frame, getattr(args, "output", None) or views.client.output)


def _show_chart(views: CpqViews, frame: pd.DataFrame, measure: str) -> Any:
    from ..cpq.charts import require_pyplot

    ax = views.pipeline_chart(frame, measure=measure)
    display(ax.figure)
    # Shown once: the inline backend would show an open figure again at the cell's end.
    require_pyplot().close(ax.figure)
    return ax
