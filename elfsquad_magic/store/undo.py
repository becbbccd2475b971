"""``%elfsquad_undo``: revert a journaled write from its before-images.

Each kind of write has its inverse: changed properties are patched back (a PUT is answered by
a PUT of the whole earlier record), deleted records are re-created with their keys and values,
created records are deleted; a bulk action is answered by bulk actions over the records it
applied (a partial write: only those). Before anything is sent the records are read again: one
that someone changed since the write (its ETag, or its values, differ from the after-image the
journal holds) stops the undo with a :class:`ConflictError`, unless ``force``. The undo is a
journaled write itself, so it can be undone in turn (a redo).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..core.odata import DATA_ROOT, ETAG
from ..core.request import ODataRequest
from ..errors import ConflictError, ElfsquadError, JournalError
from .journal import Journal, JournalEntry
from .write_plan import READ_ONLY, WritePlan, key_literal, strip_annotations
from .writer import JournaledWriter

__all__ = ["undo_write", "inverse_requests", "find_write"]

_UNDOABLE = ("applied", "partial")


def find_write(journal: Journal, write_id: str | None) -> JournalEntry:
    """The write to undo: ``write_id``, or the latest write not yet undone (an undo itself is
    only undone when named: that is a redo)."""
    entries = journal.entries()
    if write_id is None:
        candidates = [
            e for e in entries if e.outcome in _UNDOABLE and e.undone_by is None and not e.undo_of
        ]
        if not candidates:
            raise JournalError(
                "There is no write to undo in this client's journal.",
                "%elfsquad_journal lists the writes made through this client.",
            )
        entry = candidates[-1]
    else:
        found = next((e for e in entries if e.id == write_id.strip()), None)
        if found is None:
            owner = journal.owner_elsewhere(write_id.strip())
            if owner is not None:
                here = journal.client_id + (
                    f" (connection {journal.connection})" if journal.connection else ""
                )
                raise JournalError(
                    f"Write {write_id} was made by the client {owner}, not {here}; it is "
                    "undone on the connection that made it.",
                    "Undo it there: %elfsquad_undo ID --connection NAME (or log in as that "
                    "client).",
                )
            raise JournalError(
                f"There is no write {write_id} in the journal of {journal.client_id}.",
                "%elfsquad_journal lists the writes and their ids.",
            )
        entry = found
    if entry.undone_by is not None:
        raise JournalError(
            f"Write {entry.id} was already undone (by {entry.undone_by}).",
            f"To make it again, undo the undo: %elfsquad_undo {entry.undone_by.split(',')[0]}",
        )
    if entry.outcome == "failed":
        raise JournalError(
            f"Write {entry.id} failed and changed nothing; there is nothing to undo."
        )
    if entry.outcome not in _UNDOABLE:
        raise JournalError(
            f"Whether write {entry.id} reached the service is not known (the connection broke "
            "before its answer).",
            "Read the records to see; write them back by hand if needed.",
        )
    if entry.entity_set is None or entry.key is None:
        raise JournalError(
            f"Write {entry.id} ({entry.method} {entry.path}) is not a Data API write of records "
            "with a key, so it cannot be undone.",
        )
    return entry


def _plan(entry: JournalEntry) -> WritePlan:
    """A plan that only names the set, for reading its records."""
    request = ODataRequest.build("GET", f"{DATA_ROOT}{entry.entity_set}")
    return WritePlan(request, entry.entity_set, entry.key, "read", key_edm=entry.key_edm)


def _restorable(record: Mapping[str, Any], drop: tuple[str, ...] = READ_ONLY) -> dict[str, Any]:
    return {k: v for k, v in strip_annotations(record).items() if k not in drop}


def inverse_requests(entry: JournalEntry) -> list[ODataRequest]:
    """The requests that revert ``entry`` (applied records only)."""
    plan = _plan(entry)
    key = entry.key or ""
    path = f"{DATA_ROOT}{entry.entity_set}"
    before = {plan.key_of(r): r for r in entry.before}
    applied = list(entry.applied or [])
    created = set(entry.created)

    def at(record_key: Any) -> str:
        return f"{path}({key_literal(record_key, entry.key_edm)})"

    def sent_properties(body: Any) -> list[str]:
        names = body.keys() if isinstance(body, Mapping) else []
        return [n for n in names if not n.startswith("@odata.") and n != key and n not in READ_ONLY]

    kind = entry.kind
    if kind == "update":
        target = applied[0]
        old = before.get(target, {})
        body = {name: old.get(name) for name in sent_properties(entry.body)}
        return [ODataRequest.build("PATCH", at(target), None, body)]
    if kind == "replace":
        target = applied[0]
        return [ODataRequest.build("PUT", at(target), None, _restorable(before[target]))]
    if kind == "delete":
        target = applied[0]
        record = _restorable(before[target], ("updatedDate",))
        return [ODataRequest.build("POST", path, None, record)]
    if kind == "create":
        return [ODataRequest.build("DELETE", at(k)) for k in entry.created]
    bodies = {}
    if isinstance(entry.body, Mapping):
        for item in entry.body.get("entities") or []:
            if isinstance(item, Mapping):
                bodies[plan.key_of(item)] = item
    restore = [k for k in applied if k in before and k not in created]
    remove = [k for k in applied if k in created or kind == "BulkInsert"]
    steps = []
    if kind in ("BulkUpdate", "BulkUpsert") and restore:
        entities = [
            {key: k, **{n: before[k].get(n) for n in sent_properties(bodies.get(k, {}))}}
            for k in restore
        ]
        steps.append(
            ODataRequest.build("POST", f"{path}/Default.BulkUpdate", None, {"entities": entities})
        )
    if kind in ("BulkInsert", "BulkUpsert") and remove:
        steps.append(
            ODataRequest.build("POST", f"{path}/Default.BulkDelete", None, {"identifiers": remove})
        )
    if kind == "BulkDelete":
        entities = [_restorable(before[k], ("updatedDate",)) for k in applied if k in before]
        steps.append(
            ODataRequest.build("POST", f"{path}/Default.BulkInsert", None, {"entities": entities})
        )
    return steps


def changed_since(writer: JournaledWriter, entry: JournalEntry) -> list[Any]:
    """Keys of the records someone changed since ``entry`` (compared with its after-images)."""
    plan = _plan(entry)
    keys = list(dict.fromkeys([*(entry.applied or []), *entry.created]))
    current = writer.read_records(plan, keys)
    after = {plan.key_of(r): r for r in entry.after}
    removed = entry.kind in ("delete", "BulkDelete")
    conflicts = []
    for record_key in keys:
        now = current.get(record_key)
        if removed:
            if now is not None:
                conflicts.append(record_key)  # created again since
            continue
        if now is None:
            conflicts.append(record_key)  # deleted since
            continue
        then = after.get(record_key)
        if then is None:
            continue
        if now.get(ETAG) and then.get(ETAG):
            if now[ETAG] != then[ETAG]:
                conflicts.append(record_key)
        elif _restorable(now, ("updatedDate",)) != _restorable(then, ("updatedDate",)):
            conflicts.append(record_key)
    return conflicts


def undo_write(
    writer: JournaledWriter,
    journal: Journal,
    write_id: str | None,
    *,
    force: bool = False,
    dry_run: bool = False,
    preview: bool = False,
) -> Any:
    """Revert a write (see the module docstring); returns a one-line summary, or with
    ``dry_run`` the requests' text and with ``preview`` the change as a frame."""
    entry = find_write(journal, write_id)
    steps = inverse_requests(entry)
    if dry_run:
        head = f"Undo of write {entry.id} ({entry.method} {entry.path}):"
        return "\n".join([head, *(writer.dry_run(step) for step in steps)])
    if preview:
        frames = [writer.preview(step) for step in steps]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not force:
        conflicts = changed_since(writer, entry)
        if conflicts:
            shown = ", ".join(map(str, conflicts[:5])) + (" ..." if len(conflicts) > 5 else "")
            raise ConflictError(
                f"{len(conflicts)} record(s) of write {entry.id} changed since it was made: "
                f"{shown}. Nothing was undone.",
                "--preview shows what the undo would write; --force undoes it anyway, "
                "overwriting those later changes.",
                records=conflicts,
                status=409,
                method=entry.method,
                url=entry.path,
            )
    done: list[str] = []
    for step in steps:
        try:
            writer.send(step, undo_of=entry.id)
        except ElfsquadError as exc:
            if done:
                exc.hint = (
                    f"{exc.hint or ''} Part of the undo was applied ({', '.join(done)}); "
                    "%elfsquad_journal shows it."
                ).strip()
            raise
        done.append(writer.last_id or "")
    journal.mark_undone(entry.id, done)
    records = len(set(entry.applied or []) | set(entry.created))
    return f"Undid write {entry.id} ({entry.method} {entry.path}): {records} record(s) restored."
