"""The client secret and the token: where they go, how long they stay, and where they never show.

Complements test_client_secrets.py (a client session's reprs and logs) and test_magics_leaks.py
(a magic session's outputs and history): here are error chains and tracebacks (with locals),
every IPython exception mode, warnings and urllib3's logs, the reprs of every object, where the
token is sent, the secret's lifetime (keep_secret, logout) and the optional OS keyring.
"""

from __future__ import annotations

import logging
import pickle
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import keyring
import pytest
from clients import export_login, make_client, sandbox_client
from IPython.utils.capture import capture_output
from keyrings import MemoryKeyring
from leakcheck import secrets_of
from scripted import SECRET, Reply, ScriptedServer, odata_error, page

from elfsquad_magic.client import ElfsquadClient
from elfsquad_magic.core.auth import Masked
from elfsquad_magic.core.keyring_secrets import KEYRING_SERVICE
from elfsquad_magic.errors import (
    ElfsquadError,
    InsecureURLError,
    LoginError,
    NotLoggedInError,
)


def assert_absent(secrets: list[str], texts: list[str]) -> None:
    text = "\n".join(texts)
    for secret in secrets:
        assert secret and secret not in text


# -- errors, their chains and their tracebacks ------------------------------------------------


def chain_texts(error: BaseException, *, with_locals: bool) -> list[str]:
    """Everything an error carries: its text, rendering, attributes, the formatted traceback
    (optionally with every frame's locals), and the same for each exception in its chain,
    including contexts hidden by ``from None``."""
    texts = [
        "".join(traceback.format_exception(error)),
        "".join(
            traceback.TracebackException.from_exception(error, capture_locals=with_locals).format()
        ),
    ]
    seen: set[int] = set()
    current: BaseException | None = error
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(vars(current))]
        if isinstance(current, ElfsquadError):
            texts += current._render_traceback_()
        for attr in ("request", "response"):  # what requests' exceptions carry
            obj = getattr(current, attr, None)
            if obj is not None:
                texts += [repr(getattr(obj, "headers", None)), repr(getattr(obj, "body", None))]
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return texts


def capture(call: Callable[[], Any]) -> BaseException:
    """The ElfsquadError ``call`` raises (its traceback's frames are this one and below)."""
    try:
        call()
    except ElfsquadError as exc:
        return exc
    raise AssertionError("no error raised")


def _echo_authorization(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply:
    # A careless server that repeats the request's credentials in its error message.
    return odata_error(500, f"Rejected header {h.headers.get('Authorization')}")


def _cut(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", "1000")
    h.end_headers()
    h.wfile.write(b'{"value": [')
    h.wfile.flush()
    h.close_connection = True


def test_no_secret_in_any_error_its_chain_or_its_traceback_locals(fresh_sandbox) -> None:
    sb = fresh_sandbox
    srv = ScriptedServer()
    srv.routes["/data/1/echo"] = _echo_authorization
    srv.routes["/data/1/cut"] = _cut
    srv.routes["/data/1/denied"] = lambda s, h: odata_error(401, "No")
    try:
        client = make_client(sb, retry_seconds=0.3)
        scripted = ElfsquadClient(
            "scripted", SECRET, login_url=srv.url, api_url=srv.url, retry_seconds=0.3
        )
        dead_api = sandbox_client(sb, api_url="http://127.0.0.1:9", retry_seconds=0.3)
        request_errors = [
            capture(lambda: client.get("/data/1/nosuch")),
            capture(lambda: client.get("/data/1/features", filter="nosuch eq 1")),
            capture(lambda: client.get("https://elsewhere.example/data/1/features")),
            capture(lambda: scripted.get("/data/1/echo")),
            capture(lambda: scripted.get("/data/1/cut")),
            capture(lambda: scripted.get("/data/1/denied")),
            capture(lambda: dead_api.get("/data/1/features")),
            capture(lambda: client.post("http://127.0.0.1:9/data/1/features", json={})),
        ]
        sb.configure(fault_rate=1.0, fault_seed=1, page_size=50, fault_after=1)
        request_errors.append(capture(lambda: client.get("/data/1/features")))
        sb.configure(fault_rate=0.0)
        login_errors = [
            capture(
                lambda: ElfsquadClient(
                    sb.client_id, "wrong-" + sb.client_secret, login_url=sb.login_url
                ).login()
            ),
            capture(
                lambda: ElfsquadClient(
                    "x", sb.client_secret, login_url="http://127.0.0.1:9", api_url=sb.api_url
                ).login()
            ),
        ]
    finally:
        srv.close()
    secrets = [*secrets_of(sb), "wrong-" + sb.client_secret, SECRET, *srv.tokens]
    assert len(secrets) >= 5
    names = {type(e).__name__ for e in request_errors + login_errors}
    assert {"NotFoundError", "BadRequestError", "InsecureURLError", "ServerError"} <= names
    assert {"ConnectionFailedError", "AuthenticationError", "IncompleteResultError"} <= names
    assert "LoginError" in names
    echoed = next(e for e in request_errors if "Rejected header" in str(e))
    assert "Bearer ***" in str(echoed)  # scrubbed, and still telling
    for error in request_errors:
        assert_absent(secrets, chain_texts(error, with_locals=True))
        # No exception from requests rides along: its request would hold the headers.
        assert error.__context__ is None or isinstance(error.__context__, ElfsquadError)
    for error in login_errors:
        assert_absent(secrets, chain_texts(error, with_locals=False))
        assert error.__context__ is None or isinstance(error.__context__, ElfsquadError)


@pytest.mark.parametrize("mode", ["Minimal", "Plain", "Context", "Verbose"])
def test_ipython_shows_errors_without_secrets_in_every_exception_mode(
    ip, fresh_sandbox, monkeypatch, mode: str
) -> None:
    export_login(monkeypatch, fresh_sandbox)
    ip.run_line_magic("xmode", mode)
    try:
        with capture_output() as cap:
            ip.run_cell("%elfsquad_login")
            for code in (
                "%elfsquad GET /data/1/nosuch",
                "%elfsquad GET https://elsewhere.example/data/1/x",
                "%elfsquad GET http://127.0.0.1:9/data/1/x",
                "%%elfsquad GET /data/1/features\n$filter=name eq {{missing}}",
            ):
                result = ip.run_cell(code)
                assert isinstance(result.error_in_exec, ElfsquadError)
            monkeypatch.setenv("ELFSQUAD_CLIENT_SECRET", "wrong-" + fresh_sandbox.client_secret)
            assert isinstance(ip.run_cell("%elfsquad_login").error_in_exec, LoginError)
    finally:
        ip.run_line_magic("xmode", "Context")
    assert "Traceback" not in cap.stdout + cap.stderr
    assert "NotFoundError" in cap.stdout and "LoginError" in cap.stdout
    assert_absent(
        [*secrets_of(fresh_sandbox), "wrong-" + fresh_sandbox.client_secret],
        [cap.stdout, cap.stderr, *[repr(o.data) for o in cap.outputs]],
    )


# -- logs and warnings --------------------------------------------------------------------------


def test_logs_at_every_level_and_warnings_hold_no_secret(fresh_sandbox, caplog) -> None:
    sb = fresh_sandbox
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's and requests' included
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = make_client(sb, retry_seconds=30)
        sb.configure(fault_rate=0.15, fault_seed=8, page_size=40, retry_after=0.05)
        frame = client.get("/data/1/features")
        sb.configure(fault_rate=0.0)
        sb.expire_tokens()
        client.get("/data/1/vats")
        with pytest.raises(ElfsquadError):
            client.get("/data/1/nosuch")
    assert len(frame) == len(sb.rows("Features"))
    stats = sb.stats
    assert stats["faults_429"] and stats["faults_cut"] + stats["faults_503"]
    texts = [caplog.text, *[r.getMessage() for r in caplog.records]]
    texts += [repr(r.args) for r in caplog.records]
    texts += [str(w.message) for w in caught]
    assert "'Authorization': '***'" in caplog.text  # the header is logged, redacted
    assert {r.levelno for r in caplog.records} >= {logging.DEBUG, logging.INFO}
    assert_absent(secrets_of(sb), texts)


def test_connection_retries_print_no_urllib3_warnings(sandbox, caplog) -> None:
    # Nothing listens on port 9: urllib3 retries the connect.
    client = make_client(sandbox, api_url="http://127.0.0.1:9", retry_seconds=0)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ElfsquadError, match="could not connect"):
        client.get("/data/1/features")
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [], [r.getMessage() for r in loud]
    # The retries still show in the package's debug log, for whoever asks for it.
    assert any("Retrying" in r.getMessage() for r in caplog.records if r.name == "elfsquad_magic")


# -- reprs of every object ----------------------------------------------------------------------


def test_no_object_shows_a_secret_in_its_repr_or_state(ip, sandbox, monkeypatch) -> None:
    export_login(monkeypatch, sandbox)
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
        ip.run_line_magic("elfsquad_login", "--form")
    magic = ip.magics_manager.registry["ElfsquadMagic"]
    form = magic.form
    form.client_secret.value = sandbox.client_secret
    assert repr(form.client_secret.value) not in repr(form)  # the repr names the client only
    assert form.submit()
    session = magic.session
    client = session.client
    frame = ip.run_line_magic("elfsquad", "GET /data/1/vats")
    transport = client.engine.transport
    tokens = client.engine.transport.tokens
    objects: list[Any] = [
        client,
        session,
        transport,
        tokens,  # its vars hold the masked secret and token
        form,
        magic,
        sandbox,
        transport.session,
        transport.limiter,
    ]
    texts: list[str] = []
    for obj in objects:
        texts += [repr(obj), str(obj)]
        if hasattr(obj, "__dict__") and obj is not sandbox:  # the sandbox hands out its secret
            texts.append(repr(vars(obj)))
        for secret in secrets_of(sandbox):
            assert secret not in "\n".join(texts[-3:]), type(obj).__name__
    texts += [repr(transport.session.headers), repr(frame.attrs), frame.to_string()]
    texts += [repr(w.get_state()) for w in form.all_widgets()]
    assert "Logged in as" in repr(client) and "<Transport" in repr(transport)
    assert_absent(secrets_of(sandbox), texts)
    for obj in (client, tokens, Masked(sandbox.client_secret)):
        with pytest.raises(TypeError):
            pickle.dumps(obj)


# -- where the token goes ------------------------------------------------------------------------


@pytest.fixture
def hosts() -> Iterator[tuple[ScriptedServer, ScriptedServer, ScriptedServer]]:
    """A login host, an API host and some other host."""
    servers = (ScriptedServer(), ScriptedServer(), ScriptedServer())
    yield servers
    for srv in servers:
        srv.close()


def test_the_token_goes_only_to_the_api_host_and_the_secret_only_to_the_login_host(
    hosts: tuple[ScriptedServer, ScriptedServer, ScriptedServer],
) -> None:
    login, api, other = hosts
    renewals = []

    def expiring(srv: ScriptedServer, h: BaseHTTPRequestHandler) -> Reply:
        if not renewals:
            renewals.append(1)
            return odata_error(401, "expired")
        return page([{"n": 1}], f"{other.url}/data/1/features?$skip=1")

    api.routes["/data/1/features"] = expiring
    api.routes["/data/1/moved"] = lambda s, h: (302, {"Location": f"{other.url}/x"}, b"")
    api.routes["/data/1/ok"] = lambda s, h: page([{"n": 1}])
    client = ElfsquadClient(
        "scripted", SECRET, login_url=login.url, api_url=api.url, progress=False
    )
    with pytest.raises(InsecureURLError, match="next-page link"):
        client.get("/data/1/features")  # a 401 and a renewal first, then a foreign link
    with pytest.raises(InsecureURLError):
        client.get(f"{other.url}/data/1/features")
    with pytest.raises(ElfsquadError, match="redirected"):
        client.get("/data/1/moved")
    assert client.get("/data/1/ok")["n"].tolist() == [1]
    client.api_url = other.url  # a new API host: the login is dropped, not carried over
    with pytest.raises(NotLoggedInError):
        client.get("/data/1/ok")

    assert other.requests == []
    assert len(login.tokens) == 2  # the first token and its renewal
    for request in login.requests:
        assert request["path"] == "/oauth2/token"
        assert "Authorization" not in request["headers"]
        assert SECRET.encode() in request["body"]
    assert api.requests
    for request in api.requests:
        assert request["headers"]["Authorization"] in {f"Bearer {t}" for t in login.tokens}
        assert SECRET not in repr(request)


@pytest.mark.parametrize(
    ("login_url", "api_url"),
    [
        ("http://login.example.com", "https://api.example.com"),
        ("https://login.example.com", "http://api.example.com"),
        ("ftp://login.example.com", "https://api.example.com"),
    ],
)
def test_credentials_never_travel_over_plain_http_except_on_loopback(
    login_url: str, api_url: str
) -> None:
    with pytest.raises(InsecureURLError, match="http"):
        ElfsquadClient("id", "secret-value", login_url=login_url, api_url=api_url)
    client = ElfsquadClient(
        "id", "secret-value", login_url="http://127.0.0.1:1", api_url="https://api.example.com"
    )
    with pytest.raises(InsecureURLError):
        client.api_url = "http://api.example.com"
    assert client.login_url == "http://127.0.0.1:1" and ElfsquadClient(
        "id", "s", login_url="http://localhost:1", api_url="http://[::1]:1"
    )


# -- how long the secret stays --------------------------------------------------------------------


def test_keep_secret_false_asks_to_log_in_again_after_expiry(ip, fresh_sandbox, monkeypatch):
    sb = fresh_sandbox
    export_login(monkeypatch, sb)
    ip.run_line_magic("config", "ElfsquadMagic.keep_secret = False")
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    client = ip.magics_manager.registry["ElfsquadMagic"].session.client
    assert not client.engine.transport.tokens.has_secret  # dropped as soon as the token came
    assert len(ip.run_line_magic("elfsquad", "GET /data/1/vats")) == len(sb.rows("Vats"))
    sb.expire_tokens()
    with pytest.raises(NotLoggedInError, match="secret was not kept") as info:
        ip.run_line_magic("elfsquad", "GET /data/1/vats")
    assert "%elfsquad_login" in (info.value.hint or "")
    with capture_output() as cap:
        ip.run_line_magic("elfsquad_status", "")
        ip.run_line_magic("elfsquad_login", "")
    assert "Logged in as" in cap.stdout
    assert len(ip.run_line_magic("elfsquad", "GET /data/1/vats")) == len(sb.rows("Vats"))
    assert len(sb.issued_tokens) == 2


def test_logout_drops_token_and_secret(ip, sandbox_env) -> None:
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    client = ip.magics_manager.registry["ElfsquadMagic"].session.client
    tokens = client.engine.transport.tokens
    assert tokens.has_secret and tokens.has_token
    with capture_output():
        ip.run_line_magic("elfsquad_logout", "")
    assert not tokens.has_secret and not tokens.has_token
    assert client.engine.transport.tokens is None and not client.logged_in


# -- the optional OS keyring ------------------------------------------------------------------


def test_without_the_option_the_keyring_is_never_touched(ip, sandbox_env, memory_keyring):
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
        ip.run_line_magic("elfsquad", "GET /data/1/vats")
        ip.run_line_magic("elfsquad_logout", "")
    assert memory_keyring.calls == [] and memory_keyring.items == {}


def test_keyring_login_stores_then_reads_the_secret(ip, sandbox, monkeypatch, memory_keyring):
    export_login(monkeypatch, sandbox)
    with capture_output() as first:
        ip.run_line_magic("elfsquad_login", "--keyring")
    assert "secret stored in the OS keyring" in first.stdout
    assert memory_keyring.items == {(KEYRING_SERVICE, sandbox.client_id): sandbox.client_secret}
    with capture_output():
        ip.run_line_magic("elfsquad_logout", "")
    monkeypatch.delenv("ELFSQUAD_CLIENT_SECRET")  # only the keyring knows it now
    with capture_output() as second:
        ip.run_line_magic("elfsquad_login", "--keyring")
    assert "(secret from the OS keyring)" in second.stdout
    assert ip.magics_manager.registry["ElfsquadMagic"].session.logged_in
    with capture_output() as bye:
        ip.run_line_magic("elfsquad_logout", "--keyring")
    assert f"Removed the secret of {sandbox.client_id}" in bye.stdout
    assert memory_keyring.items == {}
    assert_absent(secrets_of(sandbox), [first.stdout, second.stdout, bye.stdout])


def test_keyring_login_by_client_id_and_through_the_form(ip, sandbox, memory_keyring) -> None:
    ip.run_line_magic("config", "ElfsquadMagic.use_keyring = True")
    hosts = f"--login-url {sandbox.login_url} --api-url {sandbox.api_url}"
    with capture_output():
        ip.run_line_magic("elfsquad_login", f"--form {hosts}")
    form = ip.magics_manager.registry["ElfsquadMagic"].form
    form.client_id.value = sandbox.client_id
    form.client_secret.value = sandbox.client_secret
    assert form.submit()
    assert "stored in the OS keyring" in form.status_text
    with capture_output():
        ip.run_line_magic("elfsquad_logout", "")
    with capture_output() as cap:
        ip.run_line_magic("elfsquad_login", f"--client-id {sandbox.client_id} {hosts}")
    assert "(secret from the OS keyring)" in cap.stdout


def test_a_stale_keyring_secret_says_how_to_remove_it(ip, sandbox, monkeypatch, memory_keyring):
    memory_keyring.items[(KEYRING_SERVICE, sandbox.client_id)] = "an-old-secret-value"
    export_login(monkeypatch, sandbox)
    with pytest.raises(LoginError) as info:
        ip.run_line_magic("elfsquad_login", "--keyring")
    assert "%elfsquad_logout --keyring" in (info.value.hint or "")
    assert "an-old-secret-value" not in str(info.value)


def test_a_locked_keyring_is_a_login_error_with_a_way_out(ip, sandbox_env) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring(fail=True))
    try:
        with pytest.raises(LoginError, match="could not be read: The collection is locked") as info:
            ip.run_line_magic("elfsquad_login", "--keyring")
    finally:
        keyring.set_keyring(previous)
    assert "without --keyring" in (info.value.hint or "")


def test_without_the_keyring_package_the_option_says_what_to_install(
    ip, sandbox_env, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)  # as if the extra were not installed
    with pytest.raises(LoginError) as info:
        ip.run_line_magic("elfsquad_login", "--keyring")
    assert "pip install elfsquad-magic[keyring]" in (info.value.hint or "")


def test_masked_values_stay_masked_in_containers() -> None:
    masked = Masked("value-that-must-not-show")
    assert "value-that-must-not-show" not in repr([masked, {"k": masked}, (masked,)])
    assert f"{masked}" == "'***'" and masked.reveal() == "value-that-must-not-show"
