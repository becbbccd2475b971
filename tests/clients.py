"""Clients, tokens and login settings for a sandbox, as many test modules need them."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.core.schema import ServiceSchema, parse_metadata
from elfsquad_magic.sandbox import Sandbox


def sandbox_client(sb: Sandbox, **options: Any) -> ElfsquadClient:
    """A client holding ``sb``'s credentials and hosts; ``options`` may name other hosts."""
    options.setdefault("login_url", sb.login_url)
    options.setdefault("api_url", sb.api_url)
    return ElfsquadClient(sb.client_id, sb.client_secret, **options)


def make_client(sb: Sandbox, **options: Any) -> ElfsquadClient:
    """Like ``sandbox_client``, without progress bars unless asked for."""
    options.setdefault("progress", False)
    return sandbox_client(sb, **options)


def logged_in_client(sb: Sandbox, **options: Any) -> ElfsquadClient:
    """A ``sandbox_client`` that has already fetched its token."""
    client = sandbox_client(sb, **options)
    client.login()
    return client


def token_form(sb: Sandbox, **overrides: str | None) -> dict[str, str]:
    """The client-credentials form for ``sb``; an override of None leaves that field out."""
    form: dict[str, str | None] = {
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
        "grant_type": "client_credentials",
        "scope": "Elfskot.Api",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def request_token(sb: Sandbox, **overrides: str | None) -> requests.Response:
    """The token endpoint's answer to ``token_form(sb, **overrides)``, over plain HTTP."""
    return requests.post(
        f"{sb.login_url}/oauth2/token", data=token_form(sb, **overrides), timeout=10
    )


def get_token(sb: Sandbox) -> str:
    """A fresh access token from the sandbox's token endpoint."""
    reply = request_token(sb)
    reply.raise_for_status()
    return reply.json()["access_token"]


def fetch_metadata(sb: Sandbox, token: str) -> ServiceSchema:
    """The sandbox's $metadata, read over plain HTTP (not through the client under test)."""
    answer = requests.get(
        f"{sb.api_url}/data/1/$metadata",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    return parse_metadata(answer.content)


def export_login(monkeypatch: pytest.MonkeyPatch, sb: Sandbox, secret: str | None = None) -> None:
    """Put ``sb``'s credentials and hosts (or another ``secret``) in the ELFSQUAD_* variables."""
    monkeypatch.setenv("ELFSQUAD_CLIENT_ID", sb.client_id)
    monkeypatch.setenv("ELFSQUAD_CLIENT_SECRET", secret or sb.client_secret)
    monkeypatch.setenv("ELFSQUAD_LOGIN_URL", sb.login_url)
    monkeypatch.setenv("ELFSQUAD_API_URL", sb.api_url)
