"""The SCIM 2 user API (``/scim/2/Users``) over the tenant's Users, with its own bearer token.

As at Elfsquad, SCIM does not take the OAuth token: an administrator makes a SCIM token in the
SCIM settings. Lists come back as a SCIM ``ListResponse`` paged by ``startIndex`` (from 1) and
``count``; ``filter`` takes one ``attribute eq "value"`` ("does not support complex filters").
"""

from __future__ import annotations

import hmac
import re
import uuid
from typing import Any

import orjson

from .dataapi import Reply, Request
from .metadata import EntitySetSpec
from .store import Store
from .values import utc_now_text

__all__ = [
    "USER_SCHEMA",
    "LIST_SCHEMA",
    "PATCH_SCHEMA",
    "ERROR_SCHEMA",
    "SCIM_JSON",
    "MAX_PAGE",
    "ScimError",
    "ScimApi",
]

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json; charset=utf-8"
MAX_PAGE = 100  # itemsPerPage at most, whatever `count` asks

_FILTER = re.compile(r'^\s*(userName|externalId|id)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.I)


class ScimError(Exception):
    """A SCIM error answer: HTTP status, detail and optional ``scimType``."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type

    def reply(self) -> Reply:
        """The answer for this error."""
        doc: dict[str, Any] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            doc["scimType"] = self.scim_type
        return Reply(self.status, orjson.dumps(doc), SCIM_JSON)


class ScimApi:
    """Serves ``/scim/2/Users`` from the store's Users, checking the SCIM bearer token."""

    def __init__(self, store: Store, users: EntitySetSpec, token: str) -> None:
        self.store = store
        self.users = users
        self.token = token
        self.external_ids: dict[str, str] = {}  # SCIM's externalId has no column in Users

    def authorized(self, header: str) -> bool:
        """Whether ``header`` carries the SCIM token (and not, say, an OAuth token)."""
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), self.token)

    def handle(self, req: Request, segments: list[str], authorization: str) -> Reply:
        """Answer one request below ``/scim/2/``."""
        try:
            if not self.authorized(authorization):
                raise ScimError(401, "Send the SCIM token made in Elfsquad's SCIM settings.")
            if not segments or segments[0] != "Users" or len(segments) > 2:
                raise ScimError(404, f"No SCIM resource at /scim/2/{'/'.join(segments)}.")
            user_id = segments[1] if len(segments) == 2 else None
            return self._route(req, user_id)
        except ScimError as exc:
            return exc.reply()

    def _route(self, req: Request, user_id: str | None) -> Reply:
        if user_id is None:
            if req.method == "GET":
                return self.list_users(req)
            if req.method == "POST":
                return self.create(self._body(req))
            raise ScimError(405, f"{req.method} is not allowed on /scim/2/Users.")
        row = self._row(user_id)
        if req.method == "GET":
            return self._reply(200, self.resource(row))
        if req.method == "PUT":
            return self._reply(200, self.resource(self._write(row, self._body(req), True)))
        if req.method == "PATCH":
            return self._reply(200, self.resource(self.patch(row, self._body(req))))
        if req.method == "DELETE":
            self.store.delete(self.users, [row["id"]])
            self.external_ids.pop(row["id"], None)
            return Reply(204, content_type=None)
        raise ScimError(405, f"{req.method} is not allowed on a SCIM user.")

    # Representation ---------------------------------------------------------------------------
    def resource(self, row: dict) -> dict:
        """A Users row as a SCIM User resource."""
        user_name = row.get("userName") or ""
        given, _, family = user_name.split("@")[0].partition(".")
        return {
            "schemas": [USER_SCHEMA],
            "id": row["id"],
            "externalId": self.external_ids.get(row["id"]),
            "userName": user_name,
            "active": row.get("tenantActivityStatus") != "Inactive",
            "name": {"givenName": given.title(), "familyName": family.rstrip("0123456789").title()},
            "emails": [{"type": "work", "value": user_name, "primary": True}],
            "meta": {
                "resourceType": "User",
                "created": row.get("createdDate"),
                "lastModified": row.get("updatedDate"),
            },
        }

    def _reply(self, status: int, doc: dict) -> Reply:
        return Reply(status, orjson.dumps(doc), SCIM_JSON)

    def _rows(self) -> list[dict]:
        return sorted(self.store.rows(self.users), key=lambda r: r["id"])

    def _row(self, user_id: str) -> dict:
        for row in self._rows():
            if row["id"] == user_id.lower():
                return row
        raise ScimError(404, f"No user with id {user_id}.")

    # Reads ------------------------------------------------------------------------------------
    def list_users(self, req: Request) -> Reply:
        """A ``ListResponse`` page: ``filter``, ``startIndex`` (1-based) and ``count``."""
        options = dict(req.options)
        resources = [self.resource(row) for row in self._rows()]
        if (text := options.get("filter")) is not None:
            match = _FILTER.match(text)
            if match is None:
                raise ScimError(400, f"The filter {text!r} is not supported.", "invalidFilter")
            attribute = {"username": "userName", "externalid": "externalId", "id": "id"}[
                match.group(1).lower()
            ]
            wanted = match.group(2).replace('\\"', '"')
            # SCIM compares userName case-insensitively (RFC 7643, caseExact false).
            resources = [
                r
                for r in resources
                if str(r.get(attribute) or "").lower() == wanted.lower()
                or (attribute == "externalId" and r.get(attribute) == wanted)
            ]
        start = _positive(options.get("startIndex"), "startIndex", 1)
        count = min(_positive(options.get("count"), "count", MAX_PAGE, zero=True), MAX_PAGE)
        page = resources[start - 1 : start - 1 + count]
        return self._reply(
            200,
            {
                "schemas": [LIST_SCHEMA],
                "totalResults": len(resources),
                "startIndex": start,
                "itemsPerPage": len(page),
                "Resources": page,
            },
        )

    # Writes -----------------------------------------------------------------------------------
    def _body(self, req: Request) -> dict:
        try:
            body = orjson.loads(req.body or b"null")
        except orjson.JSONDecodeError:
            raise ScimError(400, "The body is not valid JSON.", "invalidSyntax") from None
        if not isinstance(body, dict):
            raise ScimError(400, "Send a JSON object.", "invalidSyntax")
        return body

    def create(self, body: dict) -> Reply:
        """POST: a new user (``userName`` required, unique); 201 with the resource."""
        user_name = body.get("userName")
        if not isinstance(user_name, str) or not user_name.strip():
            raise ScimError(400, "userName is required.", "invalidValue")
        if any((r.get("userName") or "").lower() == user_name.lower() for r in self._rows()):
            raise ScimError(409, f"A user named {user_name} exists already.", "uniqueness")
        now = utc_now_text()
        row = dict.fromkeys(self.users.properties)
        row.update(id=str(uuid.uuid4()), createdDate=now, updatedDate=now, isSeller=False)
        row = self._write(row, body, True, insert=True)
        return self._reply(201, self.resource(row))

    def _write(self, row: dict, body: dict, replace: bool, insert: bool = False) -> dict:
        row = dict(row)
        if "userName" in body or replace:
            user_name = body.get("userName", row.get("userName"))
            if not isinstance(user_name, str) or not user_name.strip():
                raise ScimError(400, "userName is required.", "invalidValue")
            row["userName"] = user_name
        if "active" in body or replace:
            active = body.get("active", True)
            if not isinstance(active, bool):
                raise ScimError(400, "active must be true or false.", "invalidValue")
            row["tenantActivityStatus"] = "Active" if active else "Inactive"
        if "externalId" in body:
            self.external_ids[row["id"]] = str(body["externalId"])
        row["updatedDate"] = utc_now_text()
        self.store.insert(self.users, [row], replace=not insert)
        return row

    def patch(self, row: dict, body: dict) -> dict:
        """PATCH with a SCIM ``PatchOp``: ``add``/``replace``/``remove`` of ``active``,
        ``userName`` and ``externalId`` (with or without a ``path``)."""
        if PATCH_SCHEMA not in (body.get("schemas") or []):
            raise ScimError(400, f"A PATCH body names the schema {PATCH_SCHEMA}.", "invalidSyntax")
        operations = body.get("Operations")
        if not isinstance(operations, list) or not operations:
            raise ScimError(400, "A PATCH body has a list of Operations.", "invalidSyntax")
        changes: dict[str, Any] = {}
        for operation in operations:
            op = str(operation.get("op", "")).lower() if isinstance(operation, dict) else ""
            if op not in ("add", "replace", "remove"):
                raise ScimError(400, f"Unknown PATCH operation {operation!r}.", "invalidSyntax")
            path, value = operation.get("path"), operation.get("value")
            if op == "remove":
                if path != "externalId":
                    raise ScimError(400, f"{path!r} cannot be removed.", "mutability")
                self.external_ids.pop(row["id"], None)
                continue
            if path:
                changes[str(path)] = value
            elif isinstance(value, dict):
                changes.update(value)
            else:
                raise ScimError(400, "An operation without a path takes an object.", "invalidValue")
        unknown = set(changes) - {"active", "userName", "externalId"}
        if unknown:
            raise ScimError(400, f"Cannot change {sorted(unknown)}.", "invalidPath")
        return self._write(row, changes, False)


def _positive(text: str | None, name: str, default: int, zero: bool = False) -> int:
    if text is None:
        return default
    if not text.strip().isdigit() or (int(text) == 0 and not zero):
        raise ScimError(
            400, f"{name} must be a positive whole number, not {text!r}.", "invalidValue"
        )
    return int(text)
