"""The Data API's resources (``/data/1/...``): reads with query options, writes, bulk actions.

Every handler returns a :class:`Reply`; refusals raise :class:`~.query.ODataError`.
"""

from __future__ import annotations

import re
import uuid
import zlib
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import orjson

from .dataextras import (
    Functions,
    functions_document,
    generate_document,
    is_function_call,
    json_schema,
    triggers_document,
)
from .metadata import EntitySetSpec, ServiceSpec, csdl
from .query import (
    ODataError,
    bad_request,
    parse_count,
    parse_expand,
    parse_nonnegative,
    parse_select,
    translate_filter,
    translate_orderby,
    translate_search,
)
from .store import Store, column, column_value
from .values import EMPTY_DATE, utc_now_text

JSON = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"
KNOWN_OPTIONS = {
    "$filter",
    "$select",
    "$orderby",
    "$top",
    "$skip",
    "$count",
    "$expand",
    "$format",
    "$search",
}
BULK_ACTIONS = {"BulkInsert", "BulkUpdate", "BulkUpsert", "BulkDelete"}
_SCHEMA_JSON = "application/schema+json; charset=utf-8"

_KEY_SEGMENT = re.compile(r"^(?P<set>[A-Za-z_][A-Za-z0-9_]*)\((?P<key>.*)\)$", re.DOTALL)
_PREFER_PAGE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)


@dataclass
class Reply:
    """An HTTP answer: status, body, content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    """What the Data API needs of an HTTP request."""

    method: str
    segments: list[str]  # path below /data/1/, URL-decoded
    options: list[tuple[str, str]]
    body: bytes
    base_url: str  # scheme://host[:port] as the client addressed us
    path: str  # the raw request path (for nextLink)
    prefer: str = ""
    if_match: str = ""  # the ETag a write expects the entity to have ("*": any)


# The entity's ETag: a checksum and the length of the stored JSON (every write stamps
# updatedDate anew). A hash costs three times as much, and the sandbox's CPU per page is the
# client's too when both share a machine.
_ETAG = 'W/"%08x%x"'
# The same, as the JSON member that leads each entity of a page (the template escaped once).
_ETAG_MEMBER = b'{"@odata.etag":' + orjson.dumps(_ETAG) + b","


def etag_of(raw: bytes) -> str:
    """The entity's ETag, as ASP.NET Core OData gives one: weak, changing with every write."""
    return _ETAG % (zlib.crc32(raw), len(raw))


def _with_etag(raw: bytes) -> bytes:
    # Spliced into the stored JSON: no decoding of the row on the way out.
    return _ETAG_MEMBER % (zlib.crc32(raw), len(raw)) + raw[1:]


def not_found(message: str) -> ODataError:
    """A 404 answer with ``message``."""
    return ODataError(404, "NotFound", message)


class DataApi:
    """Serves the Data API from a :class:`Store`."""

    def __init__(self, service: ServiceSpec, store: Store, page_size: int = 500) -> None:
        self.service = service
        self.store = store
        self.page_size = page_size
        self._metadata = csdl(service).encode()
        self.functions = Functions(service, store)

    def schema_changed(self) -> None:
        """Serve the ``$metadata`` of the properties as they are now (one was added)."""
        self._metadata = csdl(self.service).encode()

    # Routing ------------------------------------------------------------------------------
    def handle(self, req: Request) -> Reply:
        """Answer one request below ``/data/1/``."""
        segs = req.segments
        if not segs or segs == [""]:
            return self._only(req, ("GET",)) or self.service_document(req)
        if segs[0] == "$metadata" and len(segs) == 1:
            return self._only(req, ("GET",)) or Reply(
                200, self._metadata, "application/xml; charset=utf-8", {"OData-Version": "4.0"}
            )
        if segs[0] == "$functions" and len(segs) == 2:
            doc = self.functions.call(segs[1], self._json_body(req), req.base_url)
            return self._only(req, ("PUT",)) or Reply(200, orjson.dumps(doc))
        if segs[0] in ("$functions", "$triggers") and len(segs) == 1:
            make = functions_document if segs[0] == "$functions" else triggers_document
            return self._only(req, ("GET",)) or Reply(200, orjson.dumps(make(req.base_url)))
        first = segs[0]
        key_text = None
        if m := _KEY_SEGMENT.match(first):
            first, key_text = m.group("set"), m.group("key")
        spec = self.service.find(first)
        if spec is None:
            raise not_found(f"The entity set '{first}' does not exist in the Data API.")
        rest = segs[1:]
        if (
            key_text is None
            and rest
            and rest[0]
            and not rest[0].startswith(("$", "Default."))
            and _bound_action(rest[0]) is None
        ):
            key_text, rest = rest[0], rest[1:]  # key-as-segment: /quotations/<guid>
        if rest and rest != [""]:
            if key_text is None and len(rest) == 1 and rest[0] == "$count":
                return self._only(req, ("GET",)) or self.count_segment(req, spec)
            if key_text is None and len(rest) == 1 and rest[0] in ("$schema", "$patch-schema"):
                doc = json_schema(spec, patch=rest[0] == "$patch-schema")
                return self._only(req, ("GET",)) or Reply(200, orjson.dumps(doc), _SCHEMA_JSON)
            if key_text is not None and len(rest) == 1 and is_function_call(rest[0]):
                if spec.name != "Quotations":
                    raise not_found(f"'{rest[0]}' is not a function of {spec.name}.")
                return self._only(req, ("GET",)) or self.document(spec, key_text, rest[0])
            if key_text is None and len(rest) == 1 and (action := _bound_action(rest[0])):
                if action not in spec.bulk_actions:
                    raise not_found(f"'{rest[0]}' is not an action of {spec.name}.")
                return self._only(req, ("POST",)) or self.bulk(req, spec, action)
            raise not_found(f"The path segment '{'/'.join(rest)}' is not supported by the sandbox.")
        if key_text is None:
            allowed = spec.collection_methods
            if req.method == "GET":
                return self._only(req, allowed) or self.read_collection(req, spec)
            return self._only(req, allowed) or self.create(req, spec)
        allowed = spec.entity_methods + (("PUT",) if "PATCH" in spec.entity_methods else ())
        if reply := self._only(req, allowed):
            return reply
        key = self.parse_key(spec, key_text)
        if req.method == "GET":
            return self.read_entity(req, spec, key)
        if req.method in ("PATCH", "PUT"):
            return self.update(req, spec, key, replace=req.method == "PUT")
        return self.delete(spec, key, req.if_match)

    def _only(self, req: Request, allowed: tuple[str, ...]) -> Reply | None:
        if req.method in allowed or (req.method == "HEAD" and "GET" in allowed):
            return None
        body = error_body(
            "MethodNotAllowed", f"The method {req.method} is not allowed on this resource."
        )
        return Reply(405, body, headers={"Allow": ", ".join(allowed)})

    def document(self, spec: EntitySetSpec, key_text: str, segment: str) -> Reply:
        """``Quotations({id})/Default.GenerateDocument(...)``: the quotation as a PDF."""
        made = generate_document(self.service, self.store, self.parse_key(spec, key_text), segment)
        if made is None:
            raise not_found(f"No {spec.entity_type} with key '{key_text}' exists.")
        content, name = made
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Reply(200, content, "application/pdf", disposition)

    def parse_key(self, spec: EntitySetSpec, text: str) -> object:
        """Key text (``<guid>``, ``'NL'``, ``id=<guid>``) -> the store's comparable form."""
        raw = text.strip()
        if "=" in raw and raw.split("=", 1)[0].strip() == spec.key:
            raw = raw.split("=", 1)[1].strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            raw = raw[1:-1].replace("''", "'")
        try:
            return column_value(spec.edm(spec.key), raw)
        except (TypeError, ValueError):
            raise bad_request(f"The key '{text}' is not a valid {spec.edm(spec.key)}.") from None

    # Reads --------------------------------------------------------------------------------
    def service_document(self, req: Request) -> Reply:
        """The OData service document listing every entity set."""
        doc = {
            "@odata.context": f"{req.base_url}/data/1/$metadata",
            "value": [
                {"name": s.name, "kind": "EntitySet", "url": s.name}
                for s in self.service.sets.values()
            ],
        }
        return Reply(200, orjson.dumps(doc))

    def _options(self, req: Request) -> dict[str, str]:
        options: dict[str, str] = {}
        for name, value in req.options:
            if not name.startswith("$"):
                continue  # custom query options are ignored, as OData allows
            name = name.lower()  # `$Filter` is `$filter`, as in ASP.NET Core OData
            if name not in KNOWN_OPTIONS:
                raise bad_request(f"The query option '{name}' is not supported.")
            if name in options:
                raise bad_request(f"The query option '{name}' was given more than once.")
            options[name] = value
        if options.get("$format", "json").lower() not in ("json", "application/json"):
            raise bad_request("Only $format=json is supported.")
        return options

    def _page_size(self, req: Request) -> int:
        size = self.page_size
        if m := _PREFER_PAGE.search(req.prefer or ""):
            size = max(1, min(size, int(m.group(1))))
        return size

    def read_collection(self, req: Request, spec: EntitySetSpec) -> Reply:
        """A page of a collection with ``$filter/$orderby/$select/$expand/$top/$skip/$count``."""
        opts = self._options(req)
        where, params = _where(spec, opts)
        order = translate_orderby(spec, opts.get("$orderby"))
        select = parse_select(spec, opts.get("$select"))
        expand = parse_expand(self.service, spec, opts.get("$expand"))
        top = parse_nonnegative("$top", opts.get("$top"))
        skip = parse_nonnegative("$skip", opts.get("$skip")) or 0
        want_count = parse_count(opts.get("$count"))

        page = self._page_size(req)
        limit = page if top is None else min(top, page)
        rows = self.store.select_json(spec, where, params, order, limit + 1, skip)
        more = len(rows) > limit and (top is None or top > limit)
        rows = rows[:limit]

        context = f"{req.base_url}/data/1/$metadata#{spec.name}"
        if select is not None:
            context += "(" + ",".join(select) + ")"
        head = {"@odata.context": context}
        if want_count:
            head["@odata.count"] = self.store.count(spec, where, params)
        if select is None and not expand:
            value = b"[" + b",".join(map(_with_etag, rows)) + b"]"
        else:
            shaped = self._shape([orjson.loads(r) for r in rows], select, expand)
            value = orjson.dumps(
                [{"@odata.etag": etag_of(r), **row} for r, row in zip(rows, shaped, strict=True)]
            )
        body = orjson.dumps(head)[:-1] + b',"value":' + value
        if more:
            link = self._next_link(req, skip + limit, None if top is None else top - limit)
            body += b',"@odata.nextLink":' + orjson.dumps(link)
        return Reply(200, body + b"}", headers={"OData-Version": "4.0"})

    def _next_link(self, req: Request, skip: int, top: int | None) -> str:
        pairs = [(k, v) for k, v in req.options if k not in ("$skip", "$top")]
        if top is not None:
            pairs.append(("$top", str(top)))
        pairs.append(("$skip", str(skip)))
        query = urlencode(pairs, quote_via=quote, safe="$,'()/:*")
        return f"{req.base_url}{req.path}?{query}"

    def _shape(self, rows: list[dict], select: list[str] | None, expand: list) -> list[dict]:
        related: dict[str, dict[object, dict]] = {}
        for exp in expand:
            keys = []
            for row in rows:
                try:
                    keys.append(
                        column_value(exp.target.edm(exp.target.key), row.get(exp.foreign_key))
                    )
                except (TypeError, ValueError):
                    continue
            found = self.store.get_many(exp.target, keys)
            related[exp.name] = {k: orjson.loads(v) for k, v in found.items()}
        out = []
        nav_names = {e.name for e in expand}
        for row in rows:
            if select is None:
                shaped = dict(row)
            else:
                shaped = {n: row.get(n) for n in select if n not in nav_names and n in row}
            for exp in expand:
                try:
                    fk = column_value(exp.target.edm(exp.target.key), row.get(exp.foreign_key))
                except (TypeError, ValueError):
                    fk = None
                target_row = related[exp.name].get(fk)
                if target_row is not None and exp.select is not None:
                    target_row = {n: target_row.get(n) for n in exp.select if n in target_row}
                shaped[exp.name] = target_row
            out.append(shaped)
        return out

    def count_segment(self, req: Request, spec: EntitySetSpec) -> Reply:
        """``/Set/$count``: the number of (filtered) rows as plain text."""
        opts = self._options(req)
        where, params = _where(spec, opts)
        return Reply(200, str(self.store.count(spec, where, params)).encode(), "text/plain")

    def read_entity(self, req: Request, spec: EntitySetSpec, key: object) -> Reply:
        """One entity, bare (no ``value`` wrapper), with ``$select``/``$expand``."""
        opts = self._options(req)
        extra = set(opts) - {"$select", "$expand", "$format"}
        if extra:
            raise bad_request(f"The query option '{sorted(extra)[0]}' is not valid on one entity.")
        raw = self.store.get(spec, key)
        if raw is None:
            raise not_found(f"No {spec.entity_type} with key '{key}' exists.")
        select = parse_select(spec, opts.get("$select"))
        expand = parse_expand(self.service, spec, opts.get("$expand"))
        row = self._shape([orjson.loads(raw)], select, expand)[0]
        etag = etag_of(raw)
        doc = {
            "@odata.context": f"{req.base_url}/data/1/$metadata#{spec.name}/$entity",
            "@odata.etag": etag,
            **row,
        }
        return Reply(200, orjson.dumps(doc), headers={"OData-Version": "4.0", "ETag": etag})

    # Writes -------------------------------------------------------------------------------
    def _json_body(self, req: Request) -> object:
        if not req.body.strip():
            raise bad_request("The request body is empty; send a JSON object.")
        try:
            return orjson.loads(req.body)
        except orjson.JSONDecodeError as exc:
            raise bad_request(f"The request body is not valid JSON: {exc}") from None

    def _validated(self, spec: EntitySetSpec, body: object, base: dict) -> dict:
        """``base`` updated with ``body``'s properties, each checked against its Edm type."""
        if not isinstance(body, dict):
            raise bad_request(f"Send a JSON object describing one {spec.entity_type}.")
        row = dict(base)
        for given, value in body.items():
            if given.startswith("@odata."):
                continue
            name = spec.property_name(given) or given  # `SalesPrice` is `salesPrice`
            edm = spec.properties.get(name)
            if edm is None:
                raise bad_request(
                    f"The property '{name}' does not exist on type 'Default.{spec.entity_type}'."
                )
            try:
                column_value(edm, value)
            except (TypeError, ValueError) as exc:
                raise bad_request(f"The value of '{name}' is not a valid {edm}: {exc}.") from None
            if edm == "Edm.Guid" and value is not None:
                value = str(uuid.UUID(value))  # the service answers guids in lower case
            row[name] = value
        if spec.name == "Quotations":
            self._align_status(row, body)
        return row

    def _align_status(self, row: dict, body: dict) -> None:
        """Keep the legacy ``status`` name and ``statusId`` of a quotation in step.

        ``statusId`` is the truth (the legacy property "only returns the right status for
        legacy quotation statuses"); a write that sets only ``status`` moves ``statusId`` to
        the status of that name.
        """
        names = {
            r["id"]: r["name"] for r in self.store.rows(self.service.sets["QuotationStatuses"])
        }
        given = {key.lower() for key in body}
        if "status" in given and "statusid" not in given:
            wanted = str(row.get("status") or "").lower()
            match = next((key for key, name in names.items() if name.lower() == wanted), None)
            if match is not None:
                row["statusId"] = match
        if row.get("statusId") in names:
            row["status"] = names[row["statusId"]]

    def _new_row(self, spec: EntitySetSpec, body: object) -> dict:
        row = self._validated(spec, body, dict.fromkeys(spec.properties))
        if row.get(spec.key) is None:
            if spec.edm(spec.key) != "Edm.Guid":
                raise bad_request(f"The key property '{spec.key}' is required.")
            row[spec.key] = str(uuid.uuid4())
        # As the real service: a new row is stamped created now and carries .NET's MinValue in
        # updatedDate until its first update.
        if "createdDate" in spec.properties and row.get("createdDate") is None:
            row["createdDate"] = utc_now_text()
        if "updatedDate" in spec.properties and row.get("updatedDate") is None:
            row["updatedDate"] = EMPTY_DATE
        return row

    def _key_of(self, spec: EntitySetSpec, row: dict) -> object:
        return column_value(spec.edm(spec.key), row[spec.key])

    def create(self, req: Request, spec: EntitySetSpec) -> Reply:
        """POST: 201 with the created entity and its ``Location``."""
        row = self._new_row(spec, self._json_body(req))
        self._insert(spec, [row])
        key = row[spec.key]
        shown = f"'{key}'" if spec.edm(spec.key) == "Edm.String" else key
        location = f"{req.base_url}/data/1/{spec.name}({shown})"
        etag = etag_of(self.store.get(spec, self._key_of(spec, row)) or b"")
        doc = {
            "@odata.context": f"{req.base_url}/data/1/$metadata#{spec.name}/$entity",
            "@odata.etag": etag,
            **row,
        }
        return Reply(201, orjson.dumps(doc), headers={"Location": location, "ETag": etag})

    def _insert(self, spec: EntitySetSpec, rows: list[dict], replace: bool = False) -> None:
        try:
            self.store.insert(spec, rows, replace=replace)
        except KeyError:
            raise ODataError(409, "Conflict", "An entity with this key already exists.") from None
        except ValueError as exc:
            raise bad_request(str(exc)) from None

    def _merged(
        self, spec: EntitySetSpec, key: object, body: object, replace: bool, if_match: str = ""
    ) -> dict:
        raw = self.store.get(spec, key)
        if raw is None:
            raise not_found(f"No {spec.entity_type} with key '{key}' exists.")
        _check_if_match(raw, if_match)
        current = orjson.loads(raw)
        if replace:
            keep = ("createdDate", "creatorId", "organizationId", spec.key)
            base = {p: current.get(p) if p in keep else None for p in spec.properties}
        else:
            base = current
        row = self._validated(spec, body, base)
        if self._key_of(spec, row) != key:
            raise bad_request(f"The key property '{spec.key}' cannot be changed.")
        if "updatedDate" in spec.properties:
            row["updatedDate"] = utc_now_text()
        return row

    def update(self, req: Request, spec: EntitySetSpec, key: object, replace: bool) -> Reply:
        """PATCH merges, PUT replaces; 204."""
        row = self._merged(spec, key, self._json_body(req), replace, req.if_match)
        self._insert(spec, [row], replace=True)
        return Reply(204, content_type=None)

    def delete(self, spec: EntitySetSpec, key: object, if_match: str = "") -> Reply:
        """DELETE: 204, or 404 when the key does not exist (412 on a stale ``If-Match``)."""
        raw = self.store.get(spec, key)
        if raw is not None:
            _check_if_match(raw, if_match)
        if not self.store.delete(spec, [key]):
            raise not_found(f"No {spec.entity_type} with key '{key}' exists.")
        return Reply(204, content_type=None)

    def bulk(self, req: Request, spec: EntitySetSpec, action: str) -> Reply:
        """``Default.Bulk*`` actions: all entities are checked first, then written at once."""
        body = self._json_body(req)
        field_name = "identifiers" if action == "BulkDelete" else "entities"
        if not isinstance(body, dict) or not isinstance(body.get(field_name), list):
            raise bad_request(f"{action} expects a JSON object with an '{field_name}' array.")
        items = body[field_name]
        if action == "BulkDelete":
            keys = [self.parse_key(spec, str(k)) for k in items]
            missing = [k for k in keys if self.store.get(spec, k) is None]
            if missing:
                raise not_found(f"No {spec.entity_type} with key '{missing[0]}' exists.")
            self.store.delete(spec, keys)
            return Reply(204, content_type=None)
        rows = []
        for item in items:
            has_key = isinstance(item, dict) and item.get(spec.key) is not None
            key = self.parse_key(spec, str(item[spec.key])) if has_key else None
            exists = key is not None and self.store.get(spec, key) is not None
            if action == "BulkUpdate" and not exists:
                raise not_found(f"BulkUpdate: no {spec.entity_type} with key '{key}' exists.")
            if action == "BulkInsert" and exists:
                raise ODataError(409, "Conflict", f"BulkInsert: key '{key}' already exists.")
            rows.append(
                self._merged(spec, key, item, False) if exists else self._new_row(spec, item)
            )
        keys = [self._key_of(spec, r) for r in rows]
        if len(set(keys)) != len(keys):
            raise bad_request(f"{action}: the same key appears more than once.")
        self._insert(spec, rows, replace=action != "BulkInsert")
        return Reply(204, content_type=None)


def _check_if_match(raw: bytes, if_match: str) -> None:
    """412, as ASP.NET Core OData answers, when ``If-Match`` names another ETag."""
    wanted = [tag.strip() for tag in if_match.split(",") if tag.strip()]
    if not wanted or "*" in wanted or etag_of(raw) in wanted:
        return
    raise ODataError(
        412,
        "PreconditionFailed",
        "The entity was changed since it was read: its ETag is not the one in If-Match.",
    )


def _bound_action(segment: str) -> str | None:
    """The bulk action a path segment names: ``Default.BulkUpdate``, or unqualified
    ``BulkUpdate`` (Elfsquad's own scripts post ``.../quotationlines/BulkUpdate``), any casing."""
    name = segment[len("Default.") :] if segment.lower().startswith("default.") else segment
    return next((action for action in BULK_ACTIONS if action.lower() == name.lower()), None)


def _where(spec: EntitySetSpec, opts: dict[str, str]) -> tuple[str, dict[str, object]]:
    """The SQL condition of ``$filter`` and ``$search`` together, with their parameters."""
    clauses, params = [], {}
    if "$filter" in opts:
        clause, found = translate_filter(spec, opts["$filter"])
        clauses.append(clause)
        params.update(found)
    if "$search" in opts:
        clause, found = translate_search(spec, opts["$search"])
        clauses.append(clause)
        params.update(found)
    return " AND ".join(f"({c})" for c in clauses), params


def error_body(code: str, message: str) -> bytes:
    """An OData JSON error document."""
    return orjson.dumps({"error": {"code": code, "message": message, "details": []}})


__all__ = ["DataApi", "Reply", "Request", "error_body", "column"]
