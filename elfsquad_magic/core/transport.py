"""Authenticated HTTP to the API host: the token on every call, retries within a time budget,
host checks, and errors for people (see :mod:`.http_errors`)."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
import urllib3.exceptions
from urllib3.filepost import encode_multipart_formdata

from ..errors import InsecureURLError, NotLoggedInError
from .auth import Masked, TokenProvider, check_secure_url
from .http_errors import connection_error, http_error, redirect_error
from .http_sessions import new_session, origin
from .odata import ENV_SCIM_TOKEN, is_scim_path
from .rate_limit import RateLimiter, rate_hint
from .request import Params, encode_query, shown_url
from .retry import retry_after, retry_wait

__all__ = ["RequestCancelled", "Transport", "redact_headers"]

logger = logging.getLogger("elfsquad_magic")
# Renewals of the token within one request (see _renewed_after_401).
_MAX_RENEWALS = 3


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` fit for a log: credentials replaced by ``***``."""
    return {
        k: ("***" if k.lower() in ("authorization", "cookie", "proxy-authorization") else v)
        for k, v in headers.items()
    }


class _Headers(dict):  # type: ignore[type-arg]
    """Request headers whose ``repr`` redacts credentials.

    They are a local of :meth:`Transport.request`, so a traceback printed with its locals
    (``pytest --showlocals``, error reporters, IPython's verbose mode) shows ``***``.
    """

    def __repr__(self) -> str:
        return repr(redact_headers(self))


class RequestCancelled(BaseException):
    """Raised by :meth:`Transport.request` when its ``cancel`` event is set: no request starts.

    A ``BaseException``, like ``KeyboardInterrupt``: it means "stop", never a failure to handle.
    """


class Transport:
    """Sends requests to the API host with the token, retrying what is safe to retry.

    GET is retried on connection errors, 429, 502, 503 and 504 with backoff, honouring
    ``Retry-After``, for at most ``retry_seconds`` in all. Writes are retried only when the
    request cannot have reached the service (connection refused) or the service said so (429).
    A 401 renews the token once and repeats the call; again (up to three times) only when
    the renewed token lapsed later, while other faults were waited out.
    """

    def __init__(
        self,
        api_url: str,
        tokens: TokenProvider | None = None,
        *,
        timeout: float = 30.0,
        retry_seconds: float = 60.0,
        session: requests.Session | None = None,
        limiter: RateLimiter | None = None,
        on_throttle: Callable[[float], None] | None = None,
        scim_token: Masked | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        check_secure_url(self.api_url, "API URL")
        self.tokens = tokens
        # The SCIM API's own token: sent to /scim/ paths only, where the OAuth token never goes.
        self.scim_token = scim_token
        self.timeout = (min(10.0, timeout), timeout)
        self.retry_seconds = retry_seconds
        self.limiter = limiter or RateLimiter(None)
        # Called with the wait a 429 asked for (the limiter is paused in any case).
        self.on_throttle = on_throttle
        self.session = session or new_session(self.api_url)
        self._origin = origin(self.api_url)

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    # -- URLs ----------------------------------------------------------------------------------

    def resolve(self, path: str) -> str:
        """A path (``/data/1/features``) or a full URL -> a URL on the API host."""
        path = path.strip()
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", path):
            self.check_url(path)
            return path
        return f"{self.api_url}/{path.lstrip('/')}"

    def check_url(self, url: str, what: str = "URL") -> None:
        """Refuse a URL on any host other than the API host: the token is sent only there."""
        if origin(url) != self._origin:
            shown = shown_url(url)
            raise InsecureURLError(
                f"The {what} {shown} is not on the API host {self.api_url}; "
                "the token is only sent to the API host.",
                "Use a path such as /data/1/features, or set the API URL to that host.",
            )

    # -- requests ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Params = None,
        json: Any = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
        cancel: threading.Event | None = None,
        shown: str | None = None,
        idempotent: bool = False,
    ) -> requests.Response:
        """Send one request (with retries) and return the successful response, body read.

        Raises an :class:`ElfsquadHTTPError` subclass for an error status,
        :class:`ConnectionFailedError` when the host cannot be reached in time, and
        :class:`RequestCancelled` when ``cancel`` is set before an attempt starts (a retry's
        wait ends as soon as it is set). Messages name ``shown`` (the request as the user wrote
        it) when given, else the URL sent. ``files`` (field -> (file name, bytes, content
        type)) are sent as ``multipart/form-data``. ``idempotent`` marks a write that may be
        repeated as a GET is (a bulk update: sent twice, it leaves the data as sent once).
        """
        method = method.upper()
        url, body, send_headers = self._prepared(url, params, json, files, headers)
        shown = shown or url
        tries = _Tries(method, time.monotonic() + self.retry_seconds, idempotent, cancel)
        while True:
            tries.attempt += 1
            _check(cancel)
            self.limiter.acquire()
            _check(cancel)  # the limiter may have kept this caller waiting
            # Taken after that wait (a 429 pauses every caller), so a short-lived token does
            # not lapse between being chosen and being sent. Held masked, so no frame of this
            # loop shows the token, even with its locals.
            token = self._token(url) if authenticate else None
            if token is not None:
                send_headers["Authorization"] = f"Bearer {token.reveal()}"
            attempt_started = time.monotonic()
            response, broken = self._attempt(method, url, body, send_headers)
            self._observe(response, broken, time.monotonic() - attempt_started)
            if broken is not None:
                tries.last_status = None
                self._wait_after_break(tries, shown, url, broken)
                continue
            assert response is not None
            renewed = self._renewed_after_401(response, token, tries)
            tries.last_status = response.status_code
            if renewed or self._waited_after_status(tries, url, response):
                continue
            if response.status_code >= 400:
                raise http_error(method, shown, response, self._scrub)
            if 300 <= response.status_code < 400:
                raise redirect_error(method, shown, response)
            return response

    def _prepared(
        self,
        url: str,
        params: Params,
        json: Any,
        files: Mapping[str, tuple[str, bytes, str]] | None,
        headers: Mapping[str, str] | None,
    ) -> tuple[str, bytes | None, _Headers]:
        """The URL on the API host with its query, the body as bytes, and the headers."""
        url = self.resolve(url)
        query = encode_query(params)
        if query:
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        send_headers = _Headers({"Accept": "application/json", **(headers or {})})
        body = None if json is None else orjson.dumps(json)
        if body is not None:
            send_headers["Content-Type"] = "application/json"
        if files:
            # multipart/form-data, encoded once: a retry sends the very same bytes.
            body, send_headers["Content-Type"] = encode_multipart_formdata(dict(files))
        return url, body, send_headers

    def _wait_after_break(self, tries: _Tries, shown: str, url: str, broken: Exception) -> None:
        """Wait before trying again after a connection error, or raise it for people."""
        wait = retry_wait(
            tries.method, broken, tries.attempt, tries.time_left(), idempotent=tries.idempotent
        )
        if wait is None:
            # Raised outside any except block: the requests exception (whose request holds the
            # Authorization header) must not ride along as __context__.
            raise connection_error(tries.method, shown, broken, self.timeout[1])
        logger.debug(
            "%s %s failed (%s); retry in %.1f s", tries.method, shown_url(url), broken, wait
        )
        _sleep(wait, tries.cancel)

    def _renewed_after_401(
        self, response: requests.Response, token: Masked | None, tries: _Tries
    ) -> bool:
        """Whether a lapsed or revoked token was renewed for one more try: once, and again
        only when the renewed token lapsed later, while other faults were waited out (a 401
        straight after a renewal means the token is not the problem)."""
        renewable = token is not None and token is not self.scim_token
        if response.status_code != 401 or not renewable or self.tokens is None:
            return False
        if tries.renewals and (tries.last_status == 401 or tries.renewals >= _MAX_RENEWALS):
            return False
        assert token is not None
        tries.renewals += 1
        self.tokens.invalidate(token.reveal())
        response.close()
        return True

    def _waited_after_status(self, tries: _Tries, url: str, response: requests.Response) -> bool:
        """Whether the status is worth another try, after the wait it asks for (a 429 pauses
        every caller of the limiter)."""
        status = response.status_code
        wait = retry_wait(
            tries.method,
            status,
            tries.attempt,
            tries.time_left(),
            retry_after(response),
            idempotent=tries.idempotent,
        )
        if wait is None:
            return False
        logger.info(
            "%s %s answered %s; retry in %.1f s", tries.method, shown_url(url), status, wait
        )
        response.close()
        if status == 429:
            self.limiter.pause(wait)
            if self.on_throttle is not None:
                self.on_throttle(wait)
        _sleep(wait, tries.cancel)
        return True

    def _observe(
        self, response: requests.Response | None, broken: Exception | None, latency: float
    ) -> None:
        """Tell the host's pace what this try showed; honour RateLimit-* headers."""
        pace = self.limiter.pace
        if pace is not None:
            outcome: int | BaseException = broken if broken is not None else response.status_code
            pace.observe(outcome, latency)
        if response is not None:
            pause, rate = rate_hint(response.headers)
            if pause:
                self.limiter.pause(pause)
            if pace is not None:
                pace.cap_rate(rate)

    def _attempt(
        self, method: str, url: str, body: bytes | None, headers: _Headers
    ) -> tuple[requests.Response | None, Exception | None]:
        """One try: the response with its body read, or the connection error that broke it."""
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,  # the body is read below, in one call
            )
            _read_body(response)
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            return None, exc
        logger.debug(
            "%s %s -> %s in %.2f s; headers %s",
            method,
            shown_url(url),
            response.status_code,
            time.monotonic() - started,
            redact_headers(headers),
        )
        return response, None

    def _token(self, url: str) -> Masked | None:
        if is_scim_path(urlsplit(url).path):
            if self.scim_token is None:
                raise NotLoggedInError(
                    "No SCIM token: the SCIM API takes its own token, not the OAuth login.",
                    f"Set {ENV_SCIM_TOKEN} or run %elfsquad_login --scim with the token made "
                    "in Elfsquad's SCIM settings.",
                )
            return self.scim_token
        if self.tokens is None:
            raise NotLoggedInError()
        return Masked(self.tokens.token())

    def _scrub(self, text: str) -> str:
        """``text`` without the access token, the secret or the SCIM token."""
        if self.tokens is not None:
            text = self.tokens.scrub(text)
        if self.scim_token is not None:
            text = text.replace(self.scim_token.reveal(), "***")
        return text

    def __repr__(self) -> str:
        login = "no login" if self.tokens is None else f"client {self.tokens.client_id!r}"
        return f"<Transport {self.api_url} ({login})>"


def _read_body(response: requests.Response) -> None:
    """Read a streamed response's whole body in one call and keep it as ``response.content``.

    ``Response.content`` would join 10 KB ``iter_content`` chunks, which costs about a third
    more CPU per 500-row page. The body is decoded as ``content`` would be (gzip, deflate), and
    urllib3 hands the connection back to the pool once the body is complete. Errors are mapped
    as ``iter_content`` maps them (a stalled body as a read timeout), so a connection cut
    mid-body is retried like before.
    """
    try:
        content = response.raw.read(decode_content=True)
    except urllib3.exceptions.ProtocolError as exc:  # cut mid-body, IncompleteRead included
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    except urllib3.exceptions.ReadTimeoutError as exc:  # the body stalled
        raise requests.exceptions.ReadTimeout(exc) from None
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from None
    # (On any error urllib3 has closed the connection, so it never returns to the pool.)
    # requests keeps a read body in these two attributes; ``content`` then returns it.
    response._content = content or b""
    response._content_consumed = True


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise RequestCancelled


def _sleep(seconds: float, cancel: threading.Event | None) -> None:
    """Wait ``seconds`` before a retry; at once :class:`RequestCancelled` if ``cancel`` is set."""
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise RequestCancelled


@dataclass
class _Tries:
    """The tries of one request: how many so far, until when, and whether it may repeat."""

    method: str
    deadline: float
    idempotent: bool
    cancel: threading.Event | None
    attempt: int = 0
    renewals: int = 0
    last_status: int | None = None  # of the previous answer (None: the connection broke)

    def time_left(self) -> float:
        """Seconds left of the retry budget."""
        return self.deadline - time.monotonic()
