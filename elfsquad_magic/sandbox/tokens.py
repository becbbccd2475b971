"""Client-credentials tokens: issue, check, expire."""

from __future__ import annotations

import secrets
import threading
import time

__all__ = ["TokenIssuer"]


class TokenIssuer:
    """Issues opaque bearer tokens for one client and remembers when each expires."""

    def __init__(
        self, client_id: str, client_secret: str, ttl: int, early_expiry: float = 0.0
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.ttl = ttl
        # Tokens stop working this many seconds before the lifetime they announce, as with
        # clock skew between hosts or a revocation: the client must cope with the 401.
        self.early_expiry = early_expiry
        self._expiry: dict[str, float] = {}
        self._issued: list[str] = []
        self._lock = threading.Lock()

    def credentials_ok(self, client_id: str, client_secret: str) -> bool:
        """Whether the pair is this sandbox's client (constant-time comparison)."""
        return secrets.compare_digest(
            client_id.encode(), self.client_id.encode()
        ) & secrets.compare_digest(client_secret.encode(), self.client_secret.encode())

    def issue(self) -> tuple[str, int]:
        """A new token and its lifetime in seconds."""
        token = secrets.token_urlsafe(48)
        ttl = self.ttl
        with self._lock:
            self._expiry[token] = time.monotonic() + max(0.0, ttl - self.early_expiry)
            self._issued.append(token)
        return token, ttl

    def check(self, token: str) -> str | None:
        """``None`` when valid, else why not (``"unknown"`` or ``"expired"``)."""
        with self._lock:
            expiry = self._expiry.get(token)
        if expiry is None:
            return "unknown"
        if time.monotonic() >= expiry:
            return "expired"
        return None

    def expire_all(self) -> None:
        """Make every token issued so far expired (for renewal tests)."""
        with self._lock:
            for token in self._expiry:
                self._expiry[token] = 0.0

    @property
    def issued(self) -> list[str]:
        """Every token issued so far, oldest first."""
        with self._lock:
            return list(self._issued)
