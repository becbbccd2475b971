"""The sandbox's SQLite store: one table per entity set.

Each row keeps its JSON form (``_json``, exactly what the API answers) next to one column per
scalar property holding a sortable, comparable form (guids lower-case, date-times as fixed-width
UTC text, booleans 0/1, collections as JSON text), so ``$filter``/``$orderby`` run in SQL while
pages are served by joining stored JSON without re-encoding.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from operator import itemgetter

import orjson

from .file_copy import StopFlag, copy_file
from .metadata import EntitySetSpec, ServiceSpec
from .values import normalize_datetime, normalize_guid

__all__ = ["table_name", "column", "is_stored", "column_value", "Store"]

# Queries whose row order and count are kept between requests (the pages of a few fetches).
_REMEMBERED_QUERIES = 16
# Foreign keys that are filtered or joined on often enough to deserve an index.
_INDEXED = {"quotationId", "featureId", "debtorId", "statusId", "categoryId", "crmAccountId"}
# Changed-since and created-in-range queries (a mirror's sync) use these, as on the service.
_INDEXED |= {"createdDate", "updatedDate"}
# The page cache of a scratch file: the rest of the data stays in the file (and the system's
# file cache), not in this process's memory.
_SCRATCH_CACHE_KIB = 256 * 1024
_PAGE_BYTES = 16384
_ONE_HOUR = timedelta(hours=1)


def table_name(spec: EntitySetSpec) -> str:
    """The quoted SQL table name of an entity set."""
    return f'"t_{spec.name}"'


def column(name: str) -> str:
    """A property name as a quoted SQL identifier (names come from the API description only)."""
    return '"' + name.replace('"', '""') + '"'


def is_stored(spec: EntitySetSpec, name: str) -> bool:
    """Whether a property has a real column rather than one generated from ``_json``.

    Numbers, booleans, guids and (normalised) date-times get real columns so filters and sorts
    on them stay fast at 100k+ rows; strings and collections, most of the bytes, are read from
    the JSON on demand (same values: JSON strings are the SQL text), which keeps loading cheap.
    """
    edm = spec.properties[name]
    return name == spec.key or not (
        edm == "Edm.String" or edm == "Edm.Untyped" or edm.startswith("Collection(")
    )


def _generated_names(spec: EntitySetSpec) -> list[str]:
    """The properties of ``spec`` read from ``_json`` rather than stored, in model order."""
    return [name for name in spec.properties if not is_stored(spec, name)]


def _generated_column(name: str) -> str:
    """The column definition of a property read from ``_json``."""
    # JSON already holds the comparable form (lower-case guids, true -> 1).
    path = "$." + '"' + name + '"'
    return f"{column(name)} GENERATED ALWAYS AS (json_extract(_json, '{path}')) VIRTUAL"


def _trusted_datetime(value: str) -> str:
    """The fixed-width form of a date-time in one of the forms the seed writes."""
    size = len(value)
    if size == 28 and value[27] == "Z":
        return value
    if size == 20 and value[19] == "Z":
        return value[:19] + ".0000000Z"
    if size == 19:
        return value + ".0000000Z"
    if size == 29 and value[23:] == "+01:00" and value[19] == "." and value[20:23].isdigit():
        # Local time an hour ahead of UTC, with milliseconds (a tenth of the seed's stamps):
        # what normalize_datetime makes of it, without its pattern match. (An hour before
        # the year 1 or past 9999 does not fit a datetime: normalize_datetime clamps it.)
        if not "0001-01-01T01" <= value < "9999":
            return normalize_datetime(value)
        moment = datetime.fromisoformat(value[:19]) - _ONE_HOUR
        return f"{moment.isoformat()}.{value[20:23]}0000Z"
    return normalize_datetime(value)


def column_value(edm: str, value: object) -> object:
    """The comparable SQL form of a JSON value of type ``edm``; raises ValueError/TypeError."""
    if value is None:
        return None
    if edm.startswith("Collection(") or edm == "Edm.Untyped":
        return orjson.dumps(value).decode()
    if edm == "Edm.Guid":
        return normalize_guid(value)  # type: ignore[arg-type]
    if edm == "Edm.DateTimeOffset":
        if not isinstance(value, str):
            raise TypeError("a date-time must be an ISO 8601 string")
        return normalize_datetime(value)
    if edm == "Edm.Boolean":
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return int(value)
    if edm in ("Edm.Decimal", "Edm.Double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("expected a number")
        return float(value)
    if edm in ("Edm.Int32", "Edm.Int64"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("expected an integer")
        if edm == "Edm.Int32" and not -(2**31) <= value < 2**31:
            raise ValueError("out of range for Edm.Int32")
        return value
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


class Store:
    """Thread-safe access to the tables; every write is one transaction (all or nothing)."""

    def __init__(self, service: ServiceSpec, path: str | None = None, *, scratch: bool = False):
        """``path``: a file to keep the data in (``None``: memory); ``scratch``: the file is
        a throwaway of this process (no write-ahead log; only a bounded page cache in memory)."""
        self.service = service
        self._lock = threading.RLock()
        # Writes wait while paused (a copy of the file being made); reads go on.
        self._pauses = 0
        self._resumed = threading.Condition(self._lock)
        # A scratch file is this connection's alone: between transactions, the file is the data.
        self._own_file = path if scratch else None
        self._conn = sqlite3.connect(
            path or ":memory:", check_same_thread=False, isolation_level=None
        )
        shared = path is not None and not scratch
        # Rows of 1-2 kB: large pages hold several each (before the first table exists).
        self._conn.execute(f"PRAGMA page_size={_PAGE_BYTES}")
        self._conn.execute("PRAGMA journal_mode=WAL" if shared else "PRAGMA journal_mode=MEMORY")
        self._conn.execute("PRAGMA synchronous=OFF")
        if scratch:
            self._conn.execute(f"PRAGMA cache_size=-{_SCRATCH_CACHE_KIB}")
        self.fresh = False
        # A query's rowids in order and its count, valid while the data is unchanged: the pages
        # of one fetch then cost a slice instead of an OFFSET walk and a COUNT each, so the
        # sandbox's own CPU does not set the pace of a client measured on the same machine.
        self._remembered: OrderedDict[Hashable, list] = OrderedDict()
        self._create_tables()

    def _create_tables(self) -> None:
        with self._lock:
            existing = {
                r[0]
                for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            self.fresh = not any(name.startswith("t_") for name in existing)
            for spec in self.service.sets.values():
                if f"t_{spec.name}" not in existing:
                    self._create_table(spec, generated=True)
            self._create_indexes()

    def _create_table(self, spec: EntitySetSpec, *, generated: bool) -> None:
        """The table of ``spec``: ``_json``, the stored columns, then (with ``generated``) the
        columns read from ``_json``, which :meth:`_add_generated_columns` can add later. The
        key is unique by an index of its own (see :meth:`_indexes`), not a PRIMARY KEY: a
        bulk load drops it and builds it once at the end, instead of inserting a million
        random guids one by one."""
        cols = [column(name) for name in self.stored_names(spec)]
        if generated:
            cols += [_generated_column(name) for name in _generated_names(spec)]
        self._conn.execute(
            f"CREATE TABLE {table_name(spec)} (_json BLOB NOT NULL, {', '.join(cols)})"
        )

    def _without_generated_columns(self) -> list[EntitySetSpec]:
        """Make every empty table that has generated columns anew without them; returns those
        sets. SQLite works out a row's generated columns on insert, parsing the JSON once per
        column (a third of a bulk load's time), though a VIRTUAL column is never stored."""
        bare = []
        for spec in self.service.sets.values():
            if not _generated_names(spec):
                continue
            if self._conn.execute(f"SELECT 1 FROM {table_name(spec)} LIMIT 1").fetchone():
                continue  # rows already there: leave the table as it is
            self._conn.execute(f"DROP TABLE {table_name(spec)}")
            self._create_table(spec, generated=False)
            bare.append(spec)
        return bare

    def _add_generated_columns(self, specs: list[EntitySetSpec]) -> None:
        """Give the tables of ``specs`` their generated columns back (a change of the schema
        only: a VIRTUAL column adds nothing to the stored rows)."""
        for spec in specs:
            for name in _generated_names(spec):
                self._conn.execute(
                    f"ALTER TABLE {table_name(spec)} ADD COLUMN {_generated_column(name)}"
                )

    def _indexes(self) -> list[tuple[str, EntitySetSpec, str]]:
        """(index name, set, property) of every index: each set's key, then the others."""
        sets = self.service.sets.values()
        return [(f"k_{spec.name}", spec, spec.key) for spec in sets] + [
            (f"i_{spec.name}_{name}", spec, name)
            for spec in sets
            for name in spec.properties
            if name in _INDEXED and name != spec.key
        ]

    def _create_indexes(self, only: EntitySetSpec | None = None) -> None:
        """Build the missing indexes (of the set ``only``, if given)."""
        for index, spec, name in self._indexes():
            if only is not None and spec is not only:
                continue
            unique = "UNIQUE " if name == spec.key else ""
            self._conn.execute(
                f'CREATE {unique}INDEX IF NOT EXISTS "{index}" ON {table_name(spec)} '
                f"({column(name)})"
            )

    def indexed_properties(self, spec: EntitySetSpec) -> list[str]:
        """The properties of ``spec`` with an index of their own."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=?",
                (f"t_{spec.name}",),
            ).fetchall()
        present = {name for (name,) in rows}
        return [
            name
            for index, owner, name in self._indexes()
            if owner is spec and index in present and name != spec.key
        ]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    # Reads --------------------------------------------------------------------------------
    def select_json(
        self,
        spec: EntitySetSpec,
        where: str = "",
        params: Mapping[str, object] | None = None,
        order: str = "",
        limit: int = -1,
        offset: int = 0,
    ) -> list[bytes]:
        """Stored JSON of the matching rows, in order, ``limit``/``offset`` applied in SQL.

        ``where`` uses named parameters (``:p0``...) bound from ``params``.
        """
        # Two steps: pick the page's rowids (in order, remembered for the next pages), then
        # fetch those rows' JSON.
        table = table_name(spec)
        if where and order:
            # The filter first (by its indexes), then the order: asked at once, SQLite walks
            # the whole key order and tests every row, even for a narrow date range.
            sql = (
                f"WITH matching AS MATERIALIZED (SELECT rowid AS r FROM {table} WHERE {where}) "
                f"SELECT {table}.rowid FROM {table} JOIN matching ON {table}.rowid = matching.r"
            )
        else:
            sql = f"SELECT rowid FROM {table}" + (f" WHERE {where}" if where else "")
        if order:
            sql += f" ORDER BY {order}"
        with self._lock:
            query = ("rowids", sql, params)
            ordered = self._recall(query)
            # A filtered query is ordered whole: with LIMIT, SQLite walks the key order and tests
            # every row, which a selective filter (a date range) makes far slower.
            if ordered is None and (offset > 0 or where):
                ordered = self._remember(query, _all_rowids(self._conn, sql, params))
            if ordered is not None:
                end = None if limit < 0 else offset + limit
                rowids = ordered[offset:end]
            else:  # a first page: no need to order the whole result
                bound = {**(params or {}), "_limit": limit, "_offset": offset}
                sql += " LIMIT :_limit OFFSET :_offset"
                rowids = [r[0] for r in self._conn.execute(sql, bound)]
            if not rowids:
                return []
            found: dict[int, bytes] = {}
            for start in range(0, len(rowids), 900):
                chunk = rowids[start : start + 900]
                marks = ",".join("?" * len(chunk))
                found.update(
                    self._conn.execute(
                        f"SELECT rowid, _json FROM {table_name(spec)} WHERE rowid IN ({marks})",
                        chunk,
                    ).fetchall()
                )
        return [found[r] for r in rowids]

    def _recall(self, query: tuple) -> list | None:
        """A remembered answer to ``query`` if the data has not changed since."""
        key = self._memory_key(query)
        answer = self._remembered.get(key) if key is not None else None
        if answer is not None:
            self._remembered.move_to_end(key)
        return answer

    def _remember(self, query: tuple, answer: list) -> list:
        """Keep ``answer`` for ``query`` until the data changes; returns it."""
        key = self._memory_key(query)
        if key is not None:
            self._remembered[key] = answer
            while len(self._remembered) > _REMEMBERED_QUERIES:
                self._remembered.popitem(last=False)
        return answer

    def _memory_key(self, query: tuple) -> Hashable | None:
        kind, sql, params = query
        try:
            bound = tuple(sorted((params or {}).items()))
            hash(bound)
        except TypeError:
            return None
        # total_changes counts this connection's writes; data_version moves with other
        # connections' commits (a shared --db file).
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        return (kind, sql, bound, self._conn.total_changes, version)

    def count(
        self, spec: EntitySetSpec, where: str = "", params: Mapping[str, object] | None = None
    ) -> int:
        """How many rows match."""
        sql = f"SELECT COUNT(*) FROM {table_name(spec)}" + (f" WHERE {where}" if where else "")
        with self._lock:
            query = ("count", sql, params)
            counted = self._recall(query)
            if counted is None:
                counted = self._remember(
                    query, [self._conn.execute(sql, params or {}).fetchone()[0]]
                )
            return int(counted[0])

    def get_many(self, spec: EntitySetSpec, keys: Iterable[object]) -> dict[object, bytes]:
        """Key (in its comparable form) -> stored JSON, for the keys that exist."""
        wanted = list(dict.fromkeys(k for k in keys if k is not None))
        found: dict[object, bytes] = {}
        key_col = column(spec.key)
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = (
                    f"SELECT {key_col}, _json FROM {table_name(spec)} WHERE {key_col} IN ({marks})"
                )
                found.update(self._conn.execute(sql, chunk).fetchall())
        return found

    def get(self, spec: EntitySetSpec, key: object) -> bytes | None:
        """Stored JSON of one row, or ``None``."""
        return self.get_many(spec, [key]).get(key)

    def rows(self, spec: EntitySetSpec) -> list[dict]:
        """Every row as a dict, ordered by key."""
        return [orjson.loads(b) for b in self.select_json(spec, order=column(spec.key))]

    # Writes -------------------------------------------------------------------------------
    def stored_names(self, spec: EntitySetSpec) -> list[str]:
        """The properties with real columns, in table order."""
        return [n for n in spec.properties if is_stored(spec, n)]

    def _params(self, spec: EntitySetSpec, row: dict) -> tuple:
        values = {}
        for name, edm in spec.properties.items():
            try:
                values[name] = column_value(edm, row.get(name))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"property '{name}': {exc}") from None
        return (orjson.dumps(row), *[values[n] for n in self.stored_names(spec)])

    def _trusted_params(self, spec: EntitySetSpec, rows: list[dict]) -> list[tuple]:
        names = self.stored_names(spec)
        dumps = orjson.dumps
        if not names:
            return [(dumps(row),) for row in rows]
        # Seed rows are canonical already; bools bind as 1/0 and numbers as they are. Only
        # the date-times need their fixed-width form (about a third of them already have it).
        dates = [i + 1 for i, n in enumerate(names) if spec.properties[n] == "Edm.DateTimeOffset"]
        pick = itemgetter(*names)
        if not dates:
            if len(names) == 1:
                return [(dumps(row), pick(row)) for row in rows]
            return [(dumps(row), *pick(row)) for row in rows]
        # The lines of a quotation share its stamps: each text is made fixed-width once.
        fixed: dict[str, str] = {}
        params = []
        for row in rows:
            values = [dumps(row), *pick(row)] if len(names) > 1 else [dumps(row), pick(row)]
            for i in dates:
                text = values[i]
                if text is not None and (len(text) != 28 or text[27] != "Z"):
                    canonical = fixed.get(text)
                    if canonical is None:
                        canonical = fixed[text] = _trusted_datetime(text)
                    values[i] = canonical
            params.append(values)
        return params

    def insert(
        self,
        spec: EntitySetSpec,
        rows: Iterable[dict],
        *,
        replace: bool = False,
        trusted: bool = False,
    ) -> None:
        """Insert rows (``replace`` upserts by key); KeyError on a duplicate key, all or nothing.

        ``trusted`` rows (generated seed data) are already canonical and skip validation.
        """
        if trusted:
            params = self._trusted_params(spec, list(rows))
        else:
            params = [self._params(spec, row) for row in rows]
        stored = self.stored_names(spec)
        marks = ",".join("?" * (len(stored) + 1))
        cols = ", ".join(["_json", *(column(n) for n in stored)])
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        sql = f"{verb} INTO {table_name(spec)} ({cols}) VALUES ({marks})"
        with self._writing():
            try:
                self._conn.execute("BEGIN")
                self._conn.executemany(sql, params)
                self._conn.execute("COMMIT")
            except sqlite3.IntegrityError:
                self._conn.execute("ROLLBACK")
                raise KeyError("an entity with this key already exists") from None
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def replace_rows(self, spec: EntitySetSpec, rows: Iterable[dict]) -> None:
        """Overwrite existing rows (same keys) with new content, in one transaction."""
        self.insert(spec, rows, replace=True)

    def delete(self, spec: EntitySetSpec, keys: Iterable[object]) -> int:
        """Delete rows by (comparable) key; returns how many were removed."""
        keys = list(keys)
        removed = 0
        with self._writing():
            self._conn.execute("BEGIN")
            try:
                for key in keys:
                    cur = self._conn.execute(
                        f"DELETE FROM {table_name(spec)} WHERE {column(spec.key)} = ?", (key,)
                    )
                    removed += cur.rowcount
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return removed

    def add_property(self, spec: EntitySetSpec, name: str, edm_type: str, value: object) -> None:
        """Add a property to a set's type, with ``value`` in every row (a schema change)."""
        with self._writing():
            rows = self.rows(spec)
            spec.properties[name] = edm_type
            spec.__post_init__()
            if is_stored(spec, name):
                self._conn.execute(f"ALTER TABLE {table_name(spec)} ADD COLUMN {column(name)}")
            else:
                path = "$." + '"' + name + '"'
                self._conn.execute(
                    f"ALTER TABLE {table_name(spec)} ADD COLUMN {column(name)} "
                    f"GENERATED ALWAYS AS (json_extract(_json, '{path}')) VIRTUAL"
                )
            for row in rows:
                row[name] = value
            self.insert(spec, rows, replace=True)

    def copy_from(self, other: Store) -> None:
        """Replace this database's content with ``other``'s (SQLite online backup: fast)."""
        with other._lock, self._writing():
            other._conn.backup(self._conn)

    def pause_writes(self) -> None:
        """Make writes wait (once a write under way is over) until :meth:`resume_writes`;
        reads go on. Pauses nest, and may be resumed from another thread."""
        with self._lock:
            self._pauses += 1

    def resume_writes(self) -> None:
        """End one :meth:`pause_writes`."""
        with self._lock:
            self._pauses -= 1
            self._resumed.notify_all()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the connection for a write, once writes are not paused."""
        with self._lock:
            self._resumed.wait_for(lambda: not self._pauses)
            yield

    def save_to(self, path: str, stop: StopFlag | None = None) -> None:
        """Write this database, as it is now, to the SQLite file ``path``. A scratch file is
        copied while reads go on (writes are paused); ``stop`` ends that copy early with
        :class:`InterruptedError`, ``path`` then holding part of it."""
        self.pause_writes()
        try:
            with self._lock:
                own_file = None if self._conn.in_transaction else self._own_file
            if own_file is not None:
                # Every commit is in the file already, and no other connection writes it: a
                # copy of the file is about twice as fast as SQLite's backup at 4 GB.
                copy_file(own_file, path, stop)
                return
            target = sqlite3.connect(path)
            try:
                with self._lock:
                    self._conn.backup(target)
            finally:
                target.close()
        finally:
            self.resume_writes()

    def load(self, tenant: dict[str, list[dict]]) -> None:
        """Bulk-load generated rows into empty tables."""
        self.load_stream(tenant.items())

    def load_stream(
        self, chunks: Iterable[tuple[str, list[dict]]], interleaved: Collection[str] = ()
    ) -> None:
        """Bulk-load generated rows, (entity set, rows) chunks in order, into empty tables.

        A chunk is inserted and let go before the next is made, so a large tenant is never
        held whole in memory. A set's indexes are built once its rows are in, faster than row
        by row: when a chunk of another set comes (while the maker of the chunks makes the
        next ones), except for the sets named in ``interleaved``, whose chunks may come again
        after other sets' (those wait for the end). The columns read from ``_json`` are added
        at the end."""
        with self._writing():
            for index, _, _ in self._indexes():
                self._conn.execute(f'DROP INDEX IF EXISTS "{index}"')
            bare = self._without_generated_columns()
        try:
            previous: EntitySetSpec | None = None
            for name, rows in chunks:
                spec = self.service.sets.get(name)
                if previous is not None and spec is not previous:
                    with self._writing():
                        self._create_indexes(only=previous)
                if spec is not None and rows:
                    self.insert(spec, rows, trusted=True)
                del rows
                previous = spec if spec is not None and name not in interleaved else None
        finally:
            # Also when stopped halfway: the schema stays whole (it costs no scan of the rows).
            with self._writing():
                self._add_generated_columns(bare)
        with self._writing():
            # The sorts of CREATE INDEX on a worker thread too: the load is over, a core is free.
            self._conn.execute("PRAGMA threads=2")
            self._create_indexes()
            self._conn.execute("PRAGMA threads=0")
        _release_freed_memory()


def _release_freed_memory() -> None:
    """Hand the memory of the chunks back to the system (glibc keeps freed heap otherwise:
    about 1 GB after a scale-20 load)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to do


def _all_rowids(conn: sqlite3.Connection, sql: str, params: Mapping[str, object] | None) -> list:
    return [r[0] for r in conn.execute(sql, params or {})]
