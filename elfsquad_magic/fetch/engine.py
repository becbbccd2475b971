"""The request engine: a request value and its options in, an :class:`.Answer` out.

:class:`Fetcher` owns what a fetch needs and what it learns: the transport (with the token it
is given), the pace of the API host, the cached ``$metadata`` schema and the ETags of the records
read. ``ElfsquadClient`` builds one per API host and delegates to it; the sync, the journaled
writer and the undo take it through the narrow interfaces they declare.

A read (GET) interrupted at any moment, from the first request to the last column converted,
raises :class:`FetchInterrupted` (one line, no traceback through the threads). A write is not
caught: whether it was made is for the journal to say.
"""

from __future__ import annotations

import mimetypes
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from ..core.auth import Masked, TokenProvider
from ..core.odata import ETAG, METADATA_PATH
from ..core.property_names import misspelt_properties
from ..core.rate_limit import RateLimiter
from ..core.request import ODataRequest, strip_credentials
from ..core.schema import ServiceSchema, parse_metadata
from ..core.settings import HttpSettings, ResultSettings
from ..core.transport import Transport
from ..errors import (
    BadRequestError,
    ElfsquadError,
    FetchInterrupted,
    LoginError,
    NotFoundError,
    NotLoggedInError,
    ResponseFormatError,
    UsageError,
)
from .answer import Answer
from .arrow_reader import PageReader
from .collection import fetch_collection
from .documents import Document, natural_table
from .etags import ETagMemory
from .frames import FrameBuilder, document_frame
from .options import FetchOptions
from .pace import PaceController, PaceReport
from .pace_memory import PaceMemory
from .page import NOT_JSON, json_body, not_json_answer, page_from_payload, text_or_bytes
from .progress import RowProgress
from .scim_pages import fetch_resources, is_list_response
from .tables import TableBuilder, attach_info, to_output
from .windows import with_count

__all__ = ["Fetcher"]


class _NoSchema:
    """Cache marker: ``$metadata`` could not be had for this login."""


class Fetcher:
    """Sends requests to one API host and collects their answers (see the module docstring)."""

    def __init__(
        self,
        api_url: str,
        *,
        http: HttpSettings | None = None,
        results: ResultSettings | None = None,
        pace_memory: PaceMemory | None = None,
    ) -> None:
        self.api_url = api_url
        self.http = http or HttpSettings()
        self.results = results or ResultSettings()
        # What earlier sessions learned of the host's pace (the user cache).
        self.pace_memory = pace_memory if pace_memory is not None else PaceMemory()
        self.etags = ETagMemory()
        self.client_id: str | None = None  # whose pace: the service's budget is per connection
        # One limiter per host, kept across logins: the budget is the service's, not a token's.
        self.limiter = RateLimiter(self.http.calls_per_minute)
        # What one fetch learned of the host's pace, the next starts with.
        self.limiter.pace = self._new_pace()
        self._tokens: TokenProvider | None = None
        self._scim_token: Masked | None = None
        self._transport = self._new_transport()
        self._schema: ServiceSchema | _NoSchema | None = None
        self._schema_lock = threading.Lock()

    # -- settings and credentials ---------------------------------------------------------

    def configure(
        self, *, http: HttpSettings | None = None, results: ResultSettings | None = None
    ) -> None:
        """Use new settings from the next request on (the pace restarts when its bounds
        changed)."""
        if results is not None:
            self.results = results
        if http is None or http == self.http:
            return
        old, self.http = self.http, http
        self.limiter.interval = 60.0 / http.calls_per_minute if http.calls_per_minute else 0.0
        if (old.concurrency, old.max_concurrency) != (http.concurrency, http.max_concurrency):
            self.limiter.pace = self._new_pace()
        self._transport.close()
        self._transport = self._new_transport()

    def authorize(
        self,
        tokens: TokenProvider | None,
        scim_token: Masked | None,
        *,
        client_id: str | None = None,
        new_connections: bool = False,
    ) -> None:
        """Send these credentials from now on; another login forgets the cached schema, and
        ``new_connections`` drops the pooled connections too (after a logout). Another
        ``client_id`` is another connection with a budget of its own: its own pace."""
        if tokens is not self._tokens:
            self._schema = None
        if client_id != self.client_id:
            self.client_id = client_id
            self.limiter.pace = self._new_pace()
        self._tokens = tokens
        self._scim_token = scim_token
        if new_connections:
            self._transport.close()
            self._transport = self._new_transport()
        self._transport.tokens = tokens
        self._transport.scim_token = scim_token

    @property
    def transport(self) -> Transport:
        """The authenticated HTTP below the engine (for lower-level calls and tests)."""
        return self._transport

    @property
    def has_login(self) -> bool:
        """Whether an OAuth token source is held."""
        return self._tokens is not None

    def require_login(self) -> None:
        """Raise :class:`NotLoggedInError` unless an OAuth token source is held."""
        if self._tokens is None:
            raise NotLoggedInError()

    @property
    def calls(self) -> int:
        """API calls sent so far (retries included; token requests not)."""
        return self.limiter.calls

    def pace_report(self) -> PaceReport:
        """The pace found for the host: concurrency reached, learned rate, 429s seen."""
        pace = self.limiter.pace
        assert isinstance(pace, PaceController)
        return pace.report()

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.close()

    def _new_pace(self) -> PaceController:
        if self.http.concurrency is not None:
            return PaceController(fixed=self.http.concurrency)
        pace = PaceController(ceiling=self.http.max_concurrency)
        remembered = self.pace_memory.load(self.api_url, self.client_id)
        if remembered is not None:
            pace.warm(*remembered)  # a new session starts where the last one left off
        return pace

    def _remember_pace(self, pace: PaceController, answers_before: int) -> None:
        """Keep what the host's pace learned in a fetch of several pages, for new sessions."""
        if pace is self.limiter.pace and pace.adaptive and pace.answers - answers_before >= 8:
            self.pace_memory.save(self.api_url, pace.state(), self.client_id)

    def _new_transport(self) -> Transport:
        return Transport(
            self.api_url,
            self._tokens,
            timeout=self.http.timeout,
            retry_seconds=self.http.retry_seconds,
            limiter=self.limiter,
            scim_token=self._scim_token,
        )

    # -- the one entry --------------------------------------------------------------------

    def fetch(self, request: ODataRequest, options: FetchOptions | None = None) -> Answer:
        """Send ``request`` and collect the answer: a collection's pages as one typed frame,
        a single entity as a one-row frame, ``raw``: the parsed JSON, a document as text or
        bytes, no content as ``None``."""
        options = options or FetchOptions()
        if not request.is_scim:
            self.require_login()  # the SCIM API needs only its own token (Transport checks)
        spec = self.results.progress if options.progress is None else options.progress
        progress = RowProgress(spec, self.results.progress_bar)
        if request.method != "GET":
            return self._send(request, options, progress)
        interrupted = False
        try:
            return self._send(request, options, progress)
        except FetchInterrupted:
            raise
        except KeyboardInterrupt:
            interrupted = True
        # Raised outside the handler: one line, not a traceback through the worker threads.
        assert interrupted
        raise FetchInterrupted(progress.rows)

    def _send(self, request: ODataRequest, options: FetchOptions, progress: RowProgress) -> Answer:
        started = time.monotonic()
        pace = self._pace_for(options.concurrency)
        sent = request
        if options.paginate and not options.raw and pace.ceiling > 1:
            # @odata.count lets the pages after the first be fetched concurrently.
            sent = with_count(request, options.limit)
        failure: NotFoundError | BadRequestError | None = None
        try:
            response, sent = self._first_response(request, sent, options)
        except NotFoundError as exc:
            failure = self._with_set_suggestion(exc, request)
        except BadRequestError as exc:
            failure = self._with_property_suggestion(exc, request)
        if failure is not None:
            raise failure  # outside the handler: no requests object rides along
        answer = Answer(
            None, response.status_code, response.reason or "", request, sent, self.api_url
        )
        payload, is_json = self._interpret(request, response, options.raw)
        output = options.output or self.results.output
        if options.raw or not is_json:
            answer.value = payload
        elif request.is_scim and is_list_response(payload) and request.method == "GET":
            self._scim_list(answer, payload, options)
            answer.value = to_output(answer.value, output)
        elif isinstance(payload, dict) and isinstance(payload.get("value"), list):
            self._collection(answer, response.url, payload, options, pace, progress, output)
        else:
            self._document(answer, payload, options, output)
        answer.elapsed = time.monotonic() - started
        answer.value = attach_info(answer.value, answer.attrs())
        return answer

    def _first_response(
        self, request: ODataRequest, sent: ODataRequest, options: FetchOptions
    ) -> tuple[requests.Response, ODataRequest]:
        """The answer to ``sent`` and the request it answers; errors name ``request``, the
        request as written."""
        shown = request.url(self.api_url)
        files = _upload(request.upload) if request.upload is not None else None
        try:
            response = self._transport.request(
                sent.method,
                sent.url(self.api_url),
                json=sent.body,
                files=files,
                shown=shown,
                headers=options.headers,
                idempotent=options.idempotent,
            )
            return response, sent
        except BadRequestError:
            if sent is request:
                raise
        # Perhaps the $count added for the windows was refused: the request as written decides.
        response = self._transport.request(
            request.method, request.url(self.api_url), json=request.body, shown=shown
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
                f"GET {strip_credentials(request.url(self.api_url))} answered HTTP "
                f"{response.status_code} with an empty body.",
                "Check the path; a collection answers with a 'value' list.",
            )
        payload = json_body(response)
        if payload is NOT_JSON:
            document = text_or_bytes(response) if raw else not_json_answer(response, request.method)
            if isinstance(document, bytes):
                kind = response.headers.get("Content-Type", "")
                document = Document(document, kind, f"{request.method} {request.api_path}")
            return document, False
        return payload, True

    def _document(self, answer: Answer, payload: Any, options: FetchOptions, output: str) -> None:
        """A JSON answer that is not a collection: its natural table (Quotation and
        Configurator documents), else one row (a single entity)."""
        request = answer.request
        table = None if request.is_data_api or request.is_scim else natural_table(payload)
        if table is not None:
            rows, answer.document = table
            frame = document_frame(rows, None, self.results.dtype_backend, options.limit)
            answer.value = to_output(frame, output)
            return
        edm_types = self._edm_types_for(request) if request.method in ("GET", "POST") else None
        frame = document_frame(payload, edm_types, self.results.dtype_backend, options.limit)
        self._take_etags(request, frame)
        answer.value = to_output(frame, output, edm_types)

    def _scim_list(self, answer: Answer, payload: dict[str, Any], options: FetchOptions) -> None:
        """Every page of a SCIM list, as one frame."""
        resources, answer.pages = fetch_resources(
            self._transport,
            answer.request,
            payload,
            api_url=self.api_url,
            limit=options.limit,
            paginate=options.paginate,
        )
        answer.value = document_frame(resources, None, self.results.dtype_backend, None)
        count = payload.get("totalResults")
        answer.count = count if isinstance(count, int) else None

    def _collection(
        self,
        answer: Answer,
        first_url: str,
        payload: dict[str, Any],
        options: FetchOptions,
        pace: PaceController,
        progress: RowProgress,
        output: str = "pandas",
    ) -> None:
        """Every page of a collection whose first page is ``payload``, as one typed frame
        (or table: ``output``)."""
        request = answer.request
        edm_types = self._edm_types_for(request) if request.method in ("GET", "POST") else None
        columns = request.selected
        schema = self._schema
        if columns is not None and isinstance(schema, ServiceSchema) and request.entity_set:
            columns = schema.column_names(request.entity_set, columns)  # $select=Name -> name
        if columns is None and edm_types:
            columns = [name for name in edm_types if "." not in name]
        if edm_types:
            edm_types = {**edm_types, ETAG: "Edm.String"}  # read, remembered, then dropped
        first = page_from_payload(first_url, payload)
        reader = PageReader.for_records(first.records, edm_types)
        builder: FrameBuilder | TableBuilder
        if output == "pandas":
            builder = FrameBuilder(edm_types, self.results.dtype_backend, columns=columns)
        else:
            builder = TableBuilder(
                edm_types,
                columns,
                reader=reader,
                sink=options.sink,
                polars=output == "polars",
                keys=self.key_for(request) or (),
            )
        host = self.limiter.pace
        throttled_before = host.throttled if isinstance(host, PaceController) else 0
        answers_before = pace.answers
        result = fetch_collection(
            self._transport,
            first,
            request=answer.sent,
            convert=builder.add,
            reader=reader,
            limit=options.limit,
            paginate=options.paginate and request.method == "GET",
            progress=progress,
            pace=pace,
            key=self.key_for(request),
            on_restart=builder.reset,
        )
        answer.value = self._built(builder, request, output)
        answer.pages = result.page_count
        # The count the user asked for; one added for the windows stays out of sight.
        answer.count = result.odata_count if answer.sent is request else None
        throttled = (host.throttled if isinstance(host, PaceController) else 0) - throttled_before
        answer.pace = {**pace.report().as_dict(), "throttled": throttled}
        self._remember_pace(pace, answers_before)

    def _built(
        self, builder: FrameBuilder | TableBuilder, request: ODataRequest, output: str
    ) -> Any:
        """What ``builder`` made of the pages, as ``output``, its ETags remembered."""
        if isinstance(builder, TableBuilder) and output == "polars":
            frame, etags = builder.polars_frame()
            if etags is not None:
                self._take_etags(request, etags)  # remembered; the frame never had them
            return frame
        built = builder.frame() if isinstance(builder, FrameBuilder) else builder.table()
        return to_output(self._take_etags(request, built), output)

    def _take_etags(self, request: ODataRequest, frame: Any) -> Any:
        """``frame`` without ``@odata.etag``; the ETags of a Data API read are remembered."""
        name = request.entity_set
        if name is None or not request.is_data_api:
            return frame
        key = self.key_for(request)
        schema = self._schema
        found = schema.find(name) if isinstance(schema, ServiceSchema) else None
        if request.method == "GET" and found is not None and key and len(key) == 1:
            return self.etags.take(frame, found.name, key[0])
        return self.etags.take(frame, name, None)  # dropped, not remembered

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
        found = schema.find(name)
        if found is not None and request.key is not None:
            # The set exists: the record does not (deleted, or never there).
            hint = (
                f"There is no {found.name} record with the key {request.key} (deleted, or "
                f"another tenant's); read the set to find it: GET /data/1/{found.name}"
            )
        elif found is not None:
            return error  # the set exists: the path below it was not found
        else:
            matches = schema.close_matches(name)
            hint = f"Did you mean {', '.join(matches)}?" if matches else (error.hint or "")
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

    def _with_property_suggestion(
        self, error: BadRequestError, request: ODataRequest
    ) -> BadRequestError:
        """``error`` with the properties a misspelt name in ``$select``, ``$filter``,
        ``$orderby`` or ``$expand`` may have meant, from the cached schema (no request)."""
        schema = self.cached_schema
        found = schema.find(request.entity_set) if schema and request.entity_set else None
        if found is None or not request.is_data_api:
            return error
        misspelt = misspelt_properties(request, found, error.server_message)
        if not misspelt:
            return error
        said = [
            f"{name!r}: did you mean {' or '.join(close)}?" if close else f"{name!r} is unknown."
            for name, close in misspelt.items()
        ]
        hint = f"{' '.join(said)} ({found.name}'s properties: %elfsquad_describe {found.name})"
        return BadRequestError(
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
        host = self.limiter.pace
        assert isinstance(host, PaceController)
        if concurrency is None or (not host.adaptive and host.limit == concurrency):
            return host
        return PaceController(fixed=concurrency)

    # -- the schema -----------------------------------------------------------------------

    def schema(self) -> ServiceSchema:
        """The Data API's entity sets and property types, from ``$metadata`` (cached)."""
        cached = self._schema
        if isinstance(cached, ServiceSchema):
            return cached
        self.require_login()
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

    @property
    def cached_schema(self) -> ServiceSchema | None:
        """The schema if it was read already (no request is made)."""
        return self._schema if isinstance(self._schema, ServiceSchema) else None

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

    def key_for(self, request: ODataRequest) -> tuple[str, ...] | None:
        """The key properties of the entity set ``request`` reads, when the schema is known."""
        schema = self._schema
        if request.entity_set is None or not isinstance(schema, ServiceSchema):
            return None
        return schema.key_for(request.entity_set)

    def __repr__(self) -> str:
        login = "logged in" if self._tokens is not None else "no login"
        return f"<Fetcher {self.api_url} ({login})>"


def _upload(path: str) -> Mapping[str, tuple[str, bytes, str]]:
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
