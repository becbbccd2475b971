"""``Sandbox``: the server running in a daemon thread of the current process."""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import tempfile
import threading
from types import TracebackType

import orjson

from .configurator_api import ConfiguratorApi
from .dataapi import DataApi
from .faults import FAULT_KINDS, FaultInjector
from .ledger import Ledger
from .metadata import EntitySetSpec, load_service
from .profile import Capacity, RateLimit
from .quotationapi import QuotationApi
from .scim import ScimApi
from .seed import generate_tenant, stream_tenant
from .server import SandboxApp, SandboxHTTPServer, Settings
from .store import Store
from .tokens import TokenIssuer
from .values import utc_now_text

__all__ = ["seed_store", "Sandbox"]

# Seeded databases of small tenants, copied into each new sandbox: tests start many sandboxes.
_TEMPLATES: dict[tuple[int, int], Store] = {}
_TEMPLATES_LOCK = threading.Lock()
_TEMPLATE_MAX_SCALE = 2
# Above this scale the store is a temporary file rather than memory (scale 40: about 0.9 GB).
_MEMORY_MAX_SCALE = 40


def seed_store(store: Store, scale: int, seed: int) -> None:
    """Fill an empty store with the tenant of (scale, seed)."""
    if scale > _TEMPLATE_MAX_SCALE:
        store.load_stream(stream_tenant(scale, seed))
        return
    with _TEMPLATES_LOCK:
        template = _TEMPLATES.get((scale, seed))
        if template is None:
            template = Store(store.service)
            template.load(generate_tenant(scale, seed))
            _TEMPLATES[(scale, seed)] = template
    store.copy_from(template)


class Sandbox:
    """A local Elfsquad stand-in: token endpoint and Data API over real loopback HTTP.

    ``with Sandbox() as sb:`` starts it on a free port; ``sb.url``, ``sb.client_id`` and
    ``sb.client_secret`` are what a client needs.
    """

    def __init__(
        self,
        scale: int = 1,
        seed: int = 42,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 500,
        latency_ms: float = 0,
        token_ttl: int = 3600,
        token_early_expiry: float = 0.0,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        retry_after: float = 1.0,
        max_concurrent: int | None = None,
        rate_limit: float | None = None,
        db: str | None = None,
        client_id: str = "demo-client",
        client_secret: str | None = None,
        scim_token: str | None = None,
        verbose: bool = False,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.scale, self.seed = scale, seed
        self.host, self.port = host, port
        self.db = db
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(32)
        # The SCIM API's own bearer token (Elfsquad's SCIM settings make one), not an OAuth one.
        self.scim_token = scim_token or secrets.token_urlsafe(32)
        self.verbose = verbose
        if retry_after < 0:
            raise ValueError("retry_after must be 0 or more seconds")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._settings = Settings(latency_ms, retry_after, max_concurrent, rate_limit)
        self._tokens = TokenIssuer(
            self.client_id, self.client_secret, token_ttl, token_early_expiry
        )
        self._faults = FaultInjector(fault_rate, fault_seed)
        self._page_size = page_size
        self._store: Store | None = None
        self._api: DataApi | None = None
        self._app: SandboxApp | None = None
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._scratch: str | None = None  # the file of a large tenant's store

    def __repr__(self) -> str:
        # Never the secret: reprs end up in notebooks and logs.
        state = self.url if self._server else "stopped"
        return f"<Sandbox {state} scale={self.scale} seed={self.seed} client_id={self.client_id!r}>"

    # Lifecycle ----------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Seed the store (unless ``db`` already holds data) and start serving."""
        if self._server is not None:
            return self
        # A copy of its own: add_property changes this sandbox's schema, not every sandbox's.
        service = copy.deepcopy(load_service())
        if self.db is None and self.scale > _MEMORY_MAX_SCALE:
            # A large tenant lives in a file of its own (removed at stop): in memory, scale 200
            # would take about 4 GB; from a file only SQLite's page cache stays resident.
            handle, self._scratch = tempfile.mkstemp(prefix="elfsquad-sandbox-", suffix=".db")
            os.close(handle)
            store = Store(service, self._scratch, scratch=True)
        else:
            store = Store(service, self.db)
        if store.fresh:
            seed_store(store, self.scale, self.seed)
        self._store = store
        self._api = DataApi(service, store, self._page_size)
        scim = ScimApi(store, service.sets["Users"], self.scim_token)
        ledger = Ledger(service, store)
        self._app = SandboxApp(
            self._api,
            self._tokens,
            self._faults,
            self._settings,
            scim,
            QuotationApi(ledger),
            ConfiguratorApi(ledger),
        )
        self._server = SandboxHTTPServer((self.host, self.port), self._app, self.verbose)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"elfsquad-sandbox-{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every open connection, then close the store."""
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._scratch is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._scratch)
            self._scratch = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until interrupted (for the command line)."""
        self.start()
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)

    # Addresses ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() or use 'with'")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def login_url(self) -> str:
        """Where the token endpoint lives (``{login_url}/oauth2/token``)."""
        return self.url

    @property
    def api_url(self) -> str:
        """Where the APIs live (``{api_url}/data/1/``)."""
        return self.url

    # Observation and control --------------------------------------------------------------
    @property
    def issued_tokens(self) -> list[str]:
        """Every access token issued so far."""
        return self._tokens.issued

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of the counters (requests, api_requests, faults_429, ...)."""
        base = dict.fromkeys(
            [
                "requests",
                "api_requests",
                "token_requests",
                "tokens_issued",
                "unauthorized",
                "faults_429",
                "faults_503",
                "faults_cut",
                "errors_500",
                "api_writes",
            ],
            0,
        )
        if self._app is not None:
            base.update(self._app.stats)
        return base

    def configure(
        self,
        *,
        fault_rate: float | None = None,
        fault_seed: int | None = None,
        fault_after: int | None = None,
        fault_kinds: tuple[str, ...] | None = None,
        fault_limit: int | None = None,
        fault_writes_only: bool = False,
        retry_after: float | None = None,
        latency_ms: float | None = None,
        token_ttl: int | None = None,
        token_early_expiry: float | None = None,
        page_size: int | None = None,
        max_concurrent: int | None = None,
        rate_limit: float | None = None,
    ) -> None:
        """Change settings while running (``token_ttl`` applies to tokens issued afterwards).

        ``max_concurrent`` (requests served at once, others queue) and ``rate_limit`` (calls per
        second, excess answered 429) make a service profile; 0 removes either.

        Setting any of ``fault_rate``, ``fault_seed`` or ``fault_after`` restarts the fault
        sequence; ``fault_after=N`` serves the next N API requests normally before faults begin;
        ``fault_kinds`` picks among "429", "503" and "cut" (a write is applied, then its
        connection cut); ``fault_limit`` ends the faults after that many;
        ``fault_writes_only`` leaves reads alone.
        ``retry_after`` is what a 429 asks the client to wait, in seconds.
        ``token_early_expiry`` makes tokens stop working that many seconds before their
        announced lifetime (clock skew, revocation).
        """
        if any(v is not None for v in (fault_rate, fault_seed, fault_after, fault_kinds)):
            self._faults.reset(
                self._faults.rate if fault_rate is None else fault_rate,
                self._faults.seed if fault_seed is None else fault_seed,
                fault_after or 0,
                fault_kinds or FAULT_KINDS,
                fault_limit,
                fault_writes_only,
            )
        if retry_after is not None:
            if retry_after < 0:
                raise ValueError("retry_after must be 0 or more seconds")
            self._settings.retry_after = retry_after
        if token_early_expiry is not None:
            self._tokens.early_expiry = token_early_expiry
        if latency_ms is not None:
            self._settings.latency_ms = latency_ms
        if max_concurrent is not None:
            self._settings.capacity = Capacity(max_concurrent or None)
        if rate_limit is not None:
            self._settings.rate_limit = RateLimit(rate_limit or None)
        if token_ttl is not None:
            self._tokens.ttl = token_ttl
        if page_size is not None:
            if page_size < 1:
                raise ValueError("page_size must be at least 1")
            self._page_size = page_size
            if self._api is not None:
                self._api.page_size = page_size

    @property
    def uploaded_files(self) -> list[dict]:
        """Files uploaded with ``addfile``: quotationId, fileName, contentType, size, content."""
        return list(self._app.files) if self._app is not None else []

    def expire_tokens(self) -> None:
        """Make every token issued so far expired, as if its lifetime had passed."""
        self._tokens.expire_all()

    def add_property(
        self, entity_set: str, name: str, edm_type: str = "Edm.String", value: object = None
    ) -> None:
        """Add a property to a set (a new release of the service): ``$metadata`` shows it and
        every row carries ``value``, without touching any row's ``updatedDate``."""
        spec = self._spec(entity_set)
        assert self._store is not None and self._api is not None
        self._store.add_property(spec, name, edm_type, value)
        self._api.schema_changed()

    def commit_late(self, entity_set: str, key: object, changes: dict, seconds_ago: float) -> None:
        """Write ``changes`` to one row stamped ``seconds_ago`` in the past: a transaction that
        took its ``updatedDate`` before it committed, so readers in between missed it."""
        spec = self._spec(entity_set)
        assert self._store is not None
        raw = self._store.get(spec, key)
        if raw is None:
            raise KeyError(key)
        row = {**orjson.loads(raw), **changes}
        row["updatedDate"] = utc_now_text(seconds_ago)
        self._store.replace_rows(spec, [row])

    def _spec(self, entity_set: str) -> EntitySetSpec:
        if self._store is None:
            raise RuntimeError("the sandbox is not running")
        spec = self._store.service.find(entity_set)
        if spec is None:
            raise KeyError(entity_set)
        return spec

    def rows(self, entity_set: str) -> list[dict]:
        """Current rows of a set (any casing), straight from the store, ordered by key."""
        if self._store is None:
            raise RuntimeError("the sandbox is not running")
        spec = self._store.service.find(entity_set)
        if spec is None:
            raise KeyError(entity_set)
        return self._store.rows(spec)
