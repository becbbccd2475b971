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

__all__ = [
    "DEFAULT_CONNECTION",
    "DEMO_SEED",
    "ElfsquadSession",
    "format_expiry",
    "login_summary",
]

DEFAULT_CONNECTION = "default"
"""The name of a login that names no connection (from the environment, the form, a prompt)."""
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
    """The extension's state in one kernel: a client per named connection (one of them
    current), the demo sandbox, and a client that reads a mirror without a login."""

    def __init__(self) -> None:
        self._clients: dict[str, ElfsquadClient] = {}
        self._current: str | None = None
        self._sandbox: Sandbox | None = None
        self._offline: ElfsquadClient | None = None  # reads a mirror without a login

    @staticmethod
    def _new_client(*args: Any, **client_options: Any) -> ElfsquadClient:
        """A client whose progress bars leave nothing behind in a saved notebook."""
        return ElfsquadClient(*args, progress_bar=notebook_bar, **client_options)

    def configure(self, **settings: Any) -> None:
        """A setting changed (``%config``): every client uses it from the next cell."""
        for client in self._clients.values():
            client.configure(**settings)

    def mirror_client(
        self, api_url: str, client_id: str | None, settings: dict[str, Any]
    ) -> ElfsquadClient:
        """The logged-in client; without one, a client without a login that reads the mirror
        of ``client_id`` (or the host's only mirrored client) on ``api_url``."""
        client = self.client
        if client is not None and client.client_id:
            return client
        offline = self._offline
        if offline is None or (offline.api_url, offline.client_id) != (api_url, client_id):
            offline = self._offline = self._new_client(client_id, api_url=api_url, **settings)
        else:
            offline.configure(**{k: v for k, v in settings.items() if k != "keep_secret"})
        return offline

    # -- the connections ------------------------------------------------------------------

    @property
    def client(self) -> ElfsquadClient | None:
        """The current connection's client (None before any login and after its logout)."""
        return self._clients.get(self._current) if self._current is not None else None

    @property
    def current(self) -> str | None:
        """The name of the current connection."""
        return self._current if self._current in self._clients else None

    @property
    def clients(self) -> dict[str, ElfsquadClient]:
        """The kernel's clients, by connection name."""
        return dict(self._clients)

    @property
    def logged_in(self) -> bool:
        """Whether the current connection is logged in."""
        client = self.client
        return client is not None and bool(client.logged_in)

    @property
    def sandbox(self) -> Sandbox | None:
        """The demo sandbox started by `%elfsquad_login --demo`, if any."""
        return self._sandbox

    def require_client(self, connection: str | None = None) -> ElfsquadClient:
        """The client of ``connection`` (default: the current one), or NotLoggedInError."""
        name = connection or self._current
        client = self._clients.get(name) if name is not None else None
        if client is not None:
            return client
        others = ", ".join(sorted(self._clients))
        if connection is not None:
            raise NotLoggedInError(
                f"Not logged in to the connection {connection!r}.",
                f"Run %elfsquad_login --connection {connection}"
                + (f" (logged in here: {others})." if others else "."),
            )
        if others:
            raise NotLoggedInError(
                "No connection is current.", f"Choose one of {others}: %elfsquad_use NAME"
            )
        raise NotLoggedInError()

    def use(self, connection: str) -> ElfsquadClient:
        """Make ``connection`` (logged in already) the current one."""
        client = self.require_client(connection)
        self._current = connection
        return client

    def login(
        self,
        client_id: str,
        client_secret: str,
        *,
        connection: str = DEFAULT_CONNECTION,
        **client_options: Any,
    ) -> ElfsquadClient:
        """Log in a client for ``connection`` and make it current; on failure the session stays
        exactly as it was. An earlier client of that connection is logged out."""
        client = self._new_client(client_id, client_secret, **client_options)
        client.login()
        client.connection = connection
        previous = self._clients.get(connection)
        self._clients[connection] = client
        self._current = connection
        if previous is not None and previous is not client:
            previous.logout()
        return client

    def set_scim_token(
        self, token: str, *, connection: str | None = None, **client_options: Any
    ) -> ElfsquadClient:
        """Give a connection's client the SCIM token (a client without an OAuth login is made
        when there is none, or when ``api_url`` names another host)."""
        name = connection or self._current or DEFAULT_CONNECTION
        client = self._clients.get(name)
        api_url = client_options.get("api_url")
        if client is None or (api_url and api_url.rstrip("/") != client.api_url):
            client = self._new_client(**client_options)
            client.connection = name
            previous, self._clients[name] = self._clients.get(name), client
            if previous is not None:
                previous.logout()
        self._current = name
        client.set_scim_token(token)
        return client

    def logout(self, connection: str | None = None) -> bool:
        """Forget one connection's token and credentials (default: the current one); the
        others stay. True when it was logged in."""
        name = connection or self._current
        client = self._clients.pop(name, None) if name is not None else None
        if name == self._current:
            self._current = None
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

    def status(self, connection: str | None = None) -> str:
        """Who is logged in, where and until when, for a connection (default: the current
        one); never the token."""
        name = connection or self._current
        client = self._clients.get(name) if name is not None else None
        if client is None:
            if self._clients:
                return (
                    f"No current connection; logged in: {', '.join(sorted(self._clients))}. "
                    "Choose one with %elfsquad_use NAME."
                )
            return "Not logged in to Elfsquad. Run %elfsquad_login (or %elfsquad_login --demo)."
        lines = [f"Connection: {name}" + (" (current)" if name == self._current else "")]
        lines += _client_status(client, self._sandbox)
        others = sorted(set(self._clients) - {name})
        if others:
            lines.append(f"Other connections: {', '.join(others)} (%elfsquad_connections)")
        return "\n".join(lines)

    def close(self) -> None:
        """Log out of every connection and stop the demo sandbox (when the extension is
        unloaded)."""
        for name in list(self._clients):
            self.logout(name)
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            sandbox.stop()

    def __repr__(self) -> str:
        client = self.client
        who = f"logged in as {client.client_id!r} at {client.api_url}" if client else "logged out"
        return f"<ElfsquadSession {who}; connections {sorted(self._clients)}>"


def _client_status(client: ElfsquadClient, sandbox: Sandbox | None) -> list[str]:
    """Lines about one client: who at which host, scope, SCIM token, pace, token expiry."""
    where = client.api_url
    if sandbox is not None and client.api_url == sandbox.api_url:
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
    return lines
