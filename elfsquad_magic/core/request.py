"""A request as a value: method, path, query options and JSON body, built once and handed down.

The cell parser and ``ElfsquadClient.get/post/...`` both build an :class:`ODataRequest`; later
stages read its fields (``entity_set``, ``key``, ``option("$select")``) instead of re-parsing URLs.
What the fetcher adds for its own planning (``$count``, a stable ``$orderby``, ``$skip``/``$top``
windows) is a derived value (:meth:`ODataRequest.with_options`), so errors and ``df.attrs`` can
show the request as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ..errors import UsageError
from .literals import to_json_compatible
from .odata import (
    BODYLESS_METHODS,
    DATA_ROOT,
    KEYWORD_OPTIONS,
    LIST_OPTIONS,
    METHODS,
    is_scim_path,
)

__all__ = [
    "ODataRequest",
    "as_request",
    "keyword_options",
    "request_body",
    "Params",
    "encode_query",
    "option_text",
    "split_outside_quotes",
    "strip_credentials",
    "shown_url",
]

Params = Sequence[tuple[str, Any]] | Mapping[str, Any] | None
"""Query options as pairs or a mapping, values of any type (``option_text`` writes them)."""

# Characters left as they are in query values: OData reads them literally and they are not
# separators. Everything else (space, &, #, +, =, %, ?, unicode) is percent-encoded.
_QUERY_SAFE = "$'(),/:@!*"
_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")
# /data/1/<Set>, /data/1/<Set>(<key>), /data/1/<Set>/<key>: paths whose rows are the set's type.
_DATA_PATH = re.compile(
    r"^/data/1/(?P<set>[A-Za-z_]\w*)(?:\((?P<key>[^/)]*)\)|/(?P<segment_key>[0-9A-Fa-f-]{32,36}))?/?$"
)


def option_text(value: Any) -> str:
    """A query option's value as text (``True`` -> ``true``, as OData writes booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_query(params: Params) -> str:
    """Percent-encode query options (spaces as ``%20``, never ``+``, which OData reads as ``+``)."""
    if not params:
        return ""
    items = params.items() if isinstance(params, Mapping) else params
    return "&".join(
        f"{quote(str(name), safe='$')}={quote(option_text(value), safe=_QUERY_SAFE)}"
        for name, value in items
    )


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator``, except inside single-quoted OData string literals."""
    parts, current, in_string = [], [], False
    for char in text:
        if char == "'":
            in_string = not in_string  # a doubled '' toggles twice, leaving the state unchanged
        if char == separator and not in_string:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _query_options(query: str) -> list[tuple[str, str]]:
    """``a=1&$filter=name eq 'A&B'`` -> decoded pairs; ``&`` inside a literal does not split."""
    pairs = []
    for part in split_outside_quotes(query, "&"):
        if part.strip():
            name, _, value = part.partition("=")
            pairs.append((unquote(name).strip(), unquote(value)))
    return pairs


def _pairs(params: Params) -> list[tuple[str, str]]:
    if not params:
        return []
    items: Iterable[tuple[Any, Any]] = params.items() if isinstance(params, Mapping) else params
    return [(str(name), option_text(value)) for name, value in items]


@dataclass(frozen=True)
class ODataRequest:
    """One request as the user wrote it: method, path (or full URL on the API host) without
    its query, the query options in order, and a JSON-compatible body (or ``None``)."""

    method: str
    path: str
    options: tuple[tuple[str, str], ...] = ()
    body: Any = None
    upload: str | None = None  # a local file sent as multipart/form-data (``--file``)

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        options: Params = None,
        body: Any = None,
        upload: str | None = None,
    ) -> ODataRequest:
        """A request from its parts; a query string on ``path`` becomes options before
        ``options``. Raises :class:`UsageError` for an unknown method, or a file upload
        next to a JSON body or on a GET/DELETE."""
        method = method.upper()
        if method not in METHODS:
            raise UsageError(f"Unknown method {method!r}: use one of {', '.join(METHODS)}.")
        if upload is not None and (body is not None or method in ("GET", "DELETE")):
            raise UsageError(
                "A file is sent on its own, with POST or PUT.",
                "Leave out the JSON body, e.g. %elfsquad --file offer.pdf POST "
                "/quotation/1/quotations/{{quotation_id}}/addfile",
            )
        path, _, query = path.strip().partition("?")
        pairs = _query_options(query) + _pairs(options)
        return cls(method, path, tuple(pairs), body, upload)

    def with_upload(self, path: str) -> ODataRequest:
        """This request sending the local file ``path`` (``--file``) as its body."""
        return ODataRequest.build(self.method, self.path, self.options, self.body, path)

    # -- what it asks for -----------------------------------------------------------------------

    @property
    def api_path(self) -> str:
        """The path on the API host (``/data/1/features``), also when a full URL was given."""
        path = _HOST.sub("", self.path, count=1)
        return path if path.startswith("/") else "/" + path

    @property
    def entity_set(self) -> str | None:
        """The Data API entity set whose rows this reads or writes, as written; else ``None``."""
        match = _DATA_PATH.match(self.api_path)
        return match.group("set") if match else None

    @property
    def key(self) -> str | None:
        """The entity key given in the path (``Set(key)`` or ``Set/key``), else ``None``."""
        match = _DATA_PATH.match(self.api_path)
        if not match:
            return None
        return match.group("key") or match.group("segment_key")

    @property
    def is_data_collection(self) -> bool:
        """Whether this names a whole Data API entity set (``/data/1/<Set>``, no key)."""
        return self.entity_set is not None and self.key is None

    @property
    def is_scim(self) -> bool:
        """Whether the path lies under the SCIM API (``/scim/2/...``), which has its own token."""
        return is_scim_path(self.api_path)

    @property
    def is_data_api(self) -> bool:
        """Whether the path lies under the Data API (``/data/1/...``)."""
        return self.api_path.lower().startswith(DATA_ROOT)

    def option(self, name: str) -> str | None:
        """The value of query option ``name`` (any casing), or ``None`` when not given."""
        lowered = name.lower()
        return next((value for key, value in self.options if key.lower() == lowered), None)

    def has_any_option(self, names: Iterable[str]) -> bool:
        """Whether any of ``names`` (lower case) is among the options, in any casing."""
        wanted = set(names)
        return any(key.lower() in wanted for key, _ in self.options)

    @property
    def selected(self) -> list[str] | None:
        """The plain property names of ``$select``, or ``None`` (no ``$select``, ``*``, paths)."""
        value = self.option("$select")
        if value is None:
            return None
        names = [part.strip() for part in value.split(",") if part.strip()]
        if names and "*" not in names and all("/" not in n and "(" not in n for n in names):
            return names
        return None

    # -- derived requests -----------------------------------------------------------------------

    def with_options(self, *pairs: tuple[str, str]) -> ODataRequest:
        """This request with ``pairs`` appended (the fetcher's own options)."""
        return replace(self, options=(*self.options, *pairs))

    def without_options(self, *names: str) -> ODataRequest:
        """This request without the options called ``names`` (any casing)."""
        dropped = {name.lower() for name in names}
        return replace(self, options=tuple(p for p in self.options if p[0].lower() not in dropped))

    # -- as text --------------------------------------------------------------------------------

    @property
    def query(self) -> str:
        """The options percent-encoded, as sent."""
        return encode_query(self.options)

    def url(self, api_url: str) -> str:
        """The full URL on ``api_url`` (a full URL in ``path`` is kept as it is)."""
        base = self.path if _HOST.match(self.path) else f"{api_url}/{self.path.lstrip('/')}"
        query = self.query
        return f"{base}{'&' if '?' in base else '?'}{query}" if query else base

    def __str__(self) -> str:
        """``GET /data/1/features?$top=5``, decoded, for people."""
        query = "&".join(f"{name}={value}" for name, value in self.options)
        return f"{self.method} {self.path}" + (f"?{query}" if query else "")


# -- URLs for people ----------------------------------------------------------------------------

# URLs in messages are cut to this length: a URL built from a huge value must not flood a cell.
SHOWN_URL_LIMIT = 300


def strip_credentials(url: str) -> str:
    """``url`` for people: no ``user:password@`` part, percent-escapes decoded."""
    url = unquote(url)
    parts = urlsplit(url)
    if parts.username or parts.password:
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def shown_url(url: str, limit: int = SHOWN_URL_LIMIT) -> str:
    """``url`` for an error message: no credentials, decoded but for white space (``%20``, so
    that a notebook links the whole URL), and cut to ``limit`` characters."""
    text = re.sub(r"\s", lambda m: quote(m.group(0)), strip_credentials(url))
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}... ({len(text):,} characters)"


# -- requests from Python values ----------------------------------------------------------------


def request_body(method: str, value: Any) -> Any:
    """``value`` as a request's JSON body (DataFrames as records, datetimes as ISO 8601...);
    refused for a method that sends no body."""
    if value is not None and method.upper() in BODYLESS_METHODS:
        raise UsageError(f"{method.upper()} sends no body.", "Use POST, PATCH or PUT to send JSON.")
    return to_json_compatible(value) if value is not None else None


def keyword_options(options: Mapping[str, Any], params: Params = None) -> list[tuple[str, Any]]:
    """``params`` as pairs, then ``filter=``, ``select=[...]``, ``top=``... as ``$filter``,
    ``$select=a,b``, ``$top`` (``None`` values left out)."""
    pairs: list[tuple[str, Any]] = []
    if params:
        items = params.items() if isinstance(params, Mapping) else params
        pairs = [(str(k), v) for k, v in items]
    for name, value in options.items():
        if value is None:
            continue
        key = KEYWORD_OPTIONS.get(name, name)
        if isinstance(value, (list, tuple)) and key in LIST_OPTIONS:
            value = ",".join(map(str, value))
        pairs.append((key, value))
    return pairs


def as_request(
    request: ODataRequest | str, path: str | None, json: Any = None, params: Params = None
) -> ODataRequest:
    """A request value as given, or built from a method, a path, a body and options."""
    if isinstance(request, ODataRequest):
        return request
    if path is None:
        raise UsageError("Give a request value, or a method and a path.")
    return ODataRequest.build(request, path, params, request_body(request, json))
