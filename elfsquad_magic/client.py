"""ElfsquadClient: query the Elfsquad APIs from Python and get typed pandas DataFrames.

The public front: it holds the login and the settings, builds the request engine
(:class:`.fetch.engine.Fetcher`), the mirror, the journal and the journaled writer, and
delegates to them. The magics are thin glue over it; scripts use it directly::

    client = ElfsquadClient.from_env()
    features = client.get("/data/1/features", filter="salesPrice gt 100", select="name")
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from .core.auth import Masked, TokenProvider, check_secure_url, clock_text
from .core.literals import to_json_compatible
from .core.odata import (
    BODYLESS_METHODS,
    DEFAULT_API_URL,
    DEFAULT_LOGIN_URL,
    DEFAULT_SCOPE,
    ENV_SCIM_TOKEN,
    KEYWORD_OPTIONS,
    LIST_OPTIONS,
)
from .core.request import ODataRequest, Params
from .core.schema import ServiceSchema
from .core.sessions import new_session
from .core.settings import HttpSettings, ResultSettings, StorageSettings, split_settings
from .errors import LoginError, NotLoggedInError, UsageError
from .fetch.answer import Answer
from .fetch.engine import Fetcher
from .fetch.etags import ETagMemory
from .fetch.options import FetchOptions
from .fetch.pace import PaceReport
from .fetch.progress import ProgressSpec
from .store.journal import Journal, default_journal_dir
from .store.mirror import Mirror, default_mirror_dir
from .store.sql import run_sql
from .store.sync import SyncReport, read_mirrored, sync_set, sync_target
from .store.undo import undo_write
from .store.writer import JournaledWriter

__all__ = ["ElfsquadClient"]


def _checked_url(value: str, what: str) -> str:
    """``value`` without surrounding blanks or a trailing slash; refused unless secure."""
    value = value.strip().rstrip("/")
    check_secure_url(value, what)
    return value


class _Setting:
    """A flat attribute (``client.timeout``) over one field of a settings value."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, client: Any, owner: type | None = None) -> Any:
        if client is None:
            return self
        return getattr(getattr(client, self.group), self.name)

    def __set__(self, client: Any, value: Any) -> None:
        client.configure(**{self.name: value})


class ElfsquadClient:
    """An authenticated client for the Elfsquad APIs (Data API, Quotation API, ...).

    Settings come as three values, ``http``, ``results`` and ``storage`` (see
    :mod:`.core.settings`), or as their flat keywords (``timeout=10``, ``dtype_backend=...``,
    ``mirror_dir=...``). The secret and the token are held masked: they appear in no ``repr``,
    message or log.
    """

    timeout = _Setting("http")
    retry_seconds = _Setting("http")
    concurrency = _Setting("http")
    max_concurrency = _Setting("http")
    calls_per_minute = _Setting("http")
    dtype_backend = _Setting("results")
    progress = _Setting("results")
    mirror_dir = _Setting("storage")
    sync_lookback = _Setting("storage")
    journal_dir = _Setting("storage")
    journal_writes = _Setting("storage")
    bulk_size = _Setting("storage")

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
        self._login_url = _checked_url(login_url or DEFAULT_LOGIN_URL, "login URL")
        self._api_url = _checked_url(api_url or DEFAULT_API_URL, "API URL")
        self.http = split_settings(http, HttpSettings, settings)
        self.results = split_settings(results, ResultSettings, settings)
        self.storage = split_settings(storage, StorageSettings, settings)
        if settings:
            raise TypeError(f"ElfsquadClient got an unknown setting {next(iter(settings))!r}")
        self._client_id = (client_id or "").strip() or None
        self._scope = scope or DEFAULT_SCOPE
        self.keep_secret = keep_secret
        self._session = new_session(self._login_url)  # for the token requests
        self._engine = Fetcher(self._api_url, http=self.http, results=self.results)
        self._tokens: TokenProvider | None = None
        if self._client_id and client_secret:
            self._tokens = self._new_tokens(client_secret)
        # The SCIM API's own bearer token: held masked, sent to /scim/ paths only.
        token = (scim_token or "").strip()
        self._scim_token = Masked(token) if token else None
        self._engine.authorize(self._tokens, self._scim_token)
        self.last_sync: SyncReport | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> ElfsquadClient:
        """A client configured from ``ELFSQUAD_CLIENT_ID``/``_SECRET``/``_LOGIN_URL``/``_API_URL``/
        ``_SCOPE``/``_SCIM_TOKEN``; keyword arguments win over the environment."""
        env = {
            "client_id": os.environ.get("ELFSQUAD_CLIENT_ID"),
            "client_secret": os.environ.get("ELFSQUAD_CLIENT_SECRET"),
            "login_url": os.environ.get("ELFSQUAD_LOGIN_URL"),
            "api_url": os.environ.get("ELFSQUAD_API_URL"),
            "scope": os.environ.get("ELFSQUAD_SCOPE"),
            "scim_token": os.environ.get(ENV_SCIM_TOKEN),
        }
        options = {k: v for k, v in env.items() if v}
        options.update(overrides)
        has_login = options.get("client_id") and options.get("client_secret")
        if not has_login and not options.get("scim_token"):
            # A script has no %elfsquad_login to fall back on: say what to set, now.
            missing = [
                name
                for name, key in (
                    ("ELFSQUAD_CLIENT_ID", "client_id"),
                    ("ELFSQUAD_CLIENT_SECRET", "client_secret"),
                )
                if not options.get(key)
            ]
            raise LoginError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set.",
                "Set ELFSQUAD_CLIENT_ID and ELFSQUAD_CLIENT_SECRET in the environment (the "
                "OpenId client from Elfsquad's Integrations page), or pass client_id= and "
                "client_secret= to ElfsquadClient.from_env().",
            )
        return cls(**options)

    # -- settings ---------------------------------------------------------------------------

    def configure(self, **settings: Any) -> None:
        """Change settings by their flat names (``bulk_size=100``, ``timeout=10``...); they
        apply from the next request on."""
        self.http = split_settings(self.http, HttpSettings, settings)
        self.results = split_settings(self.results, ResultSettings, settings)
        self.storage = split_settings(self.storage, StorageSettings, settings)
        if settings:
            raise TypeError(f"ElfsquadClient has no setting {next(iter(settings))!r}")
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
        return self._client_id

    @property
    def login_url(self) -> str:
        """The login host, e.g. ``https://login.elfsquad.io``."""
        return self._login_url

    @login_url.setter
    def login_url(self, value: str) -> None:
        value = _checked_url(value, "login URL")
        if value != self._login_url:
            self._login_url = value
            self._drop_login()
            self._session.close()
            self._session = new_session(value)

    @property
    def api_url(self) -> str:
        """The API host, e.g. ``https://api.elfsquad.io``."""
        return self._api_url

    @api_url.setter
    def api_url(self, value: str) -> None:
        value = _checked_url(value, "API URL")
        if value != self._api_url:
            self._api_url = value
            # Another host: another engine (pace, schema, ETags), and no token goes there.
            self._scim_token = None
            self._drop_login()
            self._engine.close()
            self._engine = Fetcher(value, http=self.http, results=self.results)

    @property
    def scope(self) -> str:
        """The OAuth scope asked for (``Elfskot.Api``)."""
        return self._scope

    @property
    def logged_in(self) -> bool:
        """Whether a token is held and can be used or renewed."""
        tokens = self._tokens
        return tokens is not None and tokens.has_token and (tokens.is_valid() or tokens.has_secret)

    @property
    def token_expires_at(self) -> dt.datetime | None:
        """When the current token expires (aware, UTC), or ``None``."""
        return self._tokens.expires_at if self._tokens is not None else None

    def _new_tokens(self, client_secret: str) -> TokenProvider:
        assert self._client_id is not None
        return TokenProvider(
            self._client_id,
            client_secret,
            login_url=self._login_url,
            scope=self._scope,
            session=self._session,
            timeout=(min(10.0, self.http.timeout), self.http.timeout),
            keep_secret=self.keep_secret,
        )

    def _drop_login(self) -> None:
        if self._tokens is not None:
            self._tokens.forget()
        self._tokens = None
        self._engine.authorize(None, self._scim_token, new_connections=True)

    def login(self, client_id: str | None = None, client_secret: str | None = None) -> None:
        """Obtain a token now (with new credentials when given); raises :class:`LoginError`."""
        if client_id is not None:
            client_id = client_id.strip()
            if client_id != self._client_id:
                self._drop_login()
            self._client_id = client_id or None
        if client_secret:
            if not self._client_id:
                raise LoginError(
                    "No client id was given.",
                    "Give the Client ID of the OpenId client from the Integrations page.",
                )
            if self._tokens is not None:
                self._tokens.forget()
            self._tokens = self._new_tokens(client_secret)
            self._engine.authorize(self._tokens, self._scim_token)
        if self._tokens is None or not self._tokens.has_secret:
            missing = "client id and secret" if not self._client_id else "client secret"
            raise LoginError(
                f"No {missing} to log in with.",
                "Set ELFSQUAD_CLIENT_ID and ELFSQUAD_CLIENT_SECRET, or use %elfsquad_login.",
            )
        self._tokens.fetch()

    def logout(self) -> None:
        """Forget the token, the secret and the SCIM token (the client id and hosts stay)."""
        self._scim_token = None
        self._drop_login()

    @property
    def has_scim_token(self) -> bool:
        """Whether a SCIM token is held for ``/scim/2/`` requests (never the token itself)."""
        return self._scim_token is not None

    def set_scim_token(self, token: str | None) -> None:
        """Use ``token`` for the SCIM API (``/scim/2/...``); ``None`` forgets it."""
        token = (token or "").strip()
        self._scim_token = Masked(token) if token else None
        self._engine.authorize(self._tokens, self._scim_token)

    def status(self) -> str:
        """Who is logged in where and until when; never the token."""
        tokens = self._tokens
        if tokens is None or not tokens.has_token or tokens.expires_at is None:
            return "Not logged in"
        until = clock_text(tokens.expires_at)
        if tokens.expires_at <= dt.datetime.now(dt.timezone.utc):
            if tokens.has_secret:
                state = f"token expired at {until}; it is renewed on the next call"
            else:
                return f"Not logged in (the token for {self._client_id} expired at {until})"
        else:
            state = f"token valid until {until}"
        return f"Logged in as {self._client_id} at {self._api_url} - {state}"

    def __repr__(self) -> str:
        return (
            f"ElfsquadClient(client_id={self._client_id!r}, api_url={self._api_url!r}, "
            f"status={self.status()!r})"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("ElfsquadClient holds credentials and cannot be pickled")

    def close(self) -> None:
        """Close pooled connections (the login stays)."""
        self._engine.close()
        self._session.close()

    # -- requests ---------------------------------------------------------------------------

    def fetch(self, request: ODataRequest, options: FetchOptions | None = None) -> Answer:
        """Send a request value and return its whole :class:`.Answer` (value, status, pages,
        pace). A write (POST, PATCH, PUT, DELETE) goes through the journal: the records it
        touches are read and recorded before it is sent, its outcome after (see :meth:`undo`)."""
        options = options or FetchOptions()
        if request.method != "GET" and not request.is_scim and self.storage.journal_writes:
            return self.writer.send(request, raw=options.raw, progress=options.progress)
        return self._engine.fetch(request, options)

    def send(self, request: ODataRequest, **options: Any) -> pd.DataFrame | Any | None:
        """Send a request value and return its result (as :meth:`request` does); ``options``
        are those of :class:`.FetchOptions` (``limit``, ``raw``, ``progress``...)."""
        return self.fetch(request, FetchOptions(**options)).value

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        file: str | os.PathLike[str] | None = None,
        limit: int | None = None,
        paginate: bool = True,
        raw: bool = False,
        progress: ProgressSpec | None = None,
        concurrency: int | None = None,
    ) -> pd.DataFrame | Any | None:
        """Send a request; a collection comes back as one DataFrame with all its pages.

        A single entity is a one-row frame, 204 gives ``None``, ``raw=True`` the parsed JSON
        (or text/bytes for other answers). ``file`` uploads a local file as
        ``multipart/form-data`` (the Quotation API's ``addfile``). ``df.attrs["elfsquad"]``
        holds url, pages, count, elapsed seconds and the pace.
        """
        upload = os.fspath(file) if file is not None else None
        request = ODataRequest.build(method, path, params, _json_body(method, json), upload)
        options = FetchOptions(limit, paginate, raw, progress, concurrency)
        return self.fetch(request, options).value

    def get(self, path: str, **options: Any) -> pd.DataFrame:
        """GET ``path``; ``filter=``, ``select=``, ``orderby=``, ``top=``, ``expand=``... become
        ``$filter``...; ``limit``, ``paginate``, ``raw``, ``progress``, ``concurrency``,
        ``params`` pass through to :meth:`request`."""
        passthrough = {
            k: options.pop(k)
            for k in ("limit", "paginate", "raw", "progress", "concurrency")
            if k in options
        }
        params: list[tuple[str, Any]] = list(_as_pairs(options.pop("params", None)))
        for name, value in options.items():
            if value is None:
                continue
            key = KEYWORD_OPTIONS.get(name, name)
            if isinstance(value, (list, tuple)) and key in LIST_OPTIONS:
                value = ",".join(map(str, value))
            params.append((key, value))
        return self.request("GET", path, params=params, **passthrough)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        """POST ``json`` to ``path`` (create, or run an action)."""
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        """PATCH ``path`` with ``json`` (update some properties)."""
        return self.request("PATCH", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        """PUT ``json`` to ``path`` (replace)."""
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        """DELETE ``path``."""
        if json is not None:
            raise UsageError("DELETE sends no body.")
        return self.request("DELETE", path, **kwargs)

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
            root if root is not None else default_mirror_dir(), self._api_url, self._client_id
        )

    def sync(
        self,
        entity_set: str | ODataRequest,
        *,
        select: str | list[str] | None = None,
        full: bool = False,
        offline: bool = False,
    ) -> pd.DataFrame:
        """The whole entity set as a full GET returns it, from the local mirror brought up to
        date first (only what changed is read); ``full`` rebuilds it, ``offline`` reads it
        without any network. ``entity_set`` is a name or a ``GET /data/1/<Set>`` request
        (with ``$select`` only). ``df.attrs["elfsquad"]["sync"]`` and :attr:`last_sync` hold
        the report (rows, changed, new, deleted, requests, seconds)."""
        if full and offline:
            raise UsageError("--full reads the service; --offline does not.", "Use one of them.")
        name, columns = sync_target(entity_set, select)
        if offline:
            frame, report = read_mirrored(self.mirror, name, columns, self.results.dtype_backend)
        else:
            self._engine.require_login()
            calls, started = self.api_calls, time.monotonic()  # $metadata counts, when read
            found = self.schema().find(name)
            if found is None:
                matches = self.schema().close_matches(name)
                raise UsageError(
                    f"The Data API has no entity set {name!r} to sync.",
                    f"Did you mean {', '.join(matches)}?"
                    if matches
                    else "%elfsquad_entities lists the entity sets.",
                )
            frame, report = sync_set(
                self._engine,
                self.mirror,
                found,
                columns=columns,
                full=full,
                lookback=self.storage.sync_lookback,
                dtype_backend=self.results.dtype_backend,
                workers=self.http.max_concurrency,
                calls_before=calls,
                started=started,
            )
        frame.attrs["elfsquad"] = {"sync": report.as_dict(), "mirror": str(self.mirror.folder)}
        self.last_sync = report
        return frame

    def sql(
        self,
        query: str,
        params: Mapping[str, Any] | None = None,
        *,
        offline: bool = False,
        frames: Mapping[str, pd.DataFrame] | None = None,
        report: Callable[[str], None] | None = None,
    ) -> pd.DataFrame:
        """DuckDB SQL over the mirrored sets, named as in the Data API in any casing; each set
        the query names is synced first unless ``offline``. ``params`` fill ``$name``;
        ``frames`` are more tables the query may name; ``report`` gets each sync's summary."""
        sync = None if offline else self._sync_for_sql
        return run_sql(
            query, params or {}, mirror=self.mirror, sync=sync, frames=frames, report=report
        )

    def _sync_for_sql(self, name: str) -> SyncReport | None:
        if self.schema().find(name) is None:
            return None  # not an entity set: a notebook frame, perhaps
        self.sync(name)
        return self.last_sync

    # -- writes you can trust ---------------------------------------------------------------

    @property
    def journal(self) -> Journal:
        """This tenant's write journal (API host and client id) under ``journal_dir``."""
        if not self._client_id:
            raise NotLoggedInError()
        root = self.storage.journal_dir
        root = root if root is not None else default_journal_dir()
        return Journal(root, self._api_url, self._client_id)

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
        return self.writer.dry_run(_request_of(request, path, json, params))

    def preview(
        self, request: ODataRequest | str, path: str | None = None, *, json: Any = None
    ) -> pd.DataFrame:
        """The change a PATCH, PUT, DELETE or bulk action would make, as a frame of change,
        key, property, before and after (whole records for creations and deletions); the
        records are read, nothing is written."""
        return self.writer.preview(_request_of(request, path, json, None))

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


def _request_of(
    request: ODataRequest | str, path: str | None, json: Any, params: Params
) -> ODataRequest:
    """A request value as given, or built from a method, path, body and options."""
    if isinstance(request, ODataRequest):
        return request
    if path is None:
        raise UsageError("Give a request value, or a method and a path.")
    return ODataRequest.build(request, path, params, _json_body(request, json))


def _json_body(method: str, json: Any) -> Any:
    if json is not None and method.upper() in BODYLESS_METHODS:
        raise UsageError(f"{method.upper()} sends no body.", "Use POST, PATCH or PUT to send JSON.")
    return to_json_compatible(json) if json is not None else None


def _as_pairs(params: Any) -> list[tuple[str, Any]]:
    if not params:
        return []
    if isinstance(params, Mapping):
        return [(str(k), v) for k, v in params.items()]
    return [(str(k), v) for k, v in params]
