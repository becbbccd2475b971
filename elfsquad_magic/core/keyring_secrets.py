"""The client secret in the OS keyring: for a named connection (``connections.toml``), and for
users who opt in with ``%elfsquad_login --keyring``.

Without either nothing here runs and ``keyring`` is not even imported. The secret is stored
under the service ``elfsquad-magic`` with the client id as the user name, so the OS (macOS
Keychain, Windows Credential Locker, Secret Service) holds it, never a file of ours. The OS
keyring needs a backend (macOS, Windows and desktop Linux have one).
"""

from __future__ import annotations

from types import ModuleType

from ..errors import LoginError

__all__ = ["KEYRING_SERVICE", "read_secret", "store_secret", "delete_secret"]

KEYRING_SERVICE = "elfsquad-magic"
"""The keyring service name the secrets are stored under."""

_HINT = (
    "Check that the OS keyring is unlocked and available, or log in without --keyring "
    "(ELFSQUAD_CLIENT_ID/ELFSQUAD_CLIENT_SECRET, or the login form)."
)


def _keyring() -> ModuleType:
    try:
        import keyring
    except ImportError:
        raise LoginError(
            "--keyring needs the keyring package, which is not installed.",
            "Install it with: pip install keyring (or pip install elfsquad-magic[keyring]).",
        ) from None
    return keyring


def _failure(action: str, exc: BaseException) -> LoginError:
    # The backend's own message names the backend or the lock, not the secret.
    reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return LoginError(f"The OS keyring could not {action}: {reason}", _HINT)


def read_secret(client_id: str) -> str | None:
    """The secret stored for ``client_id``, or ``None`` when there is none."""
    keyring = _keyring()
    failure: LoginError | None = None
    try:
        return keyring.get_password(KEYRING_SERVICE, client_id) or None
    except Exception as exc:  # any backend failure (locked, no backend, D-Bus down...)
        failure = _failure("be read", exc)
    raise failure


def store_secret(client_id: str, secret: str) -> None:
    """Store ``secret`` for ``client_id``, replacing an earlier one."""
    keyring = _keyring()
    failure: LoginError | None = None
    try:
        keyring.set_password(KEYRING_SERVICE, client_id, secret)
        return
    except Exception as exc:
        failure = _failure("store the secret", exc)
    raise failure


def delete_secret(client_id: str) -> bool:
    """Remove the secret stored for ``client_id``; False when there was none."""
    keyring = _keyring()
    failure: LoginError | None = None
    try:
        if keyring.get_password(KEYRING_SERVICE, client_id) is None:
            return False
        keyring.delete_password(KEYRING_SERVICE, client_id)
        return True
    except Exception as exc:
        failure = _failure("remove the secret", exc)
    raise failure
