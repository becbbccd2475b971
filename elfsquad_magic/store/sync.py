"""Bring one entity set's mirror up to date with what changed on the service.

The rules, in the order a sync applies them:

1. **Changed and new rows** by watermark: ``updatedDate gt W or createdDate gt W``. Elfsquad
   writes ``0001-01-01T00:00:00Z`` into ``updatedDate`` for a row never updated, so new rows
   are found by ``createdDate``. ``W`` is the newest stamp the service wrote into the mirrored
   rows (never this machine's clock), taken back by a look-back window: stamps are set on the
   service's servers, and a transaction can commit after a later stamp was already read. Rows
   read again are merged by key; only those whose values differ count as changed.
2. **Deleted rows**: there is no delta link, so the set's ``$count`` tells whether rows
   vanished. Which ones is found by bisecting ``createdDate`` ranges, one ``/$count`` per
   range, and listing keys (``$select=<key>``) only in ranges of about a page whose counts
   differ: about ``d * log2(pages)`` requests for ``d`` deletions.
3. A set without ``updatedDate``/``createdDate`` (or without a single key), a mirror of an
   older format, ``full=True`` and a change in the set's properties rebuild it from a full
   fetch, and the report says why.

The new table is written to a new file and renamed over the old one (:class:`.Mirror`): a
sync that fails or is killed leaves the previous mirror as it was.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..core.odata import DATA_ROOT
from ..core.request import ODataRequest
from ..core.schema import EntitySet, ServiceSchema
from ..core.settings import DEFAULT_LOOKBACK
from ..errors import ElfsquadError, MirrorError, UsageError
from ..fetch.answer import Answer
from ..fetch.options import FetchOptions
from ..fetch.tables import to_output
from .deletion_search import DeletionSearch, range_filter
from .mirror import Mirror, MirrorInfo, stamp_text, stored_form
from .mirror_tables import (
    FileReadAhead,
    count_changes,
    in_key_order,
    merge_changed,
    picked_columns,
    read_result,
    result_of,
)
from .write_plan import keys_filter

__all__ = [
    "FullRead",
    "SetReader",
    "SyncReport",
    "STAMP_PROPERTIES",
    "read_mirrored",
    "set_to_sync",
    "sync_set",
    "sync_target",
]

STAMP_PROPERTIES = ("updatedDate", "createdDate")
# Keys asked for at once when rows found missing are read by key.
_KEYS_PER_REQUEST = 40
# Rows per page when the service's page size is not known yet.
_DEFAULT_PAGE_ROWS = 500


class SetReader(Protocol):
    """What a sync needs of the request engine (``fetch.engine.Fetcher``)."""

    @property
    def calls(self) -> int:
        """API calls sent so far."""
        ...

    def fetch(self, request: ODataRequest, options: FetchOptions | None = None) -> Answer:
        """Send one request and collect its answer."""
        ...


class FullRead(Enum):
    """Why a sync read its set in full instead of what changed."""

    REQUESTED = "--full"
    NO_STAMPS = "the set has no updatedDate and createdDate"
    NO_SINGLE_KEY = "the set has no single key"
    FIRST_SYNC = "first sync"
    NO_WATERMARK = "the mirror has no watermark yet"
    PROPERTIES_CHANGED = "the set's properties changed"

    @property
    def allows_increments(self) -> bool:
        """Whether the next sync may read only what changed (the set has stamps and a key)."""
        return self not in (FullRead.NO_STAMPS, FullRead.NO_SINGLE_KEY)


@dataclass(frozen=True)
class SyncReport:
    """What one sync did: rows now, what changed, what it cost."""

    entity_set: str
    rows: int
    changed: int = 0
    new: int = 0
    deleted: int = 0
    requests: int = 0
    seconds: float = 0.0
    full: bool = False
    why: FullRead | None = None  # why the set was read in full
    full_requests: int | None = None  # what a full fetch costs (the last one's figure)
    added_columns: tuple[str, ...] = ()
    removed_columns: tuple[str, ...] = ()
    offline: bool = False
    synced_at: str | None = None
    watermark: str | None = None

    @property
    def reason(self) -> str | None:
        """Why the set was read in full, in words (``None``: it was not)."""
        if self.why is not FullRead.PROPERTIES_CHANGED:
            return self.why.value if self.why is not None else None
        said = []
        if self.added_columns:
            plural = "ies" if len(self.added_columns) > 1 else "y"
            said.append(f"new propert{plural} {', '.join(self.added_columns)}")
        if self.removed_columns:
            said.append(f"gone: {', '.join(self.removed_columns)}")
        return "; ".join(said) or self.why.value

    def as_dict(self) -> dict[str, Any]:
        """The report as plain values (for ``df.attrs``)."""
        values = asdict(self)
        values["why"] = self.why.name if self.why is not None else None
        values["reason"] = self.reason
        return values

    def __str__(self) -> str:
        head = f"{self.entity_set}: {self.rows:,} rows"
        if self.offline:
            return f"{head} from the mirror, synced {self.synced_at or 'at an unknown time'}"
        cost = f"{self.requests} request{'s' * (self.requests != 1)} in {self.seconds:.1f} s"
        if self.full:
            return f"{head} - read in full ({self.reason}) - {cost}"
        changes = f"{self.changed:,} changed, {self.new:,} new, {self.deleted:,} deleted"
        tail = f" (a full fetch takes {self.full_requests})" if self.full_requests else ""
        return f"{head} - {changes} - {cost}{tail}"


def set_to_sync(schema: ServiceSchema, name: str) -> EntitySet:
    """The entity set ``name`` (any casing), or a :class:`UsageError` with close names."""
    found = schema.find(name)
    if found is None:
        matches = schema.close_matches(name)
        raise UsageError(
            f"The Data API has no entity set {name!r} to sync.",
            f"Did you mean {', '.join(matches)}?"
            if matches
            else "%elfsquad_entities lists the entity sets.",
        )
    return found


def sync_target(
    target: str | ODataRequest, select: str | list[str] | None = None
) -> tuple[str, list[str] | None]:
    """The set name and columns a sync of ``target`` reads: a set name (with ``select``), or
    a ``GET /data/1/<Set>`` request whose only option is a ``$select`` of property names."""
    if not isinstance(target, ODataRequest):
        columns = select.split(",") if isinstance(select, str) else select
        return target.strip().strip("/").removeprefix("data/1/"), columns
    if target.method != "GET" or not target.is_data_collection:
        raise UsageError(
            "--sync reads a whole Data API entity set: GET /data/1/<Set>.",
            "For example: %elfsquad --sync GET /data/1/QuotationLines",
        )
    others = [name for name, _ in target.options if name.lower() != "$select"]
    if others:
        raise UsageError(
            f"--sync returns the whole set, so it takes no {', '.join(others)}.",
            "Filter, sort and join the synced sets with %%elfsquad_sql (DuckDB SQL over "
            "the mirror), or with pandas on the result.",
        )
    if target.option("$select") is not None and target.selected is None:
        raise UsageError(
            "--sync takes a $select of property names only.",
            "For example: $select=name,salesPrice",
        )
    return target.entity_set or "", target.selected


def read_mirrored(
    mirror: Mirror,
    name: str,
    columns: list[str] | None,
    dtype_backend: str | None,
    output: str = "pandas",
) -> tuple[Any, SyncReport]:
    """The mirrored set ``name`` (any casing) as ``output``, read once without any network,
    or a :class:`MirrorError`."""
    found_name = mirror.find(name)
    info = mirror.info(found_name) if found_name else None
    if info is None:
        raise MirrorError(
            f"There is no mirror of {name} in {mirror.folder}.",
            f"Sync it once while online: %elfsquad --sync GET /data/1/{name}",
        )
    value = read_result(mirror, info, output, dtype_backend, picked_columns(info, columns))
    report = SyncReport(
        info.entity_set, info.rows, offline=True, synced_at=info.synced_at, watermark=info.watermark
    )
    return value, report


@dataclass
class _Synced:
    """What one sync made: the mirror's info as written and the report; the set's rows when
    they are at hand (``stored``: as the file holds them; ``typed``: as a fetch gave them),
    else (nothing changed) the file is read once for the result."""

    info: MirrorInfo
    report: SyncReport
    stored: pa.Table | None = None
    typed: pa.Table | None = None

    def file_as_read(self, previous: MirrorInfo | None) -> bool:
        """Whether the sync left ``previous``'s file as it was (found nothing new, and holds
        no rows of its own): its result is that file, read."""
        return previous is not None and self.stored is None and self.typed is None

    def result(
        self, mirror: Mirror, output: str, dtype_backend: str | None, columns: list[str] | None
    ) -> Any:
        """The set (``columns`` of it, any casing) as ``output``."""
        picked = picked_columns(self.info, columns)
        if self.typed is not None:
            table = self.typed.select(picked) if picked is not None else self.typed
            return to_output(table, output, self.info.edm_types, dtype_backend)
        if self.stored is not None:
            return result_of(self.stored, self.info, output, dtype_backend, picked)
        return read_result(mirror, self.info, output, dtype_backend, picked)


def sync_set(
    reader: SetReader,
    mirror: Mirror,
    entity_set: EntitySet,
    *,
    columns: list[str] | None = None,
    full: bool = False,
    lookback: float = DEFAULT_LOOKBACK,
    dtype_backend: str | None = None,
    output: str | None = "pandas",
    workers: int = 16,
    calls_before: int | None = None,
    started: float | None = None,
) -> tuple[Any, SyncReport]:
    """Bring the mirror of ``entity_set`` up to date and return it whole (or ``columns``) as
    ``output`` (``None``: no result, the mirror only).

    ``workers`` bounds the counts asked for at once by the deletion search; ``calls_before``
    and ``started`` count in what the caller already spent (the schema)."""
    started = time.monotonic() if started is None else started
    calls_before = reader.calls if calls_before is None else calls_before
    with mirror.lock(entity_set.name), ThreadPoolExecutor(1) as ahead:
        previous = None if full else mirror.info(entity_set.name)
        early = None
        if output is not None and previous is not None and previous.incremental:
            # Used only while the file is still the one read (the lock holds).
            early = FileReadAhead(ahead, mirror, previous, output, dtype_backend, columns)
        run = _SetSync(reader, mirror, entity_set, lookback, workers, early)
        try:
            synced = run.sync(previous, full)
        except ElfsquadError as exc:
            raise _unchanged(exc, mirror, entity_set.name) from None
        except KeyboardInterrupt:
            raise MirrorError(
                f"The sync of {entity_set.name} was interrupted.",
                "The mirror is as it was before this sync; run it again.",
            ) from None
        value = None
        if output is not None and early is not None and synced.file_as_read(previous):
            value = early.result()
        elif output is not None:
            value = synced.result(mirror, output, dtype_backend, columns)
    written = synced.info
    report = replace(
        synced.report,
        requests=reader.calls - calls_before,
        seconds=round(time.monotonic() - started, 3),
        synced_at=written.synced_at,
        watermark=written.watermark,
    )
    return value, report


def _found_nothing(report: SyncReport) -> bool:
    return report.changed == 0 and report.new == 0 and report.deleted == 0


def _unchanged(exc: ElfsquadError, mirror: Mirror, name: str) -> ElfsquadError:
    """``exc`` saying the mirror was left as it was (a failed sync changes nothing)."""
    info = mirror.info(name)
    state = (
        f"The mirror of {name} is as it was (synced {info.synced_at})."
        if info is not None
        else f"No mirror of {name} was written."
    )
    exc.hint = f"{exc.hint} {state}" if exc.hint else state
    return exc


class _SetSync:
    """One sync of one set: the requests it sends and the table it writes."""

    def __init__(
        self,
        reader: SetReader,
        mirror: Mirror,
        entity_set: EntitySet,
        lookback: float,
        workers: int,
        early: FileReadAhead | None = None,
    ) -> None:
        self.reader = reader
        self.early = early
        self.mirror = mirror
        self.workers = workers
        self.entity_set = entity_set
        self.name = entity_set.name
        self.path = f"{DATA_ROOT}{entity_set.name}"
        self.edm_types = entity_set.edm_types()
        self.columns = tuple(name for name in self.edm_types if "." not in name)
        self.lookback = lookback

    # -- the two ways ---------------------------------------------------------------------

    def sync(self, previous: MirrorInfo | None, full: bool) -> _Synced:
        """Bring the file up to date; what was written, and the report (requests and seconds
        filled in later)."""
        why = self._why_full(previous, full)
        if why is not None:
            return self._full(why, previous)
        assert previous is not None
        return self._incremental(previous)

    def _why_full(self, previous: MirrorInfo | None, full: bool) -> FullRead | None:
        if full:
            return FullRead.REQUESTED
        if not all(self.edm_types.get(p) == "Edm.DateTimeOffset" for p in STAMP_PROPERTIES):
            return FullRead.NO_STAMPS
        if len(self.entity_set.key) != 1:
            return FullRead.NO_SINGLE_KEY
        if previous is None:
            return FullRead.FIRST_SYNC
        if previous.watermark is None or not previous.incremental:
            return FullRead.NO_WATERMARK
        if set(self.columns) != set(previous.columns):
            return FullRead.PROPERTIES_CHANGED
        return None

    def _get(
        self, filter_text: str | None = None, *, select: str | None = None, path: str = ""
    ) -> Any:
        """The set (or ``path`` below it) with these options, without a bar: an Arrow table
        as stored (a count: its text)."""
        options = [("$filter", filter_text)] if filter_text else []
        if select:
            options.append(("$select", select))
        request = ODataRequest.build("GET", self.path + path, options)
        if path == "/$count":
            return self.reader.fetch(request, FetchOptions(progress=False, raw=True)).value
        table = self.reader.fetch(request, FetchOptions(progress=False, output="arrow")).value
        return stored_form(table)[0]

    def _full(self, why: FullRead, previous: MirrorInfo | None) -> _Synced:
        """The whole set, read as Arrow batches that go into the new file as they come."""
        calls = self.reader.calls
        stream = self.mirror.stream(self.name)
        try:
            answer = self.reader.fetch(
                ODataRequest.build("GET", self.path), FetchOptions(output="arrow", sink=stream)
            )
            typed = answer.value.replace_schema_metadata(None)
            stored, json_columns = stored_form(typed)
            info = self._info(
                stored,
                json_columns,
                incremental=why.allows_increments,
                page_rows=math.ceil(stored.num_rows / answer.pages) if stored.num_rows else None,
                full_requests=self.reader.calls - calls,
            )
            written = stream.finish(stored, info)
        except BaseException:
            stream.abort()
            raise
        added: tuple[str, ...] = ()
        removed: tuple[str, ...] = ()
        if previous is not None:
            added = tuple(c for c in self.columns if c not in previous.columns)
            removed = tuple(c for c in previous.columns if c not in self.columns)
        report = SyncReport(
            self.name,
            stored.num_rows,
            full=True,
            why=why,
            full_requests=info.full_requests,
            added_columns=added,
            removed_columns=removed,
        )
        return _Synced(written, report, typed=typed)

    def _incremental(self, info: MirrorInfo) -> _Synced:
        """What changed since the watermark, merged in Arrow; when nothing did, the file is
        left as it is and not even read here."""
        key = self.entity_set.key[0]
        since = stamp_text(pd.Timestamp(info.watermark) - dt.timedelta(seconds=self.lookback))
        with ThreadPoolExecutor(1) as pool:
            # The set's count, asked for while the changed rows come in.
            counting = pool.submit(self._count, None)
            changed = self._get(f"updatedDate gt {since} or createdDate gt {since}")
            total = counting.result()
        changed = changed.select([c for c in info.columns if c in changed.column_names])
        json_columns = tuple(sorted(set(info.json_columns) | set(stored_form(changed)[1])))
        if changed.num_rows == 0 and total == info.rows:
            return self._nothing_new(info)
        if total == info.rows and self._all_mirrored(changed, key):
            return self._nothing_new(info)  # the look-back's rows again, as they were
        found = self.early.old_rows() if self.early is not None else None
        if found is None:
            found = self.mirror.read_table(self.name)
        if found is None:
            raise MirrorError(f"The mirror of {self.name} was dropped during the sync.")
        old = found[0]
        changed_count, new_count = count_changes(old, changed, key)
        merged = merge_changed(old, changed, key)
        deleted = 0
        if total != merged.num_rows:
            merged, deleted, missing = self._reconcile(merged, total, key, info)
            new_count += missing
        if changed_count == 0 and new_count == 0 and deleted == 0:
            return self._nothing_new(info, old)  # rows read again, the same as before
        merged = in_key_order(merged, key)
        new_info = self._info(
            merged,
            json_columns,
            incremental=True,
            page_rows=info.page_rows,
            full_requests=info.full_requests,
            watermark=_watermark(merged) or info.watermark,
        )
        report = SyncReport(
            self.name,
            merged.num_rows,
            changed=changed_count,
            new=new_count,
            deleted=deleted,
            full_requests=_full_estimate(merged.num_rows, info),
        )
        return _Synced(self.mirror.write(merged, new_info), report, stored=merged)

    def _all_mirrored(self, changed: pa.Table, key: str) -> bool:
        """Whether every row read is in the mirror just as it is. The look-back always reads
        the newest rows again: they are compared with their own copies, taken from the file
        as read ahead for the result, else read alone (the key column, then the row groups
        holding them), so an unchanged set is never read twice."""
        same = self.early.unchanged(changed, key) if self.early is not None else None
        if same is not None:  # the whole file was read for the result anyway
            return same
        mirrored = self.mirror.read_rows(self.name, key, changed.column(key))
        return mirrored is not None and count_changes(mirrored, changed, key) == (0, 0)

    def _nothing_new(self, info: MirrorInfo, old: pa.Table | None = None) -> _Synced:
        """The file stays as it is; only the time of the check is noted."""
        checked = replace(info, synced_at=self.mirror.mark_checked(self.name))
        report = SyncReport(self.name, info.rows, full_requests=_full_estimate(info.rows, info))
        return _Synced(checked, report, stored=old)

    # -- deletions ------------------------------------------------------------------------

    def _reconcile(
        self, merged: pa.Table, total: int, key: str, info: MirrorInfo
    ) -> tuple[pa.Table, int, int]:
        """Find rows deleted on the service (and rows it has that were missed) by bisecting
        ``createdDate``; returns the corrected table, deletions and rows found missing."""
        created = merged.column("createdDate").to_numpy(zero_copy_only=False)
        stamps = created.astype("datetime64[ns]").astype(np.int64)  # NaT sorts first
        order = np.argsort(stamps, kind="stable")
        keys = np.asarray(merged.column(key).to_pylist(), dtype=object)[order]
        search = DeletionSearch(
            count=self._count,
            keys_in=lambda low, high: self._keys_in(low, high, key),
            workers=self.workers,
            leaf=max(info.page_rows or _DEFAULT_PAGE_ROWS, 10),
        )
        gone, missing = search.run(stamps[order], keys, total)
        if gone:
            merged = merged.filter(pc.invert(pc.is_in(merged.column(key), pa.array(list(gone)))))
        if missing:
            rows = self._rows_by_key(sorted(missing), key, list(merged.column_names))
            merged = merge_changed(merged, rows, key)
        return merged, len(gone), len(missing)

    def _keys_in(self, low: int | None, high: int | None, key: str) -> Iterable[Any]:
        table = self._get(range_filter(low, high), select=key)
        return table.column(key).to_pylist() if table.num_rows else []

    def _rows_by_key(self, keys: list[Any], key: str, columns: list[str]) -> pa.Table:
        pieces = []
        edm = self.edm_types.get(key, "Edm.String")
        for start in range(0, len(keys), _KEYS_PER_REQUEST):
            chunk = keys[start : start + _KEYS_PER_REQUEST]
            table = self._get(keys_filter(key, chunk, edm))
            pieces.append(table.select([c for c in columns if c in table.column_names]))
        return pa.concat_tables(pieces, promote_options="permissive")

    def _count(self, filter_text: str | None) -> int:
        answer = self._get(filter_text, path="/$count")
        try:
            return int(answer)
        except (TypeError, ValueError):
            raise MirrorError(
                f"The service answered {self.path}/$count with {str(answer)[:40]!r}, not a number.",
                "Sync in full: %elfsquad --sync --full GET " + self.path,
            ) from None

    # -- helpers --------------------------------------------------------------------------

    def _info(
        self,
        table: pa.Table,
        json_columns: tuple[str, ...],
        *,
        incremental: bool,
        page_rows: int | None,
        full_requests: int | None,
        watermark: str | None = None,
    ) -> MirrorInfo:
        return MirrorInfo(
            entity_set=self.name,
            key=tuple(self.entity_set.key),
            edm_types=self.edm_types,
            columns=tuple(table.column_names),
            json_columns=tuple(c for c in json_columns if c in table.column_names),
            watermark=watermark if watermark is not None else _watermark(table),
            synced_at=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            incremental=incremental,
            page_rows=page_rows,
            full_requests=full_requests,
            rows=table.num_rows,
        )


def _watermark(table: pa.Table) -> str | None:
    """The newest stamp the service wrote into these rows (0001-01-01 is no stamp)."""
    newest = None
    for name in STAMP_PROPERTIES:
        if name not in table.column_names or table.num_rows == 0:
            continue
        value = pc.max(table.column(name)).as_py()
        if value is not None:
            value = pd.Timestamp(value)
            newest = value if newest is None or value > newest else newest
    if newest is None:
        return None
    return stamp_text(newest)


def _full_estimate(rows: int, info: MirrorInfo) -> int | None:
    """Requests a full fetch of ``rows`` rows takes (pages, plus its closing count)."""
    if not info.page_rows:
        return info.full_requests
    return math.ceil(rows / info.page_rows) + 1 if rows else 1
