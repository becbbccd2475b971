"""The client-credentials access token: obtain it, hold it masked, renew it before it expires."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from ..errors import InsecureURLError, LoginError, NotLoggedInError
from .odata import DEFAULT_API_URL, DEFAULT_LOGIN_URL

__all__ = [
    "Masked",
    "TokenProvider",
    "check_secure_url",
    "clock_text",
    "is_loopback_host",
    "secure_base_url",
]

logger = logging.getLogger("elfsquad_magic")

# Renew this long before expiry, so a request never leaves with a token about to lapse.
RENEW_MARGIN_SECONDS = 60.0


class Masked:
    """A string that never shows itself: ``repr``/``str`` give ``'***'``, pickling is refused."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("secrets cannot be pickled")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Masked) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secure_url(url: str, what: str) -> None:
    """Refuse URLs that would carry credentials in clear text (http to a non-loopback host)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The example names the host this URL is for: the token host or the API host.
        example = DEFAULT_LOGIN_URL if "login" in what.lower() else DEFAULT_API_URL
        bare = "://" not in url and bool(url.strip())
        raise InsecureURLError(
            f"The {what} {url!r} is not an http(s) URL" + (": it has no scheme." if bare else "."),
            f"Give a URL such as {example}" + (f" (https://{url.strip()})." if bare else "."),
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise InsecureURLError(
            f"The {what} {url!r} uses plain http: credentials would travel unencrypted.",
            "Use https; plain http is only allowed for a server on this machine (127.0.0.1).",
        )


def secure_base_url(value: str, what: str) -> str:
    """``value`` without surrounding blanks or a trailing slash; refused unless secure."""
    value = value.strip().rstrip("/")
    check_secure_url(value, what)
    return value


def clock_text(moment: dt.datetime) -> str:
    """A time of day with its zone, in this machine's local time: ``14:05 CET``, ``13:05 UTC``.

    Every time the package prints goes through here, so none is shown without its zone.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    local = moment.astimezone()
    zone = local.strftime("%Z") or local.strftime("UTC%z")
    return f"{local:%H:%M} {zone}"


class TokenProvider:
    """Obtains client-credentials tokens from ``{login_url}/oauth2/token`` and renews them.

    Thread-safe: concurrent workers share one token and at most one renewal runs at a time.
    Neither the secret nor the token ever appears in ``repr``/``str`` or an error message.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | None,
        *,
        login_url: str,
        scope: str,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = (10.0, 30.0),
        keep_secret: bool = True,
        renew_margin: float = RENEW_MARGIN_SECONDS,
    ) -> None:
        if not client_id or not str(client_id).strip():
            raise LoginError(
                "No client id was given.",
                "Set ELFSQUAD_CLIENT_ID and ELFSQUAD_CLIENT_SECRET, or use %elfsquad_login.",
            )
        self.client_id = str(client_id).strip()
        self.login_url = login_url.rstrip("/")
        check_secure_url(self.login_url, "login URL")
        self.scope = scope
        self.keep_secret = keep_secret
        self._secret = Masked(client_secret) if client_secret else None
        self._session = session or requests.Session()
        self._timeout = timeout
        self._renew_margin = renew_margin
        self._lock = threading.Lock()
        self._token: Masked | None = None
        self._expires_monotonic = 0.0
        self._lifetime = 0.0
        self.expires_at: dt.datetime | None = None

    # -- state -------------------------------------------------------------------------------

    @property
    def has_secret(self) -> bool:
        """Whether the secret is still held (so the token can be renewed without the user)."""
        return self._secret is not None

    @property
    def has_token(self) -> bool:
        """Whether a token is held (valid or not)."""
        return self._token is not None

    def is_valid(self) -> bool:
        """Whether the held token is usable for a while yet (outside the renewal margin)."""
        return self._token is not None and time.monotonic() < self._renew_at()

    def _renew_at(self) -> float:
        # Short-lived tokens (tests, some tenants) get a proportionally short margin.
        margin = min(self._renew_margin, self._lifetime / 4)
        return self._expires_monotonic - margin

    def __repr__(self) -> str:
        if self._token is None:
            state = "<none>"
        elif self.expires_at is not None and time.monotonic() >= self._expires_monotonic:
            state = f"<expired at {clock_text(self.expires_at)}>"
        elif self.expires_at is not None:
            state = f"<valid until {clock_text(self.expires_at)}>"
        else:
            state = "<held>"
        return f"TokenProvider(client_id={self.client_id!r}, token={state})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("TokenProvider holds credentials and cannot be pickled")

    # -- use -----------------------------------------------------------------------------------

    def token(self) -> str:
        """A valid access token, obtained or renewed when needed."""
        current = self._token
        if current is not None and time.monotonic() < self._renew_at():
            return current.reveal()
        with self._lock:
            # Another thread may have renewed while this one waited for the lock.
            if self._token is not None and time.monotonic() < self._renew_at():
                return self._token.reveal()
            return self._fetch_locked()

    def fetch(self) -> str:
        """Obtain a new token now, whatever the state of the current one."""
        with self._lock:
            return self._fetch_locked()

    def invalidate(self, token: str | None = None) -> None:
        """Mark the token as unusable (after a 401), so the next call renews it.

        With ``token``, only that token is invalidated: a worker that saw a 401 for an old
        token does not throw away the one another worker has just obtained.
        """
        with self._lock:
            if self._token is None:
                return
            if token is not None and self._token.reveal() != token:
                return
            self._expires_monotonic = 0.0

    def forget(self) -> None:
        """Drop the token and the secret."""
        with self._lock:
            self._token = None
            self._secret = None
            self.expires_at = None
            self._expires_monotonic = 0.0

    def scrub(self, text: str) -> str:
        """``text`` with the secret and the current token replaced by ``***``."""
        for masked in (self._secret, self._token):
            if masked is not None and masked.reveal():
                text = text.replace(masked.reveal(), "***")
        return text

    # -- the token request ---------------------------------------------------------------------

    def _fetch_locked(self) -> str:
        if self._secret is None:
            if self._token is not None:
                raise NotLoggedInError(
                    "The Elfsquad token has expired and the secret was not kept to renew it.",
                    "Log in again with %elfsquad_login.",
                )
            raise NotLoggedInError()
        started = time.monotonic()
        payload = self._parse(self._post_credentials())
        token = payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise LoginError(
                f"The login host {self.login_url} answered without an access token.",
                "Check the login URL: it should be the Elfsquad login host.",
            )
        try:
            lifetime = float(payload.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        self._token = Masked(token)
        self._lifetime = max(lifetime, 0.0)
        self._expires_monotonic = started + self._lifetime
        self.expires_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(
            seconds=self._lifetime - (time.monotonic() - started)
        )
        if not self.keep_secret:
            self._secret = None
        logger.info(
            "Obtained an Elfsquad token for %s, valid until %s",
            self.client_id,
            clock_text(self.expires_at),
        )
        return token

    def _post_credentials(self) -> requests.Response:
        """The token endpoint's answer to the client-credentials form (the secret is sent
        here only, and the request keeps no copy of it)."""
        assert self._secret is not None
        url = f"{self.login_url}/oauth2/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret.reveal(),
            "scope": self.scope,
        }
        logger.debug("POST %s (client credentials for %s)", url, self.client_id)
        failure: LoginError | None = None
        try:
            response = self._session.post(
                url,
                data=form,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            failure = LoginError(
                f"The login host {self.login_url} did not answer in time.",
                "Check the login URL and your network, then try again.",
            )
        except requests.RequestException as exc:
            failure = LoginError(
                f"Could not reach the login host {self.login_url} ({_reason(exc)}).",
                "Check the login URL (Advanced) and your network connection.",
            )
        finally:
            form.clear()
        if failure is not None:
            # Raised here, not in the except block: the requests exception holds the request,
            # whose body carries the secret, and must not ride along as __context__.
            raise failure
        # The prepared request's body is the form with the secret; nothing needs it any more.
        response.request.body = None
        return response

    def _parse(self, response: requests.Response) -> dict[str, Any]:
        status = response.status_code
        try:
            payload = response.json()
        except (ValueError, json.JSONDecodeError):
            payload = None
        if 200 <= status < 300:
            if isinstance(payload, dict):
                return payload
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise LoginError(
                f"The login host {self.login_url} did not answer with a token "
                f"(HTTP {status}, {kind}).",
                "Check the login URL: it should be the Elfsquad login host, "
                "e.g. https://login.elfsquad.io.",
            )
        error = description = ""
        if isinstance(payload, dict):
            error = str(payload.get("error") or "")
            description = self.scrub(str(payload.get("error_description") or ""))
        detail = f" ({description})" if description else ""
        if status == 401 or error in ("invalid_client", "unauthorized_client"):
            raise LoginError(
                f"The client id {self.client_id!r} or its secret was not accepted{detail}.",
                "Check both on the Integrations page of Elfsquad (OpenId client); a secret is "
                "shown only once, when it is created.",
            )
        if error == "invalid_scope":
            raise LoginError(
                f"The scope {self.scope!r} was refused{detail}.",
                "Use the default scope Elfskot.Api unless your administrator gave another.",
            )
        if status == 404 or status == 405:
            raise LoginError(
                f"There is no token endpoint at {self.login_url}/oauth2/token (HTTP {status}).",
                "Check the login URL: it should be the Elfsquad login host, "
                "e.g. https://login.elfsquad.io.",
            )
        if status >= 500:
            raise LoginError(
                f"The login host {self.login_url} had a problem (HTTP {status}).",
                "Try again in a minute.",
            )
        what = error or f"HTTP {status}"
        raise LoginError(
            f"The login was refused: {what}{detail}.",
            "Check the client id, secret, scope and login URL.",
        )


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route"):
        if marker.lower() in text.lower():
            return marker.lower()
    return type(exc).__name__
