"""The SCIM API: its own token, paged ListResponses as one DataFrame, writes, and where each
token goes."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from clients import make_client

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.errors import AuthenticationError, NotLoggedInError
from elfsquad_magic.sandbox import Sandbox

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class HeaderRecorder:
    """The Authorization header each request of a client carried, by URL path."""

    def __init__(self, client: ElfsquadClient) -> None:
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        session = client.engine.transport.session
        original = session.request

        def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.sent.append((url, dict(kwargs.get("headers") or {}).get("Authorization", "")))
            return original(method, url, *args, **kwargs)

        session.request = request  # type: ignore[method-assign]


def scim_client(sb: Sandbox, **options: Any) -> ElfsquadClient:
    """A client with the sandbox's OAuth credentials and its SCIM token."""
    client = make_client(sb, **options)
    client.set_scim_token(sb.scim_token)
    return client


def test_a_list_is_paged_by_start_index_into_one_frame(sandbox) -> None:
    client = scim_client(sandbox)
    frame = client.get("/scim/2/Users", params={"count": 3})
    users = sorted(sandbox.rows("Users"), key=lambda r: r["id"])
    assert frame["id"].tolist() == [u["id"] for u in users]
    assert frame["userName"].tolist() == [u["userName"] for u in users]
    meta = frame.attrs["elfsquad"]
    assert meta["count"] == len(users) and meta["pages"] == -(-len(users) // 3)
    assert {"name.givenName", "emails", "active"} <= set(frame.columns)


def test_limit_and_no_paginate_stop_early(sandbox) -> None:
    client = scim_client(sandbox)
    assert len(client.get("/scim/2/Users", params={"count": 2}, limit=3)) == 3
    assert len(client.get("/scim/2/Users", params={"count": 2}, paginate=False)) == 2


def test_a_filter_passes_through(sandbox) -> None:
    client = scim_client(sandbox)
    user = sandbox.rows("Users")[2]
    frame = client.get("/scim/2/Users", params={"filter": f'userName eq "{user["userName"]}"'})
    assert frame["id"].tolist() == [user["id"]]


def test_create_patch_and_delete_a_user(fresh_sandbox) -> None:
    client = scim_client(fresh_sandbox)
    created = client.post(
        "/scim/2/Users",
        json={"userName": "new.person@example.com", "externalId": "ext-1", "active": True},
    )
    user_id = created["id"][0]
    assert created["externalId"][0] == "ext-1"
    patched = client.patch(
        f"/scim/2/Users/{user_id}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        },
    )
    assert not bool(patched["active"][0])
    stored = {r["id"]: r for r in fresh_sandbox.rows("Users")}
    assert stored[user_id]["tenantActivityStatus"] == "Inactive"
    assert client.delete(f"/scim/2/Users/{user_id}") is None
    assert user_id not in {r["id"] for r in fresh_sandbox.rows("Users")}


def test_the_scim_token_goes_only_to_scim_paths_and_the_oauth_token_never_there(sandbox):
    client = scim_client(sandbox)
    recorder = HeaderRecorder(client)
    client.get("/data/1/vats")
    client.get("/scim/2/Users", params={"count": 4})
    client.get("/data/1/features", select="id")
    scim = [(url, auth) for url, auth in recorder.sent if "/scim/2/" in url]
    data = [(url, auth) for url, auth in recorder.sent if "/scim/2/" not in url]
    assert len(scim) >= 2 and len(data) >= 2
    assert all(auth == f"Bearer {sandbox.scim_token}" for _, auth in scim)
    assert all(sandbox.scim_token not in auth for _, auth in data)
    assert all(auth.startswith("Bearer ") and auth[7:] in sandbox.issued_tokens for _, auth in data)
    assert not any(token in auth for _, auth in scim for token in sandbox.issued_tokens)


def test_the_oauth_token_does_not_open_the_scim_api(sandbox) -> None:
    client = make_client(sandbox)
    client.login()
    with pytest.raises(NotLoggedInError, match="No SCIM token") as caught:
        client.get("/scim/2/Users")
    assert "ELFSQUAD_SCIM_TOKEN" in caught.value.hint
    client.set_scim_token(
        client.engine.transport.tokens.token()
    )  # an OAuth token where the SCIM one belongs
    with pytest.raises(AuthenticationError, match="401") as refused:
        client.get("/scim/2/Users")
    assert "SCIM settings" in refused.value.hint


def test_a_scim_token_alone_needs_no_oauth_login(sandbox) -> None:
    client = ElfsquadClient(
        api_url=sandbox.api_url, login_url=sandbox.login_url, scim_token=sandbox.scim_token
    )
    assert len(client.get("/scim/2/Users")) == len(sandbox.rows("Users"))
    with pytest.raises(NotLoggedInError):
        client.get("/data/1/vats")


def test_from_env_reads_the_scim_token(sandbox, monkeypatch) -> None:
    monkeypatch.setenv("ELFSQUAD_SCIM_TOKEN", sandbox.scim_token)
    monkeypatch.setenv("ELFSQUAD_API_URL", sandbox.api_url)
    client = ElfsquadClient.from_env()
    assert client.has_scim_token
    assert sandbox.scim_token not in repr(client) + client.status() + repr(vars(client))
    assert len(client.get("/scim/2/Users")) == len(sandbox.rows("Users"))


def test_logout_and_a_new_api_host_forget_the_scim_token(sandbox) -> None:
    client = scim_client(sandbox)
    client.logout()
    assert not client.has_scim_token
    client = scim_client(sandbox)
    client.api_url = "https://api.elfsquad.io"
    assert not client.has_scim_token
