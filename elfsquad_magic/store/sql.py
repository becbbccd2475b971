"""DuckDB SQL across the mirrored entity sets (``%%elfsquad_sql``, ``ElfsquadClient.sql``).

The query's table names are read by DuckDB's own parser; each one that names a Data API set
(in any casing) is synced first, unless offline, and becomes a view over its Parquet file.
``{{name}}`` placeholders become DuckDB parameters (``$name``): a value is never pasted
into the SQL text. DuckDB is an optional extra: ``pip install elfsquad-magic[sql]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa

from ..core.settings import require_polars
from ..errors import InterpolationError, UsageError
from .mirror import Mirror, MirrorInfo
from .sync import SyncReport

__all__ = [
    "SetSyncer",
    "run_sql",
    "placeholders_as_parameters",
    "table_names",
    "require_duckdb",
    "missing_variable",
]

SetSyncer = Callable[[str], SyncReport | None]
"""Brings the mirror of the set ``name`` (any casing) up to date; ``None`` when ``name`` is
not an entity set of the Data API."""

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def require_duckdb() -> Any:
    """The duckdb module, or a :class:`UsageError` naming the extra to install."""
    try:
        import duckdb
    except ImportError:
        raise UsageError(
            "SQL over the mirror needs DuckDB, which is not installed.",
            "Install the extra: pip install 'elfsquad-magic[sql]' (or pip install duckdb), "
            "then restart the kernel.",
        ) from None
    return duckdb


def _protected_spans(query: str) -> list[tuple[int, int]]:
    """Where string literals and comments lie (a placeholder there stays text)."""
    duckdb = require_duckdb()
    try:
        tokens = duckdb.tokenize(query)
    except Exception:  # a query DuckDB cannot even tokenize fails properly when run
        return []
    spans = []
    for index, (start, kind) in enumerate(tokens):
        if str(kind).endswith(("string_const", "comment")):
            end = tokens[index + 1][0] if index + 1 < len(tokens) else len(query)
            spans.append((start, end))
    return spans


def placeholders_as_parameters(
    query: str, lookup: Callable[[str], Any]
) -> tuple[str, dict[str, Any]]:
    """``{{name}}`` outside strings and comments -> ``$name``, with ``lookup(name)``'s value
    as the parameter. ``lookup`` raises :class:`InterpolationError` for unknown names."""
    spans = _protected_spans(query) if "{{" in query else []
    params: dict[str, Any] = {}

    def replace(match: re.Match[str]) -> str:
        if any(start <= match.start() < end for start, end in spans):
            return match.group(0)
        name = match.group(1)
        if name not in params:
            params[name] = lookup(name)
        return f"${name}"

    return _PLACEHOLDER.sub(replace, query), params


def table_names(query: str) -> set[str]:
    """The tables ``query`` reads (CTE names excluded), by DuckDB's parser."""
    duckdb = require_duckdb()
    try:
        return set(duckdb.get_table_names(query))
    except Exception:  # a syntax error: running the query reports it properly
        return set()


def run_sql(
    query: str,
    params: Mapping[str, Any],
    *,
    mirror: Mirror,
    sync: SetSyncer | None = None,
    frames: Mapping[str, Any] | None = None,
    report: Callable[[str], None] | None = None,
    output: str = "pandas",
) -> Any:
    """Run ``query`` over the mirrored sets it names, each brought up to date by ``sync``
    first (``None``: offline, the mirror as it is), and return its rows as ``output``
    (DuckDB's own ``df()``, ``pl()`` or Arrow result).

    ``frames`` are other tables the query may name (a notebook's pandas or polars frames, Arrow
    tables); ``report`` receives each sync's one-line summary.
    """
    duckdb = require_duckdb()
    if not query.strip():
        raise UsageError("The cell has no SQL.", "Write a query below %%elfsquad_sql.")
    connection = duckdb.connect(":memory:")
    try:
        # DuckDB's parser will not read a statement with parameters: NULLs stand in for them.
        parsed = query
        for parameter in params or {}:
            parsed = re.sub(rf"\${re.escape(parameter)}\b", "NULL", parsed)
        for name in sorted(table_names(parsed)):
            plain = name.rsplit(".", 1)[-1]
            info = _mirrored(sync, mirror, plain, report)
            if info is not None:
                _create_view(connection, plain, info)
            elif frames is not None and plain in frames:
                connection.register(plain, frames[plain])
        try:
            if output == "pandas":
                return connection.execute(query, dict(params) if params else None).df()
            # A relation hands its rows to Arrow and polars without the copy a cursor makes.
            relation = connection.sql(query, params=dict(params) if params else None)
            return _result_as(relation, output)
        except duckdb.Error as exc:
            raise _sql_error(exc) from None
    finally:
        connection.close()


def _sql_error(exc: Exception) -> UsageError:
    """DuckDB's error in its own words (with its "did you mean"), and a hint that fits it."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    # DuckDB's second line often says what it would have taken: keep it.
    said = first
    if len(lines) > 1 and lines[1].startswith(("Did you mean", "Candidate bindings")):
        said = f"{first} {lines[1]}"
    if "Referenced column" in first:
        hint = (
            "Columns are the set's properties, as the Data API names them: "
            "%elfsquad_describe <Set> lists them (in SQL: DESCRIBE <Set>)."
        )
    elif first.startswith(("Catalog Error", "Binder Error: Table")) or "does not exist" in first:
        hint = (
            "Tables are the Data API's entity sets (%elfsquad_entities), in any casing; "
            "%elfsquad_mirror lists what is mirrored."
        )
    elif first.startswith("Parser Error"):
        hint = "Check the SQL near the place DuckDB names (DuckDB's SQL dialect)."
    else:
        hint = "The query ran over the mirrored sets; check the types and names it uses."
    return UsageError(f"DuckDB: {said}", hint)


def _result_as(relation: Any, output: str) -> Any:
    """A DuckDB relation's rows as ``output``: ``pl()``, or its Arrow table (the method's
    name differs between DuckDB versions); ``None`` (a statement without rows): none."""
    if relation is None:
        return None
    if output == "polars":
        require_polars()
        return relation.pl()
    method = getattr(relation, "to_arrow_table", None) or relation.arrow
    table = method()
    return table.read_all() if isinstance(table, pa.RecordBatchReader) else table


def _mirrored(
    sync: SetSyncer | None,
    mirror: Mirror,
    name: str,
    report: Callable[[str], None] | None,
) -> MirrorInfo | None:
    """The mirror file of the set ``name`` (synced first when online), or ``None`` when
    ``name`` is not an entity set."""
    if sync is not None:
        synced = sync(name)
        if synced is None:
            return None
        if report is not None:
            report(str(synced))
    found = mirror.find(name)
    info = mirror.info(found) if found else None
    return info if info is not None and info.path else None


def _create_view(connection: Any, name: str, info: MirrorInfo) -> None:
    columns = ", ".join(
        f'CAST("{c}" AS JSON) AS "{c}"' if c in info.json_columns else f'"{c}"'
        for c in info.columns
    )
    literal = str(info.path).replace("'", "''")
    quoted = name.replace('"', '""')
    connection.execute(
        f"CREATE VIEW \"{quoted}\" AS SELECT {columns or '*'} FROM read_parquet('{literal}')"
    )


def missing_variable(name: str) -> InterpolationError:
    """The error for a ``{{name}}`` that names no variable."""
    return InterpolationError(
        f"{{{{{name}}}}}: there is no variable named {name!r}.",
        "Define it in a cell before this one; its value is passed to DuckDB as a parameter.",
    )
