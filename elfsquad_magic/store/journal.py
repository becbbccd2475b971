"""The write journal: every write's before-image on disk before the write is sent.

One JSON-lines file per tenant (API host and client id) under ``journal_dir``. A write appends
a ``write`` line (what it sends, and the records it touches as they were) that is flushed and
fsynced before the request leaves, then an ``outcome`` line (applied, failed, partial or
unknown, with the keys applied and created, and the records as they became). An undo is a
write of its own, and an ``undone`` line marks the write it reverted. Lines are only ever
appended, one ``write()`` each under a file lock, so two kernels can share a journal.

Files are readable by the user only (0600, folders 0700); they hold record values, never a
token or secret (the client never hands one over). Nothing here talks to the network.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import JournalError
from .folders import make_private_folders, tenant_folder

__all__ = [
    "ENV_JOURNAL_DIR",
    "Journal",
    "JournalEntry",
    "default_journal_dir",
]

ENV_JOURNAL_DIR = "ELFSQUAD_JOURNAL_DIR"
_FILE = "journal.jsonl"


def default_journal_dir() -> Path:
    """Where journals live unless told: ``$ELFSQUAD_JOURNAL_DIR``, else the user data folder."""
    configured = os.environ.get(ENV_JOURNAL_DIR, "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return platformdirs.user_data_path("elfsquad-magic") / "journal"


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="milliseconds")


@dataclass
class JournalEntry:
    """One write as the journal knows it, its outcome and whether it was undone."""

    id: str
    when: str
    method: str
    path: str
    client_id: str
    entity_set: str | None = None
    key: str | None = None  # the key property's name
    key_edm: str = "Edm.Guid"
    kind: str | None = None  # create, update, replace, delete, or the bulk action's name
    body: Any = None
    before: list[dict[str, Any]] = field(default_factory=list)  # records as they were
    undo_of: str | None = None
    outcome: str = "unknown"  # until its outcome line is written: sent, or not, unknown
    status: int | None = None
    applied: list[Any] | None = None  # keys the service took (a partial bulk write: some)
    created: list[Any] = field(default_factory=list)
    after: list[dict[str, Any]] = field(default_factory=list)  # records as the write left them
    undone_by: str | None = None
    message: str | None = None
    connection: str | None = None  # the named connection it was made through, if any

    @property
    def records(self) -> int:
        """How many records the write touched (or meant to)."""
        keys = set(self.applied or []) | {_record_key(r, self.key) for r in self.before}
        keys |= set(self.created)
        return len(keys - {None})


def _record_key(record: dict[str, Any], key: str | None) -> Any:
    return record.get(key) if key else None


class Journal:
    """The journal file of one tenant: ``<root>/<api host>/<client id>/journal.jsonl``."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        api_url: str,
        client_id: str,
        connection: str | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        self.client_id = client_id
        self.connection = connection  # written into each write's line
        self.folder = tenant_folder(self.root, api_url, client_id)
        self.host_folder = self.folder.parent
        self.path = self.folder / _FILE

    def __repr__(self) -> str:
        return f"<Journal {self.path}>"

    # -- writing ---------------------------------------------------------------------------

    def new_id(self) -> str:
        """A fresh write id: sortable by time, unique across kernels."""
        return dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)

    def begin(self, entry: JournalEntry) -> None:
        """Record a write before it is sent (flushed to disk when this returns)."""
        line = {
            "type": "write",
            "id": entry.id,
            "when": entry.when,
            "method": entry.method,
            "path": entry.path,
            "client_id": entry.client_id,
            "entity_set": entry.entity_set,
            "key": entry.key,
            "key_edm": entry.key_edm,
            "kind": entry.kind,
            "body": entry.body,
            "before": entry.before,
            "undo_of": entry.undo_of,
            "connection": entry.connection or self.connection,
        }
        self._append([line])

    def finish(
        self,
        write_id: str,
        outcome: str,
        *,
        status: int | None = None,
        applied: list[Any] | None = None,
        created: list[Any] | None = None,
        after: list[dict[str, Any]] | None = None,
        message: str | None = None,
    ) -> None:
        """Record what became of a write."""
        lines: list[dict[str, Any]] = [
            {
                "type": "outcome",
                "id": write_id,
                "when": _now(),
                "outcome": outcome,
                "status": status,
                "applied": applied,
                "created": created or [],
                "after": after or [],
                "message": message,
            }
        ]
        self._append(lines)

    def mark_undone(self, write_id: str, by: list[str]) -> None:
        """Record that the writes ``by`` reverted ``write_id``."""
        self._append([{"type": "undone", "id": write_id, "by": ",".join(by), "when": _now()}])

    def _append(self, lines: list[dict[str, Any]]) -> None:
        from filelock import FileLock

        make_private_folders(self.root, self.folder)
        text = "".join(
            json.dumps(line, default=_jsonable, ensure_ascii=False) + "\n" for line in lines
        )
        with FileLock(str(self.path) + ".lock", mode=0o600):
            descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(descriptor, text.encode())
                os.fsync(descriptor)
            finally:
                os.close(descriptor)

    # -- reading ---------------------------------------------------------------------------

    def entries(self) -> list[JournalEntry]:
        """Every write, oldest first, with its outcome; a :class:`JournalError` names a line
        that cannot be read (the file is left as it is)."""
        found: dict[str, JournalEntry] = {}
        for number, line in self._lines():
            kind = line.get("type")
            write_id = line.get("id")
            if kind == "write":
                found[write_id] = JournalEntry(
                    id=write_id,
                    when=line["when"],
                    method=line["method"],
                    path=line["path"],
                    client_id=line.get("client_id", ""),
                    entity_set=line.get("entity_set"),
                    key=line.get("key"),
                    key_edm=line.get("key_edm") or "Edm.Guid",
                    kind=line.get("kind"),
                    body=line.get("body"),
                    before=list(line.get("before") or []),
                    undo_of=line.get("undo_of"),
                    connection=line.get("connection"),
                )
            elif kind == "outcome" and write_id in found:
                entry = found[write_id]
                entry.outcome = line.get("outcome", "unknown")
                entry.status = line.get("status")
                entry.applied = line.get("applied")
                entry.created = list(line.get("created") or [])
                entry.after = list(line.get("after") or [])
                entry.message = line.get("message")
            elif kind == "undone" and write_id in found:
                found[write_id].undone_by = line.get("by")
            elif kind not in ("outcome", "undone"):
                raise self._corrupt(number, "an unknown kind of line")
        return list(found.values())

    def _lines(self) -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise JournalError(
                f"The journal {self.path} cannot be read ({exc.strerror}).",
                "Check the file's permissions.",
            ) from None
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                raise self._corrupt(number, "text that is not JSON") from None
            if not isinstance(line, dict) or "id" not in line:
                raise self._corrupt(number, "a line without an id")
            yield number, line

    def _corrupt(self, number: int, what: str) -> JournalError:
        return JournalError(
            f"Line {number} of the journal {self.path} holds {what}; nothing was changed.",
            "Look at that line (an editor, or a crash while writing it); remove or repair it, "
            "and the journal can be used again.",
        )

    def find(self, write_id: str) -> JournalEntry | None:
        """The write with this id, or ``None``."""
        return next((e for e in self.entries() if e.id == write_id), None)

    def owner_elsewhere(self, write_id: str) -> str | None:
        """Who made ``write_id`` when this journal does not hold it: the client id (and the
        connection, host) of the journal under the same root that does, else ``None``."""
        if not self.root.is_dir():
            return None
        for other in sorted(self.root.glob(f"*/*/{_FILE}")):
            folder = other.parent
            if folder == self.folder:
                continue
            try:
                text = other.read_text(encoding="utf-8")
            except OSError:
                continue
            if f'"id": "{write_id}"' in text:
                for raw in text.splitlines():
                    try:
                        line = json.loads(raw)
                    except ValueError:
                        continue
                    if line.get("id") == write_id and line.get("type") == "write":
                        owner = str(line.get("client_id") or folder.name)
                        if line.get("connection"):
                            owner += f" (connection {line['connection']})"
                        if folder.parent != self.host_folder:
                            owner += f" at {folder.parent.name}"
                        return owner
        return None

    def frame(self) -> pd.DataFrame:
        """The writes as a DataFrame: id, when, method, path, records, outcome, undone (and
        undo_of, the write an undo reverted, once there is one)."""
        rows = [
            {
                "id": e.id,
                "when": pd.Timestamp(e.when),
                "method": e.method,
                "path": e.path,
                "records": e.records,
                "outcome": e.outcome,
                "undone": e.undone_by is not None,
                "undo_of": e.undo_of or "",
            }
            for e in self.entries()
        ]
        columns = ["id", "when", "method", "path", "records", "outcome", "undone", "undo_of"]
        if not any(row["undo_of"] for row in rows):
            columns.remove("undo_of")  # no undo yet: a column of nothing says nothing
        frame = pd.DataFrame(rows, columns=columns)
        # The paths are what a reader looks for: shown whole, never cut with "...".
        frame.attrs["elfsquad"] = {"journal": str(self.path), "whole_text": ["path"]}
        return frame


def _jsonable(value: Any) -> Any:
    """JSON for the values a record may hold that ``json`` does not know."""
    if isinstance(value, (dt.datetime, dt.date, pd.Timestamp)):
        return value.isoformat()
    return str(value)
