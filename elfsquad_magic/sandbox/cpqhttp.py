"""What the Quotation and Configurator APIs share: their (non-OData) errors, content negotiation
and request bodies.

Their 200 answers list ``text/plain`` before ``application/json`` in the OpenAPI files, so a
request that does not ask for JSON (no ``Accept``, or ``*/*``) gets the JSON text labelled
``text/plain``: a client must send ``Accept: application/json``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import orjson

from .dataapi import Reply
from .pdf import small_pdf

JSON = "application/json; charset=utf-8"
PLAIN = "text/plain; charset=utf-8"
PDF = "application/pdf"


class CpqError(Exception):
    """A refusal, answered with its own JSON document (``{"errors": ...}``, ``{"message"}``,
    ``{"reason"}``), as these APIs do instead of OData's ``{"error": ...}``."""

    def __init__(self, status: int, doc: dict) -> None:
        super().__init__(str(doc))
        self.status = status
        self.doc = doc


def invalid(name: str, message: str) -> CpqError:
    """400 with ASP.NET Core's validation shape: ``{"errors": {name: [message]}}``."""
    return CpqError(400, {"errors": {name: [message]}})


def missing(message: str) -> CpqError:
    """404 ``{"message": ...}``."""
    return CpqError(404, {"message": message})


@dataclass
class CpqRequest:
    """What a Quotation or Configurator API handler needs of an HTTP request."""

    method: str
    segments: list[str]  # below the API's base path, URL-decoded
    query: list[tuple[str, str]]
    body: bytes
    accept: str = ""
    content_type: str = ""
    base_url: str = ""
    params: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params = {k.lower(): v for k, v in self.query}

    def json(self, default: object = None) -> object:
        """The body as JSON (``default`` when empty); 400 when malformed."""
        if not self.body.strip():
            if default is not None:
                return default
            raise invalid("", "A non-empty request body is required.")
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise invalid("$", f"The JSON value could not be converted: {exc}.") from None

    def flag(self, name: str) -> bool:
        """A boolean query parameter (absent: false)."""
        return self.params.get(name.lower(), "").lower() == "true"


def wants_json(accept: str) -> bool:
    """Whether ``Accept`` names a JSON type (not only ``*/*``, which takes text/plain first)."""
    for item in accept.split(","):
        kind = item.split(";")[0].strip().lower()
        if kind in ("application/json", "text/json") or kind.endswith("+json"):
            return True
    return False


def answer(req: CpqRequest, doc: object, status: int = 200) -> Reply:
    """A JSON document, labelled as the client asked: JSON only when it asked for JSON."""
    content_type = JSON if wants_json(req.accept) else PLAIN
    return Reply(status, orjson.dumps(doc), content_type)


def empty() -> Reply:
    """200 without a body (the files document no content)."""
    return Reply(200, b"", None)


def error_reply(exc: CpqError) -> Reply:
    """A refusal as JSON (errors are JSON whatever the request asked for)."""
    return Reply(exc.status, orjson.dumps(exc.doc), JSON)


def guid(text: object, name: str) -> str:
    """``text`` as a lower-case guid; 400 naming ``name`` otherwise."""
    try:
        return str(uuid.UUID(str(text)))
    except (TypeError, ValueError):
        raise invalid(name, f"The value '{text}' is not valid.") from None


__all__ = [
    "JSON",
    "PDF",
    "PLAIN",
    "CpqError",
    "CpqRequest",
    "answer",
    "empty",
    "error_reply",
    "guid",
    "invalid",
    "missing",
    "small_pdf",
    "wants_json",
]
