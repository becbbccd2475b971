"""Fault injection: 429 with Retry-After, 503 with HTML, cut connections, at the asked rate."""

from __future__ import annotations

import time

import requests
from conftest import session_for


def _statuses(sb, n: int) -> list[str]:
    session = session_for(sb)
    out = []
    for _ in range(n):
        try:
            reply = session.get(f"{sb.url}/data/1/Vats", timeout=10)
            reply.json() if reply.status_code == 200 else None
            out.append(str(reply.status_code))
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            out.append("cut")
            session = session_for(sb)
    return out


def test_faults_appear_at_the_asked_rate(fresh_sandbox) -> None:
    fresh_sandbox.configure(fault_rate=0.3, fault_seed=11)
    statuses = _statuses(fresh_sandbox, 300)
    faults = [s for s in statuses if s != "200"]
    assert 0.2 < len(faults) / len(statuses) < 0.4
    assert {"429", "503", "cut"} <= set(faults)
    stats = fresh_sandbox.stats
    assert stats["faults_429"] == faults.count("429")
    assert stats["faults_503"] == faults.count("503")
    assert stats["faults_cut"] == faults.count("cut")


def test_fault_sequence_repeats_for_the_same_seed(fresh_sandbox) -> None:
    fresh_sandbox.configure(fault_rate=0.5, fault_seed=3)
    first = _statuses(fresh_sandbox, 25)
    fresh_sandbox.configure(fault_rate=0.5, fault_seed=3)
    assert _statuses(fresh_sandbox, 25) == first


def test_fault_answers_look_like_the_real_ones(fresh_sandbox) -> None:
    fresh_sandbox.configure(fault_rate=1.0, fault_seed=5)
    session = session_for(fresh_sandbox)  # the token endpoint is never faulted
    seen = set()
    for _ in range(40):
        try:
            reply = session.get(f"{fresh_sandbox.url}/data/1/Features", timeout=10)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            seen.add("cut")
            session = session_for(fresh_sandbox)
            continue
        if reply.status_code == 429:
            assert reply.headers["Retry-After"] == "1"
            assert reply.json()["error"]["code"]
        else:
            assert reply.status_code == 503
            assert reply.headers["Content-Type"].startswith("text/html")
            assert b"<html" in reply.content
        seen.add(reply.status_code)
    assert seen == {429, 503, "cut"}


def test_cut_connection_announces_more_than_it_sends(fresh_sandbox) -> None:
    import http.client

    fresh_sandbox.configure(fault_rate=1.0, fault_seed=0)
    token = session_for(fresh_sandbox).headers["Authorization"]
    host, port = fresh_sandbox.url.removeprefix("http://").split(":")
    for _ in range(30):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/data/1/Features", headers={"Authorization": token})
        reply = conn.getresponse()
        if reply.status == 200:
            try:
                reply.read()
            except http.client.IncompleteRead as exc:
                assert len(exc.partial) < int(reply.headers["Content-Length"])
                conn.close()
                return
        conn.close()
    raise AssertionError("no cut connection in 30 requests at fault rate 1.0")


def test_latency_is_added_to_api_requests(fresh_sandbox) -> None:
    session = session_for(fresh_sandbox)
    fresh_sandbox.configure(latency_ms=150)
    started = time.perf_counter()
    assert session.get(f"{fresh_sandbox.url}/data/1/Vats", timeout=10).status_code == 200
    assert time.perf_counter() - started >= 0.15
