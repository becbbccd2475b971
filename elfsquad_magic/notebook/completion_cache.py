"""What completion knows of the tenant: the schema and the Quotation/Configurator paths.

They are fetched in a background thread, waited for at most ``wait`` seconds on the first
keystroke, and cached per client, API host and login state; a failure is remembered for a
while so that every keystroke does not try again. The compact API descriptions the package
ships stand in for the service's own when those cannot be read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import apispec
from ..core.odata import CONFIGURATOR_ROOT, CONFIGURATOR_V3_ROOT, QUOTATION_ROOT, SCIM_ROOT
from ..core.schema import ServiceSchema

if TYPE_CHECKING:
    from ..client import ElfsquadClient

__all__ = [
    "API_OF_ROOT",
    "CompletionCache",
    "SCIM_PATHS",
    "SWAGGER_PATHS",
    "quiet_fetch_logs",
    "shipped_paths",
]

# Where the real service publishes its descriptions; the shipped compact copies stand in when
# these cannot be read (offline, not logged in, older tenant).
SWAGGER_PATHS = {
    "quotation": "/quotation/1/swagger/v1/swagger.json",
    "configurator": "/configurator/v1/swagger.json",
}
_ROOT_OF_API = {
    "quotation": QUOTATION_ROOT,
    "configurator": CONFIGURATOR_ROOT,
    "configurator3": CONFIGURATOR_V3_ROOT,
    "scim": SCIM_ROOT,
}
API_OF_ROOT = {root: api for api, root in _ROOT_OF_API.items()}
"""The API (``quotation``, ``configurator``...) whose paths start at a root."""
# Both configurator versions are described by one document, with {version} in its paths.
_DOCUMENT_OF_API = {"quotation": "quotation", "configurator": "configurator"}
_DOCUMENT_OF_API["configurator3"] = "configurator"
SCIM_PATHS = ("/scim/2/Users", "/scim/2/Users/{id}")
_FETCH_THREAD = "elfsquad-completion-fetch"


class _QuietFetches(logging.Filter):
    """Drops urllib3's retry warnings raised by completion fetches.

    They would otherwise print into whichever notebook cell ran last while someone types.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != _FETCH_THREAD


def quiet_fetch_logs() -> None:
    """Keep the background fetches' failures out of the editor's log output."""
    pool_logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _QuietFetches) for f in pool_logger.filters):
        pool_logger.addFilter(_QuietFetches())


class _Fetch:
    """One background fetch; ``done`` is set when ``value`` or ``failed_at`` is known."""

    def __init__(self, producer: Callable[[], Any]) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.failed_at: float | None = None
        self.waited = False
        self._thread = threading.Thread(
            target=self._run, args=(producer,), name=_FETCH_THREAD, daemon=True
        )
        self._thread.start()

    def _run(self, producer: Callable[[], Any]) -> None:
        try:
            self.value = producer()
        except BaseException:  # noqa: BLE001 - a completion fetch must never surface an error
            self.failed_at = time.monotonic()
        finally:
            self.done.set()


class CompletionCache:
    """The schema and API paths for the current client, fetched once and never waited on long.

    Entries are keyed on the client object, its ``api_url`` and its login (the token's expiry),
    so a logout, a new login or another host drops them.
    """

    def __init__(
        self,
        get_client: Callable[[], ElfsquadClient | None],
        *,
        wait: float = 2.0,
        retry_after: float = 30.0,
    ) -> None:
        self._get_client = get_client
        self.wait = wait
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._client: Any = None  # held so that id() in the key cannot be reused meanwhile
        self._fetches: dict[str, _Fetch] = {}

    @property
    def cached_for(self) -> Any:
        """The client whose schema and paths are cached now (``None``: none)."""
        return self._client

    def _current_client(self) -> Any:
        client = self._get_client()
        if client is None or not getattr(client, "logged_in", False):
            key: tuple[Any, ...] | None = None
        else:
            # The token's expiry changes with every login, so a new login refetches too.
            key = (
                id(client),
                str(getattr(client, "api_url", "")),
                getattr(client, "token_expires_at", None),
            )
        with self._lock:
            if key != self._key:
                self._key, self._client, self._fetches = key, client, {}
        return client if key is not None else None

    def _get(self, name: str, producer: Callable[[], Any]) -> Any:
        with self._lock:
            fetch = self._fetches.get(name)
            if fetch is not None and fetch.failed_at is not None:
                if time.monotonic() - fetch.failed_at < self.retry_after:
                    return None
                fetch = None
            if fetch is None:
                fetch = self._fetches[name] = _Fetch(producer)
            first_wait = not fetch.waited
            fetch.waited = True
        # Only the first keystroke waits; later ones take whatever has arrived meanwhile.
        if first_wait:
            fetch.done.wait(self.wait)
        return fetch.value if fetch.done.is_set() else None

    def schema(self) -> ServiceSchema | None:
        """The Data API schema, or None when not logged in, not arrived yet or failing."""
        client = self._current_client()
        if client is None:
            return None
        value = self._get("schema", client.schema)
        return value if isinstance(value, ServiceSchema) else None

    def api_paths(self, api: str) -> tuple[str, ...]:
        """Path templates of the Quotation, Configurator (1 or 3) or SCIM API: the service's
        descriptions, else the shipped copies."""
        if api == "scim":
            return SCIM_PATHS
        name = _DOCUMENT_OF_API[api]
        client = self._current_client()
        if client is not None:
            document = self._get(name, lambda: _fetch_swagger(client, SWAGGER_PATHS[name]))
            paths = _paths_of(document, _ROOT_OF_API[api]) if isinstance(document, dict) else ()
            if paths:
                return paths
        return shipped_paths(api)


def _fetch_swagger(client: Any, path: str) -> Any:
    return client.request("GET", path, raw=True, paginate=False, progress=False)


def _paths_of(document: dict[str, Any], root: str) -> tuple[str, ...]:
    """The document's paths with ``{version}`` filled in from ``root``, those under it only."""
    paths = document.get("paths")
    if not isinstance(paths, dict):
        return ()
    version = root.strip("/").split("/")[1]
    found = []
    for path in paths:
        concrete = str(path).replace("{version}", version)
        if concrete.lower().startswith(root):
            found.append(concrete)
    return tuple(found)


_shipped_cache: dict[str, tuple[str, ...]] = {}


def shipped_paths(api: str) -> tuple[str, ...]:
    """The paths of the Quotation or Configurator API from the description the package ships."""
    if api not in _shipped_cache:
        _shipped_cache[api] = _paths_of(apispec.load(_DOCUMENT_OF_API[api]), _ROOT_OF_API[api])
    return _shipped_cache[api]


# -- pure completion logic: text before the cursor -> suggestions ----------------------------
