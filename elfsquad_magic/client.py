"""ElfsquadClient: query the Elfsquad APIs from Python and get typed pandas DataFrames.

The public front: it holds the login and the settings, builds the request engine
(:class:`.fetch.engine.Fetcher`), the mirror, the journal and the journaled writer, and
delegates to them. The magics are thin glue over it; scripts use it directly::

    client = ElfsquadClient.from_env()
    features = client.get("/data/1/features", filter="salesPrice gt 100", select="name")
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from .core.auth import secure_base_url
from .core.connections import ConnectionsFile
from .core.credentials import Credentials
from .core.environment import login_options_from_env
from .core.odata import (
    DEFAULT_API_URL,
    DEFAULT_LOGIN_URL,
    DEFAULT_SCOPE,
)
from .core.request import ODataRequest, Params, as_request
from .core.schema import ServiceSchema
from .core.settings import (
    HttpSettings,
    ResultSettings,
    SettingAttribute,
    StorageSettings,
    all_settings,
    check_output,
)
from .cpq.model_diff import diff_models
from .cpq.views import CpqViews
from .errors import NotLoggedInError, UsageError
from .fetch.answer import Answer
from .fetch.engine import Fetcher
from .fetch.etags import ETagMemory
from .fetch.options import FetchOptions
from .fetch.pace import PaceReport
from .fetch.tables import attach_info
from .fetch.verbs import RequestMethods
from .store.diff import diff_tenants
from .store.journal import Journal, default_journal_dir
from .store.mirror import Mirror, default_mirror_dir
from .store.sql import run_sql
from .store.sync import SyncReport, read_mirrored, set_to_sync, sync_set, sync_target
from .store.undo import undo_write
from .store.writer import JournaledWriter

__all__ = ["ElfsquadClient"]


class ElfsquadClient(RequestMethods):
    """An authenticated client for the Elfsquad APIs (Data API, Quotation API, ...).

    The secret and the token are held masked: they appear in no ``repr``, message or log.

    Args:
        client_id: The OpenId client's id, from Elfsquad's Integrations page (not secret).
        client_secret: Its secret; kept (masked) to renew the token unless ``keep_secret`` is
            False. ``ElfsquadClient.from_env()`` reads both from the environment.
        login_url: The token host (``https://login.elfsquad.io``).
        api_url: The API host (``https://api.elfsquad.io``); tokens go to this host only.
        scope: The OAuth scope asked for (``Elfskot.Api``).
        keep_secret: Keep the secret to renew an expired token; False drops it after login.
        scim_token: The SCIM API's own token, sent to ``/scim/2/`` paths only.
        http: Time-outs, retry budget and concurrency (:class:`.core.settings.HttpSettings`).
        results: Column dtypes and progress bars (:class:`.core.settings.ResultSettings`).
        storage: The mirror's and the journal's folders, look-back, bulk size
            (:class:`.core.settings.StorageSettings`).
        **settings: Any field of the three settings values by its name (``timeout=10``,
            ``dtype_backend="pyarrow"``, ``mirror_dir=...``); later ``configure(...)`` or the
            same attribute (``client.bulk_size = 100``) changes it.
    """

    timeout = SettingAttribute("http")
    retry_seconds = SettingAttribute("http")
    concurrency = SettingAttribute("http")
    max_concurrency = SettingAttribute("http")
    calls_per_minute = SettingAttribute("http")
    dtype_backend = SettingAttribute("results")
    progress = SettingAttribute("results")
    output = SettingAttribute("results")
    mirror_dir = SettingAttribute("storage")
    sync_lookback = SettingAttribute("storage")
    journal_dir = SettingAttribute("storage")
    journal_writes = SettingAttribute("storage")
    bulk_size = SettingAttribute("storage")

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        login_url: str = DEFAULT_LOGIN_URL,
        api_url: str = DEFAULT_API_URL,
        scope: str = DEFAULT_SCOPE,
        keep_secret: bool = True,
        scim_token: str | None = None,
        http: HttpSettings | None = None,
        results: ResultSettings | None = None,
        storage: StorageSettings | None = None,
        **settings: Any,
    ) -> None:
        self._api_url = secure_base_url(api_url or DEFAULT_API_URL, "API URL")
        self.http, self.results, self.storage = all_settings(http, results, storage, settings)
        self.credentials = Credentials(
            client_id,
            client_secret,
            login_url=login_url,
            scope=scope,
            keep_secret=keep_secret,
            scim_token=scim_token,
            timeout=self.http.timeout,
        )
        self._engine = Fetcher(self._api_url, http=self.http, results=self.results)
        self._authorize()
        self.last_sync: SyncReport | None = None
        self.connection: str | None = None  # the name of a connection of connections.toml
        # What df.attrs["elfsquad"] holds, for the last result of any output type (a polars
        # frame has no attrs of its own).
        self.last_info: dict[str, Any] | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> ElfsquadClient:
        """A client configured from ``ELFSQUAD_CLIENT_ID``/``_SECRET``/``_LOGIN_URL``/``_API_URL``/
        ``_SCOPE``/``_SCIM_TOKEN``; keyword arguments win over the environment."""
        return cls(**login_options_from_env(overrides))

    @classmethod
    def connect(cls, name: str | None = None, **settings: Any) -> ElfsquadClient:
        """A client of the connection ``name`` of ``connections.toml`` (default: the default
        connection), its secret from the OS keyring, the environment or the file."""
        connection, options = ConnectionsFile().login_options(name)
        client = cls(**options, **settings)
        client.connection = connection.name
        return client

    from_connection = connect

    # -- settings ---------------------------------------------------------------------------

    def configure(self, **settings: Any) -> None:
        """Change settings by their flat names (``bulk_size=100``, ``timeout=10``...); they
        apply from the next request on."""
        self.http, self.results, self.storage = all_settings(
            self.http, self.results, self.storage, settings
        )
        self._engine.configure(http=self.http, results=self.results)

    @property
    def engine(self) -> Fetcher:
        """The request engine this client delegates to."""
        return self._engine

    @property
    def etags(self) -> ETagMemory:
        """The ETags of the records read in this session (a write sends ``If-Match``)."""
        return self._engine.etags

    @property
    def pace(self) -> PaceReport:
        """The pace found for the API host: concurrency reached, learned rate, 429s seen."""
        return self._engine.pace_report()

    @property
    def api_calls(self) -> int:
        """API calls sent so far by this client (retries included; token requests not)."""
        return self._engine.calls

    # -- identity and login -----------------------------------------------------------------

    @property
    def client_id(self) -> str | None:
        """The OpenId client id (not secret)."""
        return self.credentials.client_id

    @property
    def login_url(self) -> str:
        """The login host, e.g. ``https://login.elfsquad.io``."""
        return self.credentials.login_url

    @login_url.setter
    def login_url(self, value: str) -> None:
        if self.credentials.use_login_url(value):
            self._authorize(new_connections=True)

    @property
    def api_url(self) -> str:
        """The API host, e.g. ``https://api.elfsquad.io``."""
        return self._api_url

    @api_url.setter
    def api_url(self, value: str) -> None:
        value = secure_base_url(value, "API URL")
        if value != self._api_url:
            self._api_url = value
            # Another host: another engine (pace, schema, ETags), and no token goes there.
            self.credentials.set_scim_token(None)
            self.credentials.drop_login()
            self._engine.close()
            self._engine = Fetcher(value, http=self.http, results=self.results)

    @property
    def scope(self) -> str:
        """The OAuth scope asked for (``Elfskot.Api``)."""
        return self.credentials.scope

    @property
    def logged_in(self) -> bool:
        """Whether a token is held and can be used or renewed."""
        return self.credentials.logged_in

    @property
    def token_expires_at(self) -> dt.datetime | None:
        """When the current token expires (aware, UTC), or ``None``."""
        return self.credentials.expires_at

    def _authorize(self, new_connections: bool = False) -> None:
        """Hand the credentials as they are now to the engine."""
        credentials = self.credentials
        self._engine.authorize(
            credentials.tokens,
            credentials.scim_token,
            client_id=credentials.client_id,
            new_connections=new_connections,
        )

    def login(self, client_id: str | None = None, client_secret: str | None = None) -> None:
        """Obtain a token now (with new credentials when given); raises :class:`LoginError`."""
        try:
            self.credentials.login(client_id, client_secret)
        finally:
            self._authorize()

    def logout(self) -> None:
        """Forget the token, the secret and the SCIM token (the client id and hosts stay)."""
        self.credentials.set_scim_token(None)
        self.credentials.drop_login()
        self._authorize(new_connections=True)

    @property
    def has_scim_token(self) -> bool:
        """Whether a SCIM token is held for ``/scim/2/`` requests (never the token itself)."""
        return self.credentials.scim_token is not None

    def set_scim_token(self, token: str | None) -> None:
        """Use ``token`` for the SCIM API (``/scim/2/...``); ``None`` forgets it."""
        self.credentials.set_scim_token(token)
        self._authorize()

    def status(self) -> str:
        """Who is logged in where and until when; never the token."""
        return self.credentials.status(self._api_url)

    def __repr__(self) -> str:
        return (
            f"ElfsquadClient(client_id={self.client_id!r}, api_url={self._api_url!r}, "
            f"status={self.status()!r})"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("ElfsquadClient holds credentials and cannot be pickled")

    def close(self) -> None:
        """Close pooled connections (the login stays)."""
        self._engine.close()
        self.credentials.close()

    # -- requests ---------------------------------------------------------------------------

    def fetch(self, request: ODataRequest, options: FetchOptions | None = None) -> Answer:
        """Send a request value and return its whole :class:`.Answer` (value, status, pages,
        pace). A write (POST, PATCH, PUT, DELETE) goes through the journal: the records it
        touches are read and recorded before it is sent, its outcome after (see :meth:`undo`)."""
        options = options or FetchOptions()
        if request.method != "GET" and not request.is_scim and self.storage.journal_writes:
            return self.writer.send(request, raw=options.raw, progress=options.progress)
        answer = self._engine.fetch(request, options)
        if answer.value is not None and not options.raw:
            self.last_info = answer.attrs()
        return answer

    def schema(self) -> ServiceSchema:
        """The Data API's entity sets and property types, from ``$metadata`` (cached)."""
        return self._engine.schema()

    # -- the local mirror -------------------------------------------------------------------

    @property
    def mirror(self) -> Mirror:
        """This tenant's mirror folder (API host and client id) under ``mirror_dir``; without a
        client id, the host's only mirrored client."""
        root = self.storage.mirror_dir
        return Mirror.locate(
            root if root is not None else default_mirror_dir(), self._api_url, self.client_id
        )

    def sync(
        self,
        entity_set: str | ODataRequest,
        *,
        select: str | list[str] | None = None,
        full: bool = False,
        offline: bool = False,
        output: str | None = None,
    ) -> Any:
        """The whole entity set as a full GET returns it, from the local mirror brought up to
        date first (only what changed is read); ``full`` rebuilds it, ``offline`` reads it
        without any network. ``entity_set`` is a name or a ``GET /data/1/<Set>`` request
        (with ``$select`` only); ``output`` as in :meth:`request`. ``df.attrs["elfsquad"]``
        (:attr:`last_info`) and :attr:`last_sync` hold the report (rows, changed, new,
        deleted, requests, seconds)."""
        check_output(output)
        value = self._sync(entity_set, select, full, offline, output or self.results.output)
        self.last_info = {"sync": self.last_sync.as_dict(), "mirror": str(self.mirror.folder)}
        return attach_info(value, self.last_info)

    def _sync(
        self,
        entity_set: str | ODataRequest,
        select: str | list[str] | None,
        full: bool,
        offline: bool,
        output: str | None,
    ) -> Any:
        """The sync itself; ``output=None``: the mirror only, no result."""
        if full and offline:
            raise UsageError("--full reads the service; --offline does not.", "Use one of them.")
        name, columns = sync_target(entity_set, select)
        backend = self.results.dtype_backend
        if offline:
            value, report = read_mirrored(self.mirror, name, columns, backend, output or "pandas")
        else:
            self._engine.require_login()
            calls, started = self.api_calls, time.monotonic()  # $metadata counts, when read
            value, report = sync_set(
                self._engine,
                self.mirror,
                set_to_sync(self.schema(), name),
                columns=columns,
                full=full,
                lookback=self.storage.sync_lookback,
                dtype_backend=backend,
                output=output,
                workers=self.http.max_concurrency,
                calls_before=calls,
                started=started,
            )
        self.last_sync = report
        return value

    def sql(
        self,
        query: str,
        params: Mapping[str, Any] | None = None,
        *,
        offline: bool = False,
        frames: Mapping[str, Any] | None = None,
        report: Callable[[str], None] | None = None,
        output: str | None = None,
    ) -> Any:
        """DuckDB SQL over the mirrored sets, named as in the Data API in any casing; each set
        the query names is synced first unless ``offline``. ``params`` fill ``$name``;
        ``frames`` are more tables the query may name (pandas, polars or Arrow); ``report``
        gets each sync's summary; ``output`` as in :meth:`request`."""
        check_output(output)
        sync = None if offline else self._sync_for_sql
        return run_sql(
            query,
            params or {},
            mirror=self.mirror,
            sync=sync,
            frames=frames,
            report=report,
            output=output or self.results.output,
        )

    cpq = property(CpqViews, doc="The CPQ views over the mirror: ``client.cpq.model(name)``...")

    def _sync_for_sql(self, name: str) -> SyncReport | None:
        if self.schema().find(name) is None:
            return None  # not an entity set: a notebook frame, perhaps
        self._sync(name, None, False, False, None)  # the file only: DuckDB reads it
        return self.last_sync

    def diff(
        self,
        other: ElfsquadClient,
        entity_set: str | None = None,
        *,
        model: str | None = None,
        on: Sequence[str] | None = None,
        ignore: Sequence[str] = (),
        offline: bool = False,
    ) -> pd.DataFrame:
        """What differs in ``entity_set`` between this tenant and ``other``'s, from both
        mirrors: rows only in one, and each changed property with both values; matched on
        ``on`` (a key that survives copying, such as ``articleCode``), else the set's key.
        ``model`` (a feature model's name) compares its trees instead, nodes matched by path.
        ``df.attrs["elfsquad"]["diff"]["summary"]`` says it in one line."""
        if (entity_set is None) == (model is None):
            raise UsageError(
                "Name an entity set or a model to compare, not both.",
                'client.diff(other, "Features") or client.diff(other, model="E-Bike").',
            )
        if model is not None:
            return diff_models(self, other, model, ignore=ignore, offline=offline)[0]
        assert entity_set is not None
        return diff_tenants(self, other, entity_set, on=on, ignore=ignore, offline=offline)[0]

    # -- writes you can trust ---------------------------------------------------------------

    @property
    def journal(self) -> Journal:
        """This tenant's write journal (API host and client id) under ``journal_dir``."""
        if not self.client_id:
            raise NotLoggedInError()
        root = self.storage.journal_dir
        root = root if root is not None else default_journal_dir()
        return Journal(root, self._api_url, self.client_id, self.connection)

    @property
    def writer(self) -> JournaledWriter:
        """Writes through this client's journal, with its settings as they are now."""
        return JournaledWriter(
            self._engine,
            lambda: self.journal,
            bulk_size=self.storage.bulk_size,
            progress=self.results.progress,
            bar_factory=self.results.progress_bar,
        )

    def dry_run(
        self,
        request: ODataRequest | str,
        path: str | None = None,
        *,
        json: Any = None,
        params: Params = None,
    ) -> str:
        """What a request would send (method, decoded URL, body, records), sending nothing;
        ``request`` is a request value, or a method followed by ``path``."""
        return self.writer.dry_run(as_request(request, path, json, params))

    def preview(
        self, request: ODataRequest | str, path: str | None = None, *, json: Any = None
    ) -> pd.DataFrame:
        """The change a PATCH, PUT, DELETE or bulk action would make, as a frame of change,
        key, property, before and after (whole records for creations and deletions); the
        records are read, nothing is written."""
        return self.writer.preview(as_request(request, path, json))

    def undo(
        self,
        write_id: str | None = None,
        *,
        force: bool = False,
        dry_run: bool = False,
        preview: bool = False,
    ) -> Any:
        """Revert the latest write not yet undone (or ``write_id``): changed properties are
        patched back, deleted records re-created with their keys, created ones deleted. A
        :class:`ConflictError` lists records changed since the write, unless ``force``.
        ``dry_run`` returns the text of the requests, ``preview`` the change as a frame."""
        return undo_write(
            self.writer, self.journal, write_id, force=force, dry_run=dry_run, preview=preview
        )
