"""HTTP plumbing: the threaded server, the token endpoint, auth, latency and fault injection."""

from __future__ import annotations

import base64
import contextlib
import email.policy
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import orjson

from .configurator_api import ConfiguratorApi
from .cpqhttp import CpqRequest
from .dataapi import Reply, Request, error_body
from .faults import SERVICE_UNAVAILABLE_HTML, FaultInjector
from .metadata import read_apispec
from .profile import Capacity, RateLimit, RateLimits
from .query import ODataError
from .quotationapi import QuotationApi
from .tenants import Tenant
from .tokens import DEFAULT_TENANT, TokenIssuer

__all__ = [
    "SCOPE",
    "SWAGGER_FILES",
    "MAX_BODY",
    "HEALTH_PATHS",
    "Settings",
    "retry_after_text",
    "SandboxApp",
    "oauth_error",
    "SandboxHandler",
    "SandboxHTTPServer",
]

SCOPE = "Elfskot.Api"
SWAGGER_FILES = {
    "/quotation/1/swagger/v1/swagger.json": "quotation_api.json",
    "/configurator/v1/swagger.json": "configurator_api.json",
}
MAX_BODY = 50 * 1024 * 1024
_ADDFILE = re.compile(r"^/quotation/1/quotations/([0-9A-Fa-f-]{36})/addfile/?$", re.IGNORECASE)
HEALTH_PATHS = frozenset(
    f"/{api}/health/ready" for api in ("data/1", "quotation/1", "configurator/1", "configurator/3")
)
# The Configurator API moved from version 1 to 3 in 2026; both are served alike.
_CONFIGURATOR = re.compile(r"^/configurator/(?:1|3)/configurator(?:/|$)", re.IGNORECASE)
_QUOTATION = re.compile(r"^/quotation/1(?:/|$)", re.IGNORECASE)


class Settings:
    """The live-tunable knobs (``Sandbox.configure``)."""

    def __init__(
        self,
        latency_ms: float = 0.0,
        retry_after: float = 1.0,
        max_concurrent: int | None = None,
        rate_limit: float | None = None,
    ) -> None:
        self.latency_ms = latency_ms
        self.capacity = Capacity(max_concurrent)
        self.rate_limit = RateLimits(rate_limit)
        # Seconds a 429 asks the client to wait; real services send whole seconds, tests may
        # ask for a fraction to keep fault runs short.
        self.retry_after = retry_after


def retry_after_text(seconds: float) -> str:
    """``Retry-After`` as delay-seconds: ``"1"`` for whole seconds, ``"0.05"`` for fractions."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _bearer_token(handler: SandboxHandler) -> str:
    """The token of a ``Bearer`` Authorization header (``""`` for none, or another scheme)."""
    scheme, _, token = handler.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class SandboxApp:
    """Routes requests to the token endpoint, the swagger documents and the APIs of the tenant
    whose token (or SCIM token) came with the request."""

    def __init__(
        self,
        tenants: Mapping[str, Tenant],
        tokens: TokenIssuer,
        faults: FaultInjector,
        settings: Settings,
    ) -> None:
        self.tenants = dict(tenants)
        self.tokens = tokens
        self.faults = faults
        self.settings = settings
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()

    def count(self, name: str) -> None:
        """Increment a statistics counter."""
        with self._stats_lock:
            self.stats[name] += 1

    # Token endpoint -----------------------------------------------------------------------
    def token(self, handler: SandboxHandler, body: bytes) -> Reply:
        """``POST /oauth2/token`` with form-encoded client credentials."""
        self.count("token_requests")
        if handler.command != "POST":
            return oauth_error(405, "invalid_request", "Use POST.", {"Allow": "POST"})
        ctype = handler.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return oauth_error(
                400, "invalid_request", "Send the parameters form-encoded, not as " + (ctype or "?")
            )
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            return oauth_error(400, "invalid_request", "The form body cannot be read.")
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = handler.headers.get("Authorization", "")
        if auth.lower().startswith("basic ") and not client_id:
            try:
                pair = base64.b64decode(auth[6:].strip()).decode("utf-8")
                client_id, _, client_secret = pair.partition(":")
            except (ValueError, UnicodeDecodeError):
                return oauth_error(400, "invalid_request", "Malformed Basic authorization.")
        grant = form.get("grant_type")
        if not grant:
            return oauth_error(400, "invalid_request", "The grant_type parameter is missing.")
        if grant != "client_credentials":
            return oauth_error(
                400, "unsupported_grant_type", "Only client_credentials is supported."
            )
        tenant = self.tokens.tenant_for(client_id, client_secret) if client_id else None
        if tenant is None:
            self.count("token_refused")
            return oauth_error(401, "invalid_client", "The client credentials are invalid.")
        scope = form.get("scope", SCOPE)
        if scope and set(scope.split()) - {SCOPE}:
            return oauth_error(400, "invalid_scope", f"Only the scope {SCOPE} can be requested.")
        token, ttl = self.tokens.issue(tenant)
        self.count("tokens_issued")
        doc = {"access_token": token, "expires_in": ttl, "token_type": "Bearer", "scope": SCOPE}
        return Reply(
            200,
            orjson.dumps(doc),
            "application/json; charset=utf-8",
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    # Quotation API: file upload -----------------------------------------------------------
    def add_file(
        self, handler: SandboxHandler, tenant: Tenant, quotation_id: str, body: bytes
    ) -> Reply:
        """``POST /quotation/1/quotations/{id}/addfile``: one multipart file, kept in memory."""
        if handler.command != "POST":
            raise ODataError(405, "MethodNotAllowed", "addfile takes POST.")
        api = tenant.api
        if api.store.get(api.service.sets["Quotations"], quotation_id.lower()) is None:
            raise ODataError(404, "NotFound", f"No quotation with id {quotation_id}.")
        kind = handler.headers.get("Content-Type", "")
        if not kind.lower().startswith("multipart/form-data"):
            raise ODataError(415, "UnsupportedMediaType", "Send the file as multipart/form-data.")
        message = BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {kind}\r\n\r\n".encode() + body
        )
        parts = [p for p in message.iter_parts() if p.get_filename()]
        if len(parts) != 1:
            raise ODataError(400, "BadRequest", "Send exactly one file.")
        part = parts[0]
        content = part.get_payload(decode=True) or b""
        stored = {
            "id": str(uuid.uuid4()),
            "quotationId": quotation_id.lower(),
            "fileName": part.get_filename(),
            "contentType": part.get_content_type(),
            "size": len(content),
        }
        with self._stats_lock:
            tenant.files.append({**stored, "content": content})
        return Reply(200, orjson.dumps(stored))

    # API ----------------------------------------------------------------------------------
    def _caller(self, handler: SandboxHandler) -> str:
        """Whose calls a request counts against: its valid token's tenant; ``""`` for any
        request without one (answered 401 later, if the rate lets it through)."""
        token = _bearer_token(handler)
        if not token or self.tokens.check(token) is not None:
            return ""
        return self.tokens.tenant_of(token) or DEFAULT_TENANT

    def authenticate(self, handler: SandboxHandler) -> Tenant | Reply:
        """The tenant of a valid bearer token, else the 401 answer."""
        auth = handler.headers.get("Authorization", "")
        token = _bearer_token(handler)
        if not auth:
            problem, description = "", "Authorization header missing: send a bearer token."
        elif not token:
            problem, description = "invalid_request", "Use the Bearer authorization scheme."
        else:
            why = self.tokens.check(token)
            if why is None:
                tenant = self.tenants[self.tokens.tenant_of(token) or DEFAULT_TENANT]
                self.count(f"requests_of:{tenant.name}")  # whose token came: tests count them
                return tenant
            problem = "invalid_token"
            description = "The token expired." if why == "expired" else "The token is not valid."
        self.count("unauthorized")
        challenge = 'Bearer realm="elfsquad-sandbox"'
        if problem:
            challenge += f', error="{problem}", error_description="{description}"'
        return Reply(
            401, error_body("Unauthorized", description), headers={"WWW-Authenticate": challenge}
        )

    def dispatch(self, handler: SandboxHandler, body: bytes) -> Reply | str:
        """The answer to one request, or a fault kind (``"cut"``) the handler must act out."""
        split = urlsplit(handler.path)
        path = split.path
        if path == "/oauth2/token":
            return self.token(handler, body)
        if path.rstrip("/").lower() in HEALTH_PATHS:
            # ASP.NET Core health checks: plain "Healthy", no token needed (a status page polls).
            return Reply(200, b"Healthy", "text/plain; charset=utf-8")
        if path in SWAGGER_FILES:
            doc = read_apispec(SWAGGER_FILES[path])
            if doc is None:
                raise ODataError(404, "NotFound", f"{path} is not available in this sandbox.")
            return Reply(200, doc, "application/json; charset=utf-8")
        if match := _ADDFILE.match(path):
            tenant = self.authenticate(handler)
            if isinstance(tenant, Reply):
                return tenant
            try:
                return self.add_file(handler, tenant, match.group(1), body)
            except ODataError as exc:  # the Quotation API's errors are not OData's
                doc = {"message": exc.message}
                return Reply(exc.status, orjson.dumps(doc), "application/json; charset=utf-8")
        if path.startswith("/scim/2/"):
            self.count("scim_requests")
            segments = [unquote(s) for s in path[len("/scim/2/") :].split("/") if s]
            request = Request(
                method=handler.command,
                segments=segments,
                options=parse_qsl(split.query, keep_blank_values=True),
                body=body,
                base_url="",
                path=path,
            )
            authorization = handler.headers.get("Authorization", "")
            return self._scim_tenant(authorization).scim.handle(request, segments, authorization)
        cpq = bool(_QUOTATION.match(path) or _CONFIGURATOR.match(path))
        if path != "/data/1" and not path.startswith("/data/1/") and not cpq:
            raise ODataError(404, "NotFound", f"No resource at {path}.")
        self.count("api_requests")
        if handler.command not in ("GET", "HEAD"):
            self.count("api_writes")  # what tests check a dry run or a preview never sends
        if (wait := self.settings.rate_limit.take(self._caller(handler))) is not None:
            self.count("rate_limited")
            seconds = RateLimit.retry_after(wait)
            return Reply(
                429,
                error_body("TooManyRequests", f"Rate limit exceeded. Retry after {seconds} s."),
                headers={"Retry-After": seconds},
            )
        with self.settings.capacity.serving():
            # The latency is service time: with a capacity, requests beyond it queue for it.
            if self.settings.latency_ms > 0:
                time.sleep(self.settings.latency_ms / 1000.0)
            return self._serve_api(handler, body, split, path)

    def _serve_api(
        self, handler: SandboxHandler, body: bytes, split: SplitResult, path: str
    ) -> Reply | str:
        """An API request past the rate limit: faults, the token check, the Data API."""
        fault = self.faults.next_fault(handler.command)
        if fault == "429":
            self.count("faults_429")
            wait = retry_after_text(self.settings.retry_after)
            return Reply(
                429,
                error_body("TooManyRequests", f"Rate limit exceeded. Retry after {wait} s."),
                headers={"Retry-After": wait},
            )
        if fault == "503":
            self.count("faults_503")
            # A gateway's maintenance page; it says when to come back, as a 429 does.
            return Reply(
                503,
                SERVICE_UNAVAILABLE_HTML,
                "text/html; charset=utf-8",
                {"Retry-After": retry_after_text(self.settings.retry_after)},
            )
        tenant = self.authenticate(handler)
        if isinstance(tenant, Reply):
            return tenant
        host = handler.headers.get("Host") or "{}:{}".format(*handler.server.server_address[:2])
        reply = self._serve_cpq(handler, tenant, body, split, path, host)
        if reply is None:
            segments = (
                [unquote(s) for s in path[len("/data/1/") :].split("/")]
                if path != "/data/1"
                else []
            )
            request = Request(
                method="GET" if handler.command == "HEAD" else handler.command,
                segments=segments,
                options=parse_qsl(split.query, keep_blank_values=True),
                body=body,
                base_url=f"http://{host}",
                path=path,
                prefer=handler.headers.get("Prefer", ""),
                if_match=handler.headers.get("If-Match", ""),
            )
            reply = tenant.api.handle(request)
        if fault == "cut":
            self.count("faults_cut")
            return "cut:" + str(reply.status), reply  # type: ignore[return-value]
        return reply

    def _scim_tenant(self, authorization: str) -> Tenant:
        """The tenant whose SCIM token ``authorization`` carries (the default one when none
        does: its SCIM API answers the 401)."""
        for tenant in self.tenants.values():
            if tenant.scim.authorized(authorization):
                return tenant
        return self.tenants[DEFAULT_TENANT]

    def _serve_cpq(
        self,
        handler: SandboxHandler,
        tenant: Tenant,
        body: bytes,
        split: SplitResult,
        path: str,
        host: str,
    ) -> Reply | None:
        """A Quotation or Configurator API request, or ``None`` for the Data API."""
        api: QuotationApi | ConfiguratorApi
        if m := _QUOTATION.match(path):
            api, rest = tenant.quotation, path[m.end() :]
        elif m := _CONFIGURATOR.match(path):
            api, rest = tenant.configurator, path[m.end() :]
        else:
            return None
        request = CpqRequest(
            method="GET" if handler.command == "HEAD" else handler.command,
            segments=[unquote(s) for s in rest.split("/") if s],
            query=parse_qsl(split.query, keep_blank_values=True),
            body=body,
            accept=handler.headers.get("Accept", ""),
            content_type=handler.headers.get("Content-Type", ""),
            base_url=f"http://{host}",
        )
        return api.handle(request)


def oauth_error(status: int, code: str, description: str, headers: dict | None = None) -> Reply:
    """An OAuth 2 error answer (RFC 6749 section 5.2)."""
    doc = {"error": code, "error_description": description}
    return Reply(status, orjson.dumps(doc), "application/json; charset=utf-8", headers or {})


class SandboxHandler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 keep-alive with exact ``Content-Length`` on every answer."""

    protocol_version = "HTTP/1.1"
    server_version = "ElfsquadSandbox/1.0"
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._send(Reply(411, error_body("LengthRequired", "Send a Content-Length.")))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._send(Reply(400, error_body("BadRequest", "Invalid Content-Length.")))
            return None
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        app = self.server.app
        app.count("requests")
        body = self._read_body()
        if body is None:
            return
        if not self.server.begin_request():
            # Stopping: the store may already be closed, so answer without touching it.
            self.close_connection = True
            self._send(Reply(503, error_body("ServiceUnavailable", "The sandbox is stopping.")))
            return
        try:
            try:
                result = app.dispatch(self, body)
            except ODataError as exc:
                result = Reply(exc.status, error_body(exc.code, exc.message))
            except Exception:  # never let one request take the server down
                app.count("errors_500")
                result = Reply(500, error_body("InternalServerError", "The sandbox failed."))
            if isinstance(result, tuple):
                self._send_cut(result[1])
            else:
                self._send(result)
        finally:
            self.server.end_request()

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)
        # Small answers must not wait for delayed ACKs (Nagle): ~40 ms per request otherwise.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def _headers(self, reply: Reply, body: bytes = b"") -> None:
        """Send status, headers and ``body`` in one write."""
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n")
        if body:
            self._headers_buffer.append(body)
        self.flush_headers()

    def _send(self, reply: Reply) -> None:
        self._headers(reply, b"" if self.command == "HEAD" else reply.body)

    def _send_cut(self, reply: Reply) -> None:
        """Announce the full body, send part of it, then drop the connection; an answer
        without a body (a write's 204) is lost whole: the request was served, its answer not."""
        if reply.body:
            self._headers(reply, reply.body[: max(1, len(reply.body) // 2)])
            self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _handle


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server carrying the app; worker threads never block interpreter exit."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: SandboxApp, verbose: bool = False) -> None:
        super().__init__(address, SandboxHandler)
        self.app = app
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._state = threading.Condition()
        self._active = 0
        self._stopping = False

    def track(self, connection: socket.socket) -> None:
        """Remember an open (keep-alive) connection, so stopping can close it."""
        with self._state:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a connection its handler has finished with."""
        with self._state:
            self._connections.discard(connection)

    def begin_request(self) -> bool:
        """Count a request in; False once the server is stopping."""
        with self._state:
            if self._stopping:
                return False
            self._active += 1
            return True

    def end_request(self) -> None:
        """Count a request out."""
        with self._state:
            self._active -= 1
            self._state.notify_all()

    def close_connections(self, wait: float = 5.0) -> None:
        """Refuse new requests, let those being served finish, then close every connection.

        A client holding a keep-alive connection then sees it closed (and the port refused),
        as with a real server going away, instead of answers from a closed store.
        """
        with self._state:
            self._stopping = True
            self._state.wait_for(lambda: self._active == 0, timeout=wait)
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-answer is normal here; keep stderr quiet.
        if self.verbose:
            super().handle_error(request, client_address)
