"""A scripted loopback HTTP server for answers the sandbox does not give.

Routes map a path to a function returning ``(status, headers, body)``, or ``None`` after writing
(or cutting) the answer itself. The token endpoint answers by itself unless a route replaces it;
every request is recorded with its headers and body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "scripted-secret-value-0123456789"
TOKEN_PREFIX = "scripted-token-"

Reply = tuple[int, dict[str, str], bytes]
Route = Callable[["ScriptedServer", BaseHTTPRequestHandler], Reply | None]


def odata_error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps({"error": {"code": str(status), "message": message}}).encode()
    return status, {"Content-Type": "application/json", **(headers or {})}, body


def json_reply(payload: Any, status: int = 200) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


class ScriptedServer:
    """A loopback HTTP server answering from a route table, recording every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[dict[str, Any]] = []
        self.tokens: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                path = self.path.split("?", 1)[0]
                route = server.routes.get(path) or server.routes.get("*")
                if path == "/oauth2/token" and "/oauth2/token" not in server.routes:
                    token = f"{TOKEN_PREFIX}{len(server.tokens)}"
                    server.tokens.append(token)
                    reply = json_reply({"access_token": token, "expires_in": 3600})
                elif route is None:
                    reply = odata_error(404, f"No route {path}")
                else:
                    reply = route(server, self)
                if reply is None:
                    return  # the route wrote (or cut) the answer itself
                status, headers, payload = reply
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"].split("?", 1)[0] == path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def page(rows: list[dict], next_link: str | None = None) -> Reply:
    """A collection page with an optional ``@odata.nextLink``."""
    payload: dict[str, Any] = {"value": rows}
    if next_link:
        payload["@odata.nextLink"] = next_link
    return json_reply(payload)


def serving() -> Iterator[ScriptedServer]:
    """A fixture body (``yield from serving()``): a fresh server, closed after the test."""
    srv = ScriptedServer()
    yield srv
    srv.close()
