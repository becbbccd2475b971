"""Helpers for the sandbox tests: an authenticated ``requests`` session per sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests
from clients import get_token

from elfsquad_magic.sandbox import Sandbox


def session_for(sb: Sandbox) -> requests.Session:
    """A session carrying a bearer token for ``sb``."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {get_token(sb)}"
    return session


def api_caller(sb: Sandbox) -> Callable[..., requests.Response]:
    """``call("features", params={...})``: a request below /data/1/ on ``sb``, with a token."""
    session = session_for(sb)

    def call(path: str, method: str = "GET", **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return session.request(method, f"{sb.url}/data/1/{path}", **kwargs)

    return call


@pytest.fixture(name="get_token", scope="session")
def get_token_fixture() -> Callable[[Sandbox], str]:
    """The function that fetches a fresh token from a sandbox."""
    return get_token


@pytest.fixture(scope="session")
def api(sandbox: Sandbox) -> Callable[..., requests.Response]:
    """``api("features", params={...})``: GET below /data/1/ on the session sandbox."""
    return api_caller(sandbox)


@pytest.fixture
def fresh_api(fresh_sandbox: Sandbox) -> Callable[..., requests.Response]:
    """Like ``api`` but on the private, writable ``fresh_sandbox``."""
    return api_caller(fresh_sandbox)


@pytest.fixture(scope="session")
def tenant() -> dict[str, list[dict]]:
    """The seed data of the session sandbox (scale 1, seed 42), generated independently."""
    from elfsquad_magic.sandbox.seed import generate_tenant

    return generate_tenant(1, 42)


def data(row: dict) -> dict:
    """A record without its ``@odata.*`` annotations (every entity carries ``@odata.etag``)."""
    return {k: v for k, v in row.items() if not k.startswith("@odata.")}


def fetch_all(call: Callable[..., requests.Response], path: str, **params) -> list[dict]:
    """Every row of a collection, following ``@odata.nextLink`` as a user would."""
    reply = call(path, params=params)
    assert reply.status_code == 200, reply.text
    doc = reply.json()
    rows = list(doc["value"])
    session = requests.Session()
    session.headers.update(reply.request.headers)
    while "@odata.nextLink" in doc:
        reply = session.get(doc["@odata.nextLink"], timeout=30)
        assert reply.status_code == 200, reply.text
        doc = reply.json()
        rows.extend(doc["value"])
    return rows


@pytest.fixture(scope="module")
def cpq_sandbox() -> Iterator[Sandbox]:
    """A private sandbox of the session sandbox's tenant (scale 1, seed 42) for one test module
    that writes through the Quotation or Configurator API."""
    with Sandbox(scale=1, seed=42) as sb:
        yield sb


def cpq_caller(sb: Sandbox, base: str) -> Callable[..., requests.Response]:
    """``call("PUT", "path", json=...)`` below ``base`` (``/quotation/1/``...), asking for JSON."""
    session = session_for(sb)
    session.headers["Accept"] = "application/json"

    def call(method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return session.request(method, f"{sb.url}{base}{path}", **kwargs)

    return call
