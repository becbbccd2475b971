"""What a write will do, before it is sent: its plan, its dry run and its preview.

A :class:`WritePlan` says which Data API records a write touches (the key in the path, or
the keys in a bulk action's ``entities``/``identifiers``) and what it sends to each. The
client reads those records first (their before-image, for the journal and the preview), and
undo turns a journaled plan around. Nothing here talks to the network.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..core.literals import to_json_compatible
from ..core.odata import EDM_INTEGERS
from ..core.request import ODataRequest
from ..errors import UsageError

__all__ = [
    "BULK_ACTIONS",
    "IDEMPOTENT_ACTIONS",
    "WritePlan",
    "plan_write",
    "bulk_body",
    "dry_run_text",
    "change_frame",
    "key_value",
    "strip_annotations",
    "with_new_keys",
    "bulk_action",
    "written_set",
    "READ_ONLY",
    "key_literal",
    "keys_filter",
]

BULK_ACTIONS = ("BulkInsert", "BulkUpdate", "BulkUpsert", "BulkDelete")
# Sent twice, these leave the data as sent once: a chunk of them may be retried after a cut
# connection. BulkInsert would fail on the keys it created; BulkDelete on the keys it removed.
IDEMPOTENT_ACTIONS = ("BulkUpdate", "BulkUpsert")
# Set by the service on every write; never sent back by an undo.
READ_ONLY = ("createdDate", "updatedDate", "creatorId", "organizationId")
_SHOWN_BODY_CHARS = 2000


@dataclass(frozen=True)
class WritePlan:
    """The records one write touches and what it sends to each."""

    request: ODataRequest
    entity_set: str | None  # the Data API set as the service names it; None: another API
    key: str | None  # the key property
    kind: str  # create, update, replace, delete, or a bulk action's name
    targets: tuple[Any, ...] = ()  # keys of records the write changes or removes
    bodies: tuple[dict[str, Any], ...] = ()  # per record (bulk entities, or the one body)
    key_edm: str = "Edm.Guid"

    def key_of(self, record: Mapping[str, Any]) -> Any:
        """The key of a record (or body) as the plan's targets hold it."""
        return _as_key(record.get(self.key or ""), self.key_edm)

    @property
    def is_bulk(self) -> bool:
        """Whether this is one of the ``Default.Bulk*`` actions."""
        return self.kind in BULK_ACTIONS

    @property
    def records(self) -> int:
        """How many records it sends or names."""
        return max(len(self.targets), len(self.bodies), 1 if self.kind == "create" else 0)


_BULK_PATH = re.compile(
    r"^/data/1/(?P<set>[A-Za-z_]\w*)/(?:default\.)?(?P<action>bulk\w+)/?$", re.I
)


def bulk_action(request: ODataRequest) -> str | None:
    """The bulk action a request posts to (``.../Default.BulkUpdate``, ``.../bulkupdate``)."""
    match = _BULK_PATH.match(request.api_path) if request.method == "POST" else None
    if match is None:
        return None
    name = match.group("action").lower()
    return next((a for a in BULK_ACTIONS if a.lower() == name), None)


def written_set(request: ODataRequest) -> str | None:
    """The entity set a Data API write names: ``Set``, ``Set(key)`` or ``Set/BulkUpdate``."""
    if request.entity_set is not None:
        return request.entity_set
    match = _BULK_PATH.match(request.api_path)
    return match.group("set") if match and bulk_action(request) else None


def key_value(text: str, edm_type: str) -> Any:
    """A key as written in a path (``'a b'``, ``42``, a guid) as the value records hold."""
    text = text.strip()
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if edm_type in ("Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte"):
        try:
            return int(text)
        except ValueError:
            return text
    if edm_type == "Edm.Guid":
        return text.lower()
    return text


def bulk_body(action: str, value: Any, key: str, edm_types: Mapping[str, str] | None = None) -> Any:
    """A bulk action's body from what the user gave: a DataFrame, a list of records or keys,
    or the body itself; records are wrapped as ``{"entities": [...]}``, BulkDelete's keys as
    ``{"identifiers": [...]}``."""
    field = "identifiers" if action == "BulkDelete" else "entities"
    if isinstance(value, Mapping) and field in value:
        return to_json_compatible(value)
    if action == "BulkDelete":
        if isinstance(value, pd.DataFrame):
            if key not in value.columns:
                raise UsageError(
                    f"BulkDelete needs the key column {key!r}; the DataFrame has "
                    f"{', '.join(map(str, value.columns[:8]))}.",
                    f"Pass the keys: a DataFrame with a {key} column, or a list of keys.",
                )
            value = value[key].tolist()
        elif isinstance(value, pd.Series):
            value = value.tolist()
        keys = [v.get(key) if isinstance(v, Mapping) else v for v in value]
        return {field: to_json_compatible(keys)}
    records = to_json_compatible(value)  # a DataFrame becomes records, NaN null, times ISO Z
    if isinstance(records, dict):
        records = [records]
    integers = {n for n, t in (edm_types or {}).items() if t in EDM_INTEGERS}
    if integers:
        # pandas turns an integer column with a gap into floats: 3.0 goes back as 3.
        records = [
            {
                n: int(v) if n in integers and isinstance(v, float) and v.is_integer() else v
                for n, v in r.items()
            }
            if isinstance(r, dict)
            else r
            for r in records
        ]
    return {field: records}


def plan_write(
    request: ODataRequest,
    entity_set: str | None,
    key: str | None,
    key_edm: str = "Edm.Guid",
) -> WritePlan:
    """The plan of ``request`` (a POST, PATCH, PUT or DELETE); ``entity_set`` and ``key`` are
    the set's names from the schema, or ``None`` outside the Data API."""
    method = request.method
    if entity_set is None or key is None:
        return WritePlan(request, None, None, method.lower())
    action = bulk_action(request)
    if action is not None:
        body = request.body if isinstance(request.body, Mapping) else {}
        if action == "BulkDelete":
            targets = tuple(_as_key(k, key_edm) for k in body.get("identifiers") or [])
            return WritePlan(request, entity_set, key, action, targets, (), key_edm)
        bodies = tuple(e for e in body.get("entities") or [] if isinstance(e, Mapping))
        targets = tuple(
            _as_key(e[key], key_edm)
            for e in bodies
            if e.get(key) is not None and action != "BulkInsert"
        )
        return WritePlan(request, entity_set, key, action, targets, bodies, key_edm)
    body = request.body if isinstance(request.body, Mapping) else {}
    if request.key is None:
        if method == "POST":
            return WritePlan(request, entity_set, key, "create", (), (dict(body),), key_edm)
        return WritePlan(request, entity_set, key, method.lower(), key_edm=key_edm)
    target = key_value(request.key, key_edm)
    kind = {"PATCH": "update", "PUT": "replace", "DELETE": "delete"}.get(method, method.lower())
    bodies = (dict(body),) if body else ()
    return WritePlan(request, entity_set, key, kind, (target,), bodies, key_edm)


def _as_key(value: Any, edm_type: str) -> Any:
    return str(value).lower() if edm_type == "Edm.Guid" and value is not None else value


def with_new_keys(body: Any, action: str, key: str, key_edm: str) -> Any:
    """A BulkInsert/BulkUpsert body whose entities without a key get a new guid, so the
    journal knows which records the write created."""
    if action not in ("BulkInsert", "BulkUpsert") or key_edm != "Edm.Guid":
        return body
    entities = body.get("entities") if isinstance(body, Mapping) else None
    if not isinstance(entities, list):
        return body
    filled = [
        {**e, key: str(uuid.uuid4())} if isinstance(e, Mapping) and e.get(key) is None else e
        for e in entities
    ]
    return {**body, "entities": filled}


def key_literal(value: Any, edm_type: str) -> str:
    """A key as an OData literal; a guid is written bare (quoted, the service would compare
    it to a string)."""
    from ..core.literals import to_odata_literal

    return str(value) if edm_type == "Edm.Guid" else to_odata_literal(value)


def keys_filter(key: str, keys: Sequence[Any], edm_type: str) -> str:
    """``$filter`` for the records with these keys: ``key eq x``, or ``key in (x,y,...)``
    (a one-item list is not read as a list by every OData parser)."""
    literals = [key_literal(k, edm_type) for k in keys]
    if len(literals) == 1:
        return f"{key} eq {literals[0]}"
    return f"{key} in ({','.join(literals)})"


def strip_annotations(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record without its ``@odata.*`` annotations."""
    return {k: v for k, v in record.items() if not k.startswith("@odata.")}


def dry_run_text(request: ODataRequest, api_url: str, plan: WritePlan | None) -> str:
    """What ``--dry-run`` shows: the method and decoded URL, the body (pretty-printed, cut
    when long) and how many records it names. Nothing is sent."""
    from urllib.parse import unquote

    lines = [f"Dry run - nothing was sent: {request.method} {unquote(request.url(api_url))}"]
    if plan is not None and plan.entity_set is not None and request.method != "GET":
        lines.append(f"{plan.kind} of {plan.records:,} {plan.entity_set} record(s)")
    if request.upload is not None:
        lines.append(f"uploads the file {request.upload}")
    if request.body is not None:
        text = json.dumps(request.body, indent=2, ensure_ascii=False, default=str)
        if len(text) > _SHOWN_BODY_CHARS:
            cut = text[:_SHOWN_BODY_CHARS].rsplit("\n", 1)[0]
            text = f"{cut}\n... ({len(text) - len(cut):,} more characters)"
        lines.append(text)
    return "\n".join(lines)


def change_frame(plan: WritePlan, before: Mapping[Any, Mapping[str, Any]]) -> pd.DataFrame:
    """``--preview``: the change a write would make, one row per record and property: change
    (update, create, delete), key, property, before, after."""
    rows: list[dict[str, Any]] = []
    key = plan.key or "id"

    def whole(kind: str, record_key: Any, record: Mapping[str, Any], side: str) -> None:
        for name, value in strip_annotations(record).items():
            rows.append(
                {
                    "change": kind,
                    "key": record_key,
                    "property": name,
                    "before": value if side == "before" else None,
                    "after": value if side == "after" else None,
                }
            )

    def changed(record_key: Any, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        for name, value in strip_annotations(new).items():
            if name == key or name in READ_ONLY:
                continue
            if old.get(name) != value:
                rows.append(
                    {
                        "change": "update",
                        "key": record_key,
                        "property": name,
                        "before": old.get(name),
                        "after": value,
                    }
                )

    if plan.kind in ("delete", "BulkDelete"):
        for target in plan.targets:
            if target in before:
                whole("delete", target, before[target], "before")
    elif plan.kind in ("create", "BulkInsert"):
        for body in plan.bodies:
            whole("create", body.get(key), body, "after")
    elif plan.kind == "replace":
        target = plan.targets[0]
        old = before.get(target, {})
        new = {n: None for n in strip_annotations(old) if n not in READ_ONLY and n != key}
        new.update(plan.bodies[0] if plan.bodies else {})
        changed(target, old, new)
    else:  # update, BulkUpdate, BulkUpsert
        bodies: Sequence[Mapping[str, Any]] = plan.bodies
        targets = plan.targets if plan.kind == "update" else [plan.key_of(b) for b in bodies]
        for target, body in zip(targets, bodies, strict=False):
            if target in before:
                changed(target, before[target], body)
            else:
                whole("create", target, body, "after")
    frame = pd.DataFrame(rows, columns=["change", "key", "property", "before", "after"])
    return frame.astype(object)
