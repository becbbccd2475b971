"""`%elfsquad_login`, `%elfsquad_status`, `%elfsquad_logout` and the settings, over real HTTP."""

from __future__ import annotations

import builtins
import getpass
import io
import sys
import time

import pytest
from IPython.utils.capture import capture_output
from leakcheck import secrets_of

from elfsquad_magic.errors import LoginError, NotLoggedInError, UsageError
from elfsquad_magic.notebook import login as login_flow


def _magic(ip):
    return ip.magics_manager.registry["ElfsquadMagic"]


def _say(ip, name: str, line: str = "") -> str:
    with capture_output() as cap:
        ip.run_line_magic(name, line)
    return cap.stdout


def test_env_credentials_log_in_at_once(ip, sandbox_env) -> None:
    out = _say(ip, "elfsquad_login")
    assert out.startswith(f"Logged in as {sandbox_env.client_id} - token valid until ")
    assert _magic(ip).session.logged_in
    assert _magic(ip).session.client.api_url == sandbox_env.api_url


def test_status_says_who_where_and_until_when(ip, sandbox_env) -> None:
    assert _say(ip, "elfsquad_status").startswith("Not logged in")
    _say(ip, "elfsquad_login")
    status = _say(ip, "elfsquad_status")
    assert f"Logged in as {sandbox_env.client_id} at {sandbox_env.api_url}" in status
    assert "Token valid until" in status
    for secret in secrets_of(sandbox_env):
        assert secret not in status


def test_logout_forgets_the_client(ip, sandbox_env) -> None:
    _say(ip, "elfsquad_login")
    assert _say(ip, "elfsquad_logout").strip() == "Logged out of Elfsquad."
    assert _magic(ip).session.client is None
    with pytest.raises(NotLoggedInError):
        ip.run_line_magic("elfsquad", "GET /data/1/features")
    assert _say(ip, "elfsquad_logout").strip() == "Not logged in to Elfsquad."


def test_wrong_env_secret_fails_and_keeps_the_previous_login(ip, sandbox_env, monkeypatch) -> None:
    _say(ip, "elfsquad_login")
    before = _magic(ip).session.client
    monkeypatch.setenv("ELFSQUAD_CLIENT_SECRET", "not-the-secret")
    with pytest.raises(LoginError) as info:
        ip.run_line_magic("elfsquad_login", "")
    assert "not-the-secret" not in str(info.value)
    assert _magic(ip).session.client is before


def test_no_stdin_in_a_terminal_fails_at_once_naming_the_variables(ip, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # e.g. `ipython script.ipy < /dev/null`
    started = time.monotonic()
    with pytest.raises(LoginError) as info:
        ip.run_line_magic("elfsquad_login", "")
    assert time.monotonic() - started < 1
    assert "ELFSQUAD_CLIENT_ID" in str(info.value)
    assert "ELFSQUAD_CLIENT_SECRET" in str(info.value)


def test_terminal_prompts_for_id_and_secret(ip, sandbox, monkeypatch) -> None:
    monkeypatch.setattr(login_flow, "stdin_answerable", lambda shell: True)
    asked: list[str] = []
    monkeypatch.setattr(
        builtins, "input", lambda prompt="": asked.append(prompt) or sandbox.client_id
    )
    monkeypatch.setattr(
        getpass, "getpass", lambda prompt="": asked.append(prompt) or sandbox.client_secret
    )
    out = _say(ip, "elfsquad_login", f"--login-url {sandbox.login_url} --api-url {sandbox.api_url}")
    assert asked == ["Elfsquad client ID: ", "Elfsquad client secret: "]
    assert out.startswith(f"Logged in as {sandbox.client_id}")
    assert sandbox.client_secret not in out


def test_terminal_asks_only_the_secret_when_the_id_is_set(ip, sandbox, monkeypatch) -> None:
    monkeypatch.setattr(login_flow, "stdin_answerable", lambda shell: True)
    monkeypatch.setenv("ELFSQUAD_CLIENT_ID", sandbox.client_id)
    monkeypatch.setenv("ELFSQUAD_LOGIN_URL", sandbox.login_url)
    monkeypatch.setenv("ELFSQUAD_API_URL", sandbox.api_url)
    monkeypatch.setattr(builtins, "input", lambda prompt="": pytest.fail("asked for the id"))
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": sandbox.client_secret)
    assert _say(ip, "elfsquad_login").startswith(f"Logged in as {sandbox.client_id}")


def test_form_option_shows_a_form_that_logs_in(ip, sandbox_env) -> None:
    with capture_output():
        ip.run_line_magic("elfsquad_login", "--form")
    form = _magic(ip).form
    assert form.client_id.value == sandbox_env.client_id  # prefilled from ELFSQUAD_CLIENT_ID
    assert form.login_url.value == sandbox_env.login_url
    assert form.api_url.value == sandbox_env.api_url
    assert not _magic(ip).session.logged_in
    form.client_secret.value = sandbox_env.client_secret
    form.button.click()
    assert form.status_text.startswith(f"Logged in as {sandbox_env.client_id} - token valid until")
    assert form.client_secret.value == ""
    assert _magic(ip).session.logged_in


def test_form_with_a_wrong_secret_says_why_and_empties_the_field(ip, sandbox_env) -> None:
    with capture_output():
        ip.run_line_magic("elfsquad_login", "--form")
    form = _magic(ip).form
    form.client_secret.value = "wrong-secret"
    form.button.click()
    assert not form.status_text.startswith("Logged in")
    assert form.status_text
    assert "wrong-secret" not in form.status.value
    assert form.client_secret.value == ""
    assert not _magic(ip).session.logged_in


def test_form_with_an_unreachable_host_says_so(ip, sandbox_env) -> None:
    with capture_output():
        ip.run_line_magic("elfsquad_login", "--form")
    form = _magic(ip).form
    form.login_url.value = "http://127.0.0.1:9"  # discard port: nothing listens
    form.client_secret.value = sandbox_env.client_secret
    form.button.click()
    assert not form.status_text.startswith("Logged in")
    assert "127.0.0.1:9" in form.status_text


def test_demo_starts_one_sandbox_and_logs_in(ip) -> None:
    out = _say(ip, "elfsquad_login", "--demo")
    session = _magic(ip).session
    sandbox = session.sandbox
    assert sandbox is not None
    assert out.startswith(f"Logged in as {sandbox.client_id}")
    assert sandbox.api_url.startswith("http://127.0.0.1:")
    assert session.client.api_url == sandbox.api_url
    assert "(demo sandbox)" in _say(ip, "elfsquad_status")
    frame = ip.run_line_magic("elfsquad", "GET /data/1/features?$top=3")
    assert len(frame) == 3
    _say(ip, "elfsquad_login", "--demo")
    assert session.sandbox is sandbox  # reused, not a second server


def test_unload_stops_the_demo_sandbox(ip) -> None:
    import requests

    _say(ip, "elfsquad_login", "--demo")
    url = _magic(ip).session.sandbox.api_url
    ip.run_line_magic("unload_ext", "elfsquad_magic")
    try:
        assert ip.find_line_magic("elfsquad") is None
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=2)
    finally:
        ip.run_line_magic("load_ext", "elfsquad_magic")


def test_config_traits_reach_the_client(ip, sandbox_env) -> None:
    ip.run_line_magic("config", "ElfsquadMagic.timeout = 7.5")
    ip.run_line_magic("config", "ElfsquadMagic.concurrency = 2")
    ip.run_line_magic("config", "ElfsquadMagic.api_url = 'http://127.0.0.1:9'")
    ip.run_line_magic("config", "ElfsquadMagic.api_url = None")
    _say(ip, "elfsquad_login")
    magic = _magic(ip)
    assert magic.timeout == 7.5 and magic.concurrency == 2
    assert magic.session.client.api_url == sandbox_env.api_url


def test_config_api_url_beats_the_environment(ip, sandbox_env) -> None:
    ip.run_line_magic("config", "ElfsquadMagic.api_url = 'http://127.0.0.1:9'")
    _say(ip, "elfsquad_login")
    assert _magic(ip).session.client.api_url.rstrip("/") == "http://127.0.0.1:9"


def test_config_lists_every_setting_with_help(ip) -> None:
    with capture_output() as cap:
        ip.run_line_magic("config", "ElfsquadMagic")
    for trait in (
        "login_url",
        "api_url",
        "scope",
        "timeout",
        "retry_seconds",
        "concurrency",
        "calls_per_minute",
        "dtype_backend",
        "progress",
        "keep_secret",
    ):
        assert f"ElfsquadMagic.{trait}=" in cap.stdout


def test_bad_dtype_backend_is_refused(ip) -> None:
    from traitlets import TraitError

    with pytest.raises(TraitError):
        _magic(ip).dtype_backend = "arrow"


def test_login_line_errors_carry_the_usage(ip) -> None:
    with pytest.raises(UsageError) as info:
        ip.run_line_magic("elfsquad_login", "--verbose yes")
    assert "unknown option --verbose" in str(info.value)
    assert "yes" not in str(info.value)
    assert "%elfsquad_login [--demo]" in str(info.value)
    with pytest.raises(UsageError):
        ip.run_line_magic("elfsquad_login", "--demo --form")
    with pytest.raises(UsageError):
        ip.run_line_magic("elfsquad_login", '--scope "Elfskot.Api')


def test_dtype_backend_applies_to_the_next_query(ip, sandbox_env) -> None:
    _say(ip, "elfsquad_login")
    ip.run_line_magic("config", "ElfsquadMagic.dtype_backend = 'numpy_nullable'")
    frame = ip.run_line_magic("elfsquad", "GET /data/1/categories?$select=name,order")
    assert str(frame["order"].dtype) == "Int64"


def test_a_secret_typed_on_the_line_is_refused_without_echo(ip, sandbox_env) -> None:
    for line in (
        f"--client-secret {sandbox_env.client_secret}",
        f"--client-secret={sandbox_env.client_secret}",
        f"--secret {sandbox_env.client_secret} --demo",
    ):
        with pytest.raises(UsageError) as info:
            ip.run_line_magic("elfsquad_login", line)
        assert sandbox_env.client_secret not in str(info.value)
        assert "ELFSQUAD_CLIENT_SECRET" in str(info.value)
    assert not ip.magics_manager.registry["ElfsquadMagic"].session.logged_in


def test_package_exports_the_client_without_ipython_magics() -> None:
    import elfsquad_magic
    from elfsquad_magic.client import ElfsquadClient

    assert elfsquad_magic.ElfsquadClient is ElfsquadClient
    with pytest.raises(AttributeError):
        elfsquad_magic.NoSuchName  # noqa: B018


# -- the SCIM token --------------------------------------------------------------------------


def test_scim_token_from_the_environment_keeps_the_oauth_login(ip, sandbox_env, monkeypatch):
    _say(ip, "elfsquad_login")
    client = _magic(ip).session.client
    monkeypatch.setenv("ELFSQUAD_SCIM_TOKEN", sandbox_env.scim_token)
    out = _say(ip, "elfsquad_login", "--scim")
    assert "SCIM token set (from ELFSQUAD_SCIM_TOKEN)" in out
    assert _magic(ip).session.client is client and client.logged_in
    users = ip.run_line_magic("elfsquad", "GET /scim/2/Users?count=3")
    assert len(users) == len(sandbox_env.rows("Users"))
    assert len(ip.run_line_magic("elfsquad", "GET /data/1/vats")) > 0
    status = _say(ip, "elfsquad_status")
    assert "SCIM token: set" in status
    for secret in secrets_of(sandbox_env):
        assert secret not in out + status


def test_scim_token_is_asked_for_without_echo(ip, sandbox, monkeypatch) -> None:
    monkeypatch.setattr(login_flow, "stdin_answerable", lambda shell: True)
    asked: list[str] = []
    monkeypatch.setattr(
        getpass, "getpass", lambda prompt="": asked.append(prompt) or sandbox.scim_token
    )
    out = _say(ip, "elfsquad_login", f"--scim --api-url {sandbox.api_url}")
    assert asked == ["Elfsquad SCIM token: "]
    assert "SCIM token set (typed)" in out and sandbox.scim_token not in out
    assert len(ip.run_line_magic("elfsquad", "GET /scim/2/Users")) == len(sandbox.rows("Users"))
    with pytest.raises(NotLoggedInError):
        ip.run_line_magic("elfsquad", "GET /data/1/vats")  # no OAuth login was made
    history = "\n".join(ip.history_manager.input_hist_raw)
    assert sandbox.scim_token not in history


def test_scim_without_stdin_fails_at_once_naming_the_variable(ip, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    started = time.monotonic()
    with pytest.raises(LoginError) as info:
        ip.run_line_magic("elfsquad_login", "--scim")
    assert time.monotonic() - started < 1
    assert "ELFSQUAD_SCIM_TOKEN" in str(info.value)


def test_demo_sets_the_sandboxs_scim_token(ip) -> None:
    out = _say(ip, "elfsquad_login", "--demo")
    assert "with its SCIM token too" in out
    sandbox = _magic(ip).session.sandbox
    users = ip.run_line_magic("elfsquad", "GET /scim/2/Users")
    assert users["id"].tolist() == sorted(r["id"] for r in sandbox.rows("Users"))
    assert sandbox.scim_token not in out + _say(ip, "elfsquad_status")


def test_the_form_shown_again_carries_the_current_logins_hosts(ip, sandbox_env, monkeypatch):
    _say(ip, "elfsquad_login")
    for name in ("ELFSQUAD_LOGIN_URL", "ELFSQUAD_API_URL", "ELFSQUAD_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    with capture_output():
        ip.run_line_magic("elfsquad_login", "--form")
    form = _magic(ip).form
    assert form.client_id.value == sandbox_env.client_id
    assert (form.login_url.value, form.api_url.value) == (
        sandbox_env.login_url,
        sandbox_env.api_url,
    )
    with capture_output():
        ip.run_line_magic("elfsquad_login", "--form --api-url https://api.other.example")
    assert _magic(ip).form.api_url.value == "https://api.other.example"  # the line wins
