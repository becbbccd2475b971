"""The token endpoint and bearer-token checks on the Data API."""

from __future__ import annotations

import requests
from clients import request_token, token_form

from elfsquad_magic.sandbox import Sandbox


def _features(sb: Sandbox, token: str) -> requests.Response:
    """GET the Features set with ``token`` as the bearer token."""
    return requests.get(
        f"{sb.url}/data/1/Features", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def test_client_credentials_give_a_bearer_token(sandbox: Sandbox) -> None:
    reply = request_token(sandbox)
    assert reply.status_code == 200
    doc = reply.json()
    assert doc["token_type"] == "Bearer"
    assert doc["scope"] == "Elfskot.Api"
    assert doc["expires_in"] == 3600
    assert doc["access_token"] in sandbox.issued_tokens
    assert reply.headers["Cache-Control"] == "no-store"


def test_wrong_secret_is_invalid_client(sandbox: Sandbox) -> None:
    reply = request_token(sandbox, client_secret="not-the-secret")
    assert reply.status_code == 401
    assert reply.json()["error"] == "invalid_client"


def test_wrong_client_id_is_invalid_client(sandbox: Sandbox) -> None:
    reply = request_token(sandbox, client_id="someone-else")
    assert reply.status_code == 401
    assert reply.json()["error"] == "invalid_client"


def test_other_grant_type_is_unsupported(sandbox: Sandbox) -> None:
    reply = request_token(sandbox, grant_type="password")
    assert reply.status_code == 400
    assert reply.json()["error"] == "unsupported_grant_type"


def test_json_body_instead_of_form_is_refused(sandbox: Sandbox) -> None:
    reply = requests.post(
        f"{sandbox.url}/oauth2/token",
        json=token_form(sandbox, scope=None),
        timeout=10,
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_request"


def test_data_api_without_token_is_401_with_bearer_challenge(sandbox: Sandbox) -> None:
    reply = requests.get(f"{sandbox.url}/data/1/Features", timeout=10)
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert "message" in reply.json()["error"]


def test_data_api_with_wrong_token_is_401(sandbox: Sandbox) -> None:
    reply = _features(sandbox, "made-up-token")
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]


def test_expired_token_is_401_and_a_new_token_works(fresh_sandbox: Sandbox, get_token) -> None:
    fresh_sandbox.configure(token_ttl=0)
    expired = get_token(fresh_sandbox)
    reply = _features(fresh_sandbox, expired)
    assert reply.status_code == 401
    assert "expired" in reply.headers["WWW-Authenticate"]
    fresh_sandbox.configure(token_ttl=3600)
    valid = get_token(fresh_sandbox)
    reply = _features(fresh_sandbox, valid)
    assert reply.status_code == 200


def test_expire_tokens_invalidates_issued_tokens(fresh_sandbox: Sandbox, get_token) -> None:
    token = get_token(fresh_sandbox)
    fresh_sandbox.expire_tokens()
    reply = _features(fresh_sandbox, token)
    assert reply.status_code == 401


def test_secret_is_random_per_instance_and_not_in_repr() -> None:
    with Sandbox() as one, Sandbox() as two:
        assert one.client_secret != two.client_secret
        assert one.client_secret not in repr(one)
