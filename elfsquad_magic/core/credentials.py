"""Who a client is: the OpenId client id, its secret and token (held masked by the token
provider), the login host and scope, and the SCIM API's own token.

:class:`Credentials` holds one login's state and says who is logged in until when; the client
hands its token provider and SCIM token to the request engine after every change.
"""

from __future__ import annotations

import datetime as dt

import requests

from ..errors import LoginError
from .auth import Masked, TokenProvider, clock_text, secure_base_url
from .http_sessions import new_session
from .odata import DEFAULT_LOGIN_URL, DEFAULT_SCOPE

__all__ = ["Credentials"]


class Credentials:
    """One OpenId client's login: the token provider (secret and token, masked), the login
    host and scope, and the SCIM token; never shown in any ``repr``."""

    def __init__(
        self,
        client_id: str | None,
        client_secret: str | None = None,
        *,
        login_url: str = DEFAULT_LOGIN_URL,
        scope: str = DEFAULT_SCOPE,
        keep_secret: bool = True,
        scim_token: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.login_url = secure_base_url(login_url or DEFAULT_LOGIN_URL, "login URL")
        self.client_id = (client_id or "").strip() or None
        self.scope = scope or DEFAULT_SCOPE
        self.keep_secret = keep_secret
        self.timeout = timeout
        self._session: requests.Session = new_session(self.login_url)  # the token requests
        self.tokens: TokenProvider | None = None
        if self.client_id and client_secret:
            self.tokens = self._new_tokens(client_secret)
        self.scim_token: Masked | None = None
        self.set_scim_token(scim_token)

    def _new_tokens(self, client_secret: str) -> TokenProvider:
        assert self.client_id is not None
        return TokenProvider(
            self.client_id,
            client_secret,
            login_url=self.login_url,
            scope=self.scope,
            session=self._session,
            timeout=(min(10.0, self.timeout), self.timeout),
            keep_secret=self.keep_secret,
        )

    def use_login_url(self, value: str) -> bool:
        """Log in at another host from now on (the login there is dropped); whether it changed."""
        value = secure_base_url(value, "login URL")
        if value == self.login_url:
            return False
        self.login_url = value
        self.drop_login()
        self._session.close()
        self._session = new_session(value)
        return True

    def drop_login(self) -> None:
        """Forget the token and the secret (the client id, hosts and SCIM token stay)."""
        if self.tokens is not None:
            self.tokens.forget()
        self.tokens = None

    def set_scim_token(self, token: str | None) -> None:
        """Use ``token`` for the SCIM API; ``None`` forgets it."""
        token = (token or "").strip()
        self.scim_token = Masked(token) if token else None

    def login(self, client_id: str | None = None, client_secret: str | None = None) -> None:
        """Obtain a token now (with new credentials when given); raises :class:`LoginError`."""
        if client_id is not None:
            client_id = client_id.strip()
            if client_id != self.client_id:
                self.drop_login()
            self.client_id = client_id or None
        if client_secret:
            if not self.client_id:
                raise LoginError(
                    "No client id was given.",
                    "Give the Client ID of the OpenId client from the Integrations page.",
                )
            if self.tokens is not None:
                self.tokens.forget()
            self.tokens = self._new_tokens(client_secret)
        if self.tokens is None or not self.tokens.has_secret:
            missing = "client id and secret" if not self.client_id else "client secret"
            raise LoginError(
                f"No {missing} to log in with.",
                "Set ELFSQUAD_CLIENT_ID and ELFSQUAD_CLIENT_SECRET, or use %elfsquad_login.",
            )
        self.tokens.fetch()

    @property
    def logged_in(self) -> bool:
        """Whether a token is held and can be used or renewed."""
        tokens = self.tokens
        return tokens is not None and tokens.has_token and (tokens.is_valid() or tokens.has_secret)

    @property
    def expires_at(self) -> dt.datetime | None:
        """When the current token expires (aware, UTC), or ``None``."""
        return self.tokens.expires_at if self.tokens is not None else None

    def status(self, api_url: str) -> str:
        """Who is logged in at ``api_url`` and until when; never the token."""
        tokens = self.tokens
        if tokens is None or not tokens.has_token or tokens.expires_at is None:
            return "Not logged in"
        until = clock_text(tokens.expires_at)
        if tokens.expires_at <= dt.datetime.now(dt.timezone.utc):
            if tokens.has_secret:
                state = f"token expired at {until}; it is renewed on the next call"
            else:
                return f"Not logged in (the token for {self.client_id} expired at {until})"
        else:
            state = f"token valid until {until}"
        return f"Logged in as {self.client_id} at {api_url} - {state}"

    def close(self) -> None:
        """Close the login host's pooled connections."""
        self._session.close()

    def __repr__(self) -> str:
        return f"<Credentials of {self.client_id!r} at {self.login_url}>"

    def __reduce__(self) -> object:
        raise TypeError("Credentials hold secrets and cannot be pickled")
