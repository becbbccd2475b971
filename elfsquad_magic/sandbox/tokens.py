"""Client-credentials tokens: issue, check, expire; each token belongs to one tenant."""

from __future__ import annotations

import secrets
import threading
import time

__all__ = ["DEFAULT_TENANT", "TokenIssuer"]

DEFAULT_TENANT = "default"
"""The name of the tenant a sandbox serves when no other is named."""


class TokenIssuer:
    """Issues opaque bearer tokens to the clients of the tenants and remembers when each
    expires and whose it is (``client_id``/``client_secret``: the default tenant's client)."""

    def __init__(
        self, client_id: str, client_secret: str, ttl: int, early_expiry: float = 0.0
    ) -> None:
        self.ttl = ttl
        # Tokens stop working this many seconds before the lifetime they announce, as with
        # clock skew between hosts or a revocation: the client must cope with the 401.
        self.early_expiry = early_expiry
        self._clients: dict[str, tuple[str, str]] = {}  # client id -> (secret, tenant)
        self._expiry: dict[str, tuple[float, str]] = {}  # token -> (expiry, tenant)
        self._issued: list[str] = []
        self._lock = threading.Lock()
        self.add_client(client_id, client_secret, DEFAULT_TENANT)

    def add_client(self, client_id: str, client_secret: str, tenant: str) -> None:
        """Let ``client_id`` with ``client_secret`` obtain tokens for ``tenant``."""
        if client_id in self._clients:
            raise ValueError(f"the client id {client_id!r} is already a tenant's")
        self._clients[client_id] = (client_secret, tenant)

    def tenant_for(self, client_id: str, client_secret: str) -> str | None:
        """The tenant of this client when the secret is its own, else ``None`` (the secret is
        compared in constant time, against a stand-in for an unknown client too)."""
        known = self._clients.get(client_id)
        expected, tenant = known if known is not None else (secrets.token_urlsafe(32), "")
        if secrets.compare_digest(client_secret.encode(), expected.encode()) and known:
            return tenant
        return None

    def credentials_ok(self, client_id: str, client_secret: str) -> bool:
        """Whether the pair is one of this sandbox's clients."""
        return self.tenant_for(client_id, client_secret) is not None

    def issue(self, tenant: str = DEFAULT_TENANT) -> tuple[str, int]:
        """A new token for ``tenant`` and its lifetime in seconds."""
        token = secrets.token_urlsafe(48)
        ttl = self.ttl
        with self._lock:
            self._expiry[token] = (time.monotonic() + max(0.0, ttl - self.early_expiry), tenant)
            self._issued.append(token)
        return token, ttl

    def check(self, token: str) -> str | None:
        """``None`` when valid, else why not (``"unknown"`` or ``"expired"``)."""
        with self._lock:
            known = self._expiry.get(token)
        if known is None:
            return "unknown"
        if time.monotonic() >= known[0]:
            return "expired"
        return None

    def tenant_of(self, token: str) -> str | None:
        """The tenant a token was issued for (``None``: not one of ours)."""
        with self._lock:
            known = self._expiry.get(token)
        return None if known is None else known[1]

    def expire_all(self) -> None:
        """Make every token issued so far expired (for renewal tests)."""
        with self._lock:
            for token, (_, tenant) in self._expiry.items():
                self._expiry[token] = (0.0, tenant)

    @property
    def issued(self) -> list[str]:
        """Every token issued so far, oldest first."""
        with self._lock:
            return list(self._issued)
