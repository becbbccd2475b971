"""The per-kernel session: the logged-in client and the demo sandbox, never in the user namespace.

The access token lives inside the session's `ElfsquadClient`; the session shows only who is
logged in, where and until when.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..client import ElfsquadClient
from ..core.auth import clock_text
from ..errors import NotLoggedInError
from .progress_bar import notebook_bar

if TYPE_CHECKING:
    from ..sandbox import Sandbox

__all__ = ["DEMO_SEED", "ElfsquadSession", "format_expiry", "login_summary"]

DEMO_SEED = 42
"""Seed of the demo sandbox's data, so `%elfsquad_login --demo` always shows the same rows."""


def format_expiry(expires_at: datetime | None) -> str:
    """The token's expiry as local time with its zone ("14:05 CET"), or "" when unknown."""
    return clock_text(expires_at) if expires_at is not None else ""


def login_summary(client: ElfsquadClient) -> str:
    """One line for a successful login: "Logged in as <client id> - token valid until 14:05 CET"."""
    until = format_expiry(client.token_expires_at)
    line = f"Logged in as {client.client_id}"
    return f"{line} - token valid until {until}" if until else line


class ElfsquadSession:
    """The extension's state in one kernel: the current client and the demo sandbox, if any."""

    def __init__(self) -> None:
        self._client: ElfsquadClient | None = None
        self._sandbox: Sandbox | None = None
        self._offline: ElfsquadClient | None = None  # reads a mirror without a login

    @staticmethod
    def _new_client(*args: Any, **client_options: Any) -> ElfsquadClient:
        """A client whose progress bars leave nothing behind in a saved notebook."""
        return ElfsquadClient(*args, progress_bar=notebook_bar, **client_options)

    def configure(self, **settings: Any) -> None:
        """A setting changed (``%config``): the logged-in client uses it from the next cell."""
        if self._client is not None:
            self._client.configure(**settings)

    def mirror_client(
        self, api_url: str, client_id: str | None, settings: dict[str, Any]
    ) -> ElfsquadClient:
        """The logged-in client; without one, a client without a login that reads the mirror
        of ``client_id`` (or the host's only mirrored client) on ``api_url``."""
        client = self._client
        if client is not None and client.client_id:
            return client
        offline = self._offline
        if offline is None or (offline.api_url, offline.client_id) != (api_url, client_id):
            offline = self._offline = self._new_client(client_id, api_url=api_url, **settings)
        else:
            offline.configure(**{k: v for k, v in settings.items() if k != "keep_secret"})
        return offline

    @property
    def client(self) -> ElfsquadClient | None:
        """The client of the last successful login (None before any and after logout)."""
        return self._client

    @property
    def logged_in(self) -> bool:
        """Whether a client is logged in."""
        return self._client is not None and bool(self._client.logged_in)

    @property
    def sandbox(self) -> Sandbox | None:
        """The demo sandbox started by `%elfsquad_login --demo`, if any."""
        return self._sandbox

    def require_client(self) -> ElfsquadClient:
        """The logged-in client, or NotLoggedInError."""
        if self._client is None:
            raise NotLoggedInError()
        return self._client

    def login(self, client_id: str, client_secret: str, **client_options: Any) -> ElfsquadClient:
        """Log in a new client; on failure the session stays exactly as it was."""
        client = self._new_client(client_id, client_secret, **client_options)
        client.login()
        previous, self._client = self._client, client
        if previous is not None:
            previous.logout()
        return client

    def set_scim_token(self, token: str, **client_options: Any) -> ElfsquadClient:
        """Give the session's client the SCIM token (a client without an OAuth login is made
        when there is none, or when ``api_url`` names another host)."""
        client = self._client
        api_url = client_options.get("api_url")
        if client is None or (api_url and api_url.rstrip("/") != client.api_url):
            client = self._new_client(**client_options)
            previous, self._client = self._client, client
            if previous is not None:
                previous.logout()
        client.set_scim_token(token)
        return client

    def logout(self) -> bool:
        """Forget the token and the credentials; True when someone was logged in."""
        client, self._client = self._client, None
        if client is None:
            return False
        client.logout()
        return True

    def demo_sandbox(self) -> Sandbox:
        """The session's sandbox on a free loopback port, started on first use and reused."""
        if self._sandbox is None:
            from ..sandbox import Sandbox

            self._sandbox = Sandbox(scale=1, seed=DEMO_SEED).start()
        return self._sandbox

    def status(self) -> str:
        """Who is logged in, where and until when; never the token."""
        client = self._client
        if client is None:
            return "Not logged in to Elfsquad. Run %elfsquad_login (or %elfsquad_login --demo)."
        where = client.api_url
        if self._sandbox is not None and client.api_url == self._sandbox.api_url:
            where += " (demo sandbox)"
        if client.logged_in:
            lines = [f"Logged in as {client.client_id} at {where}", f"Scope: {client.scope}"]
        else:
            lines = [f"No OAuth login at {where}"]
        if client.has_scim_token:
            lines.append("SCIM token: set (used for /scim/2/ only)")
        lines.append(f"Pace: {client.pace}")
        expires_at = client.token_expires_at
        if expires_at is not None:
            left = expires_at - datetime.now(timezone.utc)
            minutes = max(0, int(left.total_seconds() // 60))
            lines.append(f"Token valid until {format_expiry(expires_at)} ({minutes} min left)")
        return "\n".join(lines)

    def close(self) -> None:
        """Log out and stop the demo sandbox (when the extension is unloaded)."""
        self.logout()
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            sandbox.stop()

    def __repr__(self) -> str:
        client = self._client
        who = f"logged in as {client.client_id!r} at {client.api_url}" if client else "logged out"
        return f"<ElfsquadSession {who}>"
