"""The client-credentials token: obtain, hold masked, renew, and explain failures."""

from __future__ import annotations

import datetime as dt
import pickle
import socket
import threading

import pytest
from leakcheck import secrets_of

from elfsquad_magic.core.auth import Masked, TokenProvider, check_secure_url, is_loopback_host
from elfsquad_magic.errors import InsecureURLError, LoginError, NotLoggedInError


def provider(sb, **overrides) -> TokenProvider:
    options = {"login_url": sb.login_url, "scope": "Elfskot.Api"}
    options.update(overrides)
    secret = options.pop("client_secret", sb.client_secret)
    client_id = options.pop("client_id", sb.client_id)
    return TokenProvider(client_id, secret, **options)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_masked_value_never_shows_itself() -> None:
    masked = Masked("hunter2")
    assert "hunter2" not in repr(masked) and "hunter2" not in str(masked)
    assert "hunter2" not in f"{masked} {[masked]} {masked!r}"
    assert masked.reveal() == "hunter2"
    with pytest.raises(TypeError):
        pickle.dumps(masked)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.6.7", True),
        ("localhost", True),
        ("[::1]", True),
        ("::1", True),
        ("api.elfsquad.io", False),
        ("10.0.0.1", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_plain_http_is_refused_except_on_loopback() -> None:
    check_secure_url("https://login.elfsquad.io", "login URL")
    check_secure_url("http://127.0.0.1:8000", "login URL")
    check_secure_url("http://localhost:8000", "login URL")
    with pytest.raises(InsecureURLError, match="plain http"):
        check_secure_url("http://login.elfsquad.io", "login URL")
    with pytest.raises(InsecureURLError, match="not an http"):
        check_secure_url("ftp://login.elfsquad.io", "login URL")


def test_token_is_obtained_and_reused(sandbox) -> None:
    tokens = provider(sandbox)
    before = len(sandbox.issued_tokens)
    first = tokens.token()
    assert first == sandbox.issued_tokens[-1]
    assert tokens.token() == first
    assert len(sandbox.issued_tokens) == before + 1
    assert tokens.expires_at is not None and tokens.expires_at.tzinfo is not None
    remaining = (tokens.expires_at - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert 3500 < remaining <= 3600


def test_repr_shows_client_and_expiry_but_no_secret_or_token(sandbox) -> None:
    tokens = provider(sandbox)
    assert repr(tokens) == f"TokenProvider(client_id={sandbox.client_id!r}, token=<none>)"
    tokens.token()
    text = repr(tokens) + str(tokens) + repr(vars(tokens))
    assert "valid until" in repr(tokens)
    for secret in secrets_of(sandbox):
        assert secret not in text
    with pytest.raises(TypeError):
        pickle.dumps(tokens)


def test_invalidate_renews_but_ignores_a_stale_token(sandbox) -> None:
    tokens = provider(sandbox)
    first = tokens.token()
    tokens.invalidate(first)
    second = tokens.token()
    assert second != first
    tokens.invalidate(first)  # a late 401 for the old token must not discard the new one
    assert tokens.token() == second


def test_concurrent_callers_share_one_token_request(fresh_sandbox) -> None:
    tokens = provider(fresh_sandbox)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(tokens.token())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert len(fresh_sandbox.issued_tokens) == 1


def test_short_lived_token_is_renewed_before_it_expires(fresh_sandbox) -> None:
    fresh_sandbox.configure(token_ttl=2)
    tokens = provider(fresh_sandbox)
    first = tokens.token()
    import time

    time.sleep(1.6)  # inside the renewal margin (a quarter of the lifetime)
    assert tokens.token() != first


def test_forget_drops_token_and_secret(sandbox) -> None:
    tokens = provider(sandbox)
    tokens.token()
    tokens.forget()
    assert not tokens.has_token and not tokens.has_secret
    with pytest.raises(NotLoggedInError):
        tokens.token()


def test_secret_can_be_dropped_after_login(fresh_sandbox) -> None:
    tokens = provider(fresh_sandbox, keep_secret=False)
    tokens.token()
    assert not tokens.has_secret
    tokens.invalidate()
    with pytest.raises(NotLoggedInError, match="secret was not kept"):
        tokens.token()


def test_wrong_secret_is_explained(sandbox) -> None:
    with pytest.raises(LoginError, match="not accepted") as info:
        provider(sandbox, client_secret="wrong-secret").token()
    assert "Integrations" in str(info.value)
    assert "wrong-secret" not in str(info.value)


def test_wrong_client_id_is_explained(sandbox) -> None:
    with pytest.raises(LoginError, match="'nobody'.*not accepted"):
        provider(sandbox, client_id="nobody").token()


def test_bad_scope_is_explained(sandbox) -> None:
    with pytest.raises(LoginError, match="scope 'Other.Api' was refused") as info:
        provider(sandbox, scope="Other.Api").token()
    assert "Elfskot.Api" in str(info.value)


def test_unreachable_login_host_is_explained() -> None:
    tokens = TokenProvider(
        "id", "secret", login_url=f"http://127.0.0.1:{free_port()}", scope="Elfskot.Api"
    )
    with pytest.raises(LoginError, match="Could not reach the login host") as info:
        tokens.token()
    assert info.value.hint and "login URL" in info.value.hint


def test_missing_client_id_is_refused() -> None:
    with pytest.raises(LoginError, match="No client id"):
        TokenProvider("", "secret", login_url="https://login.elfsquad.io", scope="Elfskot.Api")
