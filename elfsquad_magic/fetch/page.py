"""One response page, read in one place: content types, JSON decoding, the Arrow reader, and
what an answer that is not JSON becomes.

Paging (the ``@odata.nextLink`` walk) and the concurrent windows both read their pages here, so
neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from ..core.json_codec import decode_json
from ..core.odata import is_json_content_type
from ..core.request import shown_url, strip_credentials
from ..errors import ResponseFormatError
from .arrow_reader import ArrowPage, PageReader

if TYPE_CHECKING:
    from ..core.transport import Transport

__all__ = [
    "NOT_JSON",
    "Page",
    "Records",
    "is_json_response",
    "json_body",
    "not_json_answer",
    "page_from_payload",
    "page_from_response",
    "parse_json_response",
    "read_page",
    "text_or_bytes",
]

Records = list[dict[str, Any]] | ArrowPage
"""One page's rows: decoded dicts, or Arrow columns (see :mod:`.arrow_pages`)."""

NOT_JSON: Any = object()
"""What :func:`json_body` returns for an answer that is not JSON."""


@dataclass
class Page:
    """One response of a collection: its records (decoded, or an :class:`ArrowPage`) and the
    link to the next one."""

    url: str
    records: Records
    next_link: str | None
    count: int | None = None


def is_json_response(response: requests.Response) -> bool:
    """Whether the answer says it is JSON (``application/json``, ``+json``)."""
    return is_json_content_type(response.headers.get("Content-Type"))


def parse_json_response(response: requests.Response, method: str) -> Any:
    """The JSON body of ``response``; :class:`ResponseFormatError` naming what came instead."""
    content = response.content
    url = shown_url(response.url)
    if not content.strip():
        raise ResponseFormatError(
            f"{method} {url} answered HTTP {response.status_code} with an empty body.",
            "The service sent no data; check the path.",
        )
    try:
        return decode_json(content)
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        raise ResponseFormatError(
            f"{method} {url} answered with {kind}, not JSON.",
            "Check the path and API URL; use --raw to see the answer as text.",
        ) from None


def json_body(response: requests.Response) -> Any:
    """The parsed body of an answer with content, or :data:`NOT_JSON`.

    An answer that says it is JSON must parse (:class:`ResponseFormatError` otherwise); some
    endpoints send JSON as ``text/plain``, so another answer that parses as an object or an
    array is taken as JSON too.
    """
    if is_json_response(response):
        try:
            return decode_json(response.content)
        except ValueError:
            raise ResponseFormatError(
                f"{response.request.method} {strip_credentials(response.url)} said it sent "
                "JSON, but the body is not valid JSON.",
                "Use --raw to see the answer as it came.",
            ) from None
    if response.content.lstrip()[:1] not in (b"{", b"["):
        return NOT_JSON
    try:
        return decode_json(response.content)
    except ValueError:
        return NOT_JSON


def not_json_answer(response: requests.Response, method: str) -> str | bytes:
    """Documents (XML, PDF, ...) as text or bytes; an HTML page is a misdirected request."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    head = response.content.lstrip()[:200].lower()
    if kind == "text/html" or head.startswith((b"<!doctype html", b"<html")):
        raise ResponseFormatError(
            f"{method} {strip_credentials(response.url)} answered with an HTML page, not data.",
            "Check the API URL and the path; use --raw to see the page.",
        )
    return text_or_bytes(response)


def text_or_bytes(response: requests.Response) -> str | bytes:
    """A body as text for textual content types (``text/*``, XML), else as bytes."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind.startswith("text/") or kind.endswith("xml") or kind.endswith("+xml"):
        return response.text
    return response.content


def page_from_payload(url: str, payload: Any) -> Page:
    """A :class:`Page` from a parsed collection answer ``{"value": [...], ...}``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("value"), list):
        raise ResponseFormatError(
            f"GET {url} did not answer with a collection (no 'value' list).",
            "Use --raw to see the answer as it came.",
        )
    link = payload.get("@odata.nextLink")
    count = payload.get("@odata.count")
    return Page(
        url=url,
        records=payload["value"],
        next_link=link if isinstance(link, str) and link else None,
        count=count if isinstance(count, int) else None,
    )


def page_from_response(
    response: requests.Response, url: str, reader: PageReader | None = None
) -> Page:
    """The :class:`Page` in a collection answer: Arrow when ``reader`` takes it, else decoded."""
    if reader is not None and is_json_response(response):
        page = reader.read(response.content)
        if page is not None:
            return Page(url=url, records=page, next_link=page.next_link, count=page.count)
    return page_from_payload(url, parse_json_response(response, "GET"))


def read_page(transport: Transport, url: str, *, reader: PageReader | None = None) -> Page:
    """GET one page: into Arrow by ``reader`` when the page fits its schema, otherwise decoded
    (which reports an answer that is no collection)."""
    return page_from_response(transport.request("GET", url), url, reader)
