"""What a failed request becomes: the error users see, by status, with the service's message
(secrets scrubbed) and a hint."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from ..errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectionFailedError,
    ElfsquadHTTPError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
)
from .json_codec import decode_json
from .odata import ENV_SCIM_TOKEN, is_scim_path
from .request import shown_url, strip_credentials
from .retry import retry_after

__all__ = [
    "UNSATISFIED",
    "broke_mid_answer",
    "connection_error",
    "http_error",
    "redirect_error",
    "server_error",
]

_HINTS = {
    400: "The service did not accept the request: check the query options and property names.",
    401: "The token was refused: log in again with %elfsquad_login.",
    403: "The client lacks the rights for this resource: ask an Elfsquad administrator.",
    404: "Check the entity-set name and the path (e.g. /data/1/features).",
    405: "This path does not accept that method.",
    409: "The request conflicts with the current data.",
    412: "The record changed since you read it: read it again and repeat the write "
    "(or look at what changed first).",
    414: "The URL is too long for the service: shorten the $filter (e.g. split a long "
    "'in (...)' list into batches) or select fewer properties.",
    429: "The service is rate limiting this client: wait a minute and try again.",
}
_SERVER_HINT = "The service had a problem; try again later."


def connection_error(
    method: str, url: str, exc: Exception, timeout: float
) -> ConnectionFailedError:
    """The error for a request that got no (complete) answer: time-out, cut, or no connection."""
    shown = shown_url(url)
    if isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectTimeout):
        return ConnectionFailedError(
            f"{method} {shown} got no answer within {timeout:g} s.",
            "The service may be slow or unreachable; try again, or narrow the query.",
        )
    if broke_mid_answer(exc):
        return ConnectionFailedError(
            f"{method} {shown} failed: the connection broke before the answer was complete.",
            "The network or the service dropped the connection; try again."
            + ("" if method == "GET" else " Check whether the change was made first."),
        )
    return ConnectionFailedError(
        f"{method} {shown} failed: could not connect to {urlsplit(url).netloc}.",
        "Check the API URL and your network connection.",
    )


def redirect_error(method: str, url: str, response: requests.Response) -> ElfsquadHTTPError:
    """The error for a redirect, which is never followed."""
    # Not followed: a redirect could carry the token to another host.
    location = shown_url(response.headers.get("Location", "?"))
    status = response.status_code
    response.close()
    return ElfsquadHTTPError(
        f"HTTP {status} for {method} {shown_url(url)}: redirected to {location}.",
        "Redirects are not followed, so the token stays on the API host; "
        "set the API URL (or the path) to where the service really is.",
        status=status,
        method=method,
        url=strip_credentials(url),
    )


def http_error(
    method: str, url: str, response: requests.Response, scrub: Callable[[str], str]
) -> ElfsquadHTTPError:
    """The error for an error status, its class by status; ``scrub`` removes secrets from the
    service's message."""
    status = response.status_code
    code, server_message = server_error(response)
    if server_message:
        server_message = scrub(server_message)
    shown = shown_url(url)
    reason = response.reason or ""
    message = f"HTTP {status} {reason}".rstrip() + f" for {method} {shown}"
    if server_message:
        message += f"\n{server_message}"
    cls: type[ElfsquadHTTPError]
    if status == 400:
        cls = BadRequestError
    elif status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = NotFoundError
    elif status == 412:
        cls = ConflictError
    elif status == 429:
        cls = RateLimitedError
    elif status >= 500:
        cls = ServerError
    else:
        cls = ElfsquadHTTPError
    hint = _HINTS.get(status, _SERVER_HINT if status >= 500 else None)
    if status == 401 and is_scim_path(urlsplit(url).path):
        hint = (
            "The SCIM token was refused: make a new one in Elfsquad's SCIM settings and "
            f"give it with {ENV_SCIM_TOKEN} or %elfsquad_login --scim."
        )
    if code == UNSATISFIED:
        hint = (
            "Fill them (the quotation's custom fields in Elfsquad, or QuotationPropertyValues "
            "through the Data API) and invoke the action again."
        )
    if status == 429:
        wait = retry_after(response)
        if wait is not None:
            hint = f"The service is rate limiting this client and asks to wait {wait:g} s."
    response.close()
    return cls(
        message,
        hint,
        status=status,
        method=method,
        url=strip_credentials(url),
        server_message=server_message,
        code=code,
    )


def broke_mid_answer(exc: BaseException) -> bool:
    """Whether a connection error happened after the request was sent (not on connecting)."""
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return True
    reason = exc.args[0] if exc.args else None
    # requests wraps urllib3's ProtocolError("Connection aborted.", RemoteDisconnected(...)).
    return type(reason).__name__ == "ProtocolError" or "aborted" in str(reason).lower()


UNSATISFIED = "UnsatisfiedProperties"
"""The code of a Quotation API refusal that names the quotation properties left empty."""


def server_error(response: requests.Response) -> tuple[str | None, str | None]:
    """(code, message) from the error body: OData's ``{"error": {...}}``, OAuth's, the Quotation
    and Configurator APIs' ``{"errors": {...}}``, ``{"message"}``, ``{"reason"}`` and
    ``{"unsatisfiedProperties", "unsatisfiedFields"}``; a short text for anything else."""
    try:
        payload = decode_json(response.content)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        return _json_error(payload)
    text = response.text.strip() if response.content else ""
    if not text:
        return None, None
    if "<html" in text[:500].lower() or "<!doctype" in text[:500].lower():
        title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
        return None, _clip(title.group(1).strip()) if title else "(an HTML page)"
    return None, _clip(text)


def _json_error(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    error = payload.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        details = error.get("details")
        if isinstance(details, list):
            extra = [d.get("message") for d in details if isinstance(d, dict)]
            extra = [e for e in extra if e and e != message]
            if extra:
                message = f"{message} ({'; '.join(map(str, extra))})"
        return (str(code) if code else None), _clip(str(message)) if message else None
    if isinstance(error, str):
        description = payload.get("error_description")
        return error, _clip(str(description or error))
    if "unsatisfiedProperties" in payload or "unsatisfiedFields" in payload:
        return UNSATISFIED, _unsatisfied(payload)
    errors = payload.get("errors")
    if isinstance(errors, dict) and errors:
        said = [
            f"{field}: {' '.join(map(str, problems)) if isinstance(problems, list) else problems}"
            for field, problems in errors.items()
        ]
        return None, _clip("; ".join(said))
    for key in ("message", "Message", "reason", "title", "detail"):
        if isinstance(payload.get(key), str):
            return None, _clip(payload[key])
    return None, None


def _unsatisfied(payload: dict[str, Any]) -> str:
    """What a refused status change needs: the properties by their description (or first
    text), and the quotation's own fields."""
    names = []
    for prop in payload.get("unsatisfiedProperties") or []:
        if not isinstance(prop, dict):
            continue
        texts = [t.get("value") for t in prop.get("texts") or [] if isinstance(t, dict)]
        names.append(prop.get("description") or next((t for t in texts if t), None) or "?")
    fields = [str(f) for f in payload.get("unsatisfiedFields") or []]
    parts = []
    if names:
        parts.append("these quotation properties filled in: " + ", ".join(map(repr, names)))
    if fields:
        parts.append("these fields of the quotation: " + ", ".join(fields))
    return _clip("The action needs " + "; and ".join(parts) + ".", 500)


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
