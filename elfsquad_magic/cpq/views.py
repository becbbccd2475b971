"""``client.cpq``: the CPQ views of one client, each a method returning a typed DataFrame
(or, with ``output=`` or the client's ``output`` setting, a polars frame or an Arrow table).

Every view reads the local mirror: the sets it needs are synced first (only what changed is
read, so a second run costs a couple of requests per set), or, with ``offline=True``, read
as they are. ``frame.attrs["elfsquad"]["view"]`` records the run: the sets, the steps, the
DuckDB queries as they ran (:meth:`CpqViews.sql` prints them) and the requests spent.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from ..fetch.tables import info_of
from .bom import bom_view
from .catalog import views_frame
from .charts import pipeline_chart
from .dealers import dealer_prices_view
from .model import model_constraints, model_list, model_tree
from .pivots import custom_fields_view, features_view
from .quotations import quotation_lines_view, quotations_view
from .run import CpqClient, ViewRun, explain_text, sql_text
from .tree import ModelTree

__all__ = ["CpqViews"]


class CpqViews:
    """The questions Elfsquad analysts ask, one call each: ``client.cpq.model("E-Bike")``,
    ``.features()``, ``.quotations()``, ``.quotation_lines(100000)``, ``.custom_fields()``,
    ``.bom("CFG-000001")``, ``.dealer_prices()``; ``.list_views()`` describes them."""

    def __init__(self, client: CpqClient) -> None:
        self.client = client

    def _run(self, name: str, offline: bool, output: str | None) -> ViewRun:
        return ViewRun(name, self.client, offline=offline, output=output)

    @staticmethod
    def list_views() -> pd.DataFrame:
        """The views: name, what each shows, its argument, its options, an example."""
        return views_frame()

    def model(
        self,
        model: str | None = None,
        *,
        constraints: bool = False,
        offline: bool = False,
        output: str | None = None,
    ) -> Any:
        """A feature model (its root feature's name or article code, or its id) as a tree:
        one row per node in tree order, linked models beneath their node; ``constraints``
        gives its constraint edges instead; no ``model`` lists the models."""
        run = self._run("model", offline, output)
        if model is None or not str(model).strip():
            return run.finish(model_list(run))
        if constraints:
            return run.finish(model_constraints(run, model))
        return run.finish(model_tree(run, model))

    def features(
        self, *, language: str | None = None, offline: bool = False, output: str | None = None
    ) -> Any:
        """Features with one typed column per property, and their text in ``language``."""
        run = self._run("features", offline, output)
        return run.finish(features_view(run, language))

    def quotations(
        self,
        *,
        all_revisions: bool = False,
        currency: str | None = None,
        offline: bool = False,
        output: str | None = None,
    ) -> Any:
        """The pipeline: the latest revision of each quotation (every one with
        ``all_revisions``), status and party names, totals (also in ``currency``)."""
        run = self._run("quotations", offline, output)
        return run.finish(quotations_view(run, all_revisions=all_revisions, currency=currency))

    def quotation_lines(
        self,
        quotation: object = None,
        *,
        where: str | None = None,
        all_revisions: bool = False,
        offline: bool = False,
        output: str | None = None,
    ) -> Any:
        """Lines with feature, group, configuration code and margins: of one quotation (its
        number, ``number/version`` or id), of those matching ``where`` (DuckDB SQL on the
        view's columns), or all of the latest revisions."""
        run = self._run("quotation_lines", offline, output)
        frame = quotation_lines_view(run, quotation, where=where, all_revisions=all_revisions)
        return run.finish(frame)

    def custom_fields(
        self,
        entity: str = "Quotations",
        *,
        language: str | None = None,
        all_revisions: bool = False,
        offline: bool = False,
        output: str | None = None,
    ) -> Any:
        """Custom fields of ``Quotations`` or ``CrmAccounts`` as columns, dropdowns by text."""
        run = self._run("custom_fields", offline, output)
        frame = custom_fields_view(run, entity, language=language, all_revisions=all_revisions)
        return run.finish(frame)

    def bom(
        self, configuration: object = None, *, quotation: object = None, output: str | None = None
    ) -> Any:
        """The bill of materials of a configuration (id or code), or of each configured
        group of ``quotation``, from the Configurator API; ``attrs`` hold its totals."""
        run = self._run("bom", False, output)
        return run.finish(bom_view(run, configuration, quotation=quotation))

    def dealer_prices(
        self,
        feature: object = None,
        *,
        dealer: object = None,
        offline: bool = False,
        output: str | None = None,
    ) -> Any:
        """Dealer prices from the dealer terms: every term, or a feature's price per dealer."""
        run = self._run("dealer_prices", offline, output)
        return run.finish(dealer_prices_view(run, feature, dealer=dealer))

    # -- showing them ----------------------------------------------------------------------

    @staticmethod
    def tree(frame: pd.DataFrame, open_depth: int = 1) -> ModelTree:
        """A ``model`` frame as a tree: collapsible in a notebook, drawn as text elsewhere."""
        return ModelTree(frame, open_depth)

    def pipeline_chart(
        self, frame: pd.DataFrame | None = None, *, measure: str = "count", ax: Any = None
    ) -> Any:
        """Quotations per month stacked by status (``measure="value"``: their value), from
        ``frame`` or a fresh :meth:`quotations`; needs matplotlib. Returns the Axes."""
        return pipeline_chart(self.quotations() if frame is None else frame, measure=measure, ax=ax)

    def sql(self, frame: Any) -> str:
        """The DuckDB queries that made a view's ``frame``, as they ran."""
        return sql_text(self._record(frame))

    def explain(self, frame: Any) -> str:
        """The steps that made a view's ``frame`` (syncs, SQL, Python) and their cost."""
        return explain_text(self._record(frame))

    def _record(self, frame: Any) -> dict[str, Any]:
        # A polars frame keeps no metadata: the client's last_info holds the last view's.
        kept = isinstance(frame, pd.DataFrame | pa.Table)
        info = info_of(frame) if kept else self.client.last_info
        return dict((info or {}).get("view") or {"name": "(not a view)"})
