"""ElfsquadClient: query the Elfsquad APIs from Python and get typed pandas DataFrames.

The magics are thin glue over this class; scripts use it directly::

    client = ElfsquadClient.from_env()
    features = client.get("/data/1/features", filter="salesPrice gt 100", select="name")
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from .arrow_pages import PageReader
from .auth import Masked, TokenProvider, check_secure_url, clock_text
from .errors import (
    BadRequestError,
    ElfsquadError,
    FetchInterrupted,
    LoginError,
    NotFoundError,
    NotLoggedInError,
    ResponseFormatError,
    UsageError,
)
from .frames import DTYPE_BACKENDS, FrameBuilder, combine, page_frame
from .journal import Journal, default_journal_dir
from .literals import to_json_compatible
from .mirror import Mirror, default_mirror_dir
from .odata import (
    BODYLESS_METHODS,
    DEFAULT_API_URL,
    DEFAULT_LOGIN_URL,
    DEFAULT_SCOPE,
    ENV_SCIM_TOKEN,
    ETAG,
    KEYWORD_OPTIONS,
    LIST_OPTIONS,
    METADATA_PATH,
)
from .pace import CEILING, PaceController, PaceReport
from .pages import NOT_JSON, json_body, not_json_answer, page_from_payload, text_or_bytes
from .paging import FetchResult, fetch_collection
from .progress import ProgressSpec, RowProgress
from .request import ODataRequest, Params, strip_credentials
from .schema import ServiceSchema, parse_metadata
from .scim import fetch_resources, is_list_response
from .sync import DEFAULT_LOOKBACK, SyncReport
from .transport import RateLimiter, Transport, new_session
from .windows import with_count
from .writes import ETagMemory

__all__ = [
    "ElfsquadClient",
    "DEFAULT_LOGIN_URL",
    "DEFAULT_API_URL",
    "DEFAULT_SCOPE",
    "METADATA_PATH",
]


def _checked_url(value: str, what: str) -> str:
    """``value`` without surrounding blanks or a trailing slash; refused unless secure."""
    value = value.strip().rstrip("/")
    check_secure_url(value, what)
    return value


class _NoSchema:
    """Cache marker: ``$metadata`` could not be had for this login."""


class ElfsquadClient:
    """An authenticated client for the Elfsquad APIs (Data API, Quotation API, ...).

    The secret and the token are held masked: they appear in no ``repr``, message or log.
    """

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        login_url: str = DEFAULT_LOGIN_URL,
        api_url: str = DEFAULT_API_URL,
        scope: str = DEFAULT_SCOPE,
        timeout: float = 30.0,
        retry_seconds: float = 60.0,
        keep_secret: bool = True,
        dtype_backend: str | None = None,
        progress: bool = True,
        concurrency: int | None = None,
        max_concurrency: int = CEILING,
        calls_per_minute: int | None = None,
        scim_token: str | None = None,
        mirror_dir: str | os.PathLike[str] | None = None,
        sync_lookback: float = DEFAULT_LOOKBACK,
        journal_dir: str | os.PathLike[str] | None = None,
        journal_writes: bool = True,
        bulk_size: int = 500,
    ) -> None:
        login_url = _checked_url(login_url or DEFAULT_LOGIN_URL, "login URL")
        api_url = _checked_url(api_url or DEFAULT_API_URL, "API URL")
        if dtype_backend not in DTYPE_BACKENDS:
            raise UsageError(
                f"Unknown dtype backend {dtype_backend!r}.",
                "Use None, 'numpy_nullable' or 'pyarrow' (as in pandas).",
            )
        self._client_id = (client_id or "").strip() or None
        self._login_url = login_url
        self._api_url = api_url
        self._scope = scope or DEFAULT_SCOPE
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.keep_secret = keep_secret
        self.dtype_backend = dtype_backend
        self.progress = progress
        if concurrency is not None and concurrency < 1:
            raise UsageError(f"concurrency must be 1 or more, not {concurrency}.")
        if max_concurrency < 1:
            raise UsageError(f"max_concurrency must be 1 or more, not {max_concurrency}.")
        self.concurrency = concurrency  # None: found by itself (see pace.py)
        self.max_concurrency = max_concurrency
        self.calls_per_minute = calls_per_minute
        self._session = new_session(login_url)  # for the token requests to the login host
        # One limiter per client, kept across logins: the budget is the service's, not a token's.
        self._limiter = RateLimiter(calls_per_minute)
        # The API host's pace, kept across fetches and cells: what one fetch learned, the next
        # starts with.
        self._limiter.pace = self._new_pace()
        self._tokens: TokenProvider | None = None
        if self._client_id and client_secret:
            self._tokens = self._new_tokens(client_secret)
        # The SCIM API's own bearer token: held masked, sent to /scim/ paths only.
        self._scim_token = Masked(scim_token.strip()) if scim_token and scim_token.strip() else None
        self._transport = self._new_transport()
        self._schema: ServiceSchema | _NoSchema | None = None
        self._schema_lock = threading.Lock()
        self.last_status: tuple[int, str] | None = None
        # None: $ELFSQUAD_MIRROR_DIR, else the user cache folder (read when first needed).
        self.mirror_dir = mirror_dir
        self.sync_lookback = sync_lookback
        self.last_sync: SyncReport | None = None
        # None: $ELFSQUAD_JOURNAL_DIR, else the user data folder.
        self.journal_dir = journal_dir
        self.journal_writes = journal_writes
        self.bulk_size = bulk_size
        self.etags = ETagMemory()

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

    def _new_tokens(self, client_secret: str) -> TokenProvider:
        assert self._client_id is not None
        return TokenProvider(
            self._client_id,
            client_secret,
            login_url=self._login_url,
            scope=self._scope,
            session=self._session,
            timeout=(min(10.0, self.timeout), self.timeout),
            keep_secret=self.keep_secret,
        )

    def _new_pace(self) -> PaceController:
        if self.concurrency is not None:
            return PaceController(fixed=self.concurrency)
        return PaceController(ceiling=self.max_concurrency)

    @property
    def pace(self) -> PaceReport:
        """The pace found for the API host: concurrency reached, learned rate, 429s seen."""
        pace = self._limiter.pace
        assert pace is not None
        return pace.report()

    def _new_transport(self) -> Transport:
        return Transport(
            self._api_url,
            self._tokens,
            timeout=self.timeout,
            retry_seconds=self.retry_seconds,
            limiter=self._limiter,
            scim_token=self._scim_token,
        )

    @property
    def api_calls(self) -> int:
        """API calls sent so far by this client (retries included; token requests not)."""
        return self._limiter.calls

    # -- identity and state ----------------------------------------------------------------------

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
            self._limiter.pace = self._new_pace()  # another host, another pace
            # A token is for one tenant's API: never send it to the new host.
            self._scim_token = None
            self._drop_login()

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

    def _drop_login(self) -> None:
        if self._tokens is not None:
            self._tokens.forget()
        self._tokens = None
        self._transport.close()
        self._transport = self._new_transport()
        self._schema = None

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
            self._transport.tokens = self._tokens
            self._schema = None
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
        self._transport.scim_token = self._scim_token

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
        self._transport.close()
        self._session.close()

    # -- requests --------------------------------------------------------------------------------

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
        method = method.upper()
        body = _json_body(method, json)
        upload = os.fspath(file) if file is not None else None
        request = ODataRequest.build(method, path, params, body, upload)
        return self.send(
            request,
            limit=limit,
            paginate=paginate,
            raw=raw,
            progress=progress,
            concurrency=concurrency,
        )

    def send(
        self,
        request: ODataRequest,
        *,
        limit: int | None = None,
        paginate: bool = True,
        raw: bool = False,
        progress: ProgressSpec | None = None,
        concurrency: int | None = None,
    ) -> pd.DataFrame | Any | None:
        """Send a parsed :class:`ODataRequest` (as :meth:`request` does) and collect the answer.

        A write (POST, PATCH, PUT, DELETE) goes through the journal: the records it touches are
        read and recorded before it is sent, its outcome after (see :meth:`undo`)."""
        if request.method != "GET" and not request.is_scim and self.journal_writes:
            from .journaled import JournaledWriter

            return JournaledWriter(self).send(request, raw=raw, progress=progress)
        return self._send(
            request,
            limit=limit,
            paginate=paginate,
            raw=raw,
            progress=progress,
            concurrency=concurrency,
        )

    def _send(
        self,
        request: ODataRequest,
        *,
        limit: int | None = None,
        paginate: bool = True,
        raw: bool = False,
        progress: ProgressSpec | None = None,
        concurrency: int | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
    ) -> pd.DataFrame | Any | None:
        """:meth:`send` without the journal; ``headers`` (``If-Match``) go with the request."""
        if limit is not None and limit < 0:
            raise UsageError(f"The row limit must be 0 or more, not {limit}.")
        if not request.is_scim:
            self._require_login()  # the SCIM API needs only its own token (Transport checks)
        started = time.monotonic()
        pace = self._pace_for(concurrency)
        host = self._limiter.pace  # sees every answer, whatever pace this fetch uses
        throttled_before = host.throttled if host is not None else 0
        sent = request
        if paginate and not raw and pace.ceiling > 1:
            # @odata.count lets the pages after the first be fetched concurrently.
            sent = with_count(request, limit)
        failure: NotFoundError | FetchInterrupted | None = None
        try:
            response, sent = self._first_response(request, sent, headers, idempotent)
        except NotFoundError as exc:
            failure = self._with_set_suggestion(exc, request)
        except KeyboardInterrupt:
            if request.method != "GET":
                raise  # a write may have been made: the plain interrupt claims nothing
            failure = FetchInterrupted(0)
        if failure is not None:
            raise failure  # outside the handler: no requests object rides along
        # What the magic reports when there is no data to show ("204 No Content", "200 OK").
        self.last_status = (response.status_code, response.reason or "")
        payload, is_json = self._interpret(request, response, raw)
        if raw or not is_json:
            return payload
        if request.is_scim and is_list_response(payload) and request.method == "GET":
            resources, pages = fetch_resources(
                self._transport,
                request,
                payload,
                api_url=self._api_url,
                limit=limit,
                paginate=paginate,
            )
            frame = self._normalise(resources, None, None)
            count = payload.get("totalResults")
            frame.attrs["elfsquad"] = _fetch_attrs(
                request, self._api_url, pages, count if isinstance(count, int) else None, started
            )
            return frame
        edm_types = self._edm_types_for(request) if request.method in ("GET", "POST") else None
        if isinstance(payload, dict) and isinstance(payload.get("value"), list):
            frame = self._collect(
                request,
                sent,
                response.url,
                payload,
                edm_types,
                limit=limit,
                paginate=paginate and request.method == "GET",
                progress=self.progress if progress is None else progress,
                pace=pace,
                started=started,
            )
            frame.attrs["elfsquad"]["pace"] = {
                **pace.report().as_dict(),
                "throttled": (host.throttled if host is not None else 0) - throttled_before,
            }
            return self._without_etags(request, frame)
        frame = self._normalise(payload, edm_types, limit)
        frame.attrs["elfsquad"] = _fetch_attrs(request, self._api_url, 1, None, started)
        return self._without_etags(request, frame)

    def _without_etags(self, request: ODataRequest, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` without ``@odata.etag``; the ETags of a Data API read are remembered."""
        name = request.entity_set
        if name is None or not request.is_data_api:
            return frame
        key = self._key_for(request)
        schema = self._schema
        found = schema.find(name) if isinstance(schema, ServiceSchema) else None
        if request.method == "GET" and found is not None and key and len(key) == 1:
            return self.etags.take(frame, found.name, key[0])
        if ETAG in frame.columns:
            del frame[ETAG]
        return frame

    def _with_set_suggestion(self, error: NotFoundError, request: ODataRequest) -> NotFoundError:
        """``error`` with the entity sets a misspelt name may have meant, from the schema
        (cached after the first query, so usually no extra request)."""
        name = request.entity_set
        if name is None or not request.is_data_api or isinstance(self._schema, _NoSchema):
            return error
        try:
            schema = self.schema()  # cached after the first query; else one request, here only
        except ElfsquadError:
            return error
        if schema.find(name) is not None:
            return error  # the set exists: the key or the path was not found
        matches = schema.close_matches(name)
        hint = f"Did you mean {', '.join(matches)}?" if matches else error.hint
        hint = f"{hint} (%elfsquad_entities lists the entity sets.)"
        return NotFoundError(
            error.message,
            hint,
            status=error.status,
            method=error.method,
            url=error.url,
            server_message=error.server_message,
            code=error.code,
        )

    def _pace_for(self, concurrency: int | None) -> PaceController:
        """The host's pace, or a fixed one for a ``concurrency`` asked for this request."""
        host = self._limiter.pace
        assert host is not None
        if concurrency is None or (not host.adaptive and host.limit == concurrency):
            return host
        if concurrency < 1:
            raise UsageError(f"concurrency must be 1 or more, not {concurrency}.")
        return PaceController(fixed=concurrency)

    def _first_response(
        self,
        request: ODataRequest,
        sent: ODataRequest,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
    ) -> tuple[requests.Response, ODataRequest]:
        """The answer to ``sent`` and the request it answers; errors name ``request``, the
        request as written."""
        shown = request.url(self._api_url)
        files = _upload(request.upload) if request.upload is not None else None
        try:
            response = self._transport.request(
                sent.method,
                sent.url(self._api_url),
                json=sent.body,
                files=files,
                shown=shown,
                headers=headers,
                idempotent=idempotent,
            )
            return response, sent
        except BadRequestError:
            if sent is request:
                raise
        # Perhaps the $count added for the windows was refused: the request as written decides.
        response = self._transport.request(
            request.method, request.url(self._api_url), json=request.body, shown=shown
        )
        return response, request

    def _interpret(
        self, request: ODataRequest, response: requests.Response, raw: bool
    ) -> tuple[Any, bool]:
        """The answer's payload and whether it is JSON data: parsed JSON, a document as text
        or bytes, or ``None`` for no content."""
        if response.status_code == 204:
            return None, False
        if not response.content.strip():
            if request.method != "GET":
                return None, False
            raise ResponseFormatError(
                f"GET {strip_credentials(request.url(self._api_url))} answered HTTP "
                f"{response.status_code} with an empty body.",
                "Check the path; a collection answers with a 'value' list.",
            )
        payload = json_body(response)
        if payload is NOT_JSON:
            document = text_or_bytes(response) if raw else not_json_answer(response, request.method)
            return document, False
        return payload, True

    def _collect(
        self,
        request: ODataRequest,
        sent: ODataRequest,
        first_url: str,
        payload: dict[str, Any],
        edm_types: dict[str, str] | None,
        *,
        limit: int | None,
        paginate: bool,
        progress: ProgressSpec,
        pace: PaceController,
        started: float,
    ) -> pd.DataFrame:
        """Every page of a collection whose first page is ``payload``, as one typed frame."""
        first = page_from_payload(first_url, payload)
        columns = request.selected
        schema = self._schema
        if columns is not None and isinstance(schema, ServiceSchema) and request.entity_set:
            columns = schema.column_names(request.entity_set, columns)  # $select=Name -> name
        if columns is None and edm_types:
            columns = [name for name in edm_types if "." not in name]
        if edm_types:
            edm_types = {**edm_types, ETAG: "Edm.String"}  # read, remembered, then dropped
        builder = FrameBuilder(edm_types, self.dtype_backend, columns=columns)
        interrupted = False
        try:
            result: FetchResult = fetch_collection(
                self._transport,
                first,
                request=sent,
                convert=builder.add,
                reader=PageReader.for_records(first.records, edm_types),
                limit=limit,
                paginate=paginate,
                progress=RowProgress(progress),
                pace=pace,
                started=started,
                key=self._key_for(request),
                on_restart=builder.reset,
            )
        except KeyboardInterrupt:
            interrupted = True
        if interrupted:
            # Raised outside the handler: one line, not a traceback through the worker threads.
            raise FetchInterrupted(builder.rows)
        frame = builder.frame()
        # The count the user asked for; one added for the windows stays out of sight.
        count = result.odata_count if sent is request else None
        frame.attrs["elfsquad"] = _fetch_attrs(
            request, self._api_url, result.page_count, count, started
        )
        return frame

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

    # -- the local mirror ------------------------------------------------------------------------

    @property
    def mirror(self) -> Mirror:
        """This tenant's mirror folder (API host and client id) under ``mirror_dir``."""
        if not self._client_id:
            raise NotLoggedInError()
        root = self.mirror_dir if self.mirror_dir is not None else default_mirror_dir()
        return Mirror(root, self._api_url, self._client_id)

    def sync(
        self,
        entity_set: str,
        *,
        select: str | list[str] | None = None,
        full: bool = False,
        offline: bool = False,
    ) -> pd.DataFrame:
        """The whole entity set as a full GET returns it, from the local mirror brought up to
        date first (only what changed is read); ``full`` rebuilds it, ``offline`` reads it
        without any network. ``df.attrs["elfsquad"]["sync"]`` and :attr:`last_sync` hold the
        report (rows, changed, new, deleted, requests, seconds)."""
        from .sync import read_mirrored, sync_set

        columns = select.split(",") if isinstance(select, str) else select
        name = entity_set.strip().strip("/").removeprefix("data/1/")
        if offline:
            frame, report = read_mirrored(self.mirror, name, columns, self.dtype_backend)
        else:
            self._require_login()
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
                self,
                self.mirror,
                found,
                columns=columns,
                full=full,
                lookback=self.sync_lookback,
                calls_before=calls,
                started=started,
            )
        frame.attrs["elfsquad"] = {"sync": report.as_dict(), "mirror": str(self.mirror.folder)}
        self.last_sync = report
        return frame

    def sql(
        self, query: str, params: Mapping[str, Any] | None = None, *, offline: bool = False
    ) -> pd.DataFrame:
        """DuckDB SQL over the mirrored sets, named as in the Data API in any casing; each set
        the query names is synced first unless ``offline``. ``params`` fill ``$name``."""
        from .sql import run_sql

        return run_sql(self, query, params or {}, offline=offline)

    # -- writes you can trust --------------------------------------------------------------------

    @property
    def journal(self) -> Journal:
        """This tenant's write journal (API host and client id) under ``journal_dir``."""
        if not self._client_id:
            raise NotLoggedInError()
        root = self.journal_dir if self.journal_dir is not None else default_journal_dir()
        return Journal(root, self._api_url, self._client_id)

    def dry_run(self, method: str, path: str, *, json: Any = None, params: Params = None) -> str:
        """What a request would send (method, decoded URL, body, records), sending nothing."""
        from .journaled import JournaledWriter

        request = ODataRequest.build(method.upper(), path, params, _json_body(method, json))
        return JournaledWriter(self).dry_run(request)

    def preview(self, method: str, path: str, *, json: Any = None) -> pd.DataFrame:
        """The change a PATCH, PUT, DELETE or bulk action would make, as a frame of change,
        key, property, before and after (whole records for creations and deletions); the
        records are read, nothing is written."""
        from .journaled import JournaledWriter

        request = ODataRequest.build(method.upper(), path, None, _json_body(method, json))
        return JournaledWriter(self).preview(request)

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
        from .undo import undo_write

        return undo_write(self, write_id, force=force, dry_run=dry_run, preview=preview)

    # -- schema ----------------------------------------------------------------------------------

    def schema(self) -> ServiceSchema:
        """The Data API's entity sets and property types, from ``$metadata`` (cached)."""
        cached = self._schema
        if isinstance(cached, ServiceSchema):
            return cached
        self._require_login()
        with self._schema_lock:
            if isinstance(self._schema, ServiceSchema):
                return self._schema
            response = self._transport.request(
                "GET", METADATA_PATH, headers={"Accept": "application/xml"}
            )
            try:
                schema = parse_metadata(response.content)
            except ValueError as exc:
                raise ResponseFormatError(
                    f"The service's $metadata could not be read: {exc}.",
                    "Check the API URL.",
                ) from None
            self._schema = schema
            return schema

    def _edm_types_for(self, request: ODataRequest) -> dict[str, str] | None:
        """Edm types of the entity set ``request`` reads, or ``None`` to infer them."""
        if request.entity_set is None or isinstance(self._schema, _NoSchema):
            return None
        try:
            schema = self.schema()
        except (NotLoggedInError, LoginError):
            raise
        except Exception:  # any failure: dtypes are inferred instead, the query still runs
            self._schema = _NoSchema()
            return None
        return schema.edm_types_for(request.entity_set)

    def _key_for(self, request: ODataRequest) -> tuple[str, ...] | None:
        """The key properties of the entity set ``request`` reads, when the schema is known."""
        schema = self._schema
        if request.entity_set is None or not isinstance(schema, ServiceSchema):
            return None
        return schema.key_for(request.entity_set)

    # -- helpers ---------------------------------------------------------------------------------

    def _require_login(self) -> None:
        if self._tokens is None:
            raise NotLoggedInError()

    def _normalise(
        self, payload: Any, edm_types: Mapping[str, str] | None, limit: int | None
    ) -> pd.DataFrame:
        """A JSON answer that is not a ``value`` collection, as a frame."""
        if isinstance(payload, dict):
            records = [payload]
        elif isinstance(payload, list):
            if all(isinstance(item, dict) for item in payload):
                records = payload
            else:
                records = [{"value": item} for item in payload]
        else:
            records = [{"value": payload}]
        if limit is not None:
            records = records[:limit]
        return combine([page_frame(records)], edm_types, self.dtype_backend)


def _json_body(method: str, json: Any) -> Any:
    if json is not None and method.upper() in BODYLESS_METHODS:
        raise UsageError(f"{method.upper()} sends no body.", "Use POST, PATCH or PUT to send JSON.")
    return to_json_compatible(json) if json is not None else None


def _upload(path: str) -> dict[str, tuple[str, bytes, str]]:
    """The multipart field of a file upload: its name, bytes and content type."""
    location = Path(path).expanduser()
    try:
        content = location.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"The file {path!r} cannot be read: {exc.strerror or exc}.",
            "Check the path (relative paths start from the notebook's folder).",
        ) from None
    kind = mimetypes.guess_type(location.name)[0] or "application/octet-stream"
    return {"file": (location.name, content, kind)}


def _fetch_attrs(
    request: ODataRequest, api_url: str, pages: int, count: int | None, started: float
) -> dict[str, Any]:
    """``df.attrs["elfsquad"]``: the request as written, pages, the count asked for, seconds."""
    return {
        "url": strip_credentials(request.url(api_url)),
        "pages": pages,
        "count": count,
        "elapsed": round(time.monotonic() - started, 3),
    }


def _as_pairs(params: Any) -> list[tuple[str, Any]]:
    if not params:
        return []
    if isinstance(params, Mapping):
        return [(str(k), v) for k, v in params.items()]
    return [(str(k), v) for k, v in params]
