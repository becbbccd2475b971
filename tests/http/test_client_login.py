"""ElfsquadClient login, logout, status and configuration against the sandbox."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest
from clients import make_client
from leakcheck import secrets_of

from elfsquad_magic.client import (
    DEFAULT_API_URL,
    DEFAULT_LOGIN_URL,
    DEFAULT_SCOPE,
    ElfsquadClient,
)
from elfsquad_magic.core.auth import clock_text
from elfsquad_magic.errors import InsecureURLError, LoginError, NotLoggedInError, UsageError


def test_defaults_point_at_elfsquad() -> None:
    client = ElfsquadClient()
    assert (client.login_url, client.api_url, client.scope) == (
        DEFAULT_LOGIN_URL,
        DEFAULT_API_URL,
        DEFAULT_SCOPE,
    )
    assert DEFAULT_LOGIN_URL == "https://login.elfsquad.io"
    assert DEFAULT_API_URL == "https://api.elfsquad.io"
    assert client.status() == "Not logged in"
    assert not client.logged_in


def test_login_status_and_expiry(sandbox) -> None:
    client = make_client(sandbox)
    client.login()
    assert client.logged_in
    expires = client.token_expires_at
    assert expires is not None and expires.tzinfo is not None
    assert dt.timedelta(minutes=59) < expires - dt.datetime.now(dt.timezone.utc)
    until = clock_text(expires)
    assert client.status() == (
        f"Logged in as {sandbox.client_id} at {sandbox.api_url} - token valid until {until}"
    )


def test_logout_forgets_token_and_secret(sandbox) -> None:
    client = make_client(sandbox)
    client.login()
    client.logout()
    assert not client.logged_in
    assert client.status() == "Not logged in"
    assert client.client_id == sandbox.client_id
    with pytest.raises(NotLoggedInError):
        client.get("/data/1/vats")
    with pytest.raises(LoginError, match="No client secret"):
        client.login()


def test_login_again_with_new_credentials_after_logout(sandbox) -> None:
    client = make_client(sandbox)
    client.logout()
    client.login(sandbox.client_id, sandbox.client_secret)
    assert client.get("/data/1/vats").shape[0] == len(sandbox.rows("Vats"))


def test_request_logs_in_on_first_use(sandbox) -> None:
    client = make_client(sandbox)
    assert not client.logged_in
    assert client.get("/data/1/vats").shape[0] == len(sandbox.rows("Vats"))
    assert client.logged_in


def test_wrong_secret_raises_login_error(sandbox) -> None:
    client = ElfsquadClient(
        sandbox.client_id, "not-the-secret", login_url=sandbox.login_url, api_url=sandbox.api_url
    )
    with pytest.raises(LoginError, match="not accepted"):
        client.login()
    assert client.status() == "Not logged in"


def test_no_credentials_names_the_environment_variables() -> None:
    with pytest.raises(LoginError, match="client id and secret") as info:
        ElfsquadClient().login()
    assert "ELFSQUAD_CLIENT_ID" in str(info.value)


def test_from_env_reads_the_variables(sandbox_env) -> None:
    client = ElfsquadClient.from_env(progress=False)
    assert (client.client_id, client.login_url, client.api_url) == (
        sandbox_env.client_id,
        sandbox_env.login_url,
        sandbox_env.api_url,
    )
    client.login()
    assert client.logged_in


def test_from_env_keywords_win(sandbox_env, monkeypatch) -> None:
    monkeypatch.setenv("ELFSQUAD_SCOPE", "Other.Api")
    assert ElfsquadClient.from_env().scope == "Other.Api"
    assert ElfsquadClient.from_env(scope="Elfskot.Api").scope == "Elfskot.Api"


def test_plain_http_hosts_are_refused_unless_loopback() -> None:
    with pytest.raises(InsecureURLError, match="plain http"):
        ElfsquadClient("id", "secret", api_url="http://api.example.com")
    with pytest.raises(InsecureURLError, match="plain http"):
        ElfsquadClient("id", "secret", login_url="http://login.example.com")
    ElfsquadClient("id", "secret", api_url="http://127.0.0.1:1", login_url="http://localhost:1")


def test_changing_the_api_url_drops_the_token(sandbox) -> None:
    client = make_client(sandbox)
    client.login()
    client.api_url = "https://api.elfsquad.io"
    assert not client.logged_in
    assert client.status() == "Not logged in"


def test_unknown_dtype_backend_is_refused() -> None:
    with pytest.raises(UsageError, match="dtype backend"):
        ElfsquadClient(dtype_backend="arrow")


def test_repr_and_pickle_never_reveal_credentials(sandbox) -> None:
    client = make_client(sandbox)
    client.login()
    text = repr(client) + str(client) + client.status() + repr(vars(client))
    assert sandbox.client_id in repr(client)
    for secret in secrets_of(sandbox):
        assert secret not in text
    with pytest.raises(TypeError):
        pickle.dumps(client)


def test_proxy_settings_apply_to_remote_hosts_but_not_loopback(monkeypatch) -> None:
    from elfsquad_magic.core.http_sessions import new_session

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "")
    assert new_session("https://api.elfsquad.io").proxies.get("https") == (
        "http://proxy.example:3128"
    )
    assert not new_session("http://127.0.0.1:8000").proxies
    session = new_session("https://api.elfsquad.io")
    assert session.trust_env is False  # no .netrc credentials replacing the bearer token


def test_from_env_without_the_variables_names_them_at_once(monkeypatch) -> None:
    with pytest.raises(LoginError) as caught:
        ElfsquadClient.from_env()
    message = str(caught.value)
    assert "ELFSQUAD_CLIENT_ID and ELFSQUAD_CLIENT_SECRET are not set" in message
    assert "%elfsquad_login" not in message  # a script has no magics
    monkeypatch.setenv("ELFSQUAD_CLIENT_ID", "someone")
    with pytest.raises(LoginError, match="^ELFSQUAD_CLIENT_SECRET is not set"):
        ElfsquadClient.from_env()


@pytest.mark.parametrize(
    ("options", "example"),
    [
        (
            {"login_url": "login.example.com"},
            "https://login.elfsquad.io (https://login.example.com)",
        ),
        ({"api_url": "api.example.com"}, "https://api.elfsquad.io (https://api.example.com)"),
    ],
)
def test_a_url_without_a_scheme_gets_a_hint_for_its_own_host(options, example) -> None:
    with pytest.raises(InsecureURLError, match="has no scheme") as caught:
        ElfsquadClient(**options)
    assert example in caught.value.hint
