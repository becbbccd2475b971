"""Authenticated HTTP to the API host: retries, timeouts, host checks and error mapping."""

from __future__ import annotations

import email.utils
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.filepost import encode_multipart_formdata
from urllib3.util.retry import Retry

from . import __version__
from .auth import Masked, TokenProvider, check_secure_url, is_loopback_host
from .errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectionFailedError,
    ElfsquadHTTPError,
    InsecureURLError,
    NotFoundError,
    NotLoggedInError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    UsageError,
)
from .odata import ENV_SCIM_TOKEN, is_scim_path
from .pace import PaceController, rate_hint
from .pages import decode_json
from .request import Params, encode_query, shown_url, strip_credentials

__all__ = [
    "RETRY_STATUSES",
    "RateLimiter",
    "RequestCancelled",
    "Transport",
    "new_session",
    "redact_headers",
    "retry_wait",
]

logger = logging.getLogger("elfsquad_magic")

# Statuses worth another try for a GET: the request was not served, or served by a tired proxy.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

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


class _QuietRetry(Retry):
    """The connect-retry policy of this package's pools; marks urllib3's log records as ours."""


class _OwnRetryWarnings(logging.Filter):
    """Turns urllib3's "Retrying (...) after connection broken" warnings for our pools into
    debug lines of the ``elfsquad_magic`` logger.

    The retries are expected and reported as one clear error if they fail; a warning would
    print into whichever notebook cell is running.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if any(isinstance(arg, _QuietRetry) for arg in args):
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("urllib3: %s", record.getMessage())
            return False
        return True


def _install_retry_filter() -> None:
    pool_logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _OwnRetryWarnings) for f in pool_logger.filters):
        pool_logger.addFilter(_OwnRetryWarnings())


_install_retry_filter()


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def new_session(base_url: str) -> requests.Session:
    """A ``requests.Session`` for one host: connect retries, proxies and CA bundle from the
    environment, but never credentials from ``.netrc`` (they would replace the bearer token)."""
    session = requests.Session()
    # urllib3 retries only failed connects (the request never left, so any method is safe);
    # status and read retries are done in Transport.request, where the time budget lives.
    retry = _QuietRetry(
        total=2,
        connect=2,
        read=False,  # read errors surface as themselves (ReadTimeout), handled by the caller
        status=0,
        other=0,
        redirect=0,
        backoff_factor=0.2,
        respect_retry_after_header=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = f"elfsquad-magic/{__version__}"
    session.trust_env = False
    if not is_loopback_host(urlsplit(base_url).hostname):
        # Analysts behind a company proxy: honour HTTPS_PROXY/NO_PROXY and a custom CA bundle.
        session.proxies.update(requests.utils.get_environ_proxies(base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
    return session


class RequestCancelled(BaseException):
    """Raised by :meth:`Transport.request` when its ``cancel`` event is set: no request starts.

    A ``BaseException``, like ``KeyboardInterrupt``: it means "stop", never a failure to handle.
    """


class RateLimiter:
    """Spaces calls evenly to at most ``calls_per_minute``, shared by every thread.

    A 429 pauses all callers for the wait the service asked for, not only the one that saw it.
    """

    def __init__(self, calls_per_minute: int | None = None) -> None:
        if calls_per_minute is not None and calls_per_minute <= 0:
            raise UsageError(
                f"calls_per_minute must be a positive number, not {calls_per_minute}.",
                "Leave it unset (None) for no limit.",
            )
        self.interval = 60.0 / calls_per_minute if calls_per_minute else 0.0
        # The host's pace controller, whose learned rate spaces calls too (set by the client).
        self.pace: PaceController | None = None
        self._lock = threading.Lock()
        self._next = 0.0
        self.calls = 0  # API calls let through (tries included): what a sync reports it cost

    def acquire(self) -> None:
        """Wait for this caller's turn (the hard cap, or the learned pace when slower)."""
        learned = self.pace.interval if self.pace is not None and self.pace.adaptive else 0.0
        with self._lock:
            self.calls += 1
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + max(self.interval, learned)
        if slot > now:
            time.sleep(slot - now)

    def pause(self, seconds: float) -> None:
        """Let no call start for ``seconds`` (after a 429 with Retry-After)."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


class Transport:
    """Sends requests to the API host with the token, retrying what is safe to retry.

    GET is retried on connection errors, 429, 502, 503 and 504 with backoff, honouring
    ``Retry-After``, for at most ``retry_seconds`` in all. Writes are retried only when the
    request cannot have reached the service (connection refused) or the service said so (429).
    A 401 renews the token once and repeats the call.
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
        self._origin = _origin(self.api_url)

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
        if _origin(url) != self._origin:
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
        url = self.resolve(url)
        query = encode_query(params)
        if query:
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        shown = shown or url
        send_headers = _Headers({"Accept": "application/json", **(headers or {})})
        body = None if json is None else orjson.dumps(json)
        if body is not None:
            send_headers["Content-Type"] = "application/json"
        if files:
            # multipart/form-data, encoded once: a retry sends the very same bytes.
            body, send_headers["Content-Type"] = encode_multipart_formdata(dict(files))
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            _check(cancel)
            # Held masked, so no frame of this loop shows the token, even with its locals.
            token = self._token(url) if authenticate else None
            if token is not None:
                send_headers["Authorization"] = f"Bearer {token.reveal()}"
            self.limiter.acquire()
            _check(cancel)  # the limiter may have kept this caller waiting
            attempt_started = time.monotonic()
            response, broken = self._attempt(method, url, body, send_headers)
            self._observe(response, broken, time.monotonic() - attempt_started)
            if broken is not None:
                wait = retry_wait(
                    method, broken, attempt, deadline - time.monotonic(), idempotent=idempotent
                )
                if wait is None:
                    # Raised outside any except block: the requests exception (whose request
                    # holds the Authorization header) must not ride along as __context__.
                    raise self._connection_error(method, shown, broken)
                logger.debug(
                    "%s %s failed (%s); retry in %.1f s", method, shown_url(url), broken, wait
                )
                _sleep(wait, cancel)
                continue
            assert response is not None
            status = response.status_code
            renewable = token is not None and token is not self.scim_token
            if status == 401 and renewable and not renewed and self.tokens is not None:
                # The token lapsed or was revoked: renew once and repeat the call.
                renewed = True
                self.tokens.invalidate(token.reveal())
                response.close()
                continue
            wait = retry_wait(
                method,
                status,
                attempt,
                deadline - time.monotonic(),
                _retry_after(response),
                idempotent=idempotent,
            )
            if wait is not None:
                logger.info(
                    "%s %s answered %s; retry in %.1f s", method, shown_url(url), status, wait
                )
                response.close()
                if status == 429:
                    self.limiter.pause(wait)
                    if self.on_throttle is not None:
                        self.on_throttle(wait)
                _sleep(wait, cancel)
                continue
            if status >= 400:
                raise self._http_error(method, shown, response)
            if 300 <= status < 400:
                raise self._redirect_error(method, shown, response)
            return response

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

    def __repr__(self) -> str:
        login = "no login" if self.tokens is None else f"client {self.tokens.client_id!r}"
        return f"<Transport {self.api_url} ({login})>"

    # -- errors --------------------------------------------------------------------------------

    def _connection_error(self, method: str, url: str, exc: Exception) -> ConnectionFailedError:
        shown = shown_url(url)
        if isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectTimeout):
            return ConnectionFailedError(
                f"{method} {shown} got no answer within {self.timeout[1]:g} s.",
                "The service may be slow or unreachable; try again, or narrow the query.",
            )
        if _broke_mid_answer(exc):
            return ConnectionFailedError(
                f"{method} {shown} failed: the connection broke before the answer was complete.",
                "The network or the service dropped the connection; try again."
                + ("" if method == "GET" else " Check whether the change was made first."),
            )
        return ConnectionFailedError(
            f"{method} {shown} failed: could not connect to {urlsplit(url).netloc}.",
            "Check the API URL and your network connection.",
        )

    def _redirect_error(
        self, method: str, url: str, response: requests.Response
    ) -> ElfsquadHTTPError:
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

    def _http_error(self, method: str, url: str, response: requests.Response) -> ElfsquadHTTPError:
        status = response.status_code
        code, server_message = _server_error(response)
        if self.tokens is not None and server_message:
            server_message = self.tokens.scrub(server_message)
        if self.scim_token is not None and server_message:
            server_message = server_message.replace(self.scim_token.reveal(), "***")
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
        if status == 429:
            wait = _retry_after(response)
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


def _broke_mid_answer(exc: BaseException) -> bool:
    """Whether a connection error happened after the request was sent (not on connecting)."""
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return True
    reason = exc.args[0] if exc.args else None
    # requests wraps urllib3's ProtocolError("Connection aborted.", RemoteDisconnected(...)).
    return type(reason).__name__ == "ProtocolError" or "aborted" in str(reason).lower()


def _server_error(response: requests.Response) -> tuple[str | None, str | None]:
    """(code, message) from an OData or OAuth error body; a short text for anything else."""
    try:
        payload = decode_json(response.content)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
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
        for key in ("message", "Message", "title", "detail"):
            if isinstance(payload.get(key), str):
                return None, _clip(payload[key])
        return None, None
    text = response.text.strip() if response.content else ""
    if not text:
        return None, None
    if "<html" in text[:500].lower() or "<!doctype" in text[:500].lower():
        title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
        return None, _clip(title.group(1).strip()) if title else "(an HTML page)"
    return None, _clip(text)


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def retry_wait(
    method: str,
    outcome: int | BaseException,
    attempt: int,
    time_left: float,
    retry_after: float | None = None,
    *,
    idempotent: bool = False,
) -> float | None:
    """Seconds to wait before trying ``method`` again after ``outcome`` (an HTTP status, or the
    connection error of the ``attempt``-th try), or ``None``: report it now.

    A GET, and a write marked ``idempotent`` (a chunk of a bulk update), is retried on
    connection errors and 429/502/503/504. Another write is retried only when it cannot have
    reached the service: a connect time-out, or a 429 (refused connections are retried at once
    by the session's urllib3 ``Retry``). ``Retry-After`` decides the wait of a
    429 or 503; otherwise 0.5, 1, 2, 4, 8, 8... s with jitter. No retry whose wait would end
    after ``time_left`` (what remains of ``retry_seconds``).
    """
    repeatable = method == "GET" or idempotent
    if isinstance(outcome, BaseException):
        if not repeatable and not isinstance(outcome, requests.ConnectTimeout):
            return None
        wait = _backoff(attempt)
    else:
        if outcome not in RETRY_STATUSES or (not repeatable and outcome != 429):
            return None
        wait = retry_after if outcome in (429, 503) and retry_after is not None else None
        if wait is None:
            wait = _backoff(attempt)
    return wait if wait < time_left else None


def _backoff(attempt: int) -> float:
    # 0.5, 1, 2, 4, 8 s (capped), with jitter so parallel workers do not retry in step.
    return min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.75 + random.random() / 2)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    # delay-seconds (RFC 9110); a fraction is not standard but harmless to honour.
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
