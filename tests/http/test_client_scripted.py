"""Answers the sandbox does not give, from a scripted loopback server over real HTTP.

Foreign and repeating next-page links, relative links, 403/429/5xx, Retry-After, HTML and
empty bodies, cut connections, timeouts and a token endpoint that answers with a web page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pandas as pd
import pytest
from scripted import SECRET, Reply, ScriptedServer, json_reply, odata_error, page, serving

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.errors import (
    AuthenticationError,
    ConnectionFailedError,
    ElfsquadHTTPError,
    IncompleteResultError,
    InsecureURLError,
    LoginError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
)


@pytest.fixture
def other_server() -> Iterator[ScriptedServer]:
    yield from serving()


def client_for(srv: ScriptedServer, **options: Any) -> ElfsquadClient:
    options.setdefault("progress", False)
    options.setdefault("retry_seconds", 5.0)
    return ElfsquadClient("scripted", SECRET, login_url=srv.url, api_url=srv.url, **options)


# -- paging ----------------------------------------------------------------------------------


def test_relative_next_links_are_followed(server: ScriptedServer) -> None:
    def features(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply:
        skip = int(h.path.partition("$skip=")[2] or 0)
        rows = [{"n": i} for i in range(skip, min(skip + 2, 5))]
        return page(rows, f"features?$skip={skip + 2}" if skip + 2 < 5 else None)

    server.routes["/data/1/features"] = features
    frame = client_for(server).get("/data/1/features")
    assert frame["n"].tolist() == [0, 1, 2, 3, 4]
    assert frame.attrs["elfsquad"]["pages"] == 3


def test_foreign_next_link_is_refused_without_sending_the_token(
    server: ScriptedServer, other_server: ScriptedServer
) -> None:
    server.routes["/data/1/features"] = lambda srv, h: page(
        [{"n": 1}], f"{other_server.url}/data/1/features?$skip=1"
    )
    with pytest.raises(InsecureURLError, match="next-page link.*not on the API host"):
        client_for(server).get("/data/1/features")
    assert other_server.requests == []


def test_full_url_on_another_host_is_refused(
    server: ScriptedServer, other_server: ScriptedServer
) -> None:
    with pytest.raises(InsecureURLError, match="only sent to the API host"):
        client_for(server).get(f"{other_server.url}/data/1/features")
    assert other_server.requests == []


def test_repeating_next_link_stops_with_an_error(server: ScriptedServer) -> None:
    def features(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply:
        return page([{"n": 1}, {"n": 2}], f"{srv.url}/data/1/features?$skip=2")

    server.routes["/data/1/features"] = features
    with pytest.raises(IncompleteResultError, match="sent before") as info:
        client_for(server).get("/data/1/features")
    assert info.value.rows_fetched == 4
    assert server.hits("/data/1/features") == 2


# -- retries ---------------------------------------------------------------------------------


def test_429_is_retried_after_the_time_the_service_asks(server: ScriptedServer) -> None:
    calls: list[float] = []

    def features(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return odata_error(429, "Too many requests", {"Retry-After": "1"})
        return page([{"n": 1}])

    server.routes["/data/1/features"] = features
    frame = client_for(server).get("/data/1/features")
    assert frame["n"].tolist() == [1]
    assert calls[1] - calls[0] >= 0.95


@pytest.mark.timing
def test_429_beyond_the_retry_budget_fails_at_once_with_a_hint(server: ScriptedServer) -> None:
    server.routes["/data/1/features"] = lambda srv, h: odata_error(
        429, "Rate limit exceeded", {"Retry-After": "120"}
    )
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as info:
        client_for(server, retry_seconds=3).get("/data/1/features")
    assert time.monotonic() - started < 2
    assert "HTTP 429" in info.value.message and "Rate limit exceeded" in info.value.message
    assert "120 s" in (info.value.hint or "")


def test_503_html_is_retried_then_reported(server: ScriptedServer) -> None:
    html = b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head></html>"
    server.routes["/data/1/features"] = lambda srv, h: (503, {"Content-Type": "text/html"}, html)
    with pytest.raises(ServerError) as info:
        client_for(server, retry_seconds=1.5).get("/data/1/features")
    assert server.hits("/data/1/features") >= 2
    assert "HTTP 503" in info.value.message
    assert "503 Service Unavailable" in info.value.message
    assert "<html" not in str(info.value)


def test_writes_are_not_retried_on_503(server: ScriptedServer) -> None:
    server.routes["/data/1/features"] = lambda srv, h: odata_error(503, "Busy")
    with pytest.raises(ServerError):
        client_for(server).post("/data/1/features", json={"name": "x"})
    assert server.hits("/data/1/features") == 1


def test_500_is_reported_with_the_server_message(server: ScriptedServer) -> None:
    server.routes["/data/1/features"] = lambda srv, h: odata_error(500, "Database on fire")
    with pytest.raises(ServerError, match="Database on fire") as info:
        client_for(server).get("/data/1/features")
    assert info.value.status == 500 and info.value.method == "GET"
    assert info.value.url == f"{server.url}/data/1/features"
    assert server.hits("/data/1/features") == 1


def test_connection_cut_mid_body_is_retried_for_get(server: ScriptedServer) -> None:
    calls: list[int] = []

    def features(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply | None:
        calls.append(1)
        if len(calls) == 1:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "1000")
            h.end_headers()
            h.wfile.write(b'{"value": [{"n"')
            h.wfile.flush()
            h.close_connection = True
            return None
        return page([{"n": 7}])

    server.routes["/data/1/features"] = features
    assert client_for(server).get("/data/1/features")["n"].tolist() == [7]
    assert len(calls) == 2


@pytest.mark.timing
def test_timeout_ends_in_a_clear_error(server: ScriptedServer) -> None:
    def slow(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply:
        time.sleep(1.5)
        return page([])

    server.routes["/data/1/features"] = slow
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError, match="no answer within 0.3 s"):
        client_for(server, timeout=0.3, retry_seconds=0).get("/data/1/features")
    assert time.monotonic() - started < 1.4


# -- status mapping --------------------------------------------------------------------------


def test_403_says_the_client_lacks_rights(server: ScriptedServer) -> None:
    server.routes["/data/1/users"] = lambda srv, h: odata_error(403, "Forbidden for this client")
    with pytest.raises(PermissionDeniedError, match="Forbidden for this client") as info:
        client_for(server).get("/data/1/users")
    assert "rights" in (info.value.hint or "")
    assert f"GET {server.url}/data/1/users" in info.value.message


def test_persistent_401_renews_once_then_says_log_in_again(server: ScriptedServer) -> None:
    server.routes["/data/1/features"] = lambda srv, h: odata_error(401, "Token rejected")
    with pytest.raises(AuthenticationError) as info:
        client_for(server).get("/data/1/features")
    assert "log in again" in (info.value.hint or "")
    assert len(server.tokens) == 2 and server.hits("/data/1/features") == 2


def test_a_renewed_token_that_lapses_while_faults_are_waited_out_is_renewed_again(
    server: ScriptedServer,
) -> None:
    """401, then 503 (waited out), then 401 again for the renewed token: a second renewal,
    and the rows; a 401 straight after a renewal still ends it (the test above)."""
    answers = iter(
        [
            odata_error(401, "Token expired"),
            odata_error(503, "Busy", {"Retry-After": "0"}),
            odata_error(401, "Token expired"),
        ]
    )
    server.routes["/data/1/features"] = lambda srv, h: next(answers, None) or page([{"id": 1}])
    frame = client_for(server).get("/data/1/features")
    assert frame["id"].tolist() == [1]
    assert len(server.tokens) == 3 and server.hits("/data/1/features") == 4


def test_html_answer_is_an_error_unless_raw(server: ScriptedServer) -> None:
    html = b"<html><body>Sign in</body></html>"
    server.routes["/data/1/features"] = lambda srv, h: (200, {"Content-Type": "text/html"}, html)
    client = client_for(server)
    with pytest.raises(ResponseFormatError, match="HTML page"):
        client.get("/data/1/features")
    assert client.get("/data/1/features", raw=True) == html.decode()


def test_empty_200_body_on_get_is_an_error(server: ScriptedServer) -> None:
    server.routes["/data/1/features"] = lambda srv, h: (200, {}, b"")
    with pytest.raises(ResponseFormatError, match="empty body"):
        client_for(server).get("/data/1/features")


def test_non_json_documents_come_back_as_text_or_bytes(server: ScriptedServer) -> None:
    pdf = b"%PDF-1.4 binary\x00\xff"
    server.routes["/quotation/1/pdf"] = lambda srv, h: (
        200,
        {"Content-Type": "application/pdf"},
        pdf,
    )
    server.routes["/x.xml"] = lambda srv, h: (200, {"Content-Type": "application/xml"}, b"<a/>")
    client = client_for(server)
    assert client.request("GET", "/quotation/1/pdf") == pdf
    assert client.request("GET", "/x.xml", raw=True) == "<a/>"


def test_json_that_is_not_a_collection_is_normalised(server: ScriptedServer) -> None:
    server.routes["/a"] = lambda srv, h: json_reply({"id": 1, "lines": [1, 2], "sub": {"x": 2}})
    server.routes["/b"] = lambda srv, h: json_reply([1, 2, 3])
    server.routes["/c"] = lambda srv, h: json_reply(42)
    server.routes["/d"] = lambda srv, h: json_reply({"value": ["g1", "g2"]})
    client = client_for(server)
    a = client.get("/a")
    assert a.shape[0] == 1 and a["sub.x"][0] == 2 and a["lines"][0] == [1, 2]
    assert client.get("/b")["value"].tolist() == [1, 2, 3]
    assert client.get("/c")["value"].tolist() == [42]
    assert client.get("/d")["value"].tolist() == ["g1", "g2"]
    assert client.get("/a", raw=True) == {"id": 1, "lines": [1, 2], "sub": {"x": 2}}


def test_token_only_goes_to_the_api_host(server: ScriptedServer) -> None:
    server.routes["/data/1/features"] = lambda srv, h: page([{"n": 1}])
    client_for(server).get("/data/1/features")
    api_calls = [r for r in server.requests if r["path"].startswith("/data/")]
    assert api_calls[0]["headers"]["Authorization"] == f"Bearer {server.tokens[0]}"
    token_call = next(r for r in server.requests if r["path"] == "/oauth2/token")
    assert "Authorization" not in token_call["headers"]
    assert b"grant_type=client_credentials" in token_call["body"]


def test_token_endpoint_answering_html_is_explained(server: ScriptedServer) -> None:
    server.routes["/oauth2/token"] = lambda srv, h: (
        200,
        {"Content-Type": "text/html"},
        b"<html>Welcome</html>",
    )
    with pytest.raises(LoginError, match="did not answer with a token") as info:
        client_for(server).login()
    assert "login URL" in (info.value.hint or "")
    assert SECRET not in str(info.value)


def test_without_metadata_types_are_inferred_and_metadata_asked_once(
    server: ScriptedServer,
) -> None:
    rows = [
        {"id": "a", "createdDate": "2024-01-01T00:00:00", "n": 1, "ok": True, "price": 1.5},
        {"id": "b", "createdDate": "0001-01-01T00:00:00", "n": 2, "ok": None, "price": 2},
    ]
    server.routes["/data/1/features"] = lambda srv, h: page(rows)
    client = client_for(server)
    frame = client.get("/data/1/features")
    client.get("/data/1/features")
    assert str(frame["createdDate"].dtype) == "datetime64[ns, UTC]"
    assert pd.isna(frame["createdDate"][1])
    assert str(frame["n"].dtype) == "int64"
    assert str(frame["ok"].dtype) == "boolean"
    assert str(frame["price"].dtype) == "float64"
    assert server.hits("/data/1/$metadata") == 1


def test_redirects_are_not_followed(server: ScriptedServer, other_server: ScriptedServer) -> None:
    server.routes["/data/1/features"] = lambda srv, h: (
        302,
        {"Location": f"{other_server.url}/data/1/features"},
        b"",
    )
    with pytest.raises(ElfsquadHTTPError, match="redirected to") as info:
        client_for(server).get("/data/1/features")
    assert info.value.status == 302
    assert other_server.requests == []
