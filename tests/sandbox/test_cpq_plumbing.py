"""The Quotation and Configurator APIs share the Data API's plumbing: the bearer token, the
fault injection and the counters."""

from __future__ import annotations

import contextlib

import requests
from conftest import session_for


def test_a_token_is_needed(sandbox) -> None:
    for path in ("/quotation/1/quotations", "/configurator/3/configurator/settings"):
        reply = requests.get(sandbox.url + path, timeout=10)
        assert reply.status_code == 401
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_health_needs_no_token(sandbox) -> None:
    for api in ("quotation/1", "configurator/1", "configurator/3"):
        reply = requests.get(f"{sandbox.url}/{api}/health/ready", timeout=10)
        assert (reply.status_code, reply.text) == (200, "Healthy")


def test_faults_reach_these_apis_too(fresh_sandbox) -> None:
    session = session_for(fresh_sandbox)
    fresh_sandbox.configure(fault_rate=1.0, fault_kinds=("429",), retry_after=0.05)
    reply = session.get(f"{fresh_sandbox.url}/configurator/3/configurator/settings", timeout=10)
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "0.05"
    fresh_sandbox.configure(fault_rate=1.0, fault_kinds=("cut",))
    # The answer is cut: the quotation is made, its answer lost.
    with contextlib.suppress(requests.RequestException):
        session.post(f"{fresh_sandbox.url}/quotation/1/quotations", json={}, timeout=10)
    assert fresh_sandbox.stats["faults_cut"] == 1
    assert fresh_sandbox.stats["faults_429"] == 1


def test_an_unknown_path_below_these_apis_is_a_404_of_their_own(sandbox) -> None:
    session = session_for(sandbox)
    reply = session.get(f"{sandbox.url}/quotation/1/nothing", timeout=10)
    assert reply.status_code == 404 and "message" in reply.json()
