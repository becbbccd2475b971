"""How the transport reads bodies and stops: one read per body, over a real loopback server."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from elfsquad_magic.core.transport import RequestCancelled, Transport
from elfsquad_magic.errors import ConnectionFailedError
from elfsquad_magic.fetch.page import parse_json_response

BODY = orjson.dumps({"value": [{"id": i, "name": f"row {i}" * 20} for i in range(2000)]})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.requests = 0
        # What to do for each next request: "ok", "gzip", "cut" (half the body, then close), "503".
        self.plan: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so pooled connections can be counted
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        self.server.requests += 1
        action = self.server.plan.pop(0) if self.server.plan else "ok"
        if action == "503":
            self.send_response(503)
            self.send_header("Retry-After", "30")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = gzip.compress(BODY) if action == "gzip" else BODY
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if action == "gzip":
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        if action == "cut":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _transport(srv: _Server, **kwargs: object) -> Transport:
    host, port = srv.server_address[:2]
    return Transport(f"http://{host}:{port}", None, **kwargs)  # type: ignore[arg-type]


def _get(transport: Transport, **kwargs: object) -> object:
    return transport.request("GET", "/data/1/things", authenticate=False, **kwargs)  # type: ignore[arg-type]


def test_bodies_are_read_whole_and_connections_reused(server: _Server) -> None:
    transport = _transport(server)
    for _ in range(5):
        response = _get(transport)
        assert response.content == BODY  # type: ignore[attr-defined]
    # Each body was read to its end, so the one connection went back to the pool every time.
    assert server.connections == 1
    assert server.requests == 5
    transport.close()


def test_gzip_bodies_are_decoded(server: _Server) -> None:
    server.plan = ["gzip"]
    transport = _transport(server)
    response = _get(transport)
    assert response.headers["Content-Encoding"] == "gzip"  # type: ignore[attr-defined]
    assert parse_json_response(response, "GET") == orjson.loads(BODY)  # type: ignore[arg-type]
    transport.close()


def test_a_body_cut_midway_is_retried(server: _Server) -> None:
    server.plan = ["cut", "ok"]
    transport = _transport(server)
    response = _get(transport)
    assert response.content == BODY  # type: ignore[attr-defined]
    assert server.requests == 2
    transport.close()


def test_a_body_cut_every_time_is_a_clear_error(server: _Server) -> None:
    server.plan = ["cut"] * 20
    transport = _transport(server, retry_seconds=0.0)
    with pytest.raises(ConnectionFailedError, match="before the answer was complete"):
        _get(transport)
    transport.close()


def test_no_request_starts_once_cancelled(server: _Server) -> None:
    cancel = threading.Event()
    cancel.set()
    transport = _transport(server)
    with pytest.raises(RequestCancelled):
        _get(transport, cancel=cancel)
    assert server.requests == 0
    transport.close()


@pytest.mark.timing
def test_cancel_cuts_a_retry_wait_short(server: _Server) -> None:
    server.plan = ["503"] * 5  # asks for 30 s before the next try
    cancel = threading.Event()
    transport = _transport(server, retry_seconds=120.0)
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(RequestCancelled):
        _get(transport, cancel=cancel)
    assert time.monotonic() - started < 5
    assert server.requests == 1  # the retry never went out
    transport.close()
