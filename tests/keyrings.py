"""An in-process keyring backend for tests: the OS keyring's interface, nothing on disk."""

from __future__ import annotations

import keyring
import keyring.backend
import keyring.errors


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An in-process keyring backend that records every call."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}
        self.calls: list[str] = []
        self.fail = fail

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.fail:
            raise keyring.errors.KeyringLocked("The collection is locked.")

    def get_password(self, service: str, username: str) -> str | None:
        self._check("get")
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check("set")
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._check("delete")
        if self.items.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)
