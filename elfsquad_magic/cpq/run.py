"""What a view needs of the client, and the record of one view's run.

A view first brings the sets it reads up to date (an incremental sync each, or the mirror as
it is when offline), then runs its DuckDB queries over the mirror and, where a step is Python
(finding a model by name, flattening a configuration), notes it. :class:`ViewRun` keeps those
steps, so ``--show-sql`` can print the queries as they ran and ``--explain`` every step, and
counts the API calls the run cost.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..core.settings import check_output
from ..errors import UsageError
from ..fetch.tables import attach_info, to_output
from ..store.sql import require_duckdb
from ..store.sync import SyncReport

__all__ = [
    "TEXT_DTYPE",
    "CpqClient",
    "ViewRun",
    "as_output",
    "close_names",
    "explain_text",
    "sql_text",
    "ident",
    "literal",
    "not_found",
    "typed_columns",
    "view_info",
]

TEXT_DTYPE = pd.Series(["x"]).dtype
"""The dtype pandas gives text (``str`` from pandas 3, ``object`` before)."""


class CpqClient(Protocol):
    """What the views need of ``ElfsquadClient``: sync, SQL over the mirror, a GET."""

    last_sync: SyncReport | None
    output: str  # the results' type when a call names none
    last_info: dict[str, Any] | None  # df.attrs["elfsquad"] of the last result, any type

    @property
    def api_calls(self) -> int:
        """API calls sent so far."""
        ...

    def sync(self, entity_set: str, *, offline: bool = False, output: str | None = None) -> Any:
        """The whole set from the mirror, brought up to date first unless ``offline``."""
        ...

    def sql(
        self,
        query: str,
        params: Mapping[str, Any] | None = None,
        *,
        offline: bool = False,
        output: str | None = None,
    ) -> Any:
        """DuckDB SQL over the mirrored sets."""
        ...

    def get(self, path: str, **options: Any) -> Any:
        """GET ``path`` (``raw=True``: the parsed JSON)."""
        ...


def literal(value: object) -> str:
    """A value as a DuckDB literal: strings quoted (``'`` doubled), numbers as written.

    The views put values they read from the mirror (ids, codes) into the SQL they print, so
    the query an analyst copies runs as it is; a quote inside a value cannot end the string.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    """A column name as a DuckDB identifier (``"`` doubled)."""
    return '"' + name.replace('"', '""') + '"'


def close_names(given: str, names: Iterable[str], limit: int = 5) -> list[str]:
    """Names that look like ``given`` (case and spaces ignored), best first."""
    by_lower: dict[str, str] = {}
    for name in names:
        if name is not None and str(name).strip():
            by_lower.setdefault(" ".join(str(name).lower().split()), str(name))
    wanted = " ".join(str(given).lower().split())
    found = difflib.get_close_matches(wanted, list(by_lower), n=limit, cutoff=0.5)
    if not found:
        found = [low for low in sorted(by_lower) if wanted and wanted[:3] in low][:limit]
    return [by_lower[low] for low in found]


def not_found(kind: str, given: object, names: Iterable[str], listing: str) -> UsageError:
    """The error for an unknown model, quotation...: a short message and the close names."""
    close = close_names(str(given), names)
    hint = f"Did you mean {', '.join(repr(n) for n in close)}?" if close else ""
    return UsageError(f"There is no {kind} {given!r}.", f"{hint} {listing}".strip())


class ViewRun:
    """One run of one view: the sets synced, the queries and Python steps, the calls spent."""

    def __init__(
        self, view: str, client: CpqClient, offline: bool = False, output: str | None = None
    ) -> None:
        check_output(output)
        require_duckdb()  # before any sync: every view joins in DuckDB
        self.view = view
        self.client = client
        self.offline = offline
        self.output = output or client.output
        self.steps: list[str] = []
        self.queries: list[str] = []
        self.sets: list[str] = []
        self.notes: dict[str, Any] = {}  # what else a view reports (a configuration's total)
        self.calls_before = 0 if offline else client.api_calls

    def need(self, *entity_sets: str) -> None:
        """Bring each set up to date once (or check it is mirrored, offline)."""
        for name in entity_sets:
            if name in self.sets:
                continue
            # Arrow: the cheapest result to make of a sync whose rows are not used here.
            self.client.sync(name, offline=self.offline, output="arrow")
            report = self.client.last_sync
            self.sets.append(name)
            self.steps.append(f"sync {report}" if report is not None else f"sync {name}")

    def sql(self, purpose: str, query: str) -> pd.DataFrame:
        """Run ``query`` over the mirror as it now is, noting it as a step."""
        text = f"-- {purpose}\n{query.strip()}"
        self.queries.append(text)
        self.steps.append(f"SQL: {purpose} (the query {len(self.queries)} of --show-sql)")
        return typed_columns(self.client.sql(text, offline=True, output="pandas"))

    def python(self, what: str) -> None:
        """Note a step done in Python."""
        self.steps.append(f"Python: {what}")

    def request(self, what: str) -> None:
        """Note a request to an API other than the Data API."""
        self.steps.append(f"request: {what}")

    @property
    def requests(self) -> int:
        """API calls this run cost so far (none offline)."""
        return 0 if self.offline else self.client.api_calls - self.calls_before

    def finish(self, frame: pd.DataFrame) -> Any:
        """``frame`` as the run's output type, with the run's record in
        ``frame.attrs["elfsquad"]["view"]`` (an Arrow table's schema metadata; for a polars
        frame the client's ``last_info``)."""
        frame.attrs["elfsquad"] = {"view": view_info(self)}
        self.client.last_info = frame.attrs["elfsquad"]
        return as_output(frame, self.output)


def as_output(frame: pd.DataFrame, output: str) -> Any:
    """A view's pandas frame as ``output``, its record kept (in an Arrow table's metadata)."""
    if output == "pandas":
        return frame
    return attach_info(to_output(frame, output), frame.attrs.get("elfsquad", {}))


def typed_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns typed as the Data API's frames are, whatever the rows of this run hold.

    DuckDB hands an all-NULL text column over as ``object`` (a one-node model has no parent,
    another model's parents are strings), and the mirror's nanosecond UTC stamps without
    their zone; a view's types should not change with its data.
    """
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, np.dtype) and values.dtype.kind == "M":
            frame[column] = values.dt.tz_localize("UTC")
        elif (
            not isinstance(TEXT_DTYPE, np.dtype)
            and values.dtype == object
            and all(isinstance(v, str) for v in values.dropna())
        ):
            frame[column] = values.astype(TEXT_DTYPE)
    return frame


def view_info(run: ViewRun) -> dict[str, Any]:
    """The record of a run as plain values: name, sets, steps, queries, requests."""
    return {
        "name": run.view,
        "offline": run.offline,
        "sets": list(run.sets),
        "steps": list(run.steps),
        "sql": list(run.queries),
        "requests": run.requests,
        **run.notes,
    }


def sql_text(info: Mapping[str, Any]) -> str:
    """The queries of a run (its ``view`` record), each as it ran, ready to paste into
    ``%%elfsquad_sql`` (which syncs the sets it names first)."""
    queries = info.get("sql") or []
    if not queries:
        return f"-- The view {info.get('name')} ran no SQL (--explain lists its steps)."
    return "\n\n".join(f"{query};" for query in queries)


def explain_text(info: Mapping[str, Any]) -> str:
    """The steps of a run, numbered, and what it cost."""
    steps = [f"{number}. {step}" for number, step in enumerate(info.get("steps") or [], 1)]
    where = "the mirror only (offline)" if info.get("offline") else "the service"
    requests = info.get("requests", 0)
    steps.append(f"{requests} request{'s' * (requests != 1)} to {where}.")
    return f"The view {info.get('name')}:\n" + "\n".join(steps)
