"""Writes you can trust: the records a write touches are read and journaled before it is sent.

:class:`JournaledWriter` runs one write over the request engine: it plans it
(:mod:`.write_plan`), reads the records it changes or removes (their before-image), appends them
to the journal (flushed to disk), sends the write (``If-Match`` with the ETag this session
read, when there is one), reads the records again (their after-image) and appends the
outcome. A bulk action goes in chunks of ``bulk_size`` with a progress bar; a chunk that fails
stops the write with a :class:`PartialWriteError` that says which records were applied.
``dry_run`` and ``preview`` read (or not even that) and never write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn, Protocol

import pandas as pd

from ..core.odata import DATA_ROOT, ETAG
from ..core.request import ODataRequest
from ..core.schema import ServiceSchema
from ..errors import (
    ConnectionFailedError,
    ElfsquadError,
    ElfsquadHTTPError,
    PartialWriteError,
    UsageError,
)
from ..fetch.answer import Answer
from ..fetch.etags import ETagMemory
from ..fetch.options import FetchOptions
from ..fetch.progress import BarFactory, ProgressSpec, RowProgress
from .journal import Journal, JournalEntry
from .write_plan import (
    IDEMPOTENT_ACTIONS,
    WritePlan,
    bulk_body,
    change_frame,
    dry_run_text,
    keys_filter,
    plan_write,
    with_new_keys,
    written_set,
)

__all__ = ["JournaledWriter", "KEYS_PER_READ", "WriteEngine"]

# Records read per request when before- and after-images are taken (an `in (...)` filter):
# 40 guids keep the query string under 2,048 characters, IIS's default limit.
KEYS_PER_READ = 40
_CREATING = ("BulkInsert", "BulkUpsert")


class WriteEngine(Protocol):
    """What a journaled write needs of the request engine (``fetch.engine.Fetcher``)."""

    api_url: str
    etags: ETagMemory

    def fetch(self, request: ODataRequest, options: FetchOptions | None = None) -> Answer:
        """Send one request and collect its answer."""
        ...

    def schema(self) -> ServiceSchema:
        """The Data API's schema (cached)."""
        ...

    def require_login(self) -> None:
        """Raise ``NotLoggedInError`` unless logged in."""


class JournaledWriter:
    """Writes through the journal, over one engine, for one client's journal."""

    def __init__(
        self,
        engine: WriteEngine,
        journal: Callable[[], Journal],
        *,
        bulk_size: int = 500,
        progress: ProgressSpec = True,
        bar_factory: BarFactory | None = None,
    ) -> None:
        self.engine = engine
        self.journal = journal  # the journal is found when a write is made (it needs a login)
        self.bulk_size = bulk_size
        self.progress = progress
        self.bar_factory = bar_factory
        self.last_id: str | None = None  # the journal id of the last write sent

    # -- planning -------------------------------------------------------------------------

    def plan(self, request: ODataRequest) -> tuple[ODataRequest, WritePlan]:
        """The request as it will be sent (a bulk body wrapped, new keys filled in) and its
        plan. Outside the Data API the plan names no records."""
        found = None
        name = written_set(request) if request.is_data_api else None
        if name is not None:
            try:
                found = self.engine.schema().find(name)
            except ElfsquadError:
                found = None  # no schema: the write is journaled without before-images
        if found is None or len(found.key) != 1:
            return request, plan_write(request, None, None)
        key = found.key[0]
        key_edm = found.edm_types().get(key, "Edm.String")
        plan = plan_write(request, found.name, key, key_edm)
        if plan.is_bulk:
            body = bulk_body(plan.kind, request.body, key, found.edm_types())
            body = with_new_keys(body, plan.kind, key, key_edm)
            request = ODataRequest.build(request.method, request.path, request.options, body)
            plan = plan_write(request, found.name, key, key_edm)
        return request, plan

    def dry_run(self, request: ODataRequest) -> str:
        """The text of ``--dry-run``: nothing is read or sent (the schema aside)."""
        if request.method == "GET":
            return dry_run_text(request, self.engine.api_url, None)
        request, plan = self.plan(request)
        return dry_run_text(request, self.engine.api_url, plan)

    def preview(self, request: ODataRequest) -> pd.DataFrame:
        """The change the write would make; the records are read, nothing is written."""
        request, plan = self.plan(request)
        if plan.entity_set is None or plan.kind not in (
            "update",
            "replace",
            "delete",
            "create",
            "BulkInsert",
            "BulkUpdate",
            "BulkUpsert",
            "BulkDelete",
        ):
            raise UsageError(
                f"--preview shows the change of a Data API write; {request.method} "
                f"{request.api_path} is not one.",
                "Use it on PATCH/PUT/DELETE of one record, or a bulk action; --dry-run shows "
                "any request.",
            )
        targets = plan.targets
        if plan.kind in ("BulkUpdate", "BulkUpsert"):
            targets = tuple(plan.key_of(body) for body in plan.bodies)
        before = self.read_records(plan, targets)
        return change_frame(plan, before)

    # -- reading records ------------------------------------------------------------------

    def read_records(self, plan: WritePlan, keys: Iterable[Any]) -> dict[Any, dict[str, Any]]:
        """The records with these keys as the service has them now (absent ones left out)."""
        wanted = [k for k in dict.fromkeys(keys) if k is not None]
        found: dict[Any, dict[str, Any]] = {}
        path = f"{DATA_ROOT}{plan.entity_set}"
        for start in range(0, len(wanted), KEYS_PER_READ):
            chunk = wanted[start : start + KEYS_PER_READ]
            where = keys_filter(plan.key or "", chunk, plan.key_edm)
            request = ODataRequest.build("GET", path, [("$filter", where)])
            options = FetchOptions(raw=True, paginate=False, progress=False)
            payload = self.engine.fetch(request, options).value
            for record in (payload or {}).get("value", []) if isinstance(payload, dict) else []:
                found[plan.key_of(record)] = record
        return found

    # -- writing --------------------------------------------------------------------------

    def send(
        self,
        request: ODataRequest,
        *,
        raw: bool = False,
        progress: ProgressSpec | None = None,
        undo_of: str | None = None,
    ) -> Answer:
        """Run the write with its journal entries; returns the write's answer (for a bulk
        action: the last chunk's, without a value)."""
        self.engine.require_login()  # before any journal line: nothing was tried yet
        request, plan = self.plan(request)
        journal = self.journal()
        before = self.read_records(plan, plan.targets) if plan.entity_set else {}
        entry = JournalEntry(
            id=journal.new_id(),
            when=dt.datetime.now().astimezone().isoformat(timespec="milliseconds"),
            method=request.method,
            path=request.api_path + (f"?{request.query}" if request.query else ""),
            client_id=journal.client_id,
            entity_set=plan.entity_set,
            key=plan.key,
            key_edm=plan.key_edm,
            kind=plan.kind,
            body=request.body,
            before=list(before.values()),
            undo_of=undo_of,
        )
        journal.begin(entry)  # on disk before the write leaves
        self.last_id = entry.id
        if plan.is_bulk:
            return self._bulk(request, plan, entry, progress, journal)
        # An undo checked the records itself (or was forced): the ETag it just read holds.
        headers = self._if_match(plan, before, session=undo_of is None)
        try:
            answer = self.engine.fetch(request, FetchOptions(raw=raw, headers=headers))
        except ElfsquadHTTPError as exc:
            journal.finish(entry.id, "failed", status=exc.status, message=exc.message[:300])
            raise
        except (ElfsquadError, KeyboardInterrupt) as exc:
            # A broken connection, an unreadable answer: whether the write was made is unknown.
            journal.finish(entry.id, "unknown", message=type(exc).__name__)
            raise
        created = self._created_keys(plan, answer.value)
        touched = [*plan.targets, *created]
        after = self.read_records(plan, touched) if plan.entity_set else {}
        self._remember_etags(plan, after, gone=plan.targets if plan.kind == "delete" else ())
        journal.finish(
            entry.id,
            "applied",
            status=answer.status,
            applied=list(plan.targets) + created,
            created=created,
            after=list(after.values()),
        )
        return answer

    def _if_match(
        self, plan: WritePlan, before: Mapping[Any, Mapping[str, Any]], session: bool = True
    ) -> dict | None:
        """``If-Match`` for a write to one record: the ETag this session read it with, else
        the one just read (so the before-image is what the write replaces)."""
        if plan.kind not in ("update", "replace", "delete") or plan.entity_set is None:
            return None
        target = plan.targets[0]
        etag = self.engine.etags.get(plan.entity_set, target) if session else None
        if etag is None:
            etag = (before.get(target) or {}).get(ETAG)
        return {"If-Match": etag} if etag else None

    def _created_keys(self, plan: WritePlan, result: Any) -> list[Any]:
        if plan.kind != "create" or plan.key is None:
            return []
        if isinstance(result, pd.DataFrame) and plan.key in result.columns and len(result):
            return [plan.key_of({plan.key: result[plan.key].iloc[0]})]
        if isinstance(result, Mapping) and result.get(plan.key) is not None:
            return [plan.key_of(result)]
        body = plan.bodies[0] if plan.bodies else {}
        return [plan.key_of(body)] if body.get(plan.key) is not None else []

    def _remember_etags(
        self, plan: WritePlan, after: Mapping[Any, Mapping[str, Any]], gone: Iterable[Any] = ()
    ) -> None:
        if plan.entity_set is None:
            return
        for key in gone:
            self.engine.etags.forget(plan.entity_set, key)
        keys = list(after)
        self.engine.etags.remember(plan.entity_set, keys, [after[k].get(ETAG) for k in keys])

    # -- bulk actions ---------------------------------------------------------------------

    def _bulk(
        self,
        request: ODataRequest,
        plan: WritePlan,
        entry: JournalEntry,
        progress: ProgressSpec | None,
        journal: Journal,
    ) -> Answer:
        field = "identifiers" if plan.kind == "BulkDelete" else "entities"
        items = list((request.body or {}).get(field) or [])
        size = max(1, int(self.bulk_size))
        chunks = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
        run = _ChunkRun(chunks)
        bar = RowProgress(self.progress if progress is None else progress, self.bar_factory)
        bar.start(len(items))
        try:
            for run.done, chunk in enumerate(chunks):
                chunk_request = ODataRequest.build(
                    "POST", request.path, request.options, {field: chunk}
                )
                options = FetchOptions(raw=True, idempotent=plan.kind in IDEMPOTENT_ACTIONS)
                run.answer = self.engine.fetch(chunk_request, options)
                run.applied.extend(self._chunk_keys(plan, chunk))
                bar.update(len(chunk))
            run.done = len(chunks)
        except (ElfsquadError, KeyboardInterrupt) as exc:
            run.failure = exc
        finally:
            bar.close()
        existed = {plan.key_of(r) for r in entry.before}  # BulkInsert: none
        created = [k for k in run.applied if k not in existed] if plan.kind in _CREATING else []
        after = {} if plan.kind == "BulkDelete" else self.read_records(plan, run.applied)
        self._remember_etags(plan, after, gone=run.applied if plan.kind == "BulkDelete" else ())
        if run.failure is None:
            after_images = list(after.values())
            journal.finish(
                entry.id, "applied", applied=run.applied, created=created, after=after_images
            )
            assert run.answer is not None
            run.answer.value = None
            return run.answer
        self._stopped(run, plan, entry, journal, created, list(after.values()), len(items))

    def _stopped(
        self,
        run: _ChunkRun,
        plan: WritePlan,
        entry: JournalEntry,
        journal: Journal,
        created: list[Any],
        after: list[dict[str, Any]],
        total: int,
    ) -> NoReturn:
        """Journal a bulk write that stopped part-way, and raise what says how far it got."""
        failure, done, applied = run.failure, run.done, run.applied
        unknown_chunk = isinstance(failure, (ConnectionFailedError, KeyboardInterrupt))
        unknown = self._chunk_keys(plan, run.chunks[done]) if unknown_chunk else []
        unsent = run.chunks[done + 1 :] if unknown_chunk else run.chunks[done:]
        not_applied = [k for chunk in unsent for k in self._chunk_keys(plan, chunk)]
        outcome = "partial" if applied or unknown else "failed"
        message = getattr(failure, "message", None) or type(failure).__name__
        journal.finish(
            entry.id,
            outcome,
            status=getattr(failure, "status", None),
            applied=applied,
            created=created,
            after=after,
            message=str(message)[:300],
        )
        if outcome == "failed" and not isinstance(failure, KeyboardInterrupt):
            assert isinstance(failure, ElfsquadError)
            failure.hint = (
                f"{failure.hint} Nothing was written (write {entry.id})."
                if failure.hint
                else f"Nothing was written (write {entry.id})."
            )
            raise failure
        told = f"{len(applied):,} of {total:,} records were written, {len(not_applied):,} not"
        if unknown:
            told += f", and whether {len(unknown):,} were is unknown (the connection broke)"
        raise PartialWriteError(
            f"{plan.kind} stopped at chunk {done + 1} of {len(run.chunks)}: {message}. {told}.",
            f"%elfsquad_undo {entry.id} reverts the part that was written; or fix the failing "
            "records and send the rest.",
            write_id=entry.id,
            applied=applied,
            not_applied=not_applied,
            unknown=unknown,
        ) from None

    def _chunk_keys(self, plan: WritePlan, chunk: list[Any]) -> list[Any]:
        if plan.kind == "BulkDelete":
            return [plan.key_of({plan.key or "": k}) for k in chunk]
        return [plan.key_of(e) for e in chunk if isinstance(e, Mapping)]


class _ChunkRun:
    """How far a bulk write got: the chunk it was at, the keys applied, the last answer and
    what stopped it."""

    def __init__(self, chunks: list[list[Any]]) -> None:
        self.chunks = chunks
        self.done = 0
        self.applied: list[Any] = []
        self.answer: Answer | None = None
        self.failure: BaseException | None = None
