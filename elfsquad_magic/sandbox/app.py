"""``Sandbox``: the server running in a daemon thread of the current process."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from types import TracebackType

from .faults import FAULT_KINDS, FaultInjector
from .profile import Capacity, RateLimits
from .server import SandboxApp, SandboxHTTPServer, Settings
from .tenants import DEFAULT_TENANT, Tenant, TenantSpec
from .tokens import TokenIssuer

__all__ = ["Sandbox"]


class Sandbox:
    """A local Elfsquad stand-in: token endpoint and Data API over real loopback HTTP.

    ``with Sandbox() as sb:`` starts it on a free port; ``sb.url``, ``sb.client_id`` and
    ``sb.client_secret`` are what a client needs. ``tenants`` are more tenants on the same
    host, each with its own client and data: ``sb.tenant(name)`` has their credentials.
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
        tenants: Sequence[TenantSpec] = (),
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
        default = TenantSpec(
            DEFAULT_TENANT, self.client_id, self.client_secret, self.scim_token, scale, seed
        )
        self._specs = [default, *tenants]
        names = [spec.name for spec in self._specs]
        if len(set(names)) < len(names):
            raise ValueError(f"tenant names must differ (and none be {DEFAULT_TENANT!r})")
        for spec in tenants:
            self._tokens.add_client(spec.client_id, spec.client_secret, spec.name)
        self._faults = FaultInjector(fault_rate, fault_seed)
        self._page_size = page_size
        self._tenants: dict[str, Tenant] = {}
        self._app: SandboxApp | None = None
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        # Never the secret: reprs end up in notebooks and logs.
        state = self.url if self._server else "stopped"
        return f"<Sandbox {state} scale={self.scale} seed={self.seed} client_id={self.client_id!r}>"

    # Lifecycle ----------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Seed the store (unless ``db`` already holds data) and start serving."""
        if self._server is not None:
            return self
        try:
            # The default tenant keeps its data in ``db``; the others in memory.
            for spec in self._specs:
                db = self.db if spec.name == DEFAULT_TENANT else None
                self._tenants[spec.name] = Tenant(spec, self._page_size, db)
            self._app = SandboxApp(self._tenants, self._tokens, self._faults, self._settings)
            self._server = SandboxHTTPServer((self.host, self.port), self._app, self.verbose)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"elfsquad-sandbox-{self._server.server_address[1]}",
                daemon=True,
            )
            self._thread.start()
        except BaseException:
            # A port in use, or stopped while seeding: the tenants made so far are closed
            # (a large one's file removed). A server that never served needs no shutdown.
            if self._server is not None and not (self._thread and self._thread.is_alive()):
                self._server.server_close()
                self._server = None
                self._thread = None
            self.stop()
            raise
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
        tenants = list(self._tenants.values())
        try:
            for tenant in tenants:
                tenant.close()
        except KeyboardInterrupt:
            # Ctrl-C while a seed was being kept: keep none, and close every tenant all the same.
            self.stop_keeping()
            for tenant in tenants:
                tenant.close()
            raise
        finally:
            self._tenants.clear()  # after: stop_keeping() reaches them while they close

    @property
    def seeds_being_kept(self) -> list[TenantSpec]:
        """The tenants whose new seed is still being copied for the next start."""
        return [tenant.spec for tenant in self._tenants.values() if tenant.keeping_seed]

    def stop_keeping(self) -> None:
        """Stop the copies of new seeds still being made (none is kept: the next start seeds
        again); safe to call from a signal handler."""
        for tenant in list(self._tenants.values()):
            tenant.stop_keeping()

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
        # Every tenant's counter is there from the start, so a snapshot taken before the
        # first request has the same keys as one taken after.
        base.update(dict.fromkeys((f"requests_of:{spec.name}" for spec in self._specs), 0))
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
            self._settings.rate_limit = RateLimits(rate_limit or None)
        if token_ttl is not None:
            self._tokens.ttl = token_ttl
        if page_size is not None:
            if page_size < 1:
                raise ValueError("page_size must be at least 1")
            self._page_size = page_size
            for tenant in self._tenants.values():
                tenant.api.page_size = page_size

    @property
    def tenants(self) -> list[TenantSpec]:
        """Every tenant served, the default one first (their secrets stay out of reprs)."""
        return list(self._specs)

    def tenant(self, name: str = DEFAULT_TENANT) -> Tenant:
        """A running tenant: its client's credentials, SCIM token, rows and uploaded files."""
        if not self._tenants:
            raise RuntimeError("the sandbox is not running; call start() or use 'with'")
        if name not in self._tenants:
            raise KeyError(f"no tenant {name!r}: {', '.join(self._tenants)}")
        return self._tenants[name]

    @property
    def uploaded_files(self) -> list[dict]:
        """Files uploaded with ``addfile``: quotationId, fileName, contentType, size, content."""
        return list(self.tenant().files) if self._tenants else []

    def expire_tokens(self) -> None:
        """Make every token issued so far expired, as if its lifetime had passed."""
        self._tokens.expire_all()

    def add_property(
        self, entity_set: str, name: str, edm_type: str = "Edm.String", value: object = None
    ) -> None:
        """Add a property to a set of the default tenant (see :meth:`.Tenant.add_property`)."""
        self.tenant().add_property(entity_set, name, edm_type, value)

    def commit_late(self, entity_set: str, key: object, changes: dict, seconds_ago: float) -> None:
        """Write ``changes`` to one row of the default tenant stamped ``seconds_ago`` in the
        past (see :meth:`.Tenant.commit_late`)."""
        self.tenant().commit_late(entity_set, key, changes, seconds_ago)

    def rows(self, entity_set: str) -> list[dict]:
        """Current rows of a set (any casing) of the default tenant, ordered by key."""
        return self.tenant().rows(entity_set)
