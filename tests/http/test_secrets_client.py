"""Neither the client secret nor any token appears in a repr, message, log line or frame."""

from __future__ import annotations

import logging

import pytest
from clients import make_client, sandbox_client
from leakcheck import secrets_of

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.errors import ElfsquadError


def test_nothing_leaks_through_a_whole_session(fresh_sandbox, caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's included
    sb = fresh_sandbox
    seen: list[str] = []

    client = sandbox_client(sb)
    seen += [repr(client), str(client), client.status()]
    client.login()
    seen += [
        repr(client),
        client.status(),
        repr(client.engine.transport.tokens),
        repr(vars(client)),
    ]

    sb.configure(fault_rate=0.3, fault_seed=5, page_size=100)
    frame = client.get("/data/1/features", select="id,name", orderby="name")
    sb.configure(fault_rate=0.0)
    seen += [repr(frame.attrs), frame.to_string()]

    sb.expire_tokens()  # forces a 401 and a renewal
    seen.append(repr(client.get("/data/1/vats").attrs))

    client.set_scim_token(sb.scim_token)
    users = client.get("/scim/2/Users", params={"count": 3})
    seen += [repr(client), client.status(), repr(vars(client)), repr(vars(client.engine.transport))]
    seen += [repr(users.attrs), users.to_string()]

    failures: list[BaseException] = []
    for call in (
        lambda: client.get("/data/1/nosuch"),
        lambda: client.get("/data/1/features", filter="nosuch eq 1"),
        lambda: ElfsquadClient(
            sb.client_id, "wrong-" + sb.client_secret, login_url=sb.login_url, api_url=sb.api_url
        ).login(),
        lambda: client.get("https://elsewhere.example/data/1/features"),
        lambda: client.get("/scim/2/Users/no-such-user"),
        lambda: client.get("/scim/2/Users", params={"filter": "bad filter"}),
    ):
        with pytest.raises(ElfsquadError) as info:
            call()
        failures.append(info.value)
    for error in failures:
        seen += [str(error), repr(error), "".join(error._render_traceback_()), repr(vars(error))]

    client.logout()
    seen += [repr(client), client.status()]
    captured = capsys.readouterr()
    seen += [captured.out, captured.err, caplog.text]
    seen += [record.getMessage() for record in caplog.records]
    seen += [repr(record.args) for record in caplog.records]

    secrets = secrets_of(sb)
    assert len(secrets) >= 4  # the secret, the SCIM token and two access tokens were in play
    assert any(r.name == "elfsquad_magic" for r in caplog.records)
    text = "\n".join(seen)
    for secret in secrets:
        assert secret not in text
    assert "wrong-" + sb.client_secret not in text


def test_debug_log_redacts_the_authorization_header(sandbox, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="elfsquad_magic")
    client = make_client(sandbox)
    client.get("/data/1/vats")
    assert "'Authorization': '***'" in caplog.text
    for secret in secrets_of(sandbox):
        assert secret not in caplog.text
